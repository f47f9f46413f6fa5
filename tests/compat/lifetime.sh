#!/usr/bin/env bash
# lifetime.sh MODE OUTDIR — lifetime.c: a process whose main thread calls
# pthread_exit must end when its last thread returns; exit() from a thread
# ends the process; SIGTERM ends a process that has allocated.  An allocator
# that keeps a hidden thread alive (or blocks signals in it) changes these.
# Facts: each case's output and exit status (a hang is cut at 20 s: 124).
. "$(dirname "$0")/lib.sh"
suite_init "$@"
cd "$OUTDIR"
gcc -std=gnu11 -O1 -pthread "$COMPAT_DIR/lifetime.c" -o lifetime || exit 3
mode_env "$MODE"
for c in pthread_exit thread_exit; do
    rc=0
    timeout -s KILL 20 env "${MODE_ENV[@]}" ./lifetime $c > "$c.txt" 2>&1 || rc=$?
    cat "$c.txt"
    result "lifetime.$c" "rc=$rc $(tr '\n' ' ' < "$c.txt")"
done
# SIGTERM: start it, wait for "waiting", send TERM, it must be gone in 5 s
# (env execs the program, so $! is the program itself)
env "${MODE_ENV[@]}" ./lifetime sigterm > sigterm.txt 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q waiting sigterm.txt && break; sleep 0.1; done
kill -TERM $pid
gone=no
for _ in $(seq 50); do kill -0 $pid 2>/dev/null || { gone=yes; break; }; sleep 0.1; done
[ $gone = yes ] || kill -KILL $pid
rc=0; wait $pid || rc=$?
kill -KILL $pid 2>/dev/null
result lifetime.sigterm "ended=$gone rc=$rc"
