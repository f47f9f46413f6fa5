# tests/tests.mk — `make test` and the test programs (included by the Makefile).
#
#   make test            build the library variants and the programs, run them all
#   make test-progs      only build the programs (needs the variants below)
#   make test-libs       only build the library variants
#   tests/run_tests.sh [-l] [PATTERN…]   run (or list) some tests, e.g. 'api_*@asan'
#
# Library variants (each its own build directory, built by the Makefile):
#   build/        release: libdynalloc.{so,a}, libdynalloc-prefix.{so,a}
#   build-debug/  DA_DEBUG=3 (full validity walks)
#   build-asan/   SANITIZE=address,undefined, compiled with $(TEST_SAN_CC)
#   build-tsan/   SANITIZE=thread, compiled with $(TEST_SAN_CC)
#
# Test programs, by file name (tests/NAME.c → build/tests/KIND/NAME):
#   api_*, misuse_*   standard names; also built with -DTEST_PREFIX (da_ names)
#   libc_*            standard names only (glibc aliases, blocks libc allocates)
#   thr_*             threads; standard names, and da_ names under the sanitizers
#   whitebox_*        internals: linked with build/libdynalloc-prefix.a, -Isrc
#   harden_*          the hardened mode: standard names, -Isrc for the layout, preloaded
#   guard_*           guarded sampling: standard names, preloaded
#   asan_*            the ASan build's poisoning: da_ names, build-asan, ASan only
#   prof_*            the heap profiler: standard names, no frame pointers, preloaded
#   memcheck_*        memcheck with dynalloc serving: standard names, preloaded under valgrind
#   thp_*             DYNALLOC_THP: standard names, preloaded
#   percpu_*          DYNALLOC_PERCPU: standard names, preloaded
# Kinds of build/tests/KIND:
#   plain    system allocator linked; run bare or with LD_PRELOAD
#   static   build/libdynalloc.a linked in
#   asan     da_ names, build-asan/libdynalloc-prefix.a, ASan + UBSan
#   debug    da_ names, build-debug/libdynalloc-prefix.a
#   tsan     da_ names, build-tsan/libdynalloc-prefix.a, TSan
#   vg       da_ names, build/libdynalloc-prefix.a, for valgrind
#   whitebox whitebox_* programs
#   harden   harden_* programs
#   guard    guard_* programs
#   prof     prof_* programs
#   memcheck memcheck_* programs
#   thp      thp_* programs
#   percpu   percpu_* programs

TEST_SAN_CC ?= clang
TEST_OUT    := build/tests
TEST_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -fno-builtin -pthread -Itests
TEST_PREFIX_CFLAGS := $(TEST_CFLAGS) -DTEST_PREFIX -Iinclude
TEST_HDRS   := tests/check.h tests/misuse.h include/dynalloc.h

TEST_API    := $(basename $(notdir $(wildcard tests/api_*.c tests/misuse_*.c)))
TEST_LIBC   := $(basename $(notdir $(wildcard tests/libc_*.c)))
TEST_THR    := $(basename $(notdir $(wildcard tests/thr_*.c)))
TEST_WB     := $(basename $(notdir $(wildcard tests/whitebox_*.c)))
TEST_HARDEN := $(basename $(notdir $(wildcard tests/harden_*.c)))
TEST_GUARD  := $(basename $(notdir $(wildcard tests/guard_*.c)))
TEST_ASAN   := $(basename $(notdir $(wildcard tests/asan_*.c)))
TEST_PROF   := $(basename $(notdir $(wildcard tests/prof_*.c)))
TEST_MEMCHECK := $(basename $(notdir $(wildcard tests/memcheck_*.c)))
TEST_THP    := $(basename $(notdir $(wildcard tests/thp_*.c)))
TEST_PERCPU := $(basename $(notdir $(wildcard tests/percpu_*.c)))
TEST_STD    := $(TEST_API) $(TEST_LIBC) $(TEST_THR)

TEST_BINS := $(addprefix $(TEST_OUT)/plain/,$(TEST_STD)) \
             $(addprefix $(TEST_OUT)/static/,$(TEST_STD)) \
             $(addprefix $(TEST_OUT)/asan/,$(TEST_API) $(TEST_THR) $(TEST_ASAN)) \
             $(addprefix $(TEST_OUT)/debug/,$(TEST_API) $(TEST_THR)) \
             $(addprefix $(TEST_OUT)/tsan/,$(TEST_THR)) \
             $(addprefix $(TEST_OUT)/vg/,$(TEST_API)) \
             $(addprefix $(TEST_OUT)/whitebox/,$(TEST_WB)) \
             $(addprefix $(TEST_OUT)/harden/,$(TEST_HARDEN)) \
             $(addprefix $(TEST_OUT)/guard/,$(TEST_GUARD)) \
             $(addprefix $(TEST_OUT)/prof/,$(TEST_PROF)) \
             $(addprefix $(TEST_OUT)/memcheck/,$(TEST_MEMCHECK)) \
             $(addprefix $(TEST_OUT)/thp/,$(TEST_THP)) \
             $(addprefix $(TEST_OUT)/percpu/,$(TEST_PERCPU))

