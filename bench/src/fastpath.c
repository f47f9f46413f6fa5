/* fastpath — the allocator's hot path.
 *
 *   fastpath --size=N --iters=N [--threads=N]     malloc(N) + free pairs
 *   fastpath --ring=L --iters=N [--threads=N]     L live objects in a ring: each
 *                                                 step frees the oldest block and
 *                                                 allocates a new one (sizes 16–1024,
 *                                                 fixed pseudo-random sequence)
 *
 * With --threads, every thread runs the same loop on its own objects (no
 * sharing); --iters is per thread.  --iters=0 runs nothing, which is the
 * baseline bench/callgrind.sh subtracts.
 */
#include "common.h"

static uint64_t iters, ring_len;
static size_t size;

static void pairs(void)
{
    for (uint64_t i = 0; i < iters; i++) {
        char *p = malloc(size);
        p[0] = (char)i;
        escape(p);
        free(p);
    }
}

static void ring(uint64_t seed)
{
    size_t sizes[RING_SIZES];
    ring_sizes(sizes, seed);
    char **slot = ring_fill(ring_len, sizes);
    uint64_t k = 0;
    for (uint64_t i = 0; i < iters; i++) {
        free(slot[k]);
        char *p = malloc(sizes[i % RING_SIZES]);
        p[0] = (char)i;
        slot[k] = p;
        if (++k == ring_len) k = 0;
    }
    for (uint64_t i = 0; i < ring_len; i++) free(slot[i]);
    free(slot);
}

static void *worker(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    if (ring_len) ring(42 + id);
    else pairs();
    return NULL;
}

int main(int argc, char **argv)
{
    args_init(argc, argv, "(--size=BYTES | --ring=LIVE) --iters=N [--threads=N]");
    size = (size_t)arg_u64("size", 64);
    ring_len = arg_u64("ring", 0);
    iters = arg_u64("iters", 10000000);
    unsigned threads = arg_threads(1);

    /* One untimed pair first, so that allocator start-up is also part of an
     * --iters=0 run and cancels out of (count(N) - count(0)) / N. */
    char *w = malloc(ring_len ? 64 : size);
    escape(w);
    free(w);
    if (iters == 0) return 0;

    uint64_t t0 = now_ns();
    if (threads == 1) {
        worker(NULL);
    } else {
        pthread_t *t = xmalloc(threads * sizeof *t);
        for (unsigned i = 0; i < threads; i++) t[i] = spawn(worker, (void *)(uintptr_t)i);
        for (unsigned i = 0; i < threads; i++) pthread_join(t[i], NULL);
        free(t);
    }
    double s = secs_since(t0);
    double ops = (double)iters * threads;
    if (ring_len)
        printf("ring of %" PRIu64 " live objects, %u thread(s): %.3f s\n", ring_len, threads, s);
    else
        printf("malloc(%zu)+free, %u thread(s): %.3f s\n", size, threads, s);
    metric("ops_per_s", ops / s, "pairs/s");
    metric("ns_per_pair", s * 1e9 / (double)iters, "ns");
    return 0;
}
