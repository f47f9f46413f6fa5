/* api_realloc.c — realloc across every tier boundary.
 *
 * Covers: contents preserved on every grow and shrink through the chain
 * 1 → 100 → 4096 → 4097 → 100000 → 1 MiB ± a page → 5 MiB → 64 MiB and back;
 * the new tail writable up to the usable size; realloc(NULL, n) behaves as
 * malloc; realloc(p, 0) frees p and returns NULL or a freeable block; random
 * resize sequences on many live blocks; realloc of an over-aligned block.
 */
#include "check.h"

static const size_t chain[] = {
    1, 100, 4096, 4097, 100000, 1048576 - 4096, 1048576, 1048576 + 4096,
    5 * 1048576, 64 * 1048576, 5 * 1048576 + 3, 1048576 + 4095, 1048575, 100000,
    4097, 4096, 4095, 100, 16, 15, 1, 0x20000, 2, 64 * 1048576 + 1, 17, 1,
};
#define NCHAIN (sizeof chain / sizeof chain[0])

static void test_chain(uint64_t tag)
{
    size_t have = chain[0];
    unsigned char *p = realloc(NULL, have);
    CHECK(p != NULL);
    test_fill(p, have, tag);
    for (size_t i = 1; i < NCHAIN; i++) {
        size_t n = chain[i], keep = have < n ? have : n;
        unsigned char *q = realloc(p, n);
        CHECKF(q != NULL, "realloc(%zu → %zu) failed", have, n);
        CHECKF(test_verify_sparse(q, keep, tag) == keep,
               "realloc %zu → %zu lost contents at byte %zu", have, n, test_verify_sparse(q, keep, tag));
        if (n >= 16)
            CHECKF(((uintptr_t)q & 15) == 0, "realloc(%zu) = %p not 16-byte aligned", n, (void *)q);
        size_t u = malloc_usable_size(q);
        CHECKF(u >= n, "usable size %zu < %zu after realloc", u, n);
        /* the new tail up to the usable size must be writable */
        if (u > keep)
            memset(q + keep, 0x3c, u - keep);
        tag++;
        test_fill_sparse(q, n, tag);
        p = q;
        have = n;
    }
    free(p);
}

static void test_zero(void)
{
    static const size_t sizes[] = { 0, 1, 100, 5000, 3 * 1048576 };
    for (int round = 0; round < 200; round++) {
        void *p = malloc(sizes[round % 5]);
        CHECK(p != NULL);
        void *q = realloc(p, 0);   /* frees p; NULL or a new minimal block */
        if (q != NULL) {
            CHECK(malloc_usable_size(q) < 4096 || !test_is_dynalloc());
            free(q);
        }
    }
    void *r = realloc(NULL, 0);
    CHECK(r != NULL);             /* same as malloc(0) */
    free(r);

    /* whatever realloc(p, 0) returns, nothing accumulates */
    size_t before = mallinfo2().uordblks;
    for (int round = 0; round < 20000; round++) {
        void *p = malloc(sizes[round % 4]);
        CHECK(p != NULL);
        free(realloc(p, 0));
    }
    size_t after = mallinfo2().uordblks;
    CHECKF(after < before + 256 * KiB, "20000 realloc(p, 0) left %zu bytes in use", after - before);
}

/* Random sizes on many live blocks: each resize keeps the common prefix. */
static void test_random(void)
{
    enum { N = 300, ROUNDS = 12000 };
    static unsigned char *p[N];
    static size_t n[N];
    static uint64_t tag[N];
    uint64_t rng = 0x1234;
    for (int r = 0; r < ROUNDS; r++) {
        int i = (int)(test_rand(&rng) % N);
        uint64_t x = test_rand(&rng);
        size_t want;
        switch (x % 16) {
        case 0: want = (size_t)(x >> 8) % (2 * MiB); break;
        case 1: case 2: case 3: want = (size_t)(x >> 8) % 65536; break;
        default: want = (size_t)(x >> 8) % 4200; break;
        }
        size_t keep = n[i] < want ? n[i] : want;
        unsigned char *q = realloc(p[i], want);
        if (q == NULL) {
            /* only realloc(p, 0) may return NULL, and then p is freed */
            CHECKF(want == 0, "realloc(%zu) failed", want);
            p[i] = NULL;
            n[i] = 0;
            continue;
        }
        CHECKF(test_verify_sparse(q, keep, tag[i]) == keep, "random realloc %zu → %zu lost contents", n[i], want);
        tag[i] = x;
        test_fill_sparse(q, want, x);
        p[i] = q;
        n[i] = want;
    }
    for (int i = 0; i < N; i++) {
        CHECK(p[i] == NULL || test_verify_sparse(p[i], n[i], tag[i]) == n[i]);
        free(p[i]);
    }
}

static void test_aligned_block(void)
{
    for (size_t align = 32; align <= 2 * MiB; align <<= 3) {
        void *p = NULL;
        CHECK(posix_memalign(&p, align, 300) == 0);
        test_fill(p, 300, align);
        unsigned char *q = realloc(p, 70000);
        CHECK(q != NULL && test_verify(q, 300, align) == 300);
        q = realloc(q, 20);
        CHECK(q != NULL && test_verify(q, 20, align) == 20);
        free(q);
    }
}

int main(void)
{
    test_init("api_realloc");
    test_chain(1);
    test_zero();
    test_random();
    test_aligned_block();
    test_chain(1000);
    return test_done();
}
