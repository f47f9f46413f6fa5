/* common.h — helpers shared by the benchmark workloads in bench/src.
 *
 * Every workload is an ordinary program that calls malloc/free/realloc; the
 * allocator under test is chosen from outside with LD_PRELOAD.  Options are
 * given as --name=value (or --name value).  Results are printed as lines
 *
 *     metric <name> <value> <unit>
 *
 * which bench/run.py collects; everything else on stdout is for humans.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Keep the compiler from eliding a malloc/free pair or a store. */
static inline void escape(void *p) { __asm__ volatile("" : : "g"(p) : "memory"); }
static inline void clobber(void) { __asm__ volatile("" : : : "memory"); }

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline double secs_since(uint64_t t0) { return (double)(now_ns() - t0) / 1e9; }

static inline void sleep_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) { }
}

/* ---- deterministic random numbers (splitmix64 seeding a xorshift128+) ---- */
typedef struct { uint64_t s0, s1; } rng_t;

static inline uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline void rng_seed(rng_t *r, uint64_t seed)
{
    uint64_t x = seed;
    r->s0 = splitmix64(&x);
    r->s1 = splitmix64(&x);
    if ((r->s0 | r->s1) == 0) r->s1 = 1;
}

static inline uint64_t rng_next(rng_t *r)
{
    uint64_t a = r->s0, b = r->s1;
    r->s0 = b;
    a ^= a << 23;
    r->s1 = a ^ b ^ (a >> 17) ^ (b >> 26);
    return r->s1 + b;
}

/* uniform in [0, n) */
static inline uint64_t rng_below(rng_t *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

/* uniform in [lo, hi] */
static inline uint64_t rng_range(rng_t *r, uint64_t lo, uint64_t hi)
{
    return lo + rng_below(r, hi - lo + 1);
}

/* uniform double in [0, 1) */
static inline double rng_unit(rng_t *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

/* ---- size distributions ---- */
enum dist { DIST_SMALL, DIST_MIXED, DIST_POWERLAW, DIST_FIXED };

static inline enum dist parse_dist(const char *s)
{
    if (!strcmp(s, "small")) return DIST_SMALL;
    if (!strcmp(s, "mixed")) return DIST_MIXED;
    if (!strcmp(s, "powerlaw")) return DIST_POWERLAW;
    if (!strcmp(s, "fixed")) return DIST_FIXED;
    fprintf(stderr, "unknown size distribution '%s' (small|mixed|powerlaw|fixed)\n", s);
    exit(2);
}

/* small:    uniform 8..128 bytes
 * mixed:    log-uniform 8..16 KiB (as many 8–16 B blocks as 8–16 KiB blocks)
 * powerlaw: Pareto, alpha 1.3, minimum 16 B, capped at 256 KiB: mostly tiny
 *           blocks, a long tail of large ones
 * fixed:    always `fixed` bytes */
static inline size_t draw_size(rng_t *r, enum dist d, size_t fixed)
{
    switch (d) {
    case DIST_SMALL: return (size_t)rng_range(r, 8, 128);
    case DIST_MIXED: {
        unsigned bits = 3 + (unsigned)rng_below(r, 11); /* 2^3 .. 2^13 */
        size_t lo = (size_t)1 << bits;
        return lo + (size_t)rng_below(r, lo);
    }
    case DIST_POWERLAW: {
        double u = 1.0 - rng_unit(r); /* (0, 1] */
        double s = 16.0 * __builtin_pow(u, -1.0 / 1.3);
        return s > 262144.0 ? 262144 : (size_t)s;
    }
    case DIST_FIXED: default: return fixed;
    }
}

/* ---- options ---- */
static int g_argc;
static char **g_argv;

static inline void args_init(int argc, char **argv, const char *usage)
{
    g_argc = argc;
    g_argv = argv;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: %s %s\n", argv[0], usage);
            exit(0);
        }
        if (strncmp(argv[i], "--", 2) != 0 && (i == 1 || strchr(argv[i - 1], '=') ||
                                               strncmp(argv[i - 1], "--", 2) != 0)) {
            fprintf(stderr, "%s: unexpected argument '%s'\nusage: %s %s\n", argv[0], argv[i],
                    argv[0], usage);
            exit(2);
        }
    }
}

