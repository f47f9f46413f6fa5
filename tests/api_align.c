/* api_align.c — posix_memalign, aligned_alloc, memalign, valloc, pvalloc and
 * free_aligned_sized.
 *
 * Covers: alignments 1 … 4 MiB and 32 MiB with sizes in every tier, the result
 * aligned, usable size at least the request, all usable bytes writable, blocks
 * freeable with free (and free_aligned_sized); EINVAL for an alignment that is
 * not a power of two (posix_memalign also for one that is not a multiple of
 * sizeof(void *)); ENOMEM returned and in errno for an impossible size;
 * valloc page-aligned; pvalloc rounds the size up to a page.
 */
#include "check.h"

static const size_t sizes[] = {
    0, 1, 15, 16, 17, 100, 1000, 4095, 4096, 4097, 10000, 100000,
    1048576 - 4096, 1048576 + 1, 3 * 1048576,
};
#define NSIZES (sizeof sizes / sizeof sizes[0])

enum { VIA_POSIX, VIA_ALIGNED_ALLOC, VIA_MEMALIGN, NVIA };
static const char *const via_name[] = { "posix_memalign", "aligned_alloc", "memalign" };

static void *alloc_via(int via, size_t align, size_t n)
{
    void *p = NULL;
    switch (via) {
    case VIA_POSIX: {
        int r = posix_memalign(&p, align, n);
        CHECKF(r == 0, "posix_memalign(%zu, %zu) = %d", align, n, r);
        break;
    }
    case VIA_ALIGNED_ALLOC:
        p = aligned_alloc(align, n);
        break;
    default:
        p = memalign(align, n);
        break;
    }
    CHECKF(p != NULL, "%s(%zu, %zu) failed", via_name[via], align, n);
    return p;
}

static void check_block(void *p, size_t align, size_t n, uint64_t tag)
{
    size_t u = malloc_usable_size(p);
    CHECKF(((uintptr_t)p & (align - 1)) == 0, "%p is not aligned to %zu", p, align);
    if (n >= 16)
        CHECKF(((uintptr_t)p & 15) == 0, "%p is not 16-byte aligned", p);
    CHECKF(u >= n, "usable size %zu < request %zu (alignment %zu)", u, n, align);
    memset(p, 0xee, u);
    test_fill(p, n, tag);
}

static void test_alignments(void)
{
    enum { MAXLIVE = 32 * 16 };
    static void *live[MAXLIVE];
    static size_t live_n[MAXLIVE];
    for (int via = 0; via < NVIA; via++) {
        unsigned nlive = 0, round = 0;
        for (size_t align = 1; align <= ((size_t)32 << 20); align <<= 1) {
            if (via == VIA_POSIX && align < sizeof(void *))
                continue;
            if (align > ((size_t)4 << 20) && align != ((size_t)32 << 20))
                continue;
            for (size_t i = 0; i < NSIZES; i++) {
                size_t n = sizes[i];
                /* keep the very large alignments to a few sizes: each can
                 * reserve address space of twice the alignment */
                if (align >= ((size_t)4 << 20) && i % 4 != 0)
                    continue;
                void *p = alloc_via(via, align, n);
                check_block(p, align, n, nlive);
                live[nlive] = p;
                live_n[nlive] = n;
                nlive++;
            }
            /* every other alignment frees what is live; the last batch stays to the end */
            if (++round % 2 == 0 || nlive > MAXLIVE - NSIZES) {
                for (unsigned k = 0; k < nlive; k++) {
                    CHECK(test_verify(live[k], live_n[k], k) == live_n[k]);
                    free(live[k]);
                }
                nlive = 0;
            }
        }
        for (unsigned k = 0; k < nlive; k++) {
            CHECKF(test_verify(live[k], live_n[k], k) == live_n[k],
                   "%s block %u (%zu bytes) was overwritten", via_name[via], k, live_n[k]);
            errno = 1234;
            free(live[k]);
            CHECK(errno == 1234);
        }
    }
}

