/* churn — many short-lived threads.  At most --threads run at once; --total
 * are created in all.  Each allocates --allocs blocks of 16–2048 bytes,
 * frees three quarters of them and hands the rest to the main thread, which
 * frees them after joining it.  Allocators with per-thread caches pay for
 * setting those up and tearing them down (or for orphaned memory).
 *
 *   churn --threads=T --total=N --allocs=A [--seed=X]
 */
#include "common.h"

static uint64_t allocs, seed;

struct job { uint64_t id; char **left; size_t nleft; };

static void *worker(void *arg)
{
    struct job *j = arg;
    rng_t r;
    rng_seed(&r, seed ^ (j->id * 0x9e3779b97f4a7c15ull));
    char **b = malloc(allocs * sizeof *b);
    for (uint64_t i = 0; i < allocs; i++) {
        size_t s = (size_t)rng_range(&r, 16, 2048);
        b[i] = malloc(s);
        b[i][0] = (char)i;
        b[i][s - 1] = (char)i;
    }
    size_t nl = 0;
    for (uint64_t i = 0; i < allocs; i++) {
        if ((i & 3) == 3) b[nl++] = b[i]; /* kept: freed by main */
        else free(b[i]);
    }
    j->left = b;
    j->nleft = nl;
    return NULL;
}

int main(int argc, char **argv)
{
    args_init(argc, argv, "--threads=T --total=N --allocs=A [--seed=X]");
    unsigned threads = arg_threads(ncpus());
    uint64_t total = arg_u64("total", 4000);
    allocs = arg_u64("allocs", 1000);
    seed = arg_u64("seed", 9);
    if (allocs == 0) allocs = 1;
    pthread_t *t = xmalloc(threads * sizeof *t);
    struct job *jobs = xmalloc(threads * sizeof *jobs);
    uint64_t t0 = now_ns(), started = 0;
    while (started < total) {
        unsigned batch = 0;
        for (; batch < threads && started < total; batch++, started++) {
            jobs[batch].id = started;
            t[batch] = spawn(worker, &jobs[batch]);
        }
        for (unsigned i = 0; i < batch; i++) {
            pthread_join(t[i], NULL);
            for (size_t k = 0; k < jobs[i].nleft; k++) free(jobs[i].left[k]);
            free(jobs[i].left);
        }
    }
    double s = secs_since(t0);
    printf("churn: %" PRIu64 " threads (%u at a time), %" PRIu64 " blocks each: %.3f s\n", total,
           threads, allocs, s);
    metric("threads_per_s", (double)total / s, "threads/s");
    metric("peak_rss_kb", (double)hwm_kb(), "KiB");
    free(t);
    free(jobs);
    return 0;
}
