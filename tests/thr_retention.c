/* thr_retention.c — memory that any thread frees goes back to the system within
 * the purge delay plus 200 ms, whoever frees it and whatever the owner does.
 *
 * Each case runs in a fresh process (this program re-executed with the case's
 * name), measures its resident set from /proc/self/statm (no stdio while it
 * waits), runs a phase that allocates and then frees (almost) everything, and
 * requires RSS ≤ the resident set before the phase + 2 MiB + what is still live
 * (the bound README and docs/design.md state) by the deadline:
 *
 *   owner      the owner frees and idles
 *   remote     another thread frees while the owner is alive, blocked on a pipe
 *   exited     another thread frees after the owner exited
 *   fork       a fork child allocates, frees and idles (the parent waits)
 *   small      a process that maps under 8 MiB (3.5 MiB of blocks)
 *   cache      eight threads fill their bulk caches, then block
 *   trim       DYNALLOC_PURGE_THREAD=0: remote and cache together, then
 *              malloc_trim(0) from a third thread returns all of it at once
 *
 * In the hardened mode (DYNALLOC_HARDEN=1) the bound adds what that mode keeps:
 * the freeing thread's quarantine (256 KiB) and the size tables' 2 bytes a block.
 *
 * Under the sanitizers RSS is not checked (their shadow memory does not shrink
 * with the heap), but every phase runs: TSan checks the reclaim protocol.
 */
#include "check.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <time.h>

enum { BLOCK = 1000, MAX_BLOCKS = 64 * 1024, CACHE_THREADS = 8 };

static void *blocks[MAX_BLOCKS];
static unsigned nblocks;

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static long purge_delay_ms(void)
{
    const char *s = getenv("DYNALLOC_PURGE_DELAY");
    return s ? strtol(s, NULL, 10) : 100;
}

static size_t rss_base, rss_full;
static const char *case_name = "";

/* The phase ended at `since`: poll until RSS is within the bound or the
 * deadline passed, then check and report. */
static void expect_returned(long since, size_t live, size_t min_added)
{
    (void)min_added;   /* checked only where RSS is */
    long deadline = since + purge_delay_ms() + 200;
    size_t bound = rss_base + 2 * MiB + live, rss;
    /* the hardened mode keeps the freeing thread's quarantine (at most 256 KiB
     * of blocks) and 2 bytes per block in the segments' size tables */
    if (test_hardened())
        bound += MiB / 4 + 2 * MAX_BLOCKS;
    for (;;) {
        rss = test_rss();
        if (rss <= bound || now_ms() >= deadline)
            break;
        sleep_ms(5);
    }
    long took = now_ms() - since;
    printf("thr_retention %s: RSS %zu KiB before, %zu KiB full, %zu KiB after %ld ms (bound %zu KiB)\n",
           case_name, rss_base >> 10, rss_full >> 10, rss >> 10, took, bound >> 10);
#ifdef TEST_RSS_CHECK
    CHECKF(rss_full > rss_base + min_added, "%s: the phase added only %zu KiB", case_name,
           (rss_full - rss_base) >> 10);
    CHECKF(rss <= bound, "%s: RSS %zu KiB, above %zu KiB + 2 MiB + %zu KiB live, %ld ms after the frees",
           case_name, rss >> 10, rss_base >> 10, live >> 10, took);
#endif
}

static unsigned scaled_blocks(void)
{
    return MAX_BLOCKS / test_scale();
}

static void alloc_blocks(void)
{
    nblocks = scaled_blocks();
    for (unsigned i = 0; i < nblocks; i++) {
        blocks[i] = malloc(BLOCK);
        CHECK(blocks[i] != NULL);
        memset(blocks[i], (int)(i & 0xff), BLOCK);
    }
}

static void free_blocks(void)
{
    for (unsigned i = 0; i < nblocks; i++) {
        CHECKF(((unsigned char *)blocks[i])[BLOCK - 1] == (i & 0xff), "block %u damaged", i);
        free(blocks[i]);
    }
}

