/* rssreturn — does memory go back to the system when the program frees most
 * of its heap and then sits idle?
 *
 *   rssreturn --mib=M [--keep=PCT] [--threads=T] [--sample-ms=100] [--watch-ms=2000]
 *
 * Allocates about M MiB in blocks of mixed sizes (16 B – 64 KiB, log-uniform,
 * plus some 256 KiB – 1 MiB blocks), each page written; then frees all but
 * the last PCT% allocated (default 10) and makes no further allocator call:
 * it sleeps, sampling VmRSS every --sample-ms for --watch-ms.  With
 * --threads=T the heap is built and freed by T threads, each its own share,
 * and the threads stay alive (blocked) while the main thread watches.
 *
 * "Returned" means RSS has fallen to within 10% of the freed amount above what
 * is still live, i.e. RSS <= base + live + 0.10 * (peak - base - live).
 * Reports the time at which that first held (returned_ms, or -1 if never
 * within the watch), RSS right before the frees (thread 0's), right after
 * them and at the end.
 */
#include "common.h"

static uint64_t bytes_per_thread, keep_pct, seed;
static size_t live_total;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int phase; /* 0 building, then count of threads done; main sets -1 to let go */
static unsigned nthreads;
static long before_free_kb;
static double free_ms;

static char **kept_blocks[1024];
static size_t kept_n[1024];

static void build_and_free(unsigned id)
{
    rng_t r;
    rng_seed(&r, seed + id);
    size_t cap = 1024, n = 0, total = 0;
    char **b = malloc(cap * sizeof *b);
    size_t *s = malloc(cap * sizeof *s);
    while (total < bytes_per_thread) {
        size_t sz;
        if (rng_below(&r, 64) == 0) sz = (size_t)rng_range(&r, 256 << 10, 1 << 20);
        else {
            unsigned bits = 4 + (unsigned)rng_below(&r, 12); /* 16 B .. 64 KiB */
            sz = ((size_t)1 << bits) + (size_t)rng_below(&r, (size_t)1 << bits);
        }
        if (n == cap) {
            cap *= 2;
            b = realloc(b, cap * sizeof *b);
            s = realloc(s, cap * sizeof *s);
        }
        char *p = malloc(sz);
        memset(p, 1, sz);
        b[n] = p;
        s[n] = sz;
        n++;
        total += sz;
    }
    size_t first_kept = n - n * keep_pct / 100, live = 0;
    if (id == 0) before_free_kb = rss_kb();
    uint64_t t0 = now_ns();
    for (size_t i = 0; i < first_kept; i++) free(b[i]);
    if (id == 0) free_ms = (double)(now_ns() - t0) / 1e6;
    for (size_t i = first_kept; i < n; i++) live += s[i];
    memmove(b, b + first_kept, (n - first_kept) * sizeof *b);
    kept_blocks[id] = b;
    kept_n[id] = n - first_kept;
    free(s);
    pthread_mutex_lock(&mu);
    live_total += live;
    pthread_mutex_unlock(&mu);
}

static void *worker(void *arg)
{
    build_and_free((unsigned)(uintptr_t)arg);
    pthread_mutex_lock(&mu);
    phase++;
    pthread_cond_broadcast(&cv);
    while (phase != -1) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    return NULL;
}

int main(int argc, char **argv)
{
    args_init(argc, argv, "--mib=M [--keep=PCT] [--threads=T] [--sample-ms=MS] [--watch-ms=MS] [--seed=X]");
    uint64_t mib = arg_u64("mib", 512);
    keep_pct = arg_u64("keep", 10);
    nthreads = arg_threads(1);
    unsigned sample_ms = (unsigned)arg_u64("sample-ms", 100);
    unsigned watch_ms = (unsigned)arg_u64("watch-ms", 2000);
    seed = arg_u64("seed", 13);
    if (keep_pct > 100 || sample_ms == 0 || nthreads > 1024) { fprintf(stderr, "bad options\n"); return 2; }
    bytes_per_thread = (mib << 20) / nthreads;

    long base = rss_kb();
    pthread_t *t = NULL;
    if (nthreads == 1) {
        build_and_free(0);
    } else {
        t = xmalloc(nthreads * sizeof *t);
        for (unsigned i = 0; i < nthreads; i++) t[i] = spawn(worker, (void *)(uintptr_t)i);
        pthread_mutex_lock(&mu);
        while (phase != (int)nthreads) pthread_cond_wait(&cv, &mu);
        pthread_mutex_unlock(&mu);
    }
    long peak = hwm_kb();
    long after = rss_kb();
    long live_kb = (long)(live_total / 1024);
    long target = base + live_kb + (peak - base - live_kb) / 10;
    printf("rssreturn: base %ld KiB, peak %ld KiB, live %ld KiB, after free %ld KiB, target %ld KiB\n",
           base, peak, live_kb, after, target);
    printf("  before free: rss=%ld KiB, frees took %.1f ms\n", before_free_kb, free_ms);
    long returned_ms;
    long last = watch_rss(rss_kb, after, sample_ms, watch_ms, target, &returned_ms);
    metric("returned_ms", (double)returned_ms, "ms");
    metric("rss_peak_kb", (double)peak, "KiB");
    metric("rss_after_free_kb", (double)after, "KiB");
    metric("rss_end_kb", (double)last, "KiB");
    metric("live_kb", (double)live_kb, "KiB");

    if (t) {
        pthread_mutex_lock(&mu);
        phase = -1;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
        for (unsigned i = 0; i < nthreads; i++) pthread_join(t[i], NULL);
        free(t);
    }
    for (unsigned i = 0; i < nthreads; i++) {
        for (size_t k = 0; k < kept_n[i]; k++) free(kept_blocks[i][k]);
        free(kept_blocks[i]);
    }
    return 0;
}
