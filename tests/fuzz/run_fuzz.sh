#!/usr/bin/env bash
# run_fuzz.sh BINARY SECONDS WORK_CORPUS — replay every seed of
# tests/fuzz/corpus once (one check each), then fuzz for SECONDS from the
# seeds plus WORK_CORPUS (which keeps what this run finds; one more check).
# Crashing inputs are written to the directory of WORK_CORPUS as crash-*.
set -u
bin=$1 secs=$2 work=$3
here=$(cd "$(dirname "$0")" && pwd)
seeds=$here/corpus
mkdir -p "$work"
art=$(dirname "$work")/
pass=0 fail=0
for f in "$seeds"/*; do
    if timeout 120 "$bin" -timeout=60 -rss_limit_mb=4096 "$f" > "$work.replay.log" 2>&1; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1)); echo "FAIL: seed ${f##*/}"; tail -n 20 "$work.replay.log"
    fi
done
echo "fuzz: replayed $((pass + fail)) seeds: $pass passed, $fail failed"
echo "fuzz: fuzzing ${secs}s with $bin"
rc=0
timeout -k 10 $((secs + 120)) "$bin" -max_total_time="$secs" -max_len=8192 -timeout=60 \
    -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$art" \
    "$work" "$seeds" > "$work.log" 2>&1 || rc=$?
grep -E '^#[0-9]+.*(INITED|DONE)' "$work.log" | tail -n 2
grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$work.log"
echo "fuzz: corpus now $(ls "$work" | wc -l) inputs in $work"
if [ $rc -eq 0 ]; then
    pass=$((pass + 1))
else
    fail=$((fail + 1))
    echo "FAIL: fuzzing exited $rc; the end of its log ($work.log):"
    grep -E 'fuzz_alloc:|dynalloc:|ERROR|SUMMARY|Test unit written' "$work.log" | head -n 20
    tail -n 40 "$work.log"
fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
