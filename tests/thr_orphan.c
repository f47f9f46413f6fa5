/* thr_orphan.c — memory of an exited thread, freed by a thread that never
 * allocates again, goes back to the system.
 *
 * A thread allocates 32 MiB in 1000-byte blocks, writes them, hands them all to
 * the main thread and exits.  The main thread checks and frees every block and
 * then makes no allocator call except mallinfo2: the blocks sit on the remote
 * lists of pages nobody owns.  Within 10 s the purger thread must have
 * collected them, so that mallinfo2 reports under 4 MiB in use and under 4 MiB
 * dirty (free but resident), and the resident set (read without stdio) must
 * have fallen by at least three quarters of what the thread added (not checked
 * under the sanitizers: their shadow memory does not shrink with the heap).
 */
#include "check.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

enum { BLOCK = 1000, COUNT = 32 * 1024 };

static void *blocks[COUNT];

static void *thread_main(void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < COUNT; i++) {
        blocks[i] = malloc(BLOCK);
        CHECK(blocks[i] != NULL);
        test_fill_sparse(blocks[i], BLOCK, i);
    }
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int main(void)
{
    pthread_t t;
    test_init("thr_orphan");
    if (!test_is_dynalloc())
        test_skip("the system allocator has no purger thread");
    /* the main thread has a heap, as in any program that allocates: with no heap
     * left in the process the purger thread ends (it must not keep a process
     * alive whose main thread called pthread_exit) */
    void *own = malloc(64);
    CHECK(own != NULL);
    size_t rss_base = test_rss();
    CHECK(pthread_create(&t, NULL, thread_main, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    size_t rss_full = test_rss();
    for (unsigned i = 0; i < COUNT; i++) {
        CHECKF(test_verify_sparse(blocks[i], BLOCK, i) == BLOCK, "block %u damaged", i);
        free(blocks[i]);
    }
    struct mallinfo2 mi;
    long waited = 0;
    for (;;) {
        mi = mallinfo2();
        bool done = mi.uordblks < 4 * MiB && mi.keepcost < 4 * MiB;
#ifdef TEST_RSS_CHECK
        done = done && test_rss() < rss_full - (rss_full - rss_base) * 3 / 4;
#endif
        if (done || waited >= 10000)
            break;
        sleep_ms(20);
        waited += 20;
    }
    size_t rss_end = test_rss();
    printf("thr_orphan: in use %zu KiB, dirty %zu KiB after %ld ms; RSS %zu → %zu → %zu MiB\n",
           mi.uordblks >> 10, mi.keepcost >> 10, waited, rss_base >> 20, rss_full >> 20, rss_end >> 20);
    CHECKF(mi.uordblks < 4 * MiB, "%zu bytes still in use after all frees", mi.uordblks);
    CHECKF(mi.keepcost < 4 * MiB, "%zu bytes free but not purged", mi.keepcost);
#ifdef TEST_RSS_CHECK
    CHECKF(rss_full > rss_base + 24 * MiB, "RSS rose only from %zu to %zu MiB", rss_base >> 20, rss_full >> 20);
    CHECKF(rss_end < rss_full - (rss_full - rss_base) * 3 / 4, "RSS fell only from %zu to %zu MiB",
           rss_full >> 20, rss_end >> 20);
#endif
    free(own);
    return test_done();
}
