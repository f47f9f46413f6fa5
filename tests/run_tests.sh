#!/bin/bash
# run_tests.sh — runs dynalloc's test matrix and reports one line per test.
#
#   tests/run_tests.sh [-l] [-v] [PATTERN…]
#     -l        list the test names and exit
#     -v        print the output of passing tests too
#     PATTERN   shell globs on test names (e.g. 'api_*@asan-*' '*@tsan' exports*);
#               without any, every test runs
#
# A test is a (program, mode) pair named PROGRAM@MODE.  Each runs under
# `timeout`, with its output in build/tests/logs/PROGRAM@MODE.log, and prints
# PASS NAME, FAIL NAME (followed by the tail of its output) or SKIP NAME (the
# program exited with status 77: it does not apply there).  The last line is
# "N passed, N failed"; the exit status is 1 when anything failed.
#
# Modes (programs are built by `make test-progs`, see tests/tests.mk):
#   preload-mmap, preload-sbrk  plain programs, LD_PRELOAD=build/libdynalloc.so,
#                               DYNALLOC_BACKEND=mmap or sbrk
#   preload-eager               the same with DYNALLOC_PURGE_DELAY=0 and
#                               DYNALLOC_SEGMENT_CACHE=0
#   static                      programs linked with build/libdynalloc.a
#   asan-mmap, asan-sbrk        da_ programs on build-asan (ASan + UBSan)
#   debug-mmap, debug-sbrk      da_ programs on build-debug (DA_DEBUG=3)
#   debug, asan                 da_ thread programs on build-debug, build-asan
#   tsan                        da_ thread programs on build-tsan
#   valgrind                    da_ API programs on build/libdynalloc-prefix.a
#   whitebox                    tests/whitebox_*.c
#   harden-mmap, harden-sbrk    tests/harden_*.c, preloaded with DYNALLOC_HARDEN=1
#   every-mmap, every-sbrk      tests/guard_*.c, preloaded with DYNALLOC_GUARD_SAMPLE=1
#   default-rate                tests/guard_*.c with the argument `default`, the default rate
#   guard                       the plain api_, libc_ and thr_ programs with DYNALLOC_GUARD_SAMPLE=1
#   prof                        the same with every block a heap-profile sample (DYNALLOC_PROF_RATE=1)
#   pprof                       tests/prof_check.sh: the profiles of tests/prof_*.c read by google-pprof
#   memcheck@valgrind           tests/memcheck_check.sh: memcheck's reports of tests/memcheck_bugs.c
#   on, off (thp_*)             tests/thp_*.c with DYNALLOC_THP=1 and 0
#   glibc, own, none, off       tests/percpu_*.c: DYNALLOC_PERCPU=1 on glibc's rseq area,
#   (percpu_*)                  on dynalloc's own, with rseq refused (seccomp); and =0
#   percpu, percpu-own,         the plain api_, libc_ and thr_ programs with DYNALLOC_PERCPU=1;
#   percpu-debug                the thr_ ones on dynalloc's own rseq area, and on build-debug
#   harden                      the plain api_, libc_ and thr_ programs and the real
#                               programs with DYNALLOC_HARDEN=1
#   mmap, sbrk (real_*)         real programs, output compared with a bare run
#   prof (real_*)               the same with the heap profiler (a sample per 64 KiB), profiles checked
#   exports, launcher, env-*    checks of the shared libraries and their options
#   glibc                       plain programs on the system allocator (only when
#                               TEST_GLIBC=1: checks the tests themselves)
# Environment: TEST_LOGS (default build/tests/logs) is where the logs go;
# TEST_TIMEOUT (seconds, default 120) is the limit of the fast
# modes; the slow ones have their own limits below.  TEST_GLIBC=1 adds @glibc.
# Under the sanitizers and the debug build, programs get TEST_SCALE (a divisor
# of their work; only the thread programs and api_oom read it).

set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
OUT=build/tests
LOGS=${TEST_LOGS:-$OUT/logs}
REAL_WORK=$OUT/real-$$          # per run, so that concurrent runs do not collide
LIB=$ROOT/build/libdynalloc.so
# the system's python (a python3 earlier on PATH may be a wrapper script)
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
T_DEFAULT=${TEST_TIMEOUT:-120}

