/* prof_sites.c — a program whose allocation sites and byte counts are known, for
 * the heap profiler's test (tests/prof_check.sh reads its profiles with
 * google-pprof).  Built with -fomit-frame-pointer: the unwinder must not need
 * frame pointers.
 *
 *   prof_sites live FILE   the sites below, then da_prof_dump(FILE) while they are
 *                          live; then everything is freed (the exit profile has
 *                          only the totals)
 *   prof_sites churn       1 GiB allocated and freed at once by site_churn_big
 *   prof_sites off         the profiler is off: da_prof_dump fails with EINVAL
 *
 * Live at the dump (bytes): site_small 6,400,000; site_medium 20,000,000;
 * site_bulk 10,000,000; site_run 10,000,000; site_huge 12,582,912; site_calloc
 * 6,000,000; site_thread 8,192,000.  Allocated and freed before it: site_freed
 * 10,000,000, site_churn 20,000,000 (tests/prof_check.sh has the same table).
 */
#include "check.h"
#include <errno.h>
#include <pthread.h>

int da_prof_dump(const char *path) __attribute__((weak));   /* the preloaded library's */

#define MAX_BLOCKS 200000
static void *blocks[MAX_BLOCKS];
static size_t nblocks;

static void keep(void *p)
{
    CHECK(p != NULL && nblocks < MAX_BLOCKS);
    ((volatile char *)p)[0] = 1;
    blocks[nblocks++] = p;
}

/* Each site allocates in its own function, which malloc returns into (the empty
 * asm after the call keeps it from being a tail call). */
#define SITE(name, call) \
    __attribute__((noinline)) static void *name(void) { void *p = call; __asm__ volatile("" : : "r"(p) : "memory"); return p; }
SITE(site_small, malloc(64))
SITE(site_medium, malloc(1000))
SITE(site_bulk, malloc(20000))
SITE(site_run, malloc(100000))
SITE(site_huge, malloc(3 << 20))
SITE(site_calloc, calloc(3, 100))
SITE(site_freed, malloc(500))
SITE(site_churn, malloc(200))
SITE(site_thread, malloc(256))
SITE(site_churn_big, malloc(1024))   /* no two sites alike: gcc would fold them into one */

static void *thread_main(void *arg)
{
    void **out = arg;
    for (int i = 0; i < 32000; i++) out[i] = site_thread();
    for (int i = 0; i < 32000; i++) ((volatile char *)out[i])[0] = 1;
    return NULL;
}

#define REPEAT(n, call) for (int i_ = 0; i_ < (n); i_++) call
#define THREAD_BLOCKS 32000

int main(int argc, char **argv)
{
    test_init("prof_sites");
    if (argc >= 2 && strcmp(argv[1], "off") == 0) {
        CHECKF(da_prof_dump != NULL, "da_prof_dump is not exported");
        errno = 0;
        CHECK(da_prof_dump("/dev/null") == -1 && errno == EINVAL);
        return test_done();
    }
    if (argc >= 2 && strcmp(argv[1], "churn") == 0) {
        for (int i = 0; i < (1 << 20); i++) {   /* 2^20 blocks of 1 KiB: 1 GiB */
            void *p = site_churn_big();
            CHECK(p != NULL);
            ((volatile char *)p)[0] = 1;
            free(p);
        }
        return test_done();
    }
    CHECK(argc == 3 && strcmp(argv[1], "live") == 0);
    CHECKF(da_prof_dump != NULL, "da_prof_dump is not exported");

    void *freed[20000];
    for (int i = 0; i < 20000; i++) { freed[i] = site_freed(); CHECK(freed[i] != NULL); }
    for (int i = 0; i < 20000; i++) free(freed[i]);
    for (int i = 0; i < 100000; i++) {
        void *p = site_churn();
        CHECK(p != NULL);
        ((volatile char *)p)[0] = 1;
        free(p);
    }
    REPEAT(100000, keep(site_small()));
    REPEAT(20000, keep(site_medium()));
    REPEAT(500, keep(site_bulk()));
    REPEAT(100, keep(site_run()));
    REPEAT(4, keep(site_huge()));
    for (int i = 0; i < 20000; i++) {
        unsigned char *p = site_calloc();
        CHECK(p != NULL && p[0] == 0 && p[299] == 0);
        keep(p);
    }
    static void *theirs[THREAD_BLOCKS];
    pthread_t t;
    CHECK(pthread_create(&t, NULL, thread_main, theirs) == 0);
    CHECK(pthread_join(t, NULL) == 0);

    errno = 1234;
    CHECKF(da_prof_dump(argv[2]) == 0, "da_prof_dump(%s): %s", argv[2], strerror(errno));
    CHECK(errno == 1234);   /* kept when it succeeds */

    for (size_t i = 0; i < nblocks; i++) free(blocks[i]);
    for (int i = 0; i < THREAD_BLOCKS; i++) free(theirs[i]);   /* another thread's blocks */
    return test_done();
}
