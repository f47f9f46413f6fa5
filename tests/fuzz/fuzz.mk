# tests/fuzz/fuzz.mk — included by the top Makefile.
#
#   make fuzz-short                  ≤ 2 min: seed replay + FUZZ_SHORT_SECONDS (75) of fuzzing
#   make fuzz [FUZZ_SECONDS=600]     a longer run; its corpus grows in build/fuzz/corpus-<target>
#   FUZZ_TARGET=dynalloc  (default) DA_DEBUG=3 build of the allocator made by clang with
#                         coverage instrumentation (build-fuzz/libdynalloc-prefix.a)
#   FUZZ_TARGET=debug     build-debug/libdynalloc-prefix.a exactly as `make BUILD=build-debug
#                         DA_DEBUG=3` makes it (gcc, so libFuzzer sees only the harness' coverage)
#   FUZZ_TARGET=libc      tests/fuzz/libc_shim.c: the da_ names mapped onto glibc, to check
#                         the harness itself
# Needs clang and libclang-rt-14-dev.  Ends with "N passed, N failed".

FUZZ_TARGET        ?= dynalloc
FUZZ_SECONDS       ?= 600
FUZZ_SHORT_SECONDS ?= 75
FUZZ_CC            ?= clang
FUZZ_CFLAGS        ?=
FUZZ_OUT           := $(BUILD)/fuzz

FUZZ_LIB_dynalloc := build-fuzz/libdynalloc-prefix.a
FUZZ_LIB_debug    := build-debug/libdynalloc-prefix.a
FUZZ_LIB_libc     := tests/fuzz/libc_shim.c
FUZZ_STRICT_dynalloc := 1
FUZZ_STRICT_debug    := 1
FUZZ_STRICT_libc     := 0
FUZZ_BIN := $(FUZZ_OUT)/fuzz_alloc-$(FUZZ_TARGET)

.PHONY: fuzz fuzz-short fuzz-lib-dynalloc fuzz-lib-debug fuzz-lib-libc
# The allocator libraries are made by the top Makefile in their own build
# directories; the sub-make decides whether they are up to date.
fuzz-lib-dynalloc:
	@$(MAKE) --no-print-directory BUILD=build-fuzz DA_DEBUG=3 CC=$(FUZZ_CC) \
	  SANITIZE=fuzzer-no-link EXTRA_CFLAGS=-Wno-error build-fuzz/libdynalloc-prefix.a
fuzz-lib-debug:
	@$(MAKE) --no-print-directory BUILD=build-debug DA_DEBUG=3 build-debug/libdynalloc-prefix.a
fuzz-lib-libc:

$(FUZZ_BIN): tests/fuzz/fuzz_alloc.c include/dynalloc.h fuzz-lib-$(FUZZ_TARGET)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=gnu11 -O1 -g -fsanitize=fuzzer -Wall -Wextra -Iinclude -pthread \
	  -DFUZZ_STRICT=$(FUZZ_STRICT_$(FUZZ_TARGET)) $(FUZZ_CFLAGS) tests/fuzz/fuzz_alloc.c \
	  $(FUZZ_LIB_$(FUZZ_TARGET)) -o $@

fuzz-short: $(FUZZ_BIN)
	@bash tests/fuzz/run_fuzz.sh $(FUZZ_BIN) $(FUZZ_SHORT_SECONDS) $(FUZZ_OUT)/corpus-short-$(FUZZ_TARGET)

fuzz: $(FUZZ_BIN)
	@bash tests/fuzz/run_fuzz.sh $(FUZZ_BIN) $(FUZZ_SECONDS) $(FUZZ_OUT)/corpus-$(FUZZ_TARGET)