list_only=0
verbose=0
while getopts "lv" opt; do
    case $opt in
        l) list_only=1 ;;
        v) verbose=1 ;;
        *) echo "usage: $0 [-l] [-v] [PATTERN...]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
patterns=("$@")

# --- helpers run as tests (through bash -c, so that timeout can run them) ----

# check_exports LIB FILTER: the dynamic symbols LIB defines are exactly the
# lines of tests/exports.txt that match the regex FILTER.
check_exports() {
    local lib=$1 filter=$2 tmp
    tmp=$(mktemp -d) || return 1
    if [ ! -f "$lib" ]; then echo "missing $lib"; return 1; fi
    nm -D --defined-only "$lib" | awk '{ print $NF }' | sed 's/@.*//' |
        grep -vxE '_init|_fini|__bss_start|_edata|_end|__end__|_DYNAMIC|_GLOBAL_OFFSET_TABLE_' |
        sort -u > "$tmp/actual"
    grep -vE '^[[:space:]]*(#|$)' tests/exports.txt | grep -E "$filter" | sort -u > "$tmp/expected"
    local extra missing
    extra=$(comm -13 "$tmp/expected" "$tmp/actual")
    missing=$(comm -23 "$tmp/expected" "$tmp/actual")
    rm -rf "$tmp"
    echo "$lib: $(nm -D --defined-only "$lib" | wc -l) defined dynamic symbols"
    [ -z "$extra" ] || echo "exported but not in the API:" $extra
    [ -z "$missing" ] || echo "API names not exported:" $missing
    [ -z "$extra" ] && [ -z "$missing" ]
}

# stats_report FILE PID: FILE holds the text report of process PID, every
# line of it, with numbers that add up (in use = uordblks + hblkhd; mapped =
# arena + hblkhd).
stats_report() {
    local all=$1 pid=$2 line f
    f=$(mktemp) || return 1
    # the lines of that process's report: from its first line to its last
    awk -v head="dynalloc: statistics for process $pid" '$0 == head { on = 1 } on { print }
        on && /^  system calls: / { exit }' "$all" > "$f"
    grep -qx "dynalloc: statistics for process $pid" "$f" || { echo "no report of process $pid"; rm -f "$f"; return 1; }
    for line in '  pool classes \(size: live blocks, live bytes\)' '  tier  mallocs  frees  live bytes' \
                '    pool  –  –  [0-9]+  \([0-9]+ blocks in [0-9]+ pages of 64 KiB, [0-9]+ of them empty and kept; [0-9]+ free blocks, [0-9]+ bytes\)' \
                '    bulk  [0-9]+  [0-9]+  [0-9]+  \([0-9]+ runs\)' '    huge  [0-9]+  [0-9]+  [0-9]+  \([0-9]+ blocks\)' \
                '  in use: [0-9]+ bytes \(uordblks [0-9]+ \+ hblkhd [0-9]+\); freed by other threads, not yet collected: [0-9]+ bytes' \
                '  free runs: [0-9]+ bytes in [0-9]+ runs \([0-9]+ not yet purged\)' \
                '  caches: [0-9]+ segments \([0-9]+ bytes\); huge cache: [0-9]+ mappings \([0-9]+ bytes\)' \
                '  releasable now \(keepcost\): [0-9]+ bytes' \
                '  heaps: [0-9]+ live; segments: [0-9]+ in heaps or abandoned, [0-9]+ cached; [0-9]+ adopted' \
                '  OS: [0-9]+ bytes mapped now \(arena [0-9]+ \+ hblkhd [0-9]+; metadata [0-9]+\), peak [0-9]+, [0-9]+ bytes purged' \
                "  transparent huge pages: [0-9]+ KiB of the process's anonymous memory \\(DYNALLOC_THP=0\\)" \
                '  system calls: mmap [0-9]+, munmap [0-9]+, madvise [0-9]+, mremap [0-9]+, sbrk [0-9]+'; do
        grep -qxE "$line" "$f" || { echo "report lacks a line matching: $line"; rm -f "$f"; return 1; }
    done
    awk '/^  in use: / { gsub(/[(),;+]/, " "); if ($3 != $6 + $8) bad = 1; n++ }
         /^  OS: / { gsub(/[(),;+]/, " "); if ($2 != $7 + $9 || $11 > $7 || $13 < $2) bad = 1; n++ }
         /^    pool  / { if ($4 == 0) bad = 1 }
         END { exit bad || n != 2 }' "$f" || { echo "the report's figures do not add up"; rm -f "$f"; return 1; }
    rm -f "$f"
}

