/* soak.c — long-running allocator soak, run under LD_PRELOAD.
 *
 *   soak SECONDS [THREADS]
 *
 * Worker threads allocate, reallocate and free blocks of mixed sizes (8 B to
 * 4 MiB), hand blocks to each other so that frees cross threads, and exit
 * after a random number of operations, leaving half of their blocks to be
 * freed by other threads; the main thread replaces them (thread churn).  The
 * working set grows and shrinks in 5-second phases.  Every ~0.5 s the main
 * thread forks a child that allocates (also from a new thread) and must exit
 * cleanly.  Every block carries a tag at both ends, checked before it is freed
 * or reallocated.
 *
 * RSS is measured twice in the same quiescent state — every worker joined and
 * every block freed, then a pause longer than the allocator's purge delay:
 * once after the first 10 s (baseline) and once at the end.  The end RSS must
 * be within SOAK_RSS_SLACK_MB (default 32) of the baseline, and again after
 * malloc_trim(0).  Prints the numbers and "N passed, N failed".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXW     16
#define NSLOT    4096
#define MAILCAP  8192

typedef struct { uint64_t *p; size_t size; } blk_t;

typedef struct {
    pthread_mutex_t mu;
    blk_t q[MAILCAP];
    size_t n;
} mailbox_t;

static mailbox_t mail[MAXW + 1];          /* [MAXW] is the orphan box */
static atomic_int stop_workers;
static atomic_int big_phase = 1;
static atomic_ulong ops_total, xfrees, errors, threads_started, bytes_peak_live;
static int nworkers = 4;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, res = 0;
    if (f) { if (fscanf(f, "%lu %lu", &size, &res) != 2) res = 0; fclose(f); }
    return res * (size_t)sysconf(_SC_PAGESIZE);
}

static size_t hwm_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t v = 0;
    if (!f) return 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) v = strtoul(line + 6, NULL, 10);
    fclose(f);
    return v;
}

static inline uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    return *s = x;
}

static inline uint64_t tag_of(const void *p, size_t size)
{
    return ((uintptr_t)p * 0x9e3779b97f4a7c15ULL) ^ size ^ 0x5eed5eed5eed5eedULL;
}

static void put_tags(blk_t *b)
{
    uint64_t t = tag_of(b->p, b->size);
    b->p[0] = t;
    if (b->size >= 16) memcpy((char *)b->p + b->size - 8, &t, 8);
}

static int tags_ok(const blk_t *b, size_t upto)
{
    /* upto: how many bytes are still valid (realloc keeps min(old, new)) */
    uint64_t t = tag_of(b->p, b->size), e;
    if (b->p[0] != t) return 0;
    if (b->size >= 16 && upto >= b->size) {
        memcpy(&e, (char *)b->p + b->size - 8, 8);
        if (e != t) return 0;
    }
    return 1;
}

static void check_and_free(blk_t *b, const char *who)
{
    if (!b->p) return;
    if (!tags_ok(b, b->size)) {
        fprintf(stderr, "soak: %s: block %p size %zu corrupted\n", who, (void *)b->p, b->size);
        atomic_fetch_add(&errors, 1);
    }
    free(b->p);
    b->p = NULL;
}

static size_t pick_size(uint64_t *s)
{
    uint64_t r = xorshift(s) % 1000;
    if (r < 700) return 8 + xorshift(s) % 249;
    if (r < 900) return 256 + xorshift(s) % 8000;
    if (r < 985) return 8192 + xorshift(s) % (256 * 1024);
    return 256 * 1024 + xorshift(s) % (4u << 20);
}

