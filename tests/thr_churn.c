/* thr_churn.c — thousands of short-lived threads whose blocks outlive them.
 *
 * NTOTAL threads run in waves of WAVE.  Each allocates blocks of mixed sizes
 * (every tier), frees some itself and leaves the rest to the main thread,
 * which frees them after joining it.  Memory must not grow without bound as
 * threads come and go: after all threads, the resident set stays below the
 * resident set after the first tenth + 64 MiB, and mallinfo2's arena + hblkhd
 * likewise.  TEST_SCALE divides the thread count.
 */
#include "check.h"

#include <pthread.h>

enum { BASE_TOTAL = 3000, WAVE = 8, PER_THREAD = 40 };

struct job {
    unsigned id;
    void *left[PER_THREAD];        /* blocks left for the main thread */
    size_t left_n[PER_THREAD];
    uint64_t left_tag[PER_THREAD];
    unsigned nleft;
};

static size_t churn_size(uint64_t *rng)
{
    uint64_t x = test_rand(rng);
    switch (x % 20) {
    case 0: return 4097 + (size_t)((x >> 8) % 60000);
    case 1: return (x >> 8) % 8 == 0 ? MiB + 4096 : 16384;
    case 2: case 3: case 4: return 257 + (size_t)((x >> 8) % 3840);
    default: return (size_t)((x >> 8) % 257);
    }
}

static void *thread_main(void *arg)
{
    struct job *j = arg;
    uint64_t rng = 0xC0FFEE + j->id;
    void *mine[PER_THREAD];
    unsigned nmine = 0;
    for (unsigned i = 0; i < PER_THREAD; i++) {
        size_t n = churn_size(&rng);
        unsigned char *p = malloc(n);
        CHECK(p != NULL);
        uint64_t tag = (uint64_t)j->id * 1000 + i;
        test_fill_sparse(p, n, tag);
        if (i % 3 == 0) {
            mine[nmine++] = p;
        } else {
            j->left[j->nleft] = p;
            j->left_n[j->nleft] = n;
            j->left_tag[j->nleft++] = tag;
        }
    }
    while (nmine > 0)
        free(mine[--nmine]);
    return NULL;
}

static size_t heap_size(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.arena + mi.hblkhd;
}

int main(void)
{
    static struct job jobs[WAVE];
    pthread_t t[WAVE];
    unsigned total, done = 0;
    size_t rss_early = 0, heap_early = 0;

    test_init("thr_churn");
    total = BASE_TOTAL / test_scale();
    if (total < 10 * WAVE)
        total = 10 * WAVE;
    while (done < total) {
        for (unsigned w = 0; w < WAVE; w++) {
            memset(&jobs[w], 0, sizeof jobs[w]);
            jobs[w].id = done + w;
            CHECK(pthread_create(&t[w], NULL, thread_main, &jobs[w]) == 0);
        }
        for (unsigned w = 0; w < WAVE; w++) {
            CHECK(pthread_join(t[w], NULL) == 0);
            for (unsigned i = 0; i < jobs[w].nleft; i++) {
                CHECKF(test_verify_sparse(jobs[w].left[i], jobs[w].left_n[i], jobs[w].left_tag[i])
                           == jobs[w].left_n[i], "block left by thread %u damaged", jobs[w].id);
                free(jobs[w].left[i]);
            }
        }
        done += WAVE;
        if (rss_early == 0 && done >= total / 10) {
            rss_early = test_rss();
            heap_early = heap_size();
        }
    }
    size_t rss_end = test_rss(), heap_end = heap_size();
    printf("thr_churn: %u threads; RSS %zu MiB after %u, %zu MiB at the end; arena+hblkhd %zu → %zu MiB\n",
           total, rss_early >> 20, total / 10, rss_end >> 20, heap_early >> 20, heap_end >> 20);
    CHECKF(rss_end < rss_early + 64 * MiB, "RSS grew from %zu MiB to %zu MiB", rss_early >> 20, rss_end >> 20);
    CHECKF(heap_end < heap_early + 64 * MiB, "arena+hblkhd grew from %zu MiB to %zu MiB",
           heap_early >> 20, heap_end >> 20);
    return test_done();
}