# run_stats FILE ENV… -- COMMAND…: runs COMMAND with ENV, its stderr into FILE;
# prints its stdout and returns its exit status.
# check_stats: DYNALLOC_STATS=1 makes a preloaded program print the report at
# exit without changing its stdout or exit status; the report still arrives
# when the program closed stderr (to the descriptor duplicated at start-up)
# and when it leaves through _exit; DYNALLOC_STATS=json gives one JSON object
# with the same figures; DYNALLOC_STATS_FILE=…%p writes one file per process,
# a fork child's included.
check_stats() {
    local tmp out r
    tmp=$(mktemp -d) || return 1
    out=$(DYNALLOC_STATS=1 LD_PRELOAD=$LIB build/tests/plain/api_limits 2> "$tmp/err")
    r=$?
    echo "exit status $r; stdout:"; echo "$out"; echo "stderr:"; head -n 40 "$tmp/err"
    [ $r -eq 0 ] && echo "$out" | grep -q 'api_limits: ok' || { rm -rf "$tmp"; return 1; }
    # the report is the last thing on stderr, of the program's own pid
    pid=$(sed -n 's/^dynalloc: statistics for process \([0-9]*\)$/\1/p' "$tmp/err")
    [ -n "$pid" ] && stats_report "$tmp/err" "$pid" || { rm -rf "$tmp"; return 1; }
    # stderr closed by the program (exec 2>&-), and _exit: still reported
    DYNALLOC_STATS=1 LD_PRELOAD=$LIB "$PY" -c 'import os; os.close(2); os._exit(3)' 2> "$tmp/closed"
    r=$?
    pid=$(sed -n 's/^dynalloc: statistics for process \([0-9]*\)$/\1/p' "$tmp/closed")
    echo "closed stderr, _exit(3): status $r, report of ${pid:-nobody}"
    [ $r -eq 3 ] && [ -n "$pid" ] && stats_report "$tmp/closed" "$pid" || { rm -rf "$tmp"; return 1; }
    # JSON: one object, the same figures as mallinfo2's identities
    DYNALLOC_STATS=json LD_PRELOAD=$LIB build/tests/plain/api_limits > /dev/null 2> "$tmp/json"
    "$PY" - "$tmp/json" <<'PY' || { rm -rf "$tmp"; return 1; }
import json, sys
text = open(sys.argv[1]).read()
start = text.index('{"dynalloc"')
d = json.loads(text[start:])          # exactly one object up to the end
m = d["mallinfo2"]
assert m["uordblks"] + m["fordblks"] == m["arena"], m
assert d["in_use"] == m["uordblks"] + m["hblkhd"], d
assert d["os"]["mapped"] == m["arena"] + m["hblkhd"], d
assert d["pool"]["in_use"] + d["bulk"]["in_use"] == m["uordblks"], d
assert d["huge"]["in_use"] == m["hblkhd"] and d["huge"]["blocks"] == m["hblks"], d
assert m["keepcost"] <= m["fordblks"] and d["pid"] > 0, d
print("json report:", sorted(d))
PY
    # one file per process with %p: the shell and the fork child it makes for ( … )
    DYNALLOC_STATS_FILE="$tmp/st.%p" LD_PRELOAD=$LIB sh -c '( : ) ; echo $$ > '"$tmp/shpid"
    local files
    files=$(ls "$tmp" | grep -c '^st\.[0-9]*$')
    echo "stats files: $(ls "$tmp" | grep '^st\.' | tr '\n' ' ')"
    [ "$files" -ge 2 ] && [ -f "$tmp/st.$(cat "$tmp/shpid")" ] &&
        stats_report "$tmp/st.$(cat "$tmp/shpid")" "$(cat "$tmp/shpid")"
    r=$?
    rm -rf "$tmp"
    return $r
}