/* ---- threads that allocate and then wait on a pipe -------------------------- */
struct waiter {
    pthread_t thread;
    int go[2], done[2];   /* commands in, acknowledgements out */
    void (*work)(void);
};

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;
    char c;
    while (read(w->go[0], &c, 1) == 1) {
        if (c == 'q')
            break;
        w->work();
        CHECK(write(w->done[1], "k", 1) == 1);
    }
    return NULL;
}

static void waiter_start(struct waiter *w, void (*work)(void))
{
    w->work = work;
    CHECK(pipe(w->go) == 0 && pipe(w->done) == 0);
    CHECK(pthread_create(&w->thread, NULL, waiter_main, w) == 0);
}

static void waiter_run(struct waiter *w)
{
    char c;
    CHECK(write(w->go[1], "g", 1) == 1);
    CHECK(read(w->done[0], &c, 1) == 1);
}

static void waiter_stop(struct waiter *w)
{
    CHECK(write(w->go[1], "q", 1) == 1);
    CHECK(pthread_join(w->thread, NULL) == 0);
}

/* Bulk blocks of 9 to 16 pages, two of each, freed at once: the thread's bulk
 * cache is full. */
static void fill_bulk_cache(void)
{
    void *p[16][2];
    for (int round = 0; round < 4; round++) {
        for (int n = 9; n <= 16; n++)
            for (int k = 0; k < 2; k++) {
                p[n - 1][k] = malloc((size_t)n * 4096 - 64);
                CHECK(p[n - 1][k] != NULL);
                memset(p[n - 1][k], 1, (size_t)n * 4096 - 64);
            }
        for (int n = 9; n <= 16; n++)
            for (int k = 0; k < 2; k++)
                free(p[n - 1][k]);
    }
}

/* ---- the cases ----------------------------------------------------------------- */
static void case_owner(void)
{
    alloc_blocks();
    rss_full = test_rss();
    free_blocks();
    expect_returned(now_ms(), 0, 8 * MiB / test_scale());
}

static void case_remote(void)
{
    struct waiter w;
    waiter_start(&w, alloc_blocks);
    waiter_run(&w);   /* the owner allocated, and now blocks in read() */
    rss_full = test_rss();
    free_blocks();
    expect_returned(now_ms(), 0, 8 * MiB / test_scale());
    waiter_stop(&w);
}

static void *alloc_and_exit(void *arg)
{
    (void)arg;
    alloc_blocks();
    return NULL;
}

