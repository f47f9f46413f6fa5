/* api_basic.c — malloc, free, malloc_usable_size across every size tier.
 *
 * Covers: malloc(0) gives unique freeable pointers; 16-byte alignment of every
 * block of 16 bytes or more; usable size at least the request and every usable
 * byte writable; live blocks never overlap; malloc_usable_size(NULL) == 0;
 * free (and free(NULL)) never changes errno; cfree frees.
 */
#include "check.h"

/* Sizes around every tier boundary: pool (0..4096), bulk (page runs), and
 * dedicated mappings (about 1 MiB and up). */
static const size_t edge_sizes[] = {
    0, 1, 2, 7, 8, 15, 16, 17, 24, 31, 32, 33, 48, 63, 64, 65, 96, 127, 128, 129,
    255, 256, 257, 511, 512, 513, 1000, 1023, 1024, 1025, 2047, 2048, 2049,
    3000, 4095, 4096, 4097, 4111, 5000, 8191, 8192, 8193, 12288, 16384, 16385,
    65535, 65536, 65537, 100000, 262144, 500000,
    1048576 - 4096 - 1, 1048576 - 4096, 1048576 - 1, 1048576, 1048576 + 1,
    1048576 + 4096, 1048576 + 4097, 2 * 1048576, 3 * 1048576 + 17, 8 * 1048576 - 1,
    64 * 1048576,
};
#define NEDGE (sizeof edge_sizes / sizeof edge_sizes[0])

struct live { unsigned char *p; size_t n; };

static int cmp_live(const void *a, const void *b)
{
    const struct live *x = a, *y = b;
    return x->p < y->p ? -1 : x->p > y->p;
}

/* Every live block in `v` must be disjoint from the others (by usable size). */
static void check_disjoint(struct live *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_live);
    for (size_t i = 1; i < n; i++)
        CHECKF(v[i - 1].p + v[i - 1].n <= v[i].p,
               "blocks %p (+%zu) and %p overlap", (void *)v[i - 1].p, v[i - 1].n, (void *)v[i].p);
}

static void test_zero_size(void)
{
    enum { N = 1000 };
    static struct live v[N];
    for (int i = 0; i < N; i++) {
        v[i].p = malloc(0);
        CHECK(v[i].p != NULL);
        v[i].n = malloc_usable_size(v[i].p);
        if (v[i].n == 0)
            v[i].n = 1;            /* distinct addresses are still required */
        memset(v[i].p, 0x5a, malloc_usable_size(v[i].p));
    }
    check_disjoint(v, N);
    for (int i = 0; i < N; i++)
        free(v[i].p);
}

/* malloc(n) that must succeed, with a usable size of at least n (returned in
 * *usable) and 16-byte alignment from 16 bytes on. */
static unsigned char *checked_malloc(size_t n, size_t *usable)
{
    unsigned char *p = malloc(n);
    CHECKF(p != NULL, "malloc(%zu) failed", n);
    size_t u = malloc_usable_size(p);
    CHECKF(u >= n, "malloc_usable_size = %zu < request %zu", u, n);
    if (n >= 16)
        CHECKF(((uintptr_t)p & 15) == 0, "malloc(%zu) = %p is not 16-byte aligned", n, (void *)p);
    *usable = u;
    return p;
}

static void test_edges(void)
{
    static struct live v[NEDGE];
    for (size_t i = 0; i < NEDGE; i++) {
        size_t n = edge_sizes[i];
        size_t u;
        unsigned char *p = checked_malloc(n, &u);
        memset(p, 0xa5, u);        /* the whole usable size must be writable */
        test_fill(p, n, i);
        v[i].p = p;
        v[i].n = u;
    }
    for (size_t i = 0; i < NEDGE; i++)
        CHECKF(test_verify(v[i].p, edge_sizes[i], i) == edge_sizes[i],
               "block of %zu bytes was overwritten", edge_sizes[i]);
    check_disjoint(v, NEDGE);
    for (size_t i = 0; i < NEDGE; i++)
        free(v[i].p);
}

