#!/usr/bin/env bash
# run_compat.sh — run real programs' workloads under glibc and under dynalloc
# (LD_PRELOAD, both back-ends) and compare their results fact by fact.
#
#   tests/compat/run_compat.sh [suite…]
# Environment:
#   ALLOC_LIB      library to preload (default build/libdynalloc.so, made absolute)
#   COMPAT_SUITES  suites to run when none are named (default: all)
#   COMPAT_MODES   modes compared with glibc (default: "mmap sbrk")
#   COMPAT_OUT     work directory (default build/compat)
#   COMPAT_KEEP=1  keep the work directory afterwards (default: keep only logs)
#   RUN_TIMEOUT    seconds after which any one program run is killed (default 1200)
#
# Counting: for every suite and every dynalloc mode, each fact its glibc run
# recorded is one check (passed when the dynalloc run recorded the same value),
# plus one check that the suite's run itself completed.  The last line of the
# output is "N passed, N failed"; the exit status is 1 when anything failed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

ALLOC_LIB=${ALLOC_LIB:-$root/build/libdynalloc.so}
case "$ALLOC_LIB" in /*) ;; *) ALLOC_LIB=$root/$ALLOC_LIB ;; esac
export ALLOC_LIB
COMPAT_OUT=${COMPAT_OUT:-$root/build/compat}
MODES=${COMPAT_MODES:-mmap sbrk}
ALL_SUITES="lifetime python redis sqlite git perl cbuild"
if [ $# -gt 0 ]; then SUITES="$*"; else SUITES=${COMPAT_SUITES:-$ALL_SUITES}; fi

pass=0 fail=0
failures=()
ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); failures+=("$1"); echo "FAIL: $1"; }

start=$SECONDS
echo "compat: ALLOC_LIB=$ALLOC_LIB"
echo "compat: suites: $SUITES; modes: glibc (reference) + $MODES"

if [ ! -f "$ALLOC_LIB" ]; then
    bad "preload library $ALLOC_LIB does not exist (run make first)"
    echo "$pass passed, $fail failed"
    exit 1
fi
rm -rf "$COMPAT_OUT"
mkdir -p "$COMPAT_OUT/preload"
# Run every suite on a private copy, so that a rebuild during the run cannot
# swap the library under it.
cp "$ALLOC_LIB" "$COMPAT_OUT/preload/" || { bad "cannot copy $ALLOC_LIB"; echo "$pass passed, $fail failed"; exit 1; }
ALLOC_LIB=$COMPAT_OUT/preload/$(basename "$ALLOC_LIB")
echo "compat: library sha256 $(sha256sum "$ALLOC_LIB" | cut -c1-16), copied to $ALLOC_LIB"
# The preload must really be in the process: look for it in /proc/self/maps.
for m in $MODES; do
    if env LD_PRELOAD="$ALLOC_LIB" DYNALLOC_BACKEND="$m" cat /proc/self/maps 2>/dev/null \
         | grep -qF "$(readlink -f "$ALLOC_LIB")"; then
        ok
    else
        bad "preload of $ALLOC_LIB is not active under DYNALLOC_BACKEND=$m"
    fi
done


for s in $SUITES; do
    script=$here/$s.sh
    if [ ! -f "$script" ]; then bad "$s: no such suite"; continue; fi
    for mode in glibc $MODES; do
        d=$COMPAT_OUT/$s/$mode
        mkdir -p "$d"
        t0=$SECONDS
        bash "$script" "$mode" "$d" > "$d/log.txt" 2>&1
        rc=$?
        dt=$((SECONDS - t0))
        printf '%-7s %-6s %4ss  rc=%s  facts=%s\n' "$s" "$mode" "$dt" "$rc" \
            "$(wc -l < "$d/result.txt" 2>/dev/null || echo 0)"
        echo "$s $mode ${dt}s rc=$rc" >> "$COMPAT_OUT/times.txt"
        if [ "$mode" = glibc ]; then
            if [ $rc -ne 0 ]; then
                echo "WARN: $s: the glibc reference run exited $rc (see $d/log.txt)"
            fi
            continue
        fi
        if [ $rc -eq 0 ]; then ok; else
            bad "$s/$mode: run exited $rc (see $d/log.txt)"
            tail -n 15 "$d/log.txt" | sed 's/^/    | /'
        fi
        ref=$COMPAT_OUT/$s/glibc/result.txt
        [ -s "$ref" ] || { bad "$s: the glibc reference recorded no facts"; continue; }
        while IFS=$'\t' read -r key val; do
            got=$(awk -F'\t' -v k="$key" '$1 == k { print $2; exit }' "$d/result.txt")
            if [ "$got" = "$val" ]; then ok
            else bad "$s/$mode: $key: glibc '$val', dynalloc '${got:-<missing>}'"; fi
        done < "$ref"
    done
done

total=$((SECONDS - start))
echo "compat: total ${total}s"
if [ ${#failures[@]} -gt 0 ]; then
    echo "compat: failures:"
    printf '  %s\n' "${failures[@]}"
fi
if [ "${COMPAT_KEEP:-0}" != 1 ]; then
    # keep logs, results and timings; drop the bulky work files
    find "$COMPAT_OUT" -mindepth 3 -maxdepth 3 \
        ! -name 'log.txt' ! -name 'result.txt' ! -name 'times.txt' ! -name '*.log' \
        -exec rm -rf {} + 2>/dev/null
fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
