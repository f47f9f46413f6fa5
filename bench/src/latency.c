/* latency — how long single malloc and free calls take: percentiles, not
 * averages.
 *
 *   latency --pattern=ring [--ops=N] [--live=L]
 *       one thread, L live blocks in a ring (default 1000), sizes 16-1024
 *       (fixed pseudo-random sequence): each step frees the oldest block and
 *       allocates a new one.  --ops steps (default 8m).
 *   latency --pattern=larson [--threads=T] [--ops=N] [--slots=S]
 *       T threads (default 2) share S slots (default 10000, filled first by
 *       the main thread); each step mallocs 16-1024 bytes, writes up to 64 of
 *       them, exchanges the block into a random slot and frees the block it
 *       displaced (mostly another thread's).  --ops is per thread (default 3m).
 *   latency --pattern=prodcons [--ops=N] [--queue=Q]
 *       one thread mallocs 16-512 bytes and passes the blocks through a
 *       single-producer/single-consumer ring of Q slots (default 1024) to a
 *       second thread, which frees them (every free is remote).  --ops
 *       blocks (default 6m).
 *
 *   Common: [--every=K] [--warmup=W] [--seed=X]
 *
 * Every K-th call (default 8) of malloc and of free is timed on its own with
 * the time-stamp counter (lfence; rdtsc; lfence before, rdtscp; lfence
 * after), after W untimed warm-up steps per thread (default 200k).  Samples
 * go to arrays mmap'd and faulted in before the timed part, so the timing
 * never calls the allocator.  TSC ticks are converted to nanoseconds by a
 * ~50 ms calibration against CLOCK_MONOTONIC at the start, and the median
 * cost of an empty timed region (timer_overhead_ns, also reported) is taken
 * off every percentile.  The timed calls are real calls (escape() keeps each
 * result alive); descheduling and interrupts land in the tail, as they do
 * for a program.  Some CPUs advance the counter in steps of several ticks
 * (AMD Zen: 10 ns at 100 MHz), which quantises every sample to that step;
 * timer_step_ns reports the step seen.
 *
 * Reports malloc_p50_ns, malloc_p99_ns, malloc_p999_ns, free_p50_ns,
 * free_p99_ns, free_p999_ns, timer_overhead_ns, timer_step_ns and the number
 * of samples.
 */
#include "common.h"
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>

#if defined(__x86_64__) || defined(__i386__)
static inline uint64_t tsc_begin(void)
{
    uint32_t lo, hi;
    __asm__ volatile("lfence\n\trdtsc\n\tlfence" : "=a"(lo), "=d"(hi) : : "memory");
    return ((uint64_t)hi << 32) | lo;
}
static inline uint64_t tsc_end(void)
{
    uint32_t lo, hi, aux;
    __asm__ volatile("rdtscp\n\tlfence" : "=a"(lo), "=d"(hi), "=c"(aux) : : "memory");
    return ((uint64_t)hi << 32) | lo;
}
#else /* no TSC: nanoseconds from the clock, calibrated to 1 tick per ns */
static inline uint64_t tsc_begin(void) { clobber(); uint64_t t = now_ns(); clobber(); return t; }
static inline uint64_t tsc_end(void) { clobber(); uint64_t t = now_ns(); clobber(); return t; }
#endif

/* ---- samples, in arrays that never come from the allocator ---- */
typedef struct { uint32_t *v; uint64_t n, cap; } samples;

static void samples_init(samples *s, uint64_t cap)
{
    size_t bytes = (cap ? cap : 1) * sizeof(uint32_t);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                   -1, 0);
    if (p == MAP_FAILED) die_errno("mmap", errno);
    touch_pages(p, bytes);
    s->v = p;
    s->n = 0;
    s->cap = cap;
}

