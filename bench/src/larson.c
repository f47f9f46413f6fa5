/* larson — a server-like mix: every thread repeatedly picks a random slot of
 * one shared array, puts a freshly allocated block of random size there and
 * frees the block it displaced.  Since the displaced block was allocated by
 * any of the threads, (T-1)/T of all frees cross threads.  Each new block is
 * filled with up to 64 bytes, as a request buffer would be.
 *
 *   larson --threads=T --slots=S --ops=N [--min=B] [--max=B] [--seed=X]
 *
 * --ops is per thread.  The array is filled by the main thread first.
 */
#include "common.h"
#include <stdatomic.h>

static _Atomic(char *) *slots;
static uint64_t nslots, ops;
static size_t minsz, maxsz;
static uint64_t seed;

static void *worker(void *arg)
{
    rng_t r;
    rng_seed(&r, seed * 1000003 + (uintptr_t)arg);
    for (uint64_t i = 0; i < ops; i++) {
        size_t sz = (size_t)rng_range(&r, minsz, maxsz);
        char *p = malloc(sz);
        memset(p, (int)i, sz < 64 ? sz : 64);
        uint64_t k = rng_below(&r, nslots);
        char *old = atomic_exchange_explicit(&slots[k], p, memory_order_acq_rel);
        free(old);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    args_init(argc, argv, "--threads=T --slots=S --ops=N [--min=B] [--max=B] [--seed=X]");
    unsigned threads = arg_threads(ncpus());
    nslots = arg_u64("slots", 10000);
    ops = arg_u64("ops", 2000000);
    minsz = (size_t)arg_u64("min", 16);
    maxsz = (size_t)arg_u64("max", 1024);
    seed = arg_u64("seed", 7);
    if (nslots == 0 || minsz == 0 || maxsz < minsz) {
        fprintf(stderr, "larson: need slots > 0 and 0 < min <= max\n");
        return 2;
    }

    slots = xmalloc(nslots * sizeof *slots);
    rng_t r;
    rng_seed(&r, seed);
    for (uint64_t i = 0; i < nslots; i++) {
        size_t sz = (size_t)rng_range(&r, minsz, maxsz);
        char *p = malloc(sz);
        p[0] = 0;
        atomic_init(&slots[i], p);
    }

    uint64_t t0 = now_ns();
    pthread_t *t = xmalloc(threads * sizeof *t);
    for (unsigned i = 0; i < threads; i++) t[i] = spawn(worker, (void *)(uintptr_t)i);
    for (unsigned i = 0; i < threads; i++) pthread_join(t[i], NULL);
    double s = secs_since(t0);

    for (uint64_t i = 0; i < nslots; i++) free(atomic_load(&slots[i]));
    free(slots);
    free(t);
    double total = (double)ops * threads;
    printf("larson: %u threads, %" PRIu64 " slots, %zu-%zu bytes: %.3f s\n", threads, nslots,
           minsz, maxsz, s);
    metric("ops_per_s", total / s, "ops/s");
    metric("cross_thread_free_share", threads > 1 ? (double)(threads - 1) / threads : 0, "");
    return 0;
}