# check_launcher PROGRAM…: build/dynalloc --stats runs the command with the same
# stdout and exit status as bare, and a report of one of its processes on stderr.
check_launcher() {
    local tmp bare_out bare_rc out rc pid
    tmp=$(mktemp -d) || return 1
    (cd "$tmp" && "$@" > "$tmp/bare" 2> /dev/null < /dev/null); bare_rc=$?
    (cd "$tmp" && "$ROOT/build/dynalloc" --stats "$@" > "$tmp/out" 2> "$tmp/err" < /dev/null); rc=$?
    echo "bare: status $bare_rc; with --stats: status $rc; stderr:"
    head -n 40 "$tmp/err"
    cmp "$tmp/bare" "$tmp/out" || { echo "stdout differs"; rm -rf "$tmp"; return 1; }
    [ $rc -eq $bare_rc ] || { rm -rf "$tmp"; return 1; }
    pid=$(sed -n 's/^dynalloc: statistics for process \([0-9]*\)$/\1/p' "$tmp/err" | tail -n 1)
    [ -n "$pid" ] && stats_report "$tmp/err" "$pid"
    rc=$?
    rm -rf "$tmp"
    return $rc
}

# check_unknown: a DYNALLOC_ variable that names no option gets one warning line.
check_unknown() {
    local err out r
    err=$(mktemp) || return 1
    out=$(DYNALLOC_STAT=1 LD_PRELOAD=$LIB build/tests/plain/api_limits 2> "$err")
    r=$?
    cat "$err"
    [ $r -eq 0 ] && echo "$out" | grep -q 'api_limits: ok' &&
        [ "$(grep -c . "$err")" = 1 ] &&
        grep -qx 'dynalloc: ignoring unknown variable DYNALLOC_STAT (known: STATS, STATS_FILE, VERBOSE, BACKEND, PURGE_DELAY, SEGMENT_CACHE, FAULT_EVERY, PURGE_THREAD, HARDEN, GUARD_SAMPLE, PROF, PROF_RATE, PROF_FILE, VALGRIND, THP, PAGE_SIZE, PERCPU)' "$err"
    r=$?
    rm -f "$err"
    return $r
}

# check_bad_values: malformed DYNALLOC_* values are reported, never fatal.
check_bad_values() {
    local out err r
    err=$(mktemp) || return 1
    out=$(DYNALLOC_BACKEND=bogus DYNALLOC_STATS=abc DYNALLOC_PURGE_DELAY=-5 \
          DYNALLOC_VERBOSE=99999999999999999999999 LD_PRELOAD=$LIB build/tests/plain/api_limits 2> "$err")
    r=$?
    echo "exit status $r; stdout:"
    echo "$out"
    echo "stderr:"
    cat "$err"
    [ $r -eq 0 ] && echo "$out" | grep -q 'api_limits: ok' && grep -q 'DYNALLOC_BACKEND' "$err"
    r=$?
    rm -f "$err"
    return $r
}

