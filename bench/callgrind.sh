#!/bin/bash
# bench/callgrind.sh — instructions per malloc+free pair, per allocator.
#
#   BUILD=build ITERS=200000 SIZES="16 64 512 4000 8000 ring" bench/callgrind.sh
#
# For every allocator (glibc, dynalloc when built, and the Debian peers) and
# every size ("ring": a step of the ring of 1000 live blocks of 16-1024 B,
# fastpath --ring=1000), build/bench/fastpath runs under `valgrind --tool=callgrind`
# twice: with ITERS malloc+free pairs and with 0.  Both runs do the same
# start-up (including one untimed warm-up pair, so the allocator's own
# initialisation is in both), so
#
#     instructions per pair = (Ir(ITERS) - Ir(0)) / ITERS
#
# The figure includes the benchmark loop itself (about 12 instructions per pair,
# 18 per ring step: the calls through the PLT,
# store into the block, the counter, the branch), which is the same for every
# allocator.  Writes bench/results/callgrind.md and callgrind.tsv.
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
ITERS=${ITERS:-200000}
SIZES=${SIZES:-16 64 512 4000 8000 ring}
OUT=bench/results
TMPD=$OUT/tmp/callgrind
PROG=$BUILD/bench/fastpath
mkdir -p "$TMPD"

if ! command -v valgrind >/dev/null 2>&1; then
    echo "callgrind: valgrind not installed; skipped" >&2
    printf 'Not measured: valgrind is not installed.\n' > $OUT/callgrind.md
    exit 0
fi
[ -x "$PROG" ] || { echo "callgrind: $PROG missing (make bench-progs)" >&2; exit 1; }

declare -A LIB
ORDER=()
if [ -f "$BUILD/libdynalloc.so" ]; then
    LIB[dynalloc]=$(readlink -f "$BUILD/libdynalloc.so"); ORDER+=(dynalloc)
else
    echo "callgrind: $BUILD/libdynalloc.so not built; dynalloc skipped" >&2
fi
LIB[glibc]=""; ORDER+=(glibc)
while IFS='=' read -r name path; do
    [ -n "$path" ] && { LIB[$name]=$path; ORDER+=("$name"); }
done < <(bench/install-peers.sh --print 2>/dev/null)

# total instructions (Ir) of one run
ir() { # preload size iters
    local f="$TMPD/cg.out" log="$TMPD/cg.log" what="--size=$2"
    [ "$2" = ring ] && what="--ring=1000"
    rm -f "$f"
    if [ -n "$1" ]; then
        LD_PRELOAD="$1" valgrind --tool=callgrind --callgrind-out-file="$f" \
            "$PROG" "$what" --iters="$3" >/dev/null 2>"$log"
    else
        env -u LD_PRELOAD valgrind --tool=callgrind --callgrind-out-file="$f" \
            "$PROG" "$what" --iters="$3" >/dev/null 2>"$log"
    fi
    local rc=$? n
    # a program that did not run to its end (snmalloc does not start under
    # valgrind: it cannot reserve its address space) has no count
    [ "$rc" -ne 0 ] && { echo NA; return; }
    n=$(sed -n 's/^==[0-9]*== Collected : *\([0-9][0-9]*\).*/\1/p' "$log" | tail -n 1)
    if [ -z "$n" ]; then
        n=$(awk '/^summary:/ {print $2}' "$f" 2>/dev/null)
    fi
    echo "${n:-NA}"
}

TSV=$OUT/callgrind.tsv
printf 'allocator\tsize\tinstr_per_pair\n' > "$TSV"
start=$(date +%s)
for a in "${ORDER[@]}"; do
    for s in $SIZES; do
        full=$(ir "${LIB[$a]}" "$s" "$ITERS")
        base=$(ir "${LIB[$a]}" "$s" 0)
        if [ "$full" = NA ] || [ "$base" = NA ] || [ "$full" -le "$base" ]; then   # a peer that fails under valgrind
            per=NA
        else
            per=$(awk -v f="$full" -v b="$base" -v n="$ITERS" 'BEGIN { printf "%.1f", (f - b) / n }')
        fi
        printf '%s\t%s\t%s\n' "$a" "$s" "$per" >> "$TSV"
        printf 'callgrind: %-9s %5s bytes: %s instructions per pair\n' "$a" "$s" "$per" >&2
    done
done
secs=$(( $(date +%s) - start ))

# markdown table: rows allocators, columns sizes, "count (ratio to mimalloc)"
awk -F'\t' -v sizes="$SIZES" -v iters="$ITERS" -v secs="$secs" \
    -v date="$(date -u '+%Y-%m-%d %H:%M UTC')" \
    -v vg="$(valgrind --version 2>/dev/null)" '
NR == 1 { next }
{ v[$1, $2] = $3; if (!($1 in seen)) { seen[$1] = 1; order[++na] = $1 } }
END {
    ns = split(sizes, sz, " ")
    printf "Instructions per `malloc`+`free` pair, `valgrind --tool=callgrind` (%s), " \
           "(Ir(%d pairs) - Ir(0)) / %d, measured %s in %d s by `bench/callgrind.sh`. " \
           "In parentheses: ratio to mimalloc. The count includes about 12 instructions of " \
           "benchmark loop per pair and 18 per ring step, the same for every allocator.\n\n", vg, iters, iters, date, secs
    printf "| allocator |"; for (i = 1; i <= ns; i++) printf (sz[i] == "ring" ? " ring-1000 step |" : " %s B |"), sz[i]; printf "\n"
    printf "| --- |";       for (i = 1; i <= ns; i++) printf " ---: |"; printf "\n"
    for (k = 1; k <= na; k++) {
        a = order[k]; printf "| %s |", a
        for (i = 1; i <= ns; i++) {
            x = v[a, sz[i]]; m = v["mimalloc", sz[i]]
            if (x == "NA" || x == "") printf " – |"
            else if (m != "" && m != "NA" && m > 0) printf " %s (%.2f) |", x, x / m
            else printf " %s |", x
        }
        printf "\n"
    }
}' "$TSV" > $OUT/callgrind.md
echo "callgrind: wrote $OUT/callgrind.md ($secs s)" >&2
