/* api_calloc.c — calloc memory is zero, including reused memory; free_sized.
 *
 * Covers: for sizes in every tier, malloc + fill with 0xff + free, then calloc
 * of the same (and a nearby) size, many times and in batches so that freed
 * blocks are handed out again: every requested byte reads zero.  Also
 * free_sized with the right size, in every tier.
 */
#include "check.h"

static const size_t sizes[] = {
    1, 8, 16, 24, 48, 64, 100, 256, 1000, 2048, 4000, 4096, 4097, 8192, 20000,
    65536, 100000, 500000, 1048576 - 4096, 1048576 + 1, 3 * 1048576, 9 * 1048576,
};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static void check_zero(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n && p[i] == 0)
        i++;
    CHECKF(i == n, "calloc(%zu) byte %zu is 0x%02x", n, i, p[i]);
}

static void test_reuse_one(void)
{
    for (size_t s = 0; s < NSIZES; s++) {
        size_t n = sizes[s];
        int rounds = n > MiB ? 4 : 40;
        for (int r = 0; r < rounds; r++) {
            unsigned char *p = malloc(n);
            CHECK(p != NULL);
            memset(p, 0xff, malloc_usable_size(p));
            free(p);
            size_t m = r % 2 ? n : n - n / 8;   /* same size, or a bit smaller */
            unsigned char *q = calloc(1, m);
            CHECK(q != NULL);
            check_zero(q, m);
            memset(q, 0xff, m);
            free(q);
        }
    }
}

/* A batch of dirty blocks freed together, then calloc'd back together. */
static void test_reuse_batch(void)
{
    enum { B = 64 };
    void *v[B];
    for (size_t s = 0; s < NSIZES; s++) {
        size_t n = sizes[s];
        int b = n > MiB ? 4 : B;
        for (int i = 0; i < b; i++) {
            v[i] = malloc(n);
            CHECK(v[i] != NULL);
            memset(v[i], 0xff, malloc_usable_size(v[i]));
        }
        for (int i = 0; i < b; i++)
            free(v[i]);
        for (int i = 0; i < b; i++) {
            v[i] = calloc(n / 8 > 0 ? 8 : 1, n / 8 > 0 ? n / 8 : n);
            CHECK(v[i] != NULL);
            check_zero(v[i], n / 8 > 0 ? n / 8 * 8 : n);
        }
        for (int i = 0; i < b; i++) {
            memset(v[i], 0xff, n / 8 > 0 ? n / 8 * 8 : n);
            free(v[i]);
        }
    }
}

static void test_calloc_edges(void)
{
    void *p = calloc(0, 0), *q = calloc(0, 100), *r = calloc(100, 0);
    CHECK(p != NULL && q != NULL && r != NULL);
    CHECK(p != q && q != r && p != r);
    free(p);
    free(q);
    free(r);
    unsigned char *s = calloc(3, 5);
    CHECK(s != NULL);
    check_zero(s, 15);
    free(s);
}

static void test_free_sized(void)
{
    if (!TEST_HAS(free_sized))
        return;
    for (size_t s = 0; s < NSIZES; s++) {
        size_t n = sizes[s];
        void *p = malloc(n);
        CHECK(p != NULL);
        memset(p, 1, n);
        errno = 1234;
        free_sized(p, n);
        CHECK(errno == 1234);
        p = calloc(1, n);
        CHECK(p != NULL);
        free_sized(p, n);
    }
    free_sized(NULL, 0);
    free_sized(NULL, 100);
}

int main(void)
{
    test_init("api_calloc");
    test_reuse_one();
    test_reuse_batch();
    test_calloc_edges();
    test_free_sized();
    test_reuse_one();
    return test_done();
}
