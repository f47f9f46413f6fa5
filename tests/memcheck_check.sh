#!/bin/bash
# memcheck_check.sh — memcheck sees dynalloc's blocks (tests/run_tests.sh, valgrind@memcheck):
# tests/memcheck_bugs.c, with libdynalloc.so preloaded, under the command the README
# documents (valgrind --soname-synonyms=somalloc=NONE --suppressions=
# scripts/valgrind.supp), must get memcheck's report of the right kind for each
# bug, and none for the clean run; with DYNALLOC_VALGRIND=0 (no client
# requests) the use after free goes unseen, so the reports come from them; the
# launcher's --valgrind runs the same; under callgrind the library makes no
# client request (its counts are the ones docs/performance.md gives).
set -u
cd "$(dirname "$0")/.." || exit 2
. tests/check_lib.sh
PROG=build/tests/memcheck/memcheck_bugs
command -v valgrind > /dev/null || { echo "valgrind is not installed"; exit 1; }

# run MODE [env…]: memcheck's report of memcheck_bugs MODE in $tmp/MODE.log
run() {
    local mode=$1
    shift
    (env "$@" LD_PRELOAD="$LIB" valgrind --soname-synonyms=somalloc=NONE --suppressions=scripts/valgrind.supp \
        --leak-check=full --errors-for-leak-kinds=definite "$PROG" "$mode") > "$tmp/$mode.log" 2>&1
    echo $? > "$tmp/$mode.rc"
}

# expect MODE TEXT…: every TEXT (extended regex) is in the report
expect() {
    local mode=$1 t
    shift
    for t in "$@"; do
        if grep -Eq -- "$t" "$tmp/$mode.log"; then echo "ok   $mode: $t"; else fail "$mode: no '$t'"; sed 's/^/    /' "$tmp/$mode.log" | tail -n 30; fi
    done
}

run clean
expect clean 'memcheck_bugs: ok' 'ERROR SUMMARY: 0 errors from 0 contexts' 'definitely lost: 0 bytes|All heap blocks were freed'
[ "$(cat "$tmp/clean.rc")" = 0 ] || fail "clean exited with $(cat "$tmp/clean.rc")"

run uaf
expect uaf 'Invalid read of size 1' 'is 16 bytes inside a block of size 64 free.d' 'ERROR SUMMARY: 1 errors'
run overflow
expect overflow 'Invalid write of size 1' 'is 0 bytes after a block of size 24 alloc.d'
run uninit
expect uninit 'Conditional jump or move depends on uninitialised value' 'ERROR SUMMARY: 1 errors'
run double
expect double 'Invalid free\(\)' 'is 0 bytes inside a block of size 32 free.d'
run leak
expect leak '48 bytes in 1 blocks are definitely lost' 'by 0x[0-9A-F]+: drop_pointer'
run bigleak
expect bigleak '2,097,152 bytes in 1 blocks are definitely lost'

# without the client requests memcheck cannot see the freed block
run uaf DYNALLOC_VALGRIND=0
if grep -q 'Invalid read' "$tmp/uaf.log"; then fail "DYNALLOC_VALGRIND=0 still reports the use after free"; else echo "ok   uaf unseen with DYNALLOC_VALGRIND=0"; fi

# the launcher
VALGRIND_OPTS=--leak-check=full build/dynalloc --valgrind "$PROG" leak > "$tmp/launcher.log" 2>&1
grep -q '48 bytes in 1 blocks are definitely lost' "$tmp/launcher.log" && echo "ok   launcher --valgrind" ||
    { fail "build/dynalloc --valgrind"; tail -n 20 "$tmp/launcher.log"; }

# callgrind: no client request (DYNALLOC_VERBOSE says which mode runs; the default
# mode's usable size of malloc(1) is 16)
LD_PRELOAD="$LIB" DYNALLOC_VERBOSE=1 TEST_EXPECT_DYNALLOC=1 valgrind --tool=callgrind \
    --callgrind-out-file="$tmp/cg.out" build/tests/plain/api_basic > "$tmp/cg.log" 2>&1
if grep -q 'dynalloc: memcheck runs' "$tmp/cg.log" || ! grep -q 'dynalloc: started' "$tmp/cg.log" ||
    ! grep -q 'api_basic: ok' "$tmp/cg.log"; then
    fail "callgrind does not run the default mode"; tail -n 20 "$tmp/cg.log"
else
    echo "ok   callgrind: the default mode"
fi
LD_PRELOAD="$LIB" DYNALLOC_VERBOSE=1 valgrind --soname-synonyms=somalloc=NONE "$PROG" clean > "$tmp/mc.log" 2>&1
grep -q 'dynalloc: memcheck runs this process' "$tmp/mc.log" && echo "ok   memcheck: announced" ||
    fail "no memcheck line with DYNALLOC_VERBOSE=1"

finish memcheck_check
