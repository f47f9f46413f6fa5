/* api_foreign_brk.c — the program moves the break itself.
 *
 * Some programs call sbrk() directly.  With either back-end, memory the
 * program took with sbrk must never be handed out by the allocator, and the
 * allocator must go on working after the break moved under it: blocks
 * allocated before and after never overlap the foreign range, and neither
 * side's contents change.
 */
#include "check.h"

enum { N = 3000, FOREIGN = 256 * 1024 };

static void *blocks[2][N];
static size_t sizes[2][N];

/* allocate blocks first, first + step, … of a set */
static void allocate(int set, uint64_t seed, int first, int step)
{
    uint64_t rng = seed;
    for (int i = first; i < N; i += step) {
        uint64_t x = test_rand(&rng);
        size_t n = x % 16 == 0 ? 4097 + (size_t)(x >> 8) % 200000 : (size_t)(x >> 8) % 3000;
        blocks[set][i] = malloc(n);
        CHECK(blocks[set][i] != NULL);
        sizes[set][i] = n;
        test_fill_sparse(blocks[set][i], n, (uint64_t)set * N + (uint64_t)i);
    }
}

static void check_outside(int set, const unsigned char *lo, const unsigned char *hi)
{
    for (int i = 0; i < N; i++) {
        const unsigned char *p = blocks[set][i];
        size_t u = malloc_usable_size(blocks[set][i]);
        CHECKF(p + (u ? u : 1) <= lo || p >= hi, "block %p (+%zu) lies in the program's sbrk range %p-%p",
               (const void *)p, u, (const void *)lo, (const void *)hi);
    }
}

static void verify(int set)
{
    for (int i = 0; i < N; i++)
        CHECKF(test_verify_sparse(blocks[set][i], sizes[set][i], (uint64_t)set * N + (uint64_t)i) == sizes[set][i],
               "block %d of set %d changed", i, set);
}

int main(void)
{
    test_init("api_foreign_brk");
    allocate(0, 1, 0, 1);
    unsigned char *lo = sbrk(FOREIGN);
    CHECK(lo != (void *)-1);
    unsigned char *hi = lo + FOREIGN;
    test_fill(lo, FOREIGN, 4242);
    allocate(1, 2, 0, 1);
    /* the allocator may have moved the break further since: fine, as long as
     * our range stays ours */
    CHECK(test_verify(lo, FOREIGN, 4242) == FOREIGN);
    check_outside(0, lo, hi);
    check_outside(1, lo, hi);
    verify(0);
    verify(1);
    for (int i = 0; i < N; i += 2) {
        free(blocks[0][i]);
        free(blocks[1][i]);
    }
    allocate(0, 3, 0, 2);          /* new blocks in the even half of set 0 */
    allocate(1, 4, 0, 2);
    check_outside(0, lo, hi);
    check_outside(1, lo, hi);
    verify(0);
    verify(1);
    CHECK(test_verify(lo, FOREIGN, 4242) == FOREIGN);
    for (int i = 0; i < N; i++) {
        free(blocks[0][i]);
        free(blocks[1][i]);
    }
    malloc_trim(0);
    CHECK(test_verify(lo, FOREIGN, 4242) == FOREIGN);
    return test_done();
}