static void test_einval(void)
{
    static const size_t bad_pow2[] = { 3, 5, 6, 7, 12, 24, 48, 100, 4095, 4097, 12288,
                                       (size_t)3 << 20, SIZE_MAX, ((size_t)1 << 63) + 1 };
    void *p;
    for (size_t i = 0; i < sizeof bad_pow2 / sizeof bad_pow2[0]; i++) {
        size_t a = bad_pow2[i];
        p = (void *)0x1;
        errno = 0;
        CHECKF(posix_memalign(&p, a, 64) == EINVAL, "posix_memalign alignment %zu", a);
        CHECK(errno == 0);        /* posix_memalign reports through its result only */
        if (test_is_dynalloc()) {
            /* The system allocator of some C libraries rounds these up; dynalloc
             * refuses them. */
            errno = 0;
            p = aligned_alloc(a, 64);
            CHECKF(p == NULL && errno == EINVAL, "aligned_alloc(%zu, 64) = %p errno %d", a, p, errno);
            errno = 0;
            p = memalign(a, 64);
            CHECKF(p == NULL && errno == EINVAL, "memalign(%zu, 64) = %p errno %d", a, p, errno);
        }
    }
    /* powers of two below sizeof(void *), and zero, are refused by posix_memalign */
    static const size_t bad_posix[] = { 0, 1, 2, 4 };
    for (size_t i = 0; i < sizeof bad_posix / sizeof bad_posix[0]; i++) {
        p = (void *)0x1;
        CHECKF(posix_memalign(&p, bad_posix[i], 64) == EINVAL, "posix_memalign alignment %zu", bad_posix[i]);
    }
    /* an impossible size with a good alignment: ENOMEM, returned and in errno
     * (glibc sets both; programs check errno after it), p untouched */
    static const size_t huge_sizes[] = { SIZE_MAX - 100, (size_t)PTRDIFF_MAX + 1, (size_t)1 << 62 };
    for (size_t i = 0; i < sizeof huge_sizes / sizeof huge_sizes[0]; i++) {
        for (size_t a = sizeof(void *); a <= ((size_t)4 << 20); a <<= 3) {
            p = (void *)0x1;
            errno = 0;
            int r = posix_memalign(&p, a, test_opaque(huge_sizes[i]));
            CHECKF(r == ENOMEM && errno == ENOMEM && p == (void *)0x1,
                   "posix_memalign(%zu, %zu) = %d, errno %d", a, huge_sizes[i], r, errno);
        }
    }
    /* success leaves errno alone */
    errno = 12345;
    CHECK(posix_memalign(&p, 64, 100) == 0 && errno == 12345);
    free(p);
    errno = 0;
    CHECK(aligned_alloc(64, test_opaque(SIZE_MAX - 100)) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(memalign(4096, test_opaque((size_t)PTRDIFF_MAX + 1)) == NULL && errno == ENOMEM);
}

static void test_valloc(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    static const size_t vs[] = { 0, 1, 100, 4095, 4096, 4097, 100000, 2 * 1048576 + 5 };
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
        void *p = valloc(vs[i]);
        CHECKF(p != NULL, "valloc(%zu)", vs[i]);
        check_block(p, page, vs[i], i);
        void *q = pvalloc(vs[i]);
        CHECKF(q != NULL, "pvalloc(%zu)", vs[i]);
        size_t rounded = (vs[i] + page - 1) & ~(page - 1);
        check_block(q, page, rounded, i + 100);
        CHECK(test_verify(p, vs[i], i) == vs[i]);
        free(p);
        free(q);
    }
}

static void test_free_aligned_sized(void)
{
    if (!TEST_HAS(free_aligned_sized))
        return;
    for (size_t align = 16; align <= ((size_t)4 << 20); align <<= 2) {
        for (size_t i = 0; i < NSIZES; i++) {
            /* C23: size a multiple of the alignment, from aligned_alloc */
            size_t n = (sizes[i] + align - 1) & ~(align - 1);
            if (n == 0)
                n = align;
            if (n > ((size_t)16 << 20))
                continue;
            void *p = aligned_alloc(align, n);
            CHECK(p != NULL);
            check_block(p, align, n, i);
            errno = 1234;
            free_aligned_sized(p, align, n);
            CHECK(errno == 1234);
        }
    }
    free_aligned_sized(NULL, 64, 0);
}

int main(void)
{
    test_init("api_align");
    test_alignments();
    test_einval();
    test_valloc();
    test_free_aligned_sized();
    /* again, on an allocator that now has freed memory to reuse */
    test_alignments();
    return test_done();
}
