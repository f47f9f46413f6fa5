/* api_limits.c — requests that cannot be met.
 *
 * Covers: a size above PTRDIFF_MAX (malloc, calloc, realloc, reallocarray,
 * valloc, pvalloc, posix_memalign, aligned_alloc, memalign) gives NULL (or
 * ENOMEM from posix_memalign) with errno ENOMEM; a calloc or reallocarray
 * product that overflows likewise; a failed realloc/reallocarray leaves the
 * original block valid and unchanged; errors leave the allocator usable.
 */
#include "check.h"

static const size_t huge[] = {
    (size_t)PTRDIFF_MAX + 1, (size_t)PTRDIFF_MAX + 4096, SIZE_MAX / 2 + 17,
    SIZE_MAX - 4096, SIZE_MAX - 16, SIZE_MAX - 15, SIZE_MAX - 1, SIZE_MAX,
};
#define NHUGE (sizeof huge / sizeof huge[0])

/* (count, size) pairs whose product does not fit in size_t */
static const size_t overflow[][2] = {
    { 2, SIZE_MAX / 2 + 1 }, { SIZE_MAX / 2 + 1, 2 }, { 3, SIZE_MAX / 3 + 1 },
    { (size_t)1 << 32, (size_t)1 << 32 }, { SIZE_MAX, SIZE_MAX }, { 65537, (size_t)1 << 48 },
    { SIZE_MAX, 2 },
};
#define NOVER (sizeof overflow / sizeof overflow[0])

#define EXPECT_ENOMEM(expr, what, arg)                                                 \
    do {                                                                               \
        void *r_;                                                                      \
        errno = 0;                                                                     \
        r_ = (expr);                                                                   \
        CHECKF(r_ == NULL, "%s(%zu) returned %p", what, (size_t)(arg), r_);            \
        CHECKF(errno == ENOMEM, "%s(%zu): errno %d, want ENOMEM", what, (size_t)(arg), errno); \
    } while (0)

static void test_huge_sizes(void)
{
    for (size_t i = 0; i < NHUGE; i++) {
        size_t n = test_opaque(huge[i]);
        void *p;
        EXPECT_ENOMEM(malloc(n), "malloc", n);
        EXPECT_ENOMEM(calloc(1, n), "calloc(1, n)", n);
        EXPECT_ENOMEM(calloc(n, 1), "calloc(n, 1)", n);
        EXPECT_ENOMEM(realloc(NULL, n), "realloc(NULL)", n);
        EXPECT_ENOMEM(reallocarray(NULL, 1, n), "reallocarray(NULL, 1)", n);
        EXPECT_ENOMEM(valloc(n), "valloc", n);
        EXPECT_ENOMEM(pvalloc(n), "pvalloc", n);
        EXPECT_ENOMEM(aligned_alloc(16, n), "aligned_alloc(16)", n);
        EXPECT_ENOMEM(aligned_alloc(4096, n), "aligned_alloc(4096)", n);
        EXPECT_ENOMEM(memalign(64, n), "memalign(64)", n);
        p = (void *)0x1;
        CHECKF(posix_memalign(&p, 32, n) == ENOMEM, "posix_memalign(32, %zu)", n);
    }
}

static void test_overflow(void)
{
    for (size_t i = 0; i < NOVER; i++) {
        size_t c = test_opaque(overflow[i][0]), s = test_opaque(overflow[i][1]);
        EXPECT_ENOMEM(calloc(c, s), "calloc", i);
        EXPECT_ENOMEM(reallocarray(NULL, c, s), "reallocarray(NULL)", i);
    }
}

/* A failed resize leaves the block where it was, with its contents. */
static void test_failed_resize(void)
{
    static const size_t sizes[] = { 1, 100, 4096, 5000, 200000, 2 * 1048576 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        unsigned char *p = malloc(n);
        CHECK(p != NULL);
        test_fill(p, n, 7 + i);
        for (size_t k = 0; k < NHUGE; k++) {
            EXPECT_ENOMEM(realloc(p, test_opaque(huge[k])), "realloc(p)", huge[k]);
            EXPECT_ENOMEM(reallocarray(p, 1, test_opaque(huge[k])), "reallocarray(p, 1)", huge[k]);
        }
        for (size_t k = 0; k < NOVER; k++)
            EXPECT_ENOMEM(reallocarray(p, test_opaque(overflow[k][0]), test_opaque(overflow[k][1])),
                          "reallocarray(p)", k);
        CHECKF(test_verify(p, n, 7 + i) == n, "block of %zu bytes changed by a failed realloc", n);
        CHECK(malloc_usable_size(p) >= n);
        /* still a live, resizable block */
        p = realloc(p, n + 1000);
        CHECK(p != NULL);
        CHECK(test_verify(p, n, 7 + i) == n);
        errno = 1234;
        free(p);
        CHECK(errno == 1234);
    }
}

/* v = reallocarray(v, n, …), which must succeed and keep the first `kept`
 * elements (each i * 3); the elements from kept up to fill are then set. */
static unsigned *resize_checked(unsigned *v, size_t n, unsigned kept, unsigned fill)
{
    v = reallocarray(v, n, sizeof *v);
    CHECK(v != NULL);
    for (unsigned i = 0; i < kept; i++)
        CHECK(v[i] == i * 3);
    for (unsigned i = kept; i < fill; i++)
        v[i] = i * 3;
    return v;
}

/* reallocarray with a product that fits behaves like realloc. */
static void test_reallocarray_ok(void)
{
    unsigned *v = resize_checked(NULL, 10, 0, 10);
    v = resize_checked(v, 100000, 10, 100000);
    v = resize_checked(v, 5, 5, 5);
    free(v);
    /* calloc with a large product that fits */
    unsigned char *c = calloc(1024, 3 * 1024);
    CHECK(c != NULL);
    for (size_t i = 0; i < 3 * MiB; i += 511)
        CHECK(c[i] == 0);
    free(c);
}

int main(void)
{
    test_init("api_limits");
    test_huge_sizes();
    test_overflow();
    test_failed_resize();
    test_reallocarray_ok();
    /* everything still works */
    void *p = malloc(100), *q = malloc(1 << 20);
    CHECK(p != NULL && q != NULL);
    free(p);
    free(q);
    return test_done();
}
