# bench/bench.mk — the benchmark suite (included by the top Makefile).
#
#   make bench            install peers if missing, build, callgrind counts,
#                         full interleaved suite -> bench/results/latest.{md,svg,json},
#                         latest-rss.svg (RSS over time, rss-return and rss-remote)
#   make bench-quick      smoke test: 1 repetition, small sizes
#                         -> bench/results/quick.{md,svg,json}
#   make bench-callgrind  instructions per malloc+free pair (valgrind)
#                         -> bench/results/callgrind.md (also merged into latest.md)
#   make bench-scaling    thread scaling (THREADS="1 2 4 8 16")
#                         -> bench/results/scaling.md
#   make bench-progs      only build the workload programs (build/bench/)
#
# Knobs: BENCH_ARGS="--reps 7 --only larson,redis --allocators glibc,mimalloc"
#        (see bench/run.py --help)

BENCH_PY     ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)
BENCH_CC     ?= $(CC)
BENCH_CFLAGS := -std=gnu11 -O2 -g -pthread -Wall -Wextra -Wno-unused-parameter \
                -fno-builtin-malloc -fno-builtin-free -fno-builtin-calloc -fno-builtin-realloc
BENCH_SRC    := $(wildcard bench/src/*.c)
BENCH_BIN    := $(patsubst bench/src/%.c,$(BUILD)/bench/%,$(BENCH_SRC)) \
                $(BUILD)/bench/libcmalloc.so
BENCH_ARGS   ?=
THREADS      ?= 1 2 4 8 16

.PHONY: bench bench-quick bench-callgrind bench-scaling bench-progs bench-peers bench-lib

$(BUILD)/bench/%: bench/src/%.c bench/src/common.h bench/bench.mk
	@mkdir -p $(dir $@)
	$(BENCH_CC) $(BENCH_CFLAGS) $< -o $@ -lm

$(BUILD)/bench/libcmalloc.so: bench/shim/libcmalloc.c bench/bench.mk
	@mkdir -p $(dir $@)
	$(BENCH_CC) -O2 -g -fPIC -shared -fvisibility=hidden -Wall -Wextra $< -o $@ -ldl

bench-progs: $(BENCH_BIN)

bench-peers:
	@bench/install-peers.sh >/dev/null

# dynalloc itself: a failed build leaves it out of the run (the harness says so)
bench-lib:
	@$(MAKE) --no-print-directory lib || echo "bench: libdynalloc.so did not build; the run uses an existing $(BUILD)/libdynalloc.so if there is one, else skips dynalloc"

bench: bench-peers bench-lib bench-progs
	BUILD=$(BUILD) bench/callgrind.sh
	$(BENCH_PY) bench/run.py --build $(BUILD) $(BENCH_ARGS)

bench-quick: bench-peers bench-lib bench-progs
	$(BENCH_PY) bench/run.py --build $(BUILD) --quick $(BENCH_ARGS)

bench-callgrind: bench-peers bench-lib bench-progs
	BUILD=$(BUILD) bench/callgrind.sh
	$(BENCH_PY) bench/run.py --build $(BUILD) --merge-callgrind

bench-scaling: bench-peers bench-lib bench-progs
	BUILD=$(BUILD) THREADS="$(THREADS)" bench/scaling.sh