static inline const char *arg_str(const char *name, const char *def)
{
    size_t n = strlen(name);
    for (int i = 1; i < g_argc; i++) {
        const char *a = g_argv[i];
        if (strncmp(a, "--", 2) || strncmp(a + 2, name, n)) continue;
        if (a[2 + n] == '=') return a + 3 + n;
        if (a[2 + n] == 0 && i + 1 < g_argc) return g_argv[i + 1];
    }
    return def;
}

/* integer option; accepts suffixes k, m, g (powers of 1024) */
static inline uint64_t arg_u64(const char *name, uint64_t def)
{
    const char *s = arg_str(name, NULL);
    if (!s) return def;
    char *end;
    errno = 0;
    uint64_t v = strtoull(s, &end, 0);
    if (errno || end == s) goto bad;
    switch (*end) {
    case 'k': case 'K': v <<= 10; end++; break;
    case 'm': case 'M': v <<= 20; end++; break;
    case 'g': case 'G': v <<= 30; end++; break;
    }
    if (*end) goto bad;
    return v;
bad:
    fprintf(stderr, "bad value for --%s: '%s'\n", name, s);
    exit(2);
}

static inline unsigned arg_threads(unsigned def)
{
    uint64_t t = arg_u64("threads", def);
    if (t < 1 || t > 1024) {
        fprintf(stderr, "--threads must be 1..1024\n");
        exit(2);
    }
    return (unsigned)t;
}

static inline unsigned ncpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

/* ---- output ---- */
static inline void metric(const char *name, double value, const char *unit)
{
    printf("metric %s %.6g %s\n", name, value, unit);
}

/* ---- memory use, from /proc/self/status, in KiB ---- */
static inline long proc_status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    size_t n = strlen(key);
    long v = -1;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, key, n) && line[n] == ':') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}
static inline long rss_kb(void) { return proc_status_kb("VmRSS"); }
static inline long hwm_kb(void) { return proc_status_kb("VmHWM"); }

/* The RSS-over-time series of the rss-* workloads (run.py charts the "t=" lines): RSS
 * `after` at t = 0, then rss() every sample_ms up to watch_ms.  Returns the last
 * sample; *returned_ms becomes the first t at which RSS was at most target
 * (0 when `after` already was, -1 when it never was). */
static inline long watch_rss(long (*rss)(void), long after, unsigned sample_ms, unsigned watch_ms,
                             long target, long *returned_ms)
{
    long last = after;
    *returned_ms = after <= target ? 0 : -1;
    printf("  t=0ms rss=%ld KiB\n", after);
    for (unsigned ms = sample_ms; ms <= watch_ms; ms += sample_ms) {
        sleep_ms(sample_ms);
        last = rss();
        printf("  t=%ums rss=%ld KiB\n", ms, last);
        if (*returned_ms < 0 && last <= target) *returned_ms = ms;
    }
    return last;
}

/* ---- misc ---- */
static inline void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p && n) {
        fprintf(stderr, "malloc(%zu) failed\n", n);
        exit(1);
    }
    return p;
}

static inline void die_errno(const char *what, int err)
{
    fprintf(stderr, "%s: %s\n", what, strerror(err));
    exit(1);
}

static inline pthread_t spawn(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    int e = pthread_create(&t, NULL, fn, arg);
    if (e) die_errno("pthread_create", e);
    return t;
}

/* Touch one byte per 4 KiB page so that the pages are really faulted in. */
static inline void touch_pages(void *p, size_t n)
{
    volatile char *c = p;
    for (size_t i = 0; i < n; i += 4096) c[i] = (char)i;
    if (n) c[n - 1] = 1;
}

/* The ring pattern (fastpath --ring, latency --pattern=ring): a fixed sequence
 * of RING_SIZES sizes of 16-1024 B, and `live` slots filled from it in order,
 * each block's first byte written. */
#define RING_SIZES 4096
static inline void ring_sizes(size_t *sizes, uint64_t seed)
{
    rng_t r;
    rng_seed(&r, seed);
    for (int i = 0; i < RING_SIZES; i++) sizes[i] = 16 + (size_t)rng_below(&r, 1009);
}

static inline char **ring_fill(uint64_t live, const size_t *sizes)
{
    char **slot = xmalloc(live * sizeof *slot);
    for (uint64_t i = 0; i < live; i++) {
        slot[i] = malloc(sizes[i % RING_SIZES]);
        slot[i][0] = 1;
    }
    return slot;
}

#endif