static void case_exited(void)
{
    pthread_t t;
    CHECK(pthread_create(&t, NULL, alloc_and_exit, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    rss_full = test_rss();
    free_blocks();
    expect_returned(now_ms(), 0, 8 * MiB / test_scale());
}

static void case_fork(void)
{
    /* the parent holds memory too, and the child inherits that heap */
    void *parent_block = malloc(4 * MiB);
    CHECK(parent_block != NULL);
    memset(parent_block, 3, 4 * MiB);
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        rss_base = test_rss();
        case_name = "fork (child)";
        alloc_blocks();
        rss_full = test_rss();
        free_blocks();
        expect_returned(now_ms(), 0, 8 * MiB / test_scale());
        fflush(stdout);
        _exit(0);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed (status %d)", status);
    free(parent_block);
}

static void case_small(void)
{
    nblocks = 3584 / test_scale();   /* 3.5 MiB: one segment */
    for (unsigned i = 0; i < nblocks; i++) {
        blocks[i] = malloc(BLOCK);
        CHECK(blocks[i] != NULL);
        memset(blocks[i], (int)(i & 0xff), BLOCK);
    }
    rss_full = test_rss();
    struct mallinfo2 mi = mallinfo2();
    printf("thr_retention small: %zu KiB mapped\n", (mi.arena + mi.hblkhd) >> 10);
    CHECKF(mi.arena + mi.hblkhd < 8 * MiB, "%zu bytes mapped: not a small process", mi.arena + mi.hblkhd);
    free_blocks();
    expect_returned(now_ms(), 0, 3 * MiB / test_scale());
}

static struct waiter cache_waiters[CACHE_THREADS];

static void start_cache_threads(void)
{
    for (int i = 0; i < CACHE_THREADS; i++)
        waiter_start(&cache_waiters[i], fill_bulk_cache);
    sleep_ms(20);   /* their stacks are resident before the base is taken */
    rss_base = test_rss();
}

static void run_cache_threads(void)
{
    for (int i = 0; i < CACHE_THREADS; i++)
        waiter_run(&cache_waiters[i]);
}

static void stop_cache_threads(void)
{
    for (int i = 0; i < CACHE_THREADS; i++)
        waiter_stop(&cache_waiters[i]);
}

static void case_cache(void)
{
    start_cache_threads();
    run_cache_threads();
    rss_full = test_rss();
    expect_returned(now_ms(), 0, 4 * MiB);
    stop_cache_threads();
}

static void *trim_thread(void *arg)
{
    (void)arg;
    malloc_trim(0);
    return NULL;
}

static void case_trim(void)
{
    CHECKF(getenv("DYNALLOC_PURGE_THREAD") && strcmp(getenv("DYNALLOC_PURGE_THREAD"), "0") == 0,
           "case trim runs with DYNALLOC_PURGE_THREAD=0");
    struct waiter w;
    start_cache_threads();
    run_cache_threads();
    waiter_start(&w, alloc_blocks);
    waiter_run(&w);
    free_blocks();
    rss_full = test_rss();
    sleep_ms(purge_delay_ms() + 100);   /* no purger: nothing comes back by itself … */
    size_t rss_idle = test_rss();
    printf("thr_retention trim: RSS %zu KiB idle after the delay\n", rss_idle >> 10);
#ifdef TEST_RSS_CHECK
    CHECKF(rss_idle > rss_base + 8 * MiB, "RSS %zu KiB: returned without a purger or a trim", rss_idle >> 10);
#endif
    pthread_t t;   /* … and malloc_trim on a thread that owns none of it returns all */
    long since = now_ms();
    CHECK(pthread_create(&t, NULL, trim_thread, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    size_t rss = test_rss();
    printf("thr_retention trim: RSS %zu KiB before, %zu KiB full, %zu KiB after the trim (%ld ms)\n",
           rss_base >> 10, rss_full >> 10, rss >> 10, now_ms() - since);
#ifdef TEST_RSS_CHECK
    CHECKF(rss <= rss_base + 2 * MiB, "RSS %zu KiB after malloc_trim, above %zu KiB + 2 MiB", rss >> 10,
           rss_base >> 10);
#endif
    waiter_stop(&w);
    stop_cache_threads();
}

static const struct {
    const char *name;
    void (*run)(void);
    const char *env;   /* NAME=VALUE the case needs, or NULL */
} cases[] = {
    {"owner", case_owner, NULL},   {"remote", case_remote, NULL}, {"exited", case_exited, NULL},
    {"fork", case_fork, NULL},     {"small", case_small, NULL},   {"cache", case_cache, NULL},
    {"trim", case_trim, "DYNALLOC_PURGE_THREAD=0"},
};
enum { NCASES = sizeof cases / sizeof cases[0] };

int main(int argc, char **argv)
{
    test_init("thr_retention");
    if (!test_is_dynalloc())
        test_skip("the system allocator does not return memory this way");
    /* the arrays and the stack are resident before any base is taken */
    memset(blocks, 0, sizeof blocks);
    if (argc == 2) {
        for (int i = 0; i < NCASES; i++)
            if (strcmp(argv[1], cases[i].name) == 0) {
                case_name = cases[i].name;
                free(malloc(64));   /* this thread has a heap, as in any program */
                rss_base = test_rss();
                cases[i].run();
                return test_done();
            }
        CHECKF(0, "no case %s", argv[1]);
    }
    for (int i = 0; i < NCASES; i++) {
        fflush(stdout);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            if (cases[i].env)
                putenv((char *)cases[i].env);
            execl("/proc/self/exe", argv[0], cases[i].name, (char *)NULL);
            _exit(127);
        }
        int status;
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "case %s failed (status %d)", cases[i].name,
               status);
    }
    return test_done();
}