static int new_block(blk_t *b, size_t size, uint64_t *s)
{
    size = (size + 7) & ~(size_t)7;
    if (size < 8) size = 8;
    unsigned r = xorshift(s) % 20;
    void *p = NULL;
    if (r == 0) p = calloc(1, size);
    else if (r == 1) { if (posix_memalign(&p, (size_t)64 << (xorshift(s) % 7), size)) p = NULL; }
    else p = malloc(size);
    if (!p) {
        fprintf(stderr, "soak: allocation of %zu failed (errno %d)\n", size, errno);
        atomic_fetch_add(&errors, 1);
        return 0;
    }
    b->p = p;
    b->size = size;
    put_tags(b);
    return 1;
}

static void mail_put(int box, blk_t b)
{
    mailbox_t *m = &mail[box];
    pthread_mutex_lock(&m->mu);
    if (m->n < MAILCAP) { m->q[m->n++] = b; b.p = NULL; }
    pthread_mutex_unlock(&m->mu);
    if (b.p) check_and_free(&b, "mail overflow");
}

static void mail_drain(int box, const char *who)
{
    mailbox_t *m = &mail[box];
    blk_t local[256];
    for (;;) {
        size_t k = 0;
        pthread_mutex_lock(&m->mu);
        while (m->n && k < 256) local[k++] = m->q[--m->n];
        pthread_mutex_unlock(&m->mu);
        if (!k) break;
        for (size_t i = 0; i < k; i++) {
            check_and_free(&local[i], who);
            atomic_fetch_add(&xfrees, 1);
        }
    }
}

typedef struct { int id; uint64_t seed; } warg_t;

static void *worker(void *arg)
{
    warg_t *wa = arg;
    int id = wa->id;
    uint64_t s = wa->seed | 1;
    free(wa);
    blk_t *slot = calloc(NSLOT, sizeof *slot);
    if (!slot) { atomic_fetch_add(&errors, 1); return NULL; }
    unsigned long lifetime = 20000 + xorshift(&s) % 400000, ops = 0;
    size_t live = 0;

    while (!atomic_load_explicit(&stop_workers, memory_order_relaxed) && ops < lifetime) {
        ops++;
        size_t cap = atomic_load_explicit(&big_phase, memory_order_relaxed) ? NSLOT : 256;
        size_t live_cap = atomic_load_explicit(&big_phase, memory_order_relaxed)
                          ? (size_t)96 << 20 : (size_t)8 << 20;
        blk_t *b = &slot[xorshift(&s) % cap];
        unsigned r = xorshift(&s) % 100;
        if (r < 45) {
            if (b->p) { live -= b->size; check_and_free(b, "replace"); }
            size_t sz = pick_size(&s);
            if (live + sz > live_cap) continue;
            if (new_block(b, sz, &s)) live += b->size;
        } else if (r < 55) {
            if (!b->p) continue;
            size_t nsz = (pick_size(&s) + 7) & ~(size_t)7;
            if (live - b->size + nsz > live_cap) continue;
            if (!tags_ok(b, b->size)) {
                fprintf(stderr, "soak: block %p corrupted before realloc\n", (void *)b->p);
                atomic_fetch_add(&errors, 1);
            }
            uint64_t t = b->p[0];
            uint64_t *q = realloc(b->p, nsz);
            if (!q) { atomic_fetch_add(&errors, 1); continue; }
            if (q[0] != t) {
                fprintf(stderr, "soak: realloc lost contents (%zu -> %zu)\n", b->size, nsz);
                atomic_fetch_add(&errors, 1);
            }
            live = live - b->size + nsz;
            b->p = q; b->size = nsz;
            put_tags(b);
        } else if (r < 80) {
            if (b->p) { live -= b->size; check_and_free(b, "free"); }
        } else if (r < 90) {
            if (!b->p) continue;
            int to = (int)(xorshift(&s) % nworkers);
            live -= b->size;
            mail_put(to, *b);
            b->p = NULL;
        } else {
            mail_drain(id, "cross-thread free");
            mail_drain(MAXW, "orphan free");
        }
        if (live > atomic_load_explicit(&bytes_peak_live, memory_order_relaxed))
            atomic_store_explicit(&bytes_peak_live, live, memory_order_relaxed);
    }
    /* exit: free half here, leave the other half to other threads */
    for (size_t i = 0; i < NSLOT; i++) {
        if (!slot[i].p) continue;
        if (i & 1) check_and_free(&slot[i], "exit");
        else mail_put(MAXW, slot[i]);
    }
    free(slot);
    atomic_fetch_add(&ops_total, ops);
    return NULL;
}

