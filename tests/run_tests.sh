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
#   mmap, sbrk (real_*)         real programs, output compared with a bare run
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

# check_stats: DYNALLOC_STATS=1 makes a preloaded program print statistics to
# stderr at exit, without changing its stdout or exit status.  (The program
# must leave stderr open and leave through exit(): coreutils close stderr at
# exit, dash leaves through _exit.)
check_stats() {
    local err out r
    err=$(mktemp) || return 1
    out=$(DYNALLOC_STATS=1 LD_PRELOAD=$LIB build/tests/plain/api_limits 2> "$err")
    r=$?
    echo "exit status $r; stdout:"
    echo "$out"
    echo "stderr ($(wc -c < "$err") bytes):"
    head -n 30 "$err"
    [ $r -eq 0 ] && [ -s "$err" ] && echo "$out" | grep -q 'api_limits: ok'
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

# check_verbose: DYNALLOC_VERBOSE=1 keeps programs working.
check_verbose() {
    local out
    out=$(DYNALLOC_VERBOSE=1 LD_PRELOAD=$LIB sh -c 'echo a; ls / >/dev/null; echo b' 2>/dev/null) || return 1
    [ "$out" = "a
b" ]
}
export -f check_exports check_stats check_bad_values check_verbose
export LIB

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
for p in $THR; do
    # TSan slows the stress test about 30-fold: a smaller share of its work
    case $p in thr_stress) scale=8 ;; *) scale=2 ;; esac
    add "$p@tsan" 180 env "${TSAN_ENV[@]}" TEST_SCALE=$scale "${NO_ASLR[@]}" "$OUT/tsan/$p"
    add "$p@debug" 300 env TEST_SCALE=4 "$OUT/debug/$p"
    add "$p@asan" 300 env "${ASAN_ENV[@]}" TEST_SCALE=2 "$OUT/asan/$p"
done
for p in $API; do
    case $p in misuse_*) continue ;; esac   # valgrind reports on the aborting children
    add "$p@valgrind" 600 env TEST_NO_RLIMIT=1 valgrind --error-exitcode=1 -q "$OUT/vg/$p"
done
for p in $WB; do
    add "$p@whitebox" "$T_DEFAULT" "$OUT/whitebox/$p"
done
add "exports@libdynalloc.so" 60 bash -c 'check_exports build/libdynalloc.so .'
add "exports@libdynalloc-prefix.so" 60 bash -c "check_exports build/libdynalloc-prefix.so '^da_'"
add "launcher@sbrk" "$T_DEFAULT" env TEST_EXPECT_DYNALLOC=1 build/dynalloc --backend=sbrk "$OUT/plain/api_basic"
add "install@destdir" 120 tests/install_check.sh
add "fuzz@short" 400 make --no-print-directory fuzz-short
add "env-stats@preload" 60 bash -c check_stats
add "env-verbose@preload" 60 bash -c check_verbose
add "env-bad-values@preload" 60 bash -c check_bad_values
for w in python perl git gcc sort; do
    for b in mmap sbrk; do
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
