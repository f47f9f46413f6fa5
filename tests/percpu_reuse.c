/* percpu_reuse.c — DYNALLOC_PERCPU, the per-CPU caches of blocks freed by a
 * thread that does not own them (preloaded).  tests/run_tests.sh runs it as
 *   percpu_reuse@glibc  DYNALLOC_PERCPU=1: the caches on glibc's rseq area
 *   percpu_reuse@own    the same with GLIBC_TUNABLES=glibc.pthread.rseq=0:
 *                       on dynalloc's own registration
 *   percpu_reuse@none   the same under a seccomp filter that fails rseq(2)
 *                       with ENOSYS (the program re-executes itself under it):
 *                       the per-thread heaps alone
 *   percpu_reuse@off    DYNALLOC_PERCPU=0
 * with the argument "cache" (the first two) or "none".
 *
 * The main thread allocates N 64-byte blocks; a thread pinned to one CPU frees
 * them and allocates 64 bytes: with the caches it gets the last block it freed
 * (LIFO, from its CPU's cache), without them a block of a page of its own;
 * 16-byte blocks (below a cache line) are never cached.
 * Every mode: mallinfo2's uordblks falls by exactly N × 64 at those frees (cached
 * blocks are free in the figures); after malloc_trim(0), and after the purger's
 * delay, the next 64 bytes are again the thread's own (the caches were
 * drained); a second free of a freed block aborts as a double free; a write
 * into a freed block is reported when the cache would hand it out ("cache")
 * and goes unnoticed otherwise ("none": the block waits on its page's remote list).
 *
 *   percpu_reuse cache|none
 *   percpu_reuse --seccomp-exec PROG [ARG…]   PROG under the filter (for the harness)
 */
#include "misuse.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { N = 40, SIZE = 64 };

extern const unsigned int __rseq_size __attribute__((weak));

static char *blocks[2 * N];
static int cache;   /* the caches are expected to run */

static void install_filter(void)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_rseq, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { .len = sizeof code / sizeof code[0], .filter = code };
    CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
    CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0);
}

static void pin_here(void)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    CHECK(pthread_setaffinity_np(pthread_self(), sizeof one, &one) == 0);
}

static int is_ours(const void *p, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        if (blocks[i] == p) return 1;
    return 0;
}

static char *small[N];

static int is_small(const void *p)
{
    for (size_t i = 0; i < N; i++)
        if (small[i] == p) return 1;
    return 0;
}

static void allocate(size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        blocks[i] = malloc(SIZE);
        CHECK(blocks[i] != NULL);
        memset(blocks[i], (int)i, SIZE);
    }
}

/* Pinned: the frees, the exact figure, the reuse, the drain by malloc_trim. */
static void *freer(void *arg)
{
    (void)arg;
    pin_here();
    size_t before = mallinfo2().uordblks;
    for (size_t i = 0; i < N; i++)
        free(blocks[i]);
    size_t after = mallinfo2().uordblks;
    CHECKF(before - after == (size_t)N * SIZE, "uordblks fell by %zu, want %d", before - after, N * SIZE);
    char *q = malloc(SIZE);
    if (cache)
        CHECKF(q == blocks[N - 1], "malloc after the frees gave %p, want the last block freed %p", (void *)q,
               (void *)blocks[N - 1]);
    else
        CHECKF(!is_ours(q, 0, N), "malloc after the frees gave %p, a block freed into a page of another thread",
               (void *)q);
    free(q);                       /* cache: back on top */
    malloc_trim(0);
    char *r = malloc(SIZE);
    CHECKF(!is_ours(r, 0, N), "after malloc_trim(0), malloc gave %p, a block the caches should have drained",
           (void *)r);
    free(r);
    /* blocks below a cache line are never cached: they share lines with their
     * owner's neighbours, and a thread writing one would contend with it */
    for (size_t i = 0; i < N; i++)
        free(small[i]);
    char *s = malloc(16);
    CHECKF(!is_small(s), "malloc(16) after the frees gave %p, a 16-byte block of another thread", (void *)s);
    free(s);
    return NULL;
}