# check_verbose: DYNALLOC_VERBOSE=1 keeps programs working and makes each
# process say it started (with its back-end and purge delay) and report the
# segments it maps.
check_verbose() {
    local out err r
    err=$(mktemp) || return 1
    out=$(DYNALLOC_VERBOSE=1 DYNALLOC_PURGE_DELAY=250 LD_PRELOAD=$LIB sh -c 'echo a; ls / >/dev/null; echo b' 2> "$err")
    r=$?
    cat "$err"
    [ $r -eq 0 ] && [ "$out" = "a
b" ] && [ "$(grep -cx 'dynalloc: started (backend mmap, purge delay 250 ms, per-thread heaps)' "$err")" -ge 2 ] &&
        grep -qE '^dynalloc: new segment 0x[0-9a-f]*[048c]00000 \(mmap\)$' "$err" &&
        ! grep -vE '^dynalloc: (started \(backend mmap, purge delay 250 ms, per-thread heaps\)|new segment 0x[0-9a-f]+ \(mmap\))$' "$err"
    r=$?
    rm -f "$err"
    return $r
}
# check_percpu_verbose: DYNALLOC_VERBOSE names the design that runs and whose
# rseq registration it uses: glibc's, dynalloc's own (glibc's tunable off), none
# (rseq refused by a seccomp filter: the per-thread heaps, and why).
check_percpu_verbose() {
    local got want i
    local -a envs=("DYNALLOC_PERCPU=1" "DYNALLOC_PERCPU=1 GLIBC_TUNABLES=glibc.pthread.rseq=0"
                   "DYNALLOC_PERCPU=1 GLIBC_TUNABLES=glibc.pthread.rseq=0" "DYNALLOC_PERCPU=0")
    local -a wants=("per-CPU caches on glibc's rseq registration" "per-CPU caches on dynalloc's own rseq registration"
                    "per-thread heaps (DYNALLOC_PERCPU=1: no rseq registration, the kernel refused it)" "per-thread heaps")
    for i in 0 1 2 3; do
        want="dynalloc: started (backend mmap, purge delay 100 ms, ${wants[$i]})"
        if [ $i = 2 ]; then
            # shellcheck disable=SC2086
            got=$(env ${envs[$i]} DYNALLOC_VERBOSE=1 "$PERCPU_PROG" --seccomp-exec env LD_PRELOAD="$LIB" true 2>&1 | head -1)
        else
            # shellcheck disable=SC2086
            got=$(env ${envs[$i]} DYNALLOC_VERBOSE=1 LD_PRELOAD=$LIB true 2>&1 | head -1)
        fi
        echo "${envs[$i]}: $got"
        [ "$got" = "$want" ] || { echo "want: $want"; return 1; }
    done
}
# check_page_size: an OS page the build cannot serve (DYNALLOC_PAGE_SIZE stands
# in for the kernel's: 128 KiB, or one that is no power of two) is refused at
# start-up with one line and SIGABRT, before the program runs; 4, 16 and 64 KiB run it.
check_page_size() {
    local size out r prog=build/tests/debug/api_limits
    for size in 131072 12288; do
        out=$(DYNALLOC_PAGE_SIZE=$size "$prog" 2>&1)
        r=$?
        echo "page $size: status $r: $out"
        [ $r -eq 134 ] && [ "$out" = "dynalloc: the OS page size is $size bytes; this build serves pages of 4096 to 65536 bytes" ] || return 1
    done
    for size in 4096 16384 65536; do
        out=$(DYNALLOC_PAGE_SIZE=$size "$prog" 2>&1)
        r=$?
        echo "page $size: status $r"
        [ $r -eq 0 ] && echo "$out" | grep -q 'api_limits: ok' || return 1
    done
}

export -f check_page_size check_exports check_stats check_bad_values check_verbose stats_report check_launcher check_unknown check_percpu_verbose
export LIB ROOT PY
export PERCPU_PROG=$ROOT/build/tests/percpu/percpu_reuse

# --- the test list -------------------------------------------------------------

names=()
limits=()
cmds=()

# add NAME SECONDS COMMAND…
add() {
    local name=$1 limit=$2
    shift 2
    names+=("$name")
    limits+=("$limit")
    cmds+=("$(printf '%q ' "$@")")
}

# program names, from the sources tests/NAME.c
names_of() {
    local glob f
    for glob in "$@"; do
        for f in tests/$glob.c; do
            [ -e "$f" ] && basename "$f" .c
        done
    done
}
API=$(names_of 'api_*' 'misuse_*')
LIBC=$(names_of 'libc_*')
THR=$(names_of 'thr_*')
WB=$(names_of 'whitebox_*')
HARD=$(names_of 'harden_*')
GUARD=$(names_of 'guard_*')
ASANP=$(names_of 'asan_*')

ASAN_ENV=(ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=0
          UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1)
TSAN_ENV=(TSAN_OPTIONS=halt_on_error=0:second_deadlock_stack=1:exitcode=66)
# TSan of clang 14 can refuse the memory layout that a kernel with many bits of
# mmap randomisation gives; run its programs without address randomisation.
NO_ASLR=()
if setarch "$(uname -m)" -R true 2>/dev/null; then
    NO_ASLR=(setarch "$(uname -m)" -R)
fi

for p in $API $LIBC $THR; do
    for b in mmap sbrk; do
        add "$p@preload-$b" "$T_DEFAULT" env TEST_EXPECT_DYNALLOC=1 DYNALLOC_BACKEND=$b LD_PRELOAD="$LIB" "$OUT/plain/$p"
    done
    add "$p@static" "$T_DEFAULT" env TEST_EXPECT_DYNALLOC=1 "$OUT/static/$p"
    # the other extreme of the tuning knobs: purge at once, cache no segments
    add "$p@preload-eager" "$T_DEFAULT" env TEST_EXPECT_DYNALLOC=1 DYNALLOC_PURGE_DELAY=0 \
        DYNALLOC_SEGMENT_CACHE=0 LD_PRELOAD="$LIB" "$OUT/plain/$p"
    if [ "${TEST_GLIBC:-0}" = 1 ]; then
        add "$p@glibc" "$T_DEFAULT" "$OUT/plain/$p"
    fi
done
for p in $API; do
    for b in mmap sbrk; do
        add "$p@asan-$b" 300 env "${ASAN_ENV[@]}" DYNALLOC_BACKEND=$b "$OUT/asan/$p"
    done
    for b in mmap sbrk; do
        add "$p@debug-$b" 300 env TEST_SCALE=8 DYNALLOC_BACKEND=$b "$OUT/debug/$p"
    done
done
# a port's OS page on this kernel: every OS call in pages of 16 or 64 KiB (the
# debug build checks each, and its validity walks that every run is whole pages)
for p in $API $THR; do
    for ps in 16 64; do
        add "$p@page${ps}k" 300 env TEST_SCALE=8 DYNALLOC_PAGE_SIZE=$((ps * 1024)) "$OUT/debug/$p"
    done
    add "$p@page64k-sbrk" 300 env TEST_SCALE=8 DYNALLOC_PAGE_SIZE=65536 DYNALLOC_BACKEND=sbrk "$OUT/debug/$p"
done
for p in $HARD; do
    add "$p@harden-page64k" "$T_DEFAULT" env TEST_EXPECT_DYNALLOC=1 DYNALLOC_HARDEN=1 DYNALLOC_PAGE_SIZE=65536 \
        DYNALLOC_GUARD_SAMPLE=0 LD_PRELOAD="$LIB" "$OUT/harden/$p"
done
for p in $GUARD; do
    add "$p@every-page64k" "$T_DEFAULT" env TEST_EXPECT_DYNALLOC=1 DYNALLOC_GUARD_SAMPLE=1 DYNALLOC_PAGE_SIZE=65536 \
        LD_PRELOAD="$LIB" "$OUT/guard/$p"
done
for p in $THR; do
    add "$p@debug" 300 env TEST_SCALE=4 "$OUT/debug/$p"
    # thr_exchange: not under TSan and ASan, where its 192 threads of calloc'd
    # exchanges take minutes
    case $p in thr_exchange) continue ;; esac
    # TSan slows the stress test about 30-fold: a smaller share of its work
    case $p in thr_stress) scale=8 ;; *) scale=2 ;; esac
    add "$p@tsan" 180 env "${TSAN_ENV[@]}" TEST_SCALE=$scale "${NO_ASLR[@]}" "$OUT/tsan/$p"
    add "$p@asan" 300 env "${ASAN_ENV[@]}" TEST_SCALE=2 "$OUT/asan/$p"
