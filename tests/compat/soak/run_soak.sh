#!/usr/bin/env bash
# run_soak.sh SOAK_BINARY — run the soak under LD_PRELOAD=$ALLOC_LIB for each
# back-end in $SOAK_BACKENDS, sharing $SOAK_SECONDS between them, and add up
# the checks.  SOAK_REFERENCE=1 first runs it without the preload (glibc) for
# comparison; that run is reported but not counted.
set -u
bin=$1
ALLOC_LIB=${ALLOC_LIB:?ALLOC_LIB is not set}
case "$ALLOC_LIB" in /*) ;; *) ALLOC_LIB=$PWD/$ALLOC_LIB ;; esac
secs=${SOAK_SECONDS:-600} threads=${SOAK_THREADS:-4}
backends=${SOAK_BACKENDS:-mmap sbrk}
nb=$(echo $backends | wc -w)
per=$(( secs / nb )); [ $per -ge 3 ] || per=3
pass=0 fail=0
[ -f "$ALLOC_LIB" ] || { echo "soak: $ALLOC_LIB does not exist"; echo "0 passed, 1 failed"; exit 1; }

one() {  # one LABEL env… — run the soak once, return its pass/fail counts
    local label=$1; shift
    echo "=== soak under $label: ${per}s, $threads threads"
    local out rc=0
    # a hang is a failure too: allow the run twice its length plus a minute
    out=$(timeout -k 10 $(( per * 2 + 60 )) env "$@" "$bin" "$per" "$threads" 2>&1) || rc=$?
    echo "$out" | grep -v ' passed, .* failed$'
    local line
    line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
    if [ -z "$line" ]; then
        echo "FAIL: soak under $label ended without a summary (exit $rc)"
        SP=0 SF=1
    else
        SP=${line%% passed*}; SF=${line#*passed, }; SF=${SF%% failed*}
        [ $rc -eq 0 ] || [ "$SF" -gt 0 ] || { echo "FAIL: soak under $label exited $rc"; SF=1; }
    fi
}

if [ "${SOAK_REFERENCE:-0}" = 1 ]; then
    one glibc -u LD_PRELOAD
    echo "(glibc reference, not counted: $SP passed, $SF failed)"
fi
for b in $backends; do
    one "dynalloc/$b" LD_PRELOAD="$ALLOC_LIB" DYNALLOC_BACKEND="$b"
    pass=$((pass + SP)) fail=$((fail + SF))
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