/* Pinned: the purger drains a CPU whose caches stay as they are. */
static void *idler(void *arg)
{
    (void)arg;
    pin_here();
    for (size_t i = N; i < 2 * N; i++)
        free(blocks[i]);
    usleep(800 * 1000);            /* the purge delay is 100 ms: passes every 51 ms */
    char *q = malloc(SIZE);
    CHECKF(!is_ours(q, N, 2 * N), "after the purge delay, malloc gave %p, a block the purger should have drained",
           (void *)q);
    free(q);
    return NULL;
}

static void run_thread(void *(*fn)(void *))
{
    pthread_t t;
    CHECK(pthread_create(&t, NULL, fn, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
}

static void *double_free_thread(void *arg)
{
    pin_here();
    free(arg);
    free(arg);
    return NULL;
}

static void *write_after_free_thread(void *arg)
{
    pin_here();
    free(arg);
    memset(arg, 0x5a, SIZE);       /* a use after free, into the cached block */
    char *q = malloc(SIZE);
    if (q != NULL) q[0] = 1;
    return NULL;
}

static void *victim;
static void double_free_child(void *arg)
{
    (void)arg;
    pthread_t t;
    pthread_create(&t, NULL, double_free_thread, victim);
    pthread_join(t, NULL);
}

static void write_after_free_child(void *arg)
{
    (void)arg;
    pthread_t t;
    pthread_create(&t, NULL, write_after_free_thread, victim);
    pthread_join(t, NULL);
}

int main(int argc, char **argv)
{
#ifndef __x86_64__
    test_skip("the per-CPU caches run on x86-64 only");
#endif
    if (argc >= 3 && strcmp(argv[1], "--seccomp-exec") == 0) {
        install_filter();
        execvp(argv[2], argv + 2);
        perror(argv[2]);
        return 127;
    }
    CHECKF(argc == 2 && (strcmp(argv[1], "cache") == 0 || strcmp(argv[1], "none") == 0),
           "usage: %s cache|none", argv[0]);
    const char *gt = getenv("GLIBC_TUNABLES");
    if (getenv("PERCPU_REUSE_FILTER") != NULL && getenv("PERCPU_REUSE_FILTERED") == NULL) {
        install_filter();
        setenv("PERCPU_REUSE_FILTERED", "1", 1);
        execv("/proc/self/exe", argv);
        CHECKF(0, "re-executing under the filter: %s", strerror(errno));
    }
    misuse_init("percpu_reuse");
    cache = strcmp(argv[1], "cache") == 0;
    int glibc_rseq = &__rseq_size != NULL && __rseq_size != 0;
    int tunable_off = gt != NULL && strstr(gt, "glibc.pthread.rseq=0") != NULL;
    printf("  glibc's rseq registration: %s; expected: %s\n", glibc_rseq ? "yes" : "no",
           cache ? "the caches" : "per-thread heaps alone");
    if (getenv("PERCPU_REUSE_FILTERED") != NULL)
        CHECKF(!glibc_rseq, "glibc registered rseq under a filter that refuses it");
    else if (tunable_off)
        CHECKF(!glibc_rseq, "glibc registered rseq with its tunable off");

    void *huge = malloc(16 << 20);   /* the process is large enough for the purger */
    CHECK(huge != NULL);
    allocate(0, 2 * N);
    for (size_t i = 0; i < N; i++)
        CHECK((small[i] = malloc(16)) != NULL);
    run_thread(freer);
    printf("  ok  reuse, exact uordblks, drain by malloc_trim\n");
    run_thread(idler);
    printf("  ok  drain by the purger\n");

    victim = malloc(SIZE);
    char line[160];
    snprintf(line, sizeof line, "dynalloc: free(): double free %p", victim);
    expect_abort("second free of a freed block", double_free_child, NULL, line);
    if (cache) {
        snprintf(line, sizeof line, "dynalloc: malloc(): corrupted free list in page %p (block %p)",
                 (void *)((uintptr_t)victim & ~(uintptr_t)0xffff), victim);
        expect_abort("write into a cached block", write_after_free_child, NULL, line);
    } else {
        expect_clean("write into a remotely freed block", write_after_free_child, NULL);
    }
    free(huge);
    return test_done();
}
