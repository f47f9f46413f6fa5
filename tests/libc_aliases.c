/* libc_aliases.c — the glibc-internal names an allocator replacement must
 * also provide: __libc_malloc, __libc_free, __libc_calloc, __libc_realloc,
 * __libc_memalign, __libc_valloc, __libc_pvalloc, __posix_memalign.
 *
 * Blocks from these names and from the standard names are interchangeable:
 * each is freed through the other family.  Built only with the standard
 * names (the prefix library has no aliases).  Declared weak: the system C
 * library lacks some of them (__posix_memalign), and a run on it skips those.
 */
#include "check.h"

extern void *__libc_malloc(size_t size) __attribute__((weak));
extern void  __libc_free(void *ptr) __attribute__((weak));
extern void *__libc_calloc(size_t count, size_t size) __attribute__((weak));
extern void *__libc_realloc(void *ptr, size_t size) __attribute__((weak));
extern void *__libc_memalign(size_t alignment, size_t size) __attribute__((weak));
extern void *__libc_valloc(size_t size) __attribute__((weak));
extern void *__libc_pvalloc(size_t size) __attribute__((weak));
extern int   __posix_memalign(void **out, size_t alignment, size_t size) __attribute__((weak));

static const size_t sizes[] = { 0, 1, 16, 100, 4096, 4097, 70000, 1048576 + 1, 5 * 1048576 };
#define NSIZES (sizeof sizes / sizeof sizes[0])

int main(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    test_init("libc_aliases");
    if (test_is_dynalloc())
        CHECK(__libc_malloc && __libc_free && __libc_calloc && __libc_realloc && __libc_memalign &&
              __libc_valloc && __libc_pvalloc && __posix_memalign);
    for (size_t i = 0; i < NSIZES; i++) {
        size_t n = sizes[i];
        unsigned char *p = __libc_malloc(n);
        CHECK(p != NULL && malloc_usable_size(p) >= n);
        test_fill(p, n, i);
        p = __libc_realloc(p, n + 5000);
        CHECK(p != NULL && test_verify(p, n, i) == n);
        errno = 1234;
        free(p);
        CHECK(errno == 1234);

        p = malloc(n);
        CHECK(p != NULL);
        errno = 1234;
        __libc_free(p);
        CHECK(errno == 1234);

        p = __libc_calloc(1, n);
        CHECK(p != NULL);
        for (size_t k = 0; k < n; k++)
            CHECK(p[k] == 0);
        __libc_free(p);

        for (size_t a = 16; a <= 1048576; a <<= 4) {
            p = __libc_memalign(a, n);
            CHECK(p != NULL && ((uintptr_t)p & (a - 1)) == 0 && malloc_usable_size(p) >= n);
            memset(p, 1, n);
            free(p);
            void *q = NULL;
            if (__posix_memalign == NULL)
                continue;
            CHECK(__posix_memalign(&q, a, n) == 0);
            CHECK(q != NULL && ((uintptr_t)q & (a - 1)) == 0);
            memset(q, 2, n);
            __libc_free(q);
        }
        p = __libc_valloc(n);
        CHECK(p != NULL && ((uintptr_t)p & (page - 1)) == 0);
        memset(p, 3, n);
        free(p);
        p = __libc_pvalloc(n);
        CHECK(p != NULL && ((uintptr_t)p & (page - 1)) == 0);
        CHECK(malloc_usable_size(p) >= ((n + page - 1) & ~(page - 1)));
        memset(p, 4, (n + page - 1) & ~(page - 1));
        __libc_free(p);
    }
    void *q = (void *)1;
    CHECK(__posix_memalign == NULL || __posix_memalign(&q, 24, 10) == EINVAL);
    errno = 0;
    CHECK(__libc_malloc(test_opaque(SIZE_MAX)) == NULL && errno == ENOMEM);
    errno = 1234;
    __libc_free(NULL);
    CHECK(errno == 1234);
    return test_done();
}