done
for p in $API; do
    case $p in misuse_*) continue ;; esac   # valgrind reports on the aborting children
    add "$p@valgrind" 600 env TEST_NO_RLIMIT=1 valgrind --error-exitcode=1 -q "$OUT/vg/$p"
done
for p in $WB; do
    add "$p@whitebox" "$T_DEFAULT" "$OUT/whitebox/$p"
done
for p in $HARD; do
    for b in mmap sbrk; do
        # no guarded samples: a sampled block's misuse gives the sampling report, not the hardened one
        add "$p@harden-$b" "$T_DEFAULT" env TEST_EXPECT_DYNALLOC=1 DYNALLOC_HARDEN=1 DYNALLOC_BACKEND=$b \
            DYNALLOC_GUARD_SAMPLE=0 LD_PRELOAD="$LIB" "$OUT/harden/$p"
    done
done
for p in $GUARD; do
    for b in mmap sbrk; do
        add "$p@every-$b" "$T_DEFAULT" env TEST_EXPECT_DYNALLOC=1 DYNALLOC_GUARD_SAMPLE=1 DYNALLOC_BACKEND=$b \
            LD_PRELOAD="$LIB" "$OUT/guard/$p"
    done
    add "$p@default-rate" "$T_DEFAULT" env -u DYNALLOC_GUARD_SAMPLE TEST_EXPECT_DYNALLOC=1 LD_PRELOAD="$LIB" \
        "$OUT/guard/$p" default