.PHONY: test test-libs test-progs test-clean

# A variant or program that fails to build does not stop the run: the runner
# reports each of its tests as failed ("No such file"), and fails in the end.
test:
	-$(MAKE) --no-print-directory test-libs
	-$(MAKE) --no-print-directory -k test-progs
	tests/run_tests.sh

# A library that fails to build is removed, as a program is before it is built:
# a test never runs against what an earlier source made.
test-libs:
	-$(MAKE) --no-print-directory BUILD=build all || rm -f $(call test_libs,build)
	-$(MAKE) --no-print-directory BUILD=build-debug DA_DEBUG=3 lib || rm -f $(call test_libs,build-debug)
	-$(MAKE) --no-print-directory BUILD=build-asan SANITIZE=address,undefined CC=$(TEST_SAN_CC) lib \
	    || rm -f $(call test_libs,build-asan)
	-$(MAKE) --no-print-directory BUILD=build-tsan SANITIZE=thread CC=$(TEST_SAN_CC) lib || rm -f $(call test_libs,build-tsan)
test_libs = $(addprefix $(1)/,libdynalloc.so libdynalloc.a libdynalloc-prefix.so libdynalloc-prefix.a)

test-progs: $(TEST_BINS)

test-clean:
	rm -rf $(TEST_OUT)

$(TEST_OUT)/plain/%: tests/%.c $(TEST_HDRS)
	@mkdir -p $(dir $@) && rm -f $@
	$(CC) $(TEST_CFLAGS) $< -o $@

$(TEST_OUT)/static/%: tests/%.c $(TEST_HDRS) build/libdynalloc.a
	@mkdir -p $(dir $@) && rm -f $@
	$(CC) $(TEST_CFLAGS) $< build/libdynalloc.a -pthread -o $@

$(TEST_OUT)/asan/%: tests/%.c $(TEST_HDRS) build-asan/libdynalloc-prefix.a
	@mkdir -p $(dir $@) && rm -f $@
	$(TEST_SAN_CC) $(TEST_PREFIX_CFLAGS) -fsanitize=address,undefined -fno-omit-frame-pointer \
	    $< build-asan/libdynalloc-prefix.a -pthread -o $@

$(TEST_OUT)/debug/%: tests/%.c $(TEST_HDRS) build-debug/libdynalloc-prefix.a
	@mkdir -p $(dir $@) && rm -f $@
	$(CC) $(TEST_PREFIX_CFLAGS) $< build-debug/libdynalloc-prefix.a -pthread -o $@

$(TEST_OUT)/tsan/%: tests/%.c $(TEST_HDRS) build-tsan/libdynalloc-prefix.a
	@mkdir -p $(dir $@) && rm -f $@
	$(TEST_SAN_CC) $(TEST_PREFIX_CFLAGS) -fsanitize=thread $< build-tsan/libdynalloc-prefix.a -pthread -o $@

$(TEST_OUT)/vg/%: tests/%.c $(TEST_HDRS) build/libdynalloc-prefix.a
	@mkdir -p $(dir $@) && rm -f $@
	$(CC) $(TEST_PREFIX_CFLAGS) $< build/libdynalloc-prefix.a -pthread -o $@

$(TEST_OUT)/harden/%: tests/%.c $(TEST_HDRS) src/types.h
	@mkdir -p $(dir $@) && rm -f $@
	$(CC) $(TEST_CFLAGS) -Isrc $< -pthread -o $@

$(TEST_OUT)/guard/%: tests/%.c $(TEST_HDRS)
	@mkdir -p $(dir $@) && rm -f $@
	$(CC) $(TEST_CFLAGS) $< -pthread -o $@

$(TEST_OUT)/thp/%: tests/%.c $(TEST_HDRS)
	@mkdir -p $(dir $@) && rm -f $@
	$(CC) $(TEST_CFLAGS) $< -pthread -o $@

$(TEST_OUT)/percpu/%: tests/%.c $(TEST_HDRS)
	@mkdir -p $(dir $@) && rm -f $@
	$(CC) $(TEST_CFLAGS) $< -pthread -o $@

$(TEST_OUT)/memcheck/%: tests/%.c $(TEST_HDRS)
	@mkdir -p $(dir $@) && rm -f $@
	$(CC) $(TEST_CFLAGS) $< -pthread -o $@

$(TEST_OUT)/prof/%: tests/%.c $(TEST_HDRS)
	@mkdir -p $(dir $@) && rm -f $@
	$(CC) $(TEST_CFLAGS) -fomit-frame-pointer $< -pthread -o $@

$(TEST_OUT)/whitebox/%: tests/%.c $(wildcard src/*.h) include/dynalloc.h build/libdynalloc-prefix.a
	@mkdir -p $(dir $@) && rm -f $@
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -fno-builtin -pthread -Iinclude -Isrc -Itests \
	    $< build/libdynalloc-prefix.a -pthread -o $@
