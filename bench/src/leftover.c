/* leftover — many short-lived threads, each leaving one small block behind.
 * At most --threads run at once; --total are created in all.  Each does
 * --allocs allocations of 16–512 bytes that it frees again (its work), then
 * frees the block a random earlier thread left in one of --slots shared slots
 * and leaves one small block (16–64 B) of its own there.  The live set stays at
 * most --slots small blocks, but every one sits on a page of a thread that has
 * exited: an allocator that opens new pages for each thread instead of reusing
 * those (and the pages other threads' frees emptied) grows its resident set.
 *
 *   leftover --threads=T --total=N --allocs=A --slots=S [--seed=X]
 */
#include "common.h"
#include <stdatomic.h>

static uint64_t allocs, nslots, seed;
static _Atomic(char *) *slots;

static void *worker(void *arg)
{
    uint64_t id = (uint64_t)(uintptr_t)arg;
    rng_t r;
    rng_seed(&r, seed ^ (id * 0x9e3779b97f4a7c15ull));
    char *work[64];
    for (uint64_t i = 0; i < allocs; i++) {
        size_t s = (size_t)rng_range(&r, 16, 512);
        char *p = malloc(s);
        p[0] = (char)i;
        p[s - 1] = (char)i;
        char **w = &work[i & 63];
        if (i >= 64) free(*w);
        *w = p;
    }
    for (uint64_t i = 0; i < (allocs < 64 ? allocs : 64); i++) free(work[i]);
    size_t s = (size_t)rng_range(&r, 16, 64);
    char *mine = malloc(s);
    memset(mine, (int)id, s);
    char *old = atomic_exchange(&slots[rng_below(&r, nslots)], mine);
    free(old);
    return NULL;
}

int main(int argc, char **argv)
{
    args_init(argc, argv, "--threads=T --total=N --allocs=A --slots=S [--seed=X]");
    unsigned threads = arg_threads(ncpus());
    uint64_t total = arg_u64("total", 20000);
    allocs = arg_u64("allocs", 200);
    nslots = arg_u64("slots", 1000);
    seed = arg_u64("seed", 11);
    if (nslots == 0) nslots = 1;
    slots = xmalloc(nslots * sizeof *slots);
    for (uint64_t i = 0; i < nslots; i++) atomic_init(&slots[i], NULL);
    pthread_t *t = xmalloc(threads * sizeof *t);
    uint64_t t0 = now_ns(), started = 0;
    while (started < total) {
        unsigned batch = 0;
        for (; batch < threads && started < total; batch++, started++)
            t[batch] = spawn(worker, (void *)(uintptr_t)started);
        for (unsigned i = 0; i < batch; i++) pthread_join(t[i], NULL);
    }
    double s = secs_since(t0);
    printf("leftover: %" PRIu64 " threads (%u at a time), %" PRIu64 " allocations and one leftover each: %.3f s\n",
           total, threads, allocs, s);
    metric("threads_per_s", (double)total / s, "threads/s");
    metric("peak_rss_kb", (double)hwm_kb(), "KiB");
    for (uint64_t i = 0; i < nslots; i++) free(atomic_load(&slots[i]));
    free(slots);
    free(t);
    return 0;
}
