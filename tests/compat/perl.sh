#!/usr/bin/env bash
# perl.sh MODE OUTDIR — workload.pl: a 300k-key hash, regex matching and
# substitution over 9 MB of text, growing strings and arrays, deep
# structures with Storable freeze/thaw/dclone, pack/unpack, and 4 ithreads
# whose results the main thread receives and frees.
# Facts: each phase's digest line, the exit status.
. "$(dirname "$0")/lib.sh"
suite_init "$@"
cd "$OUTDIR"
rc=0
timed workload run_in "$MODE" perl "$COMPAT_DIR/workload.pl" "${PERL_SCALE:-1}" > out.txt 2> err.txt || rc=$?
cat out.txt err.txt | cut -c1-200
result perl.exit "$rc"
result perl.stderr "$(sha err.txt)"
while IFS=$'\t' read -r k v; do result "perl.$k" "$v"; done < out.txt
[ $rc -eq 0 ]
