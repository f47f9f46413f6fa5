# tests/compat/compat.mk — included by the top Makefile.
#
#   make test-compat [ALLOC_LIB=…] [COMPAT_SUITES="lifetime python redis sqlite git perl cbuild"]
#                    [COMPAT_MODES="mmap sbrk"]
#       real programs' workloads under LD_PRELOAD=$(ALLOC_LIB), each compared
#       with the same run under glibc, for each back-end (~15-25 min)
#   make soak [SOAK_SECONDS=600] [SOAK_THREADS=4] [SOAK_BACKENDS="mmap sbrk"]
#             [SOAK_REFERENCE=1]
#       stress + cross-thread frees + forks + thread churn; SOAK_SECONDS is the
#       total, split evenly over the back-ends; then checks RSS against its
#       baseline.  SOAK_REFERENCE=1 also runs the same soak under glibc
#       (reported, not counted).
# Both end with "N passed, N failed" and exit non-zero on failure.

ALLOC_LIB      ?= $(abspath $(BUILD))/libdynalloc.so
COMPAT_SUITES  ?= lifetime python redis sqlite git perl cbuild
COMPAT_MODES   ?= mmap sbrk
SOAK_SECONDS   ?= 600
SOAK_THREADS   ?= 4
SOAK_BACKENDS  ?= mmap sbrk
SOAK_REFERENCE ?= 0

.PHONY: test-compat soak
test-compat: $(if $(filter $(abspath $(BUILD))/libdynalloc.so,$(ALLOC_LIB)),$(BUILD)/libdynalloc.so)
	@ALLOC_LIB='$(ALLOC_LIB)' COMPAT_SUITES='$(COMPAT_SUITES)' COMPAT_MODES='$(COMPAT_MODES)' \
	  COMPAT_OUT='$(abspath $(BUILD))/compat' bash tests/compat/run_compat.sh

$(BUILD)/soak/soak: tests/compat/soak/soak.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -pthread $< -o $@

soak: $(BUILD)/soak/soak $(if $(filter $(abspath $(BUILD))/libdynalloc.so,$(ALLOC_LIB)),$(BUILD)/libdynalloc.so)
	@ALLOC_LIB='$(ALLOC_LIB)' SOAK_SECONDS='$(SOAK_SECONDS)' SOAK_THREADS='$(SOAK_THREADS)' \
	  SOAK_BACKENDS='$(SOAK_BACKENDS)' SOAK_REFERENCE='$(SOAK_REFERENCE)' \
	  bash tests/compat/soak/run_soak.sh $(BUILD)/soak/soak
