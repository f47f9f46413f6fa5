/* exchange — many threads handing blocks to each other, with calloc checked.
 *
 *   exchange [--threads=T] [--slots=S] [--ops=N] [--seed=X]
 *
 * T threads (default 32, whatever the CPU count) share an array of S slots
 * (default 4096), empty at the start.  Each thread, N times (default 200k,
 * per thread): picks a size (7 in 8: log-uniform 16-2048 bytes; 1 in 8:
 * uniform 2 KiB-16 KiB), p = calloc(1, size), checks that every byte of p is
 * zero (a non-zero byte aborts the run with a message: calloc handed out
 * memory that was not cleared, e.g. a recycled block another thread wrote),
 * fills p with a non-zero pattern, atomically exchanges it into a random
 * slot and frees the block it got back, which any thread may have
 * allocated.  The main thread frees what is left in the slots.
 *
 * Reports total_s and ops_per_s (calloc+free pairs per second, all threads).
 */
#include "common.h"
#include <stdatomic.h>

static _Atomic(unsigned char *) *slots;
static uint64_t nslots, ops, seed;
static pthread_barrier_t start;

static inline size_t pick_size(rng_t *r)
{
    uint64_t x = rng_next(r);
    if ((x & 7) == 0) return (size_t)rng_range(r, 2049, 16384);
    unsigned bits = 4 + (unsigned)((x >> 3) % 7); /* 2^4 .. 2^10 */
    size_t lo = (size_t)1 << bits;
    return lo + (size_t)rng_below(r, lo); /* 16 .. 2047 */
}

static void not_zero(const unsigned char *p, size_t sz, size_t at)
{
    fprintf(stderr, "exchange: calloc(1, %zu) = %p has byte %zu = 0x%02x, not zero\n", sz,
            (const void *)p, at, p[at]);
    abort();
}

static inline void check_zero(const unsigned char *p, size_t sz)
{
    size_t i = 0;
    for (; i + 8 <= sz; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w) break;
    }
    for (; i < sz; i++)
        if (p[i]) not_zero(p, sz, i);
}

static void *worker(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    rng_t r;
    rng_seed(&r, seed * 1000003 + id);
    unsigned char pat = (unsigned char)(0x5a ^ id) | 1;
    pthread_barrier_wait(&start);
    for (uint64_t i = 0; i < ops; i++) {
        size_t sz = pick_size(&r);
        unsigned char *p = calloc(1, sz);
        if (!p) {
            fprintf(stderr, "exchange: calloc(1, %zu) failed\n", sz);
            exit(1);
        }
        check_zero(p, sz);
        memset(p, pat, sz);
        uint64_t k = rng_below(&r, nslots);
        unsigned char *old = atomic_exchange_explicit(&slots[k], p, memory_order_acq_rel);
        free(old);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    args_init(argc, argv, "[--threads=T] [--slots=S] [--ops=N] [--seed=X]");
    unsigned threads = arg_threads(32);
    nslots = arg_u64("slots", 4096);
    ops = arg_u64("ops", 200000);
    seed = arg_u64("seed", 5);
    if (nslots == 0) {
        fprintf(stderr, "exchange: need --slots > 0\n");
        return 2;
    }
    slots = xmalloc(nslots * sizeof *slots);
    for (uint64_t i = 0; i < nslots; i++) atomic_init(&slots[i], NULL);
    pthread_barrier_init(&start, NULL, threads + 1);

    pthread_t *t = xmalloc(threads * sizeof *t);
    for (unsigned i = 0; i < threads; i++) t[i] = spawn(worker, (void *)(uintptr_t)i);
    uint64_t t0 = now_ns();
    pthread_barrier_wait(&start);
    for (unsigned i = 0; i < threads; i++) pthread_join(t[i], NULL);
    double s = secs_since(t0);

    for (uint64_t i = 0; i < nslots; i++) free(atomic_load(&slots[i]));
    free(slots);
    free(t);
    pthread_barrier_destroy(&start);
    double total = (double)ops * threads;
    printf("exchange: %u threads, %" PRIu64 " slots, %" PRIu64 " calloc+free each: %.3f s\n", threads,
           nslots, ops, s);
    metric("total_s", s, "s");
    metric("ops_per_s", total / s, "ops/s");
    return 0;
}
