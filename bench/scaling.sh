#!/bin/sh
# bench/scaling.sh — thread scaling of the multi-threaded workloads.
#
#   THREADS="1 2 4 8 16" REPS=3 BUILD=build bench/scaling.sh [run.py options]
#
# Runs fast-64-mt, larson, prodcons, falseshare and churn at each thread count
# under every allocator (interleaved, REPS repetitions, medians) and writes
# bench/results/scaling.md and scaling.json.  Meant for a many-core machine;
# counts above the CPU count still run, oversubscribed.  Extra options go to
# bench/run.py (e.g. --allocators glibc,mimalloc --only larson --quick).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
THREADS=${THREADS:-1 2 4 8 16}
REPS=${REPS:-3}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
exec "$PY" bench/run.py --build "$BUILD" --scaling --thread-list "$THREADS" --reps "$REPS" "$@"