/* Every size 0..20000 one after another (a step of 1 up to 4200, then 7). */
static void test_sweep(void)
{
    enum { KEEP = 64 };
    void *keep[KEEP] = { 0 };
    unsigned k = 0;
    for (size_t n = 0; n <= 20000; n += n < 4200 ? 1 : 7) {
        size_t u;
        unsigned char *p = checked_malloc(n, &u);
        if (u > 0) {
            p[0] = 1;
            p[u - 1] = 2;
        }
        /* keep some blocks alive a while so frees interleave with mallocs */
        free(keep[k]);
        keep[k] = p;
        k = (k + 1) % KEEP;
    }
    for (unsigned i = 0; i < KEEP; i++)
        free(keep[i]);
}

/* Many small blocks of one size live together: disjoint and stable. */
static void test_many(void)
{
    enum { N = 20000 };
    static struct live v[N];
    uint64_t rng = 42;
    for (int i = 0; i < N; i++) {
        size_t n = (size_t)(test_rand(&rng) % 600);
        v[i].p = malloc(n);
        CHECK(v[i].p != NULL);
        v[i].n = n;
        test_fill(v[i].p, n, (uint64_t)i);
    }
    for (int i = 0; i < N; i += 2) {
        CHECK(test_verify(v[i].p, v[i].n, (uint64_t)i) == v[i].n);
        free(v[i].p);
        v[i].p = NULL;
    }
    for (int i = 0; i < N; i += 2) {
        v[i].n = (size_t)(test_rand(&rng) % 600);
        v[i].p = malloc(v[i].n);
        CHECK(v[i].p != NULL);
        test_fill(v[i].p, v[i].n, (uint64_t)i);
    }
    for (int i = 0; i < N; i++) {
        CHECK(test_verify(v[i].p, v[i].n, (uint64_t)i) == v[i].n);
        if (v[i].n == 0)
            v[i].n = 1;
    }
    /* disjointness by request size (usable sizes may legitimately be larger) */
    {
        static struct live w[N];
        memcpy(w, v, sizeof w);
        check_disjoint(w, N);
    }
    for (int i = N - 1; i >= 0; i--)
        free(v[i].p);
}

static void test_errno_free(void)
{
    for (size_t i = 0; i < NEDGE; i++) {
        void *p = malloc(edge_sizes[i]);
        CHECK(p != NULL);
        errno = 1234;
        free(p);
        CHECKF(errno == 1234, "free of a %zu-byte block changed errno to %d", edge_sizes[i], errno);
    }
    errno = 1234;
    free(NULL);
    CHECKF(errno == 1234, "free(NULL) changed errno to %d", errno);
    CHECK(malloc_usable_size(NULL) == 0);
}

static void test_cfree(void)
{
    if (!TEST_HAS(cfree))
        return;
    for (size_t i = 0; i < NEDGE; i += 5) {
        void *p = malloc(edge_sizes[i]);
        CHECK(p != NULL);
        errno = 1234;
        cfree(p);
        CHECK(errno == 1234);
    }
    cfree(NULL);
}

int main(void)
{
    test_init("api_basic");
    if (test_is_dynalloc()) {
        void *p = malloc(1);
        /* the class, the request (hardened, guarded samples), or a page (profile samples) */
        size_t want = test_profiled() ? 4096 : test_exact_usable() ? 1 : 16;
        CHECKF(malloc_usable_size(p) == want, "malloc(1) usable size %zu, want %zu", malloc_usable_size(p), want);
        free(p);
    }
    test_zero_size();
    test_edges();
    test_sweep();
    test_many();
    test_errno_free();
    test_cfree();
    /* the whole sequence again, now that freed memory is being reused */
    test_edges();
    test_many();
    return test_done();
}
