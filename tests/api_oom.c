/* api_oom.c — running out of address space.
 *
 * Under an RLIMIT_AS a little above the current size, allocations of each
 * tier go on until one fails: it must fail with NULL and errno ENOMEM (never
 * abort or crash); after everything is freed, allocation works again.
 * TEST_SCALE divides the headroom.  Skipped under ASan and valgrind (both need address space of their own);
 * the runner sets TEST_NO_RLIMIT=1 for valgrind.
 */
#include "check.h"

#include <sys/resource.h>

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

enum { MAXBLOCKS = 1 << 20 };
static void *blocks[MAXBLOCKS];

static size_t vm_size(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    CHECK(f != NULL);
    CHECK(fscanf(f, "%lu", &pages) == 1);
    fclose(f);
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

/* Allocate blocks of about `size` until one fails; returns how many worked. */
static size_t exhaust(size_t size, const char *tier)
{
    size_t n = 0;
    for (;;) {
        CHECKF(n < MAXBLOCKS, "%s: %zu blocks and no failure under the limit", tier, n);
        errno = 0;
        void *p = malloc(size + n % 64);
        if (p == NULL) {
            CHECKF(errno == ENOMEM, "%s: malloc failed with errno %d, want ENOMEM", tier, errno);
            break;
        }
        ((volatile char *)p)[0] = 1;
        blocks[n++] = p;
    }
    /* the other entry points fail cleanly too while memory is short */
    errno = 0;
    void *q = calloc(1, 64 * MiB);
    CHECK(q == NULL ? errno == ENOMEM : 1);
    free(q);
    void *r = NULL;
    int e = posix_memalign(&r, 2 * MiB, 64 * MiB);
    CHECK(e == ENOMEM || (e == 0 && r != NULL));
    free(r);
    printf("api_oom: %s: %zu blocks of about %zu bytes before ENOMEM\n", tier, n, size);
    for (size_t i = 0; i < n; i++)
        free(blocks[i]);
    return n;
}

int main(void)
{
    test_init("api_oom");
#ifdef UNDER_ASAN
    test_skip("ASan reserves address space that RLIMIT_AS would cut");
#endif
    if (getenv("TEST_NO_RLIMIT") != NULL && *getenv("TEST_NO_RLIMIT") == '1')
        test_skip("TEST_NO_RLIMIT=1");
    /* warm up every tier before the limit, so that set-up costs are paid */
    void *warm[3] = { malloc(100), malloc(100000), malloc(3 * MiB) };
    CHECK(warm[0] && warm[1] && warm[2]);
    for (int i = 0; i < 3; i++)
        free(warm[i]);

    /* TEST_SCALE shrinks the headroom (and so the block counts) for slow builds */
    size_t limit = vm_size() + 384 * MiB / test_scale();
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_AS, &rl) == 0);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < limit)
        test_skip("the hard RLIMIT_AS is already below the test's limit");
    rl.rlim_cur = rl.rlim_max = limit;
    CHECK(setrlimit(RLIMIT_AS, &rl) == 0);

    CHECK(exhaust(3 * MiB, "dedicated mappings") > 4);
    CHECK(exhaust(60000, "bulk") > 100);
    CHECK(exhaust(1000, "pool") > 1000);
    CHECK(exhaust(3 * MiB, "dedicated mappings again") > 4);

    /* all freed: the allocator works normally again */
    void *p = malloc(100);
    CHECKF(p != NULL, "malloc(100) failed after everything was freed");
    void *q = malloc(200000);
    CHECKF(q != NULL, "malloc(200000) failed after everything was freed");
    void *r = malloc(2 * MiB);
    CHECKF(r != NULL, "malloc(2 MiB) failed after everything was freed");
    memset(r, 1, 2 * MiB);
    free(p);
    free(q);
    free(r);
    return test_done();
}
