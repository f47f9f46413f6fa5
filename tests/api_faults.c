/* api_faults.c — the OS layer refuses every Nth request (DYNALLOC_FAULT_EVERY,
 * effective in DA_DEBUG ≥ 1 builds): allocations then fail with NULL and ENOMEM,
 * never crash or corrupt, and succeed again later.  Blocks that were handed out
 * keep their contents throughout.  The program re-executes itself with the
 * variable set; in a release build no request fails and the checks still hold.
 */
#include "check.h"

enum { NBLOCKS = 2048, ROUNDS = 20 };
static unsigned char *blocks[NBLOCKS];
static size_t sizes[NBLOCKS];

int main(int argc, char **argv)
{
    if (getenv("DYNALLOC_FAULT_EVERY") == NULL && argc > 0) {
        setenv("DYNALLOC_FAULT_EVERY", "5", 1);
        setenv("DYNALLOC_SEGMENT_CACHE", "0", 1);
        setenv("DYNALLOC_PURGE_DELAY", "0", 1);
        execvp(argv[0], argv);   /* (argv[0], not /proc/self/exe: valgrind runs it natively) */
    }
    test_init("api_faults");
    uint64_t rng = 7;
    size_t failures = 0, successes = 0;
    for (int round = 0; round < ROUNDS; round++) {
        for (size_t i = 0; i < NBLOCKS; i++) {
            size_t k = test_rand(&rng) % NBLOCKS;
            if (blocks[k] != NULL) {
                CHECK(test_verify_sparse(blocks[k], sizes[k], k) == sizes[k]);
                free(blocks[k]);
                blocks[k] = NULL;
                continue;
            }
            unsigned r = (unsigned)(test_rand(&rng) % 100);
            size_t n = r < 70 ? test_rand(&rng) % 4096 : r < 98 ? 4097 + test_rand(&rng) % 200000
                                                         : (1 << 20) + test_rand(&rng) % (1 << 20);
            errno = 0;
            unsigned char *p = r % 7 == 0 && n < 65536 ? calloc(1, n) : malloc(n);
            if (p == NULL) {
                CHECKF(errno == ENOMEM, "malloc(%zu) failed with errno %d", n, errno);
                failures++;
                continue;
            }
            successes++;
            test_fill_sparse(p, n, k);
            blocks[k] = p;
            sizes[k] = n;
        }
    }
    for (size_t k = 0; k < NBLOCKS; k++) {
        if (blocks[k] == NULL) continue;
        CHECK(test_verify_sparse(blocks[k], sizes[k], k) == sizes[k]);
        free(blocks[k]);
    }
    /* after the storm, with faults still on, allocation works again sooner or later */
    void *p = NULL;
    for (int i = 0; i < 100 && p == NULL; i++) p = malloc(100000);
    CHECK(p != NULL);
    free(p);
    printf("api_faults: %zu allocations, %zu refused by injected faults\n", successes, failures);
    return test_done();
}
