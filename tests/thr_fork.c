/* thr_fork.c — fork while other threads are inside the allocator.
 *
 * NWORKERS threads allocate and free continuously while the main thread forks
 * NFORKS times.  Each child at once allocates, writes, checks and frees
 * blocks of every tier, then _exit(0)s.  A child that deadlocks (a lock held
 * across fork) is killed by its own alarm and reported; the whole program has
 * a watchdog alarm too.  TEST_SCALE divides the fork count.
 */
#include "check.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

enum { NWORKERS = 4, BASE_FORKS = 150 };

static atomic_int stop;
static atomic_ulong worker_ops;

static void *worker(void *arg)
{
    uint64_t rng = 77 + (uintptr_t)arg;
    void *keep[32] = { 0 };
    unsigned long ops = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        unsigned k = (unsigned)(test_rand(&rng) % 32);
        uint64_t x = test_rand(&rng);
        size_t n = x % 50 == 0 ? MiB + (size_t)(x % MiB) : x % 10 == 0 ? 4097 + (size_t)(x % 100000) : (size_t)(x % 2000);
        free(keep[k]);
        keep[k] = malloc(n);
        CHECK(keep[k] != NULL);
        memset(keep[k], (int)k, n < 4096 ? n : 4096);
        if (++ops % 256 == 0)
            usleep(20);            /* leave the forking thread some CPU */
    }
    for (unsigned k = 0; k < 32; k++)
        free(keep[k]);
    atomic_fetch_add(&worker_ops, ops);
    return NULL;
}

static const size_t child_sizes[] = { 0, 1, 16, 100, 1000, 4096, 4097, 20000, 300000, 1048576 + 1, 6 * 1048576 };
#define NCHILD (sizeof child_sizes / sizeof child_sizes[0])

static void child(void)
{
    void *v[NCHILD];
    alarm(10);                     /* a deadlocked child dies of SIGALRM */
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < NCHILD; i++) {
            v[i] = malloc(child_sizes[i]);
            if (v[i] == NULL)
                _exit(3);
            test_fill_sparse(v[i], child_sizes[i], i);
        }
        void *c = calloc(100, 100), *r = realloc(v[2], 50000), *a = aligned_alloc(4096, 8192);
        if (c == NULL || r == NULL || a == NULL)
            _exit(4);
        v[2] = r;
        for (size_t i = 0; i < NCHILD; i++) {
            size_t n = i == 2 ? child_sizes[2] : child_sizes[i];
            if (test_verify_sparse(v[i], n, i) != n)
                _exit(5);
            free(v[i]);
        }
        free(c);
        free(a);
    }
    _exit(0);
}

int main(void)
{
    pthread_t t[NWORKERS];
    unsigned nforks;
    test_init("thr_fork");
    nforks = BASE_FORKS / test_scale();
    if (nforks < 100 / test_scale() + 20)
        nforks = 100 / test_scale() + 20;
    alarm(240);                    /* watchdog for the whole program */
    for (unsigned i = 0; i < NWORKERS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i) == 0);
    for (unsigned f = 0; f < nforks; f++) {
        /* the parent allocates around the fork as well */
        void *before = malloc(100 + f);
        CHECK(before != NULL);
        fflush(stdout);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0)
            child();
        free(before);
        int status;
        while (waitpid(pid, &status, 0) < 0)
            CHECK(errno == EINTR);
        if (WIFSIGNALED(status))
            test_fail(__FILE__, __LINE__, "child %u killed by signal %d%s", f, WTERMSIG(status),
                      WTERMSIG(status) == SIGALRM ? " (deadlocked after fork)" : "");
        CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %u exited with status %d", f,
               WEXITSTATUS(status));
    }
    atomic_store(&stop, 1);
    for (unsigned i = 0; i < NWORKERS; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    printf("thr_fork: %u forks while %d threads did %lu allocations\n", nforks, NWORKERS,
           (unsigned long)atomic_load(&worker_ops));
    return test_done();
}