static int fork_child(uint64_t seed)
{
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        alarm(60);
        uint64_t s = seed | 1;
        blk_t b[512] = {{0}};
        for (int round = 0; round < 20000; round++) {
            blk_t *x = &b[xorshift(&s) % 512];
            if (x->p) { if (!tags_ok(x, x->size)) _exit(3); free(x->p); x->p = NULL; }
            else if (!new_block(x, pick_size(&s) % 65536, &s)) _exit(4);
        }
        pthread_t t;
        warg_t *wa = malloc(sizeof *wa);
        if (!wa) _exit(5);
        wa->id = 0; wa->seed = seed * 31;
        atomic_store(&stop_workers, 0);
        if (pthread_create(&t, NULL, worker, wa)) _exit(6);
        usleep(20000);
        atomic_store(&stop_workers, 1);
        pthread_join(t, NULL);
        /* includes blocks the parent's threads allocated before the fork */
        for (int i = 0; i <= MAXW; i++) mail_drain(i, "child");
        for (int i = 0; i < 512; i++) if (b[i].p) { if (!tags_ok(&b[i], b[i].size)) _exit(7); free(b[i].p); }
        _exit(atomic_load(&errors) ? 8 : 0);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) return -1;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "soak: fork child failed: %s %d\n",
                WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
        return -1;
    }
    return 0;
}

/* The mailboxes are locked around fork() so the child inherits them whole. */
static void atfork_prepare(void) { for (int i = 0; i <= MAXW; i++) pthread_mutex_lock(&mail[i].mu); }
static void atfork_release(void) { for (int i = MAXW; i >= 0; i--) pthread_mutex_unlock(&mail[i].mu); }

static pthread_t tids[MAXW];
static int alive[MAXW];

static void start_worker(int i, uint64_t *s)
{
    warg_t *wa = malloc(sizeof *wa);
    if (!wa) { atomic_fetch_add(&errors, 1); return; }
    wa->id = i; wa->seed = xorshift(s);
    if (pthread_create(&tids[i], NULL, worker, wa)) {
        fprintf(stderr, "soak: pthread_create failed\n");
        atomic_fetch_add(&errors, 1);
        free(wa);
        return;
    }
    alive[i] = 1;
    atomic_fetch_add(&threads_started, 1);
}

/* Stop and join every worker, free every block, let the allocator purge. */
static size_t quiesce(void)
{
    atomic_store(&stop_workers, 1);
    for (int i = 0; i < nworkers; i++)
        if (alive[i]) { pthread_join(tids[i], NULL); alive[i] = 0; }
    for (int i = 0; i <= MAXW; i++) mail_drain(i, "quiesce");
    usleep(1000 * 1000);                       /* far beyond the purge delay */
    for (int i = 0; i < 2000; i++) {           /* give deferred work a chance */
        void *p = malloc(16 + i % 512);
        free(p);
    }
    usleep(200 * 1000);
    return rss_bytes();
}