static inline void sample(samples *s, uint64_t ticks)
{
    if (s->n < s->cap) s->v[s->n++] = ticks > UINT32_MAX ? UINT32_MAX : (uint32_t)ticks;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* nearest rank */
static double pct(const samples *s, double q)
{
    if (!s->n) return 0;
    uint64_t k = (uint64_t)(q * (double)s->n + 0.999999);
    if (k < 1) k = 1;
    if (k > s->n) k = s->n;
    return s->v[k - 1];
}

/* s += t, as far as s has room */
static void samples_merge(samples *s, const samples *t)
{
    for (uint64_t i = 0; i < t->n && s->n < s->cap; i++) s->v[s->n++] = t->v[i];
}

/* ---- options and shared state ---- */
static uint64_t ops, every, warmup, seed, nslots, live, qcap;
static unsigned nthreads;


/* ---- ring ---- */
static void run_ring(samples *ms, samples *fs)
{
    size_t *sizes = xmalloc(RING_SIZES * sizeof *sizes);
    ring_sizes(sizes, seed);
    char **slot = ring_fill(live, sizes);
    uint64_t k = 0, c = 0;
    for (uint64_t i = 0; i < warmup + ops; i++) {
        char *old = slot[k], *p;
        size_t sz = sizes[i % RING_SIZES];
        if (i >= warmup && ++c == every) {
            c = 0;
            uint64_t a = tsc_begin();
            free(old);
            uint64_t b = tsc_end();
            uint64_t d = tsc_begin();
            p = malloc(sz);
            uint64_t e = tsc_end();
            escape(p);
            sample(fs, b - a);
            sample(ms, e - d);
        } else {
            free(old);
            p = malloc(sz);
        }
        p[0] = (char)i;
        slot[k] = p;
        if (++k == live) k = 0;
    }
    for (uint64_t i = 0; i < live; i++) free(slot[i]);
    free(slot);
    free(sizes);
}

/* ---- larson ---- */
static _Atomic(char *) *lslots;
struct lworker { samples m, f; uint64_t id; };
static pthread_barrier_t lstart;

static void *larson_worker(void *arg)
{
    struct lworker *w = arg;
    rng_t r;
    rng_seed(&r, seed * 1000003 + w->id);
    uint64_t c = 0;
    pthread_barrier_wait(&lstart);
    for (uint64_t i = 0; i < warmup + ops; i++) {
        size_t sz = (size_t)rng_range(&r, 16, 1024);
        uint64_t k = rng_below(&r, nslots);
        int timed = i >= warmup && ++c == every;
        char *p, *old;
        if (timed) {
            uint64_t a = tsc_begin();
            p = malloc(sz);
            uint64_t b = tsc_end();
            escape(p);
            sample(&w->m, b - a);
        } else {
            p = malloc(sz);
        }
        memset(p, (int)i, sz < 64 ? sz : 64);
        old = atomic_exchange_explicit(&lslots[k], p, memory_order_acq_rel);
        if (timed) {
            c = 0;
            uint64_t a = tsc_begin();
            free(old);
            uint64_t b = tsc_end();
            sample(&w->f, b - a);
        } else {
            free(old);
        }
    }
    return NULL;
}

static void run_larson(samples *ms, samples *fs)
{
    lslots = xmalloc(nslots * sizeof *lslots);
    rng_t r;
    rng_seed(&r, seed);
    for (uint64_t i = 0; i < nslots; i++) {
        char *p = malloc((size_t)rng_range(&r, 16, 1024));
        p[0] = 0;
        atomic_init(&lslots[i], p);
    }
    struct lworker *w = xmalloc(nthreads * sizeof *w);
    pthread_t *t = xmalloc(nthreads * sizeof *t);
    for (unsigned i = 0; i < nthreads; i++) {
        w[i].id = i;
        samples_init(&w[i].m, ops / every + 1);
        samples_init(&w[i].f, ops / every + 1);
    }
    pthread_barrier_init(&lstart, NULL, nthreads);
    for (unsigned i = 0; i < nthreads; i++) t[i] = spawn(larson_worker, &w[i]);
    for (unsigned i = 0; i < nthreads; i++) pthread_join(t[i], NULL);
    pthread_barrier_destroy(&lstart);
    for (unsigned i = 0; i < nthreads; i++) {
        samples_merge(ms, &w[i].m);
        samples_merge(fs, &w[i].f);
        munmap(w[i].m.v, w[i].m.cap * sizeof(uint32_t));
        munmap(w[i].f.v, w[i].f.cap * sizeof(uint32_t));
    }
    for (uint64_t i = 0; i < nslots; i++) free(atomic_load(&lslots[i]));
    free(lslots);
    free(w);
    free(t);
}

/* ---- prodcons ---- */
struct spsc {
    _Alignas(64) _Atomic uint64_t head; /* written by the consumer */
    _Alignas(64) _Atomic uint64_t tail; /* written by the producer */
    _Alignas(64) char **buf;
    samples *ms, *fs;
};
static struct spsc Q;

static inline void backoff(unsigned *spins)
{
    if (++*spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    } else {
        sched_yield();
        *spins = 0;
    }
}

static void *pc_producer(void *arg)
{
    rng_t r;
    rng_seed(&r, seed);
    uint64_t tail = 0, head_seen = 0, c = 0;
    for (uint64_t i = 0; i < warmup + ops; i++) {
        size_t sz = (size_t)rng_range(&r, 16, 512);
        char *p;
        if (i >= warmup && ++c == every) {
            c = 0;
            uint64_t a = tsc_begin();
            p = malloc(sz);
            uint64_t b = tsc_end();
            escape(p);
            sample(Q.ms, b - a);
        } else {
            p = malloc(sz);
        }
        p[0] = (char)sz;
        p[sz - 1] = 1;
        unsigned spins = 0;
        while (tail - head_seen >= qcap) {
            head_seen = atomic_load_explicit(&Q.head, memory_order_acquire);
            if (tail - head_seen >= qcap) backoff(&spins);
        }
        Q.buf[tail % qcap] = p;
        atomic_store_explicit(&Q.tail, ++tail, memory_order_release);
    }
    return NULL;
}

static void *pc_consumer(void *arg)
{
    uint64_t head = 0, tail_seen = 0, sum = 0, c = 0, total = warmup + ops;
    while (head < total) {
        unsigned spins = 0;
        while (head == tail_seen) {
            tail_seen = atomic_load_explicit(&Q.tail, memory_order_acquire);
            if (head == tail_seen) backoff(&spins);
        }
        while (head < tail_seen) {
            char *p = Q.buf[head % qcap];
            sum += (unsigned char)p[0];
            if (head >= warmup && ++c == every) {
                c = 0;
                uint64_t a = tsc_begin();
                free(p);
                uint64_t b = tsc_end();
                sample(Q.fs, b - a);
            } else {
                free(p);
            }
            head++;
        }
        atomic_store_explicit(&Q.head, head, memory_order_release);
    }
    escape(&sum);
    return NULL;
}

static void run_prodcons(samples *ms, samples *fs)
{
    atomic_init(&Q.head, 0);
    atomic_init(&Q.tail, 0);
    Q.buf = xmalloc(qcap * sizeof(char *));
    Q.ms = ms;
    Q.fs = fs;
    pthread_t c = spawn(pc_consumer, NULL), p = spawn(pc_producer, NULL);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    free(Q.buf);
}

int main(int argc, char **argv)
{
    args_init(argc, argv,
              "--pattern=ring|larson|prodcons [--ops=N] [--every=K] [--warmup=W] [--live=L] "
              "[--threads=T] [--slots=S] [--queue=Q] [--seed=X]");
    const char *pattern = arg_str("pattern", "ring");
    int pat = !strcmp(pattern, "ring") ? 0 : !strcmp(pattern, "larson") ? 1
            : !strcmp(pattern, "prodcons") ? 2 : -1;
    if (pat < 0) {
        fprintf(stderr, "latency: unknown --pattern=%s (ring|larson|prodcons)\n", pattern);
        return 2;
    }
    ops = arg_u64("ops", pat == 0 ? 8000000 : pat == 1 ? 3000000 : 6000000);
    every = arg_u64("every", 8);
    warmup = arg_u64("warmup", 200000);
    seed = arg_u64("seed", 13);
    live = arg_u64("live", 1000);
    nslots = arg_u64("slots", 10000);
    qcap = arg_u64("queue", 1024);
    nthreads = pat == 1 ? arg_threads(2) : (pat == 2 ? 2 : 1);
    if (every == 0 || live == 0 || nslots == 0 || qcap == 0) {
        fprintf(stderr, "latency: --every, --live, --slots and --queue must be > 0\n");
        return 2;
    }

    /* TSC ticks per nanosecond, against the monotonic clock over ~50 ms */
    uint64_t n0 = now_ns(), c0 = tsc_begin(), n1;
    while ((n1 = now_ns()) - n0 < 50000000u) { }
    uint64_t c1 = tsc_end();
    double tpn = (double)(c1 - c0) / (double)(n1 - n0);
    if (!(tpn > 0)) tpn = 1;

    /* the cost of an empty timed region: median of many */
    samples ov;
    samples_init(&ov, 100000);
    for (int i = 0; i < 100000; i++) {
        uint64_t a = tsc_begin();
        uint64_t b = tsc_end();
        sample(&ov, b - a);
    }
    qsort(ov.v, ov.n, sizeof *ov.v, cmp_u32);
    double overhead = pct(&ov, 0.5);
    munmap(ov.v, ov.cap * sizeof(uint32_t));
    /* the counter's step: some CPUs (AMD Zen) advance the TSC in steps of
     * several ticks, which quantises every sample */
    uint64_t step = 0, prev = tsc_begin();
    for (int i = 0; i < 10000 && step != 1; i++) { /* gcd of the differences */
        uint64_t x = tsc_begin(), d = x - prev;
        prev = x;
        while (d) { uint64_t t = step % d; step = d; d = t; }
    }

    uint64_t cap = (ops / every + 1) * nthreads;
    samples ms, fs;
    samples_init(&ms, cap);
    samples_init(&fs, cap);

    uint64_t t0 = now_ns();
    if (pat == 0) run_ring(&ms, &fs);
    else if (pat == 1) run_larson(&ms, &fs);
    else run_prodcons(&ms, &fs);
    double s = secs_since(t0);

    qsort(ms.v, ms.n, sizeof *ms.v, cmp_u32);
    qsort(fs.v, fs.n, sizeof *fs.v, cmp_u32);
#define NS(x) ((x) - overhead > 0 ? ((x) - overhead) / tpn : 0.0)
    double m50 = NS(pct(&ms, 0.5)), m99 = NS(pct(&ms, 0.99)), m999 = NS(pct(&ms, 0.999));
    double f50 = NS(pct(&fs, 0.5)), f99 = NS(pct(&fs, 0.99)), f999 = NS(pct(&fs, 0.999));
    printf("latency %s: %u thread(s), %" PRIu64 " + %" PRIu64 " samples, %.2f ticks/ns, "
           "timer overhead %.1f ns, counter step %.1f ns, %.3f s\n", pattern, nthreads, ms.n, fs.n,
           tpn, overhead / tpn, (double)step / tpn, s);
    printf("  malloc p50 %.1f  p99 %.1f  p99.9 %.1f ns;  free p50 %.1f  p99 %.1f  p99.9 %.1f ns\n",
           m50, m99, m999, f50, f99, f999);
    metric("malloc_p50_ns", m50, "ns");
    metric("malloc_p99_ns", m99, "ns");
    metric("malloc_p999_ns", m999, "ns");
    metric("free_p50_ns", f50, "ns");
    metric("free_p99_ns", f99, "ns");
    metric("free_p999_ns", f999, "ns");
    metric("timer_overhead_ns", overhead / tpn, "ns");
    metric("timer_step_ns", (double)step / tpn, "ns");
    metric("samples", (double)(ms.n + fs.n), "");
    metric("total_s", s, "s");
    munmap(ms.v, ms.cap * sizeof(uint32_t));
    munmap(fs.v, fs.cap * sizeof(uint32_t));
    return 0;
}