done
for p in $API $LIBC $THR; do
    case $p in misuse_*) continue ;; esac   # their reports are the default mode's
    # every pool-sized block a guarded sample while the area has room
    add "$p@guard" "$T_DEFAULT" env TEST_EXPECT_DYNALLOC=1 DYNALLOC_GUARD_SAMPLE=1 LD_PRELOAD="$LIB" "$OUT/plain/$p"
done
for p in $API $LIBC $THR; do
    # misuse_*: their reports are the default mode's; api_mallinfo checks pool figures that
    # no block reaches, thr_retention a bound that the profiler's tables of 10^5 live
    # samples (never given back) exceed
    case $p in misuse_*|api_mallinfo|thr_retention) continue ;; esac
    # every block a heap-profile sample (a run of whole pages, its stack recorded)
    add "$p@prof" "$T_DEFAULT" env TEST_EXPECT_DYNALLOC=1 DYNALLOC_PROF=1 DYNALLOC_PROF_RATE=1 \
        DYNALLOC_PROF_FILE=/dev/null LD_PRELOAD="$LIB" "$OUT/plain/$p"
done
add "prof@pprof" 300 tests/prof_check.sh
add "memcheck@valgrind" 600 tests/memcheck_check.sh
# the per-CPU caches (percpu.c) on glibc's rseq area, on dynalloc's own, and
# refused (a seccomp filter fails rseq: the per-thread heaps alone)
for p in $(names_of 'percpu_*'); do
    add "$p@glibc" "$T_DEFAULT" env TEST_EXPECT_DYNALLOC=1 DYNALLOC_PERCPU=1 LD_PRELOAD="$LIB" "$OUT/percpu/$p" cache
    add "$p@own" "$T_DEFAULT" env TEST_EXPECT_DYNALLOC=1 DYNALLOC_PERCPU=1 GLIBC_TUNABLES=glibc.pthread.rseq=0 \
        LD_PRELOAD="$LIB" "$OUT/percpu/$p" cache
    add "$p@none" "$T_DEFAULT" env TEST_EXPECT_DYNALLOC=1 DYNALLOC_PERCPU=1 PERCPU_REUSE_FILTER=1 \
        LD_PRELOAD="$LIB" "$OUT/percpu/$p" none
    add "$p@off" "$T_DEFAULT" env TEST_EXPECT_DYNALLOC=1 DYNALLOC_PERCPU=0 LD_PRELOAD="$LIB" "$OUT/percpu/$p" none
done
for p in $THR; do
    add "$p@percpu-own" "$T_DEFAULT" env TEST_EXPECT_DYNALLOC=1 DYNALLOC_PERCPU=1 \
        GLIBC_TUNABLES=glibc.pthread.rseq=0 LD_PRELOAD="$LIB" "$OUT/plain/$p"
    add "$p@percpu-debug" 300 env TEST_SCALE=4 DYNALLOC_PERCPU=1 "$OUT/debug/$p"
done
add "env-percpu@preload" 60 bash -c check_percpu_verbose
for p in $(names_of 'thp_*'); do
    add "$p@on" "$T_DEFAULT" env TEST_EXPECT_DYNALLOC=1 DYNALLOC_THP=1 LD_PRELOAD="$LIB" "$OUT/thp/$p" on
    add "$p@off" "$T_DEFAULT" env TEST_EXPECT_DYNALLOC=1 DYNALLOC_THP=0 LD_PRELOAD="$LIB" "$OUT/thp/$p" off
done
for p in $API $LIBC $THR; do
    case $p in misuse_*) continue ;; esac   # their reports are the default mode's
    add "$p@harden" "$T_DEFAULT" env TEST_EXPECT_DYNALLOC=1 DYNALLOC_HARDEN=1 LD_PRELOAD="$LIB" "$OUT/plain/$p"
    add "$p@percpu" "$T_DEFAULT" env TEST_EXPECT_DYNALLOC=1 DYNALLOC_PERCPU=1 LD_PRELOAD="$LIB" "$OUT/plain/$p"
