#!/bin/sh
# Static analysis of src/: the lock rule below, cppcheck, then clang-tidy with the bug-finding checks.
# Left out: the C11 Annex K "insecure API" advice (memset/memcpy), the va_list
# false positive on functions that take a va_list, and style-only bugprone checks.
set -e
cd "$(dirname "$0")/.."
# Allocator mutexes are taken only through src/lock.c, which blocks the thread's
# signals while it holds one (fork from a signal handler, docs/design.md "fork").
if grep -n 'pthread_mutex_\(lock\|trylock\|unlock\)' src/*.c src/*.h | grep -v '^src/lock\.c:'; then
  echo "lint: take allocator mutexes with da_lock, da_trylock and da_unlock (src/lock.c)"
  exit 1
fi
cppcheck --error-exitcode=1 --enable=warning,performance,portability --std=c11 --quiet \
  --suppress=missingIncludeSystem -Iinclude -Isrc src/*.c
checks='-*,bugprone-*,clang-analyzer-*,-clang-analyzer-security.insecureAPI.*'
checks="$checks,-clang-analyzer-valist.Uninitialized,-bugprone-easily-swappable-parameters"
checks="$checks,-bugprone-reserved-identifier,-bugprone-narrowing-conversions"
checks="$checks,-bugprone-implicit-widening-of-multiplication-result,-bugprone-assignment-in-if-condition"
out=$(clang-tidy --quiet -checks="$checks" src/*.c -- -std=gnu11 -Iinclude -Isrc -DDA_DEBUG=0 2>&1 |
      grep -v "warnings\? generated" || true)
if [ -n "$out" ]; then
  printf '%s\n' "$out"
  echo "lint: clang-tidy found problems"
  exit 1
fi
echo "lint: clean"