int main(int argc, char **argv)
{
    double dur = argc > 1 ? atof(argv[1]) : 600;
    if (argc > 2) nworkers = atoi(argv[2]);
    if (nworkers < 1) nworkers = 1;
    if (nworkers > MAXW) nworkers = MAXW;
    const char *sl = getenv("SOAK_RSS_SLACK_MB");
    size_t slack = (size_t)(sl ? atol(sl) : 32) << 20;
    double base_at = dur / 3 < 10 ? dur / 3 : 10;
    for (int i = 0; i <= MAXW; i++) pthread_mutex_init(&mail[i].mu, NULL);
    pthread_atfork(atfork_prepare, atfork_release, atfork_release);

    uint64_t s = 0x1234567887654321ULL;
    size_t rss_start = rss_bytes(), rss_base = 0;
    unsigned long forks = 0, fork_fail = 0;
    double t0 = now(), last_fork = t0, last_phase = t0;
    int have_base = 0;

    printf("soak: %.0f s, %d worker threads, RSS at start %.1f MiB\n", dur, nworkers,
           rss_start / 1048576.0);
    fflush(stdout);
    for (int i = 0; i < nworkers; i++) start_worker(i, &s);

    for (;;) {
        double t = now();
        if (t - t0 >= dur) break;
        if (!have_base && t - t0 >= base_at) {
            rss_base = quiesce();
            have_base = 1;
            printf("soak: baseline after %.0f s, all freed: RSS %.1f MiB\n", t - t0,
                   rss_base / 1048576.0);
            fflush(stdout);
            atomic_store(&stop_workers, 0);
            for (int i = 0; i < nworkers; i++) start_worker(i, &s);
            continue;
        }
        if (t - last_phase >= 5) {
            atomic_store(&big_phase, !atomic_load(&big_phase));
            last_phase = t;
        }
        if (t - last_fork >= 0.5) {
            forks++;
            if (fork_child(xorshift(&s))) fork_fail++;
            last_fork = now();
        }
        /* thread churn: replace workers that reached their lifetime */
        for (int i = 0; i < nworkers; i++) {
            if (alive[i] && pthread_tryjoin_np(tids[i], NULL) == 0) {
                alive[i] = 0;
                start_worker(i, &s);
            }
        }
        usleep(20 * 1000);
    }
    size_t rss_end = quiesce();
    int trimmed = malloc_trim(0);
    usleep(200 * 1000);
    size_t rss_trim = rss_bytes();

    int pass = 0, fail = 0;
#define CHECK(cond, ...) do { if (cond) { pass++; printf("ok: " __VA_ARGS__); } \
                              else { fail++; printf("FAIL: " __VA_ARGS__); } putchar('\n'); } while (0)
    printf("soak: %lu operations, %lu threads started, %lu cross-thread frees, %lu forks, "
           "peak live per thread %.1f MiB, peak RSS %.1f MiB\n",
           atomic_load(&ops_total), atomic_load(&threads_started), atomic_load(&xfrees),
           forks, atomic_load(&bytes_peak_live) / 1048576.0, hwm_kb() / 1024.0);
    printf("soak: RSS start %.1f MiB, baseline %.1f MiB, end %.1f MiB, after malloc_trim(0)=%d "
           "%.1f MiB (slack %zu MiB)\n", rss_start / 1048576.0, rss_base / 1048576.0,
           rss_end / 1048576.0, trimmed, rss_trim / 1048576.0, slack >> 20);
    CHECK(atomic_load(&errors) == 0, "no corruption or allocation failure (%lu errors)",
          atomic_load(&errors));
    CHECK(forks > 0 && fork_fail == 0, "%lu fork children exited cleanly (%lu failed)",
          forks - fork_fail, fork_fail);
    CHECK(atomic_load(&threads_started) > (unsigned long)nworkers,
          "thread churn: %lu threads started", atomic_load(&threads_started));
    CHECK(rss_end <= rss_base + slack, "RSS at end %.1f MiB <= baseline %.1f MiB + %zu MiB",
          rss_end / 1048576.0, rss_base / 1048576.0, slack >> 20);
    CHECK(rss_trim <= rss_base + slack, "RSS after malloc_trim %.1f MiB <= baseline %.1f MiB + %zu MiB",
          rss_trim / 1048576.0, rss_base / 1048576.0, slack >> 20);
    printf("%d passed, %d failed\n", pass, fail);
    return fail ? 1 : 0;
}