done
add "exports@libdynalloc.so" 60 bash -c 'check_exports build/libdynalloc.so .'
add "exports@libdynalloc-prefix.so" 60 bash -c "check_exports build/libdynalloc-prefix.so '^da_'"
add "launcher@sbrk" "$T_DEFAULT" env TEST_EXPECT_DYNALLOC=1 build/dynalloc --backend=sbrk "$OUT/plain/api_basic"
for p in $ASANP; do
    add "$p@asan" 300 env "${ASAN_ENV[@]}" DYNALLOC_GUARD_SAMPLE=0 "$OUT/asan/$p"   # ASan's reports, not a sample's
done
add "install@destdir" 120 tests/install_check.sh
add "install@prefix" 300 tests/install_prefix.sh
add "deb@dpkg" 300 tests/deb_check.sh
add "fuzz@short" 400 make --no-print-directory fuzz-short
add "env-stats@preload" 60 bash -c check_stats
add "env-verbose@preload" 60 bash -c check_verbose
add "env-unknown@preload" 60 bash -c check_unknown
add "launcher-stats@ls" 60 bash -c 'check_launcher ls /'
add "launcher-stats@cat" 60 bash -c 'check_launcher cat /etc/passwd'
add "launcher-stats@sh" 60 bash -c "check_launcher sh -c 'echo x'"
add "launcher-stats@make" 60 bash -c "check_launcher make -s -f /dev/null --eval='all: ; @echo made' all"
add "launcher-stats@python3" 60 bash -c "check_launcher $PY -c 'import sys; print(sum(range(10))); sys.exit(4)'"
add "env-bad-values@preload" 60 bash -c check_bad_values
add "env-page-size@debug" 60 bash -c check_page_size
for w in python perl git gcc sort; do
    for b in mmap sbrk harden prof page16k page64k; do
        add "real_$w@$b" 300 tests/real/run_real.sh "$w" "$b" "$REAL_WORK"
    done
done

# --- running -------------------------------------------------------------------

selected() {
    local name=$1 pat
    [ ${#patterns[@]} -eq 0 ] && return 0
    for pat in "${patterns[@]}"; do
        # shellcheck disable=SC2053
        [[ $name == $pat ]] && return 0
    done
    return 1
}

if [ $list_only = 1 ]; then
    for i in "${!names[@]}"; do
        selected "${names[$i]}" && echo "${names[$i]}"
    done
    exit 0
fi

mkdir -p "$LOGS"
trap 'rm -rf "$REAL_WORK"' EXIT
passed=0
failed=0
skipped=0
failures=()
start=$(date +%s)
for i in "${!names[@]}"; do
    name=${names[$i]}
    selected "$name" || continue
    log="$LOGS/$name.log"
    t0=$(date +%s)
    # the program may be missing if it did not build: that is a failure
    eval "timeout -k 10 ${limits[$i]} ${cmds[$i]}" > "$log" 2>&1 < /dev/null
    rc=$?
    t1=$(date +%s)
    echo "[exit $rc after $((t1 - t0)) s]" >> "$log"
    if [ $rc -eq 0 ]; then
        echo "PASS $name"
        passed=$((passed + 1))
        [ $verbose = 1 ] && sed 's/^/    /' "$log"
    elif [ $rc -eq 77 ]; then
        echo "SKIP $name"
        skipped=$((skipped + 1))
        [ $verbose = 1 ] && sed 's/^/    /' "$log"
    else
        echo "FAIL $name"
        failed=$((failed + 1))
        failures+=("$name")
        [ $rc -eq 124 ] || [ $rc -eq 137 ] && echo "    (timed out after ${limits[$i]} s)"
        # every distinct sanitizer report, then the end of the output
        grep -E '^SUMMARY: [A-Za-z]+Sanitizer' "$log" | sort | uniq -c | sed 's/^/   /'
        tail -n 25 "$log" | sed 's/^/    /'
    fi
done
end=$(date +%s)
echo "took $((end - start)) s; logs in $LOGS/"
[ $skipped -gt 0 ] && echo "$skipped skipped (not applicable)"
[ $failed -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
