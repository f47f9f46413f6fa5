/* libcmalloc.so — routes the malloc family to glibc's own malloc.
 *
 * Some programs link an allocator themselves (Debian's redis-server links
 * libjemalloc.so.2), so running them "without preload" does not measure
 * glibc.  Preloading this shim puts glibc's allocator (its exported
 * __libc_* entry points) in front of the linked one, which makes the glibc
 * column of such a workload mean what it says.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

extern void *__libc_malloc(size_t);
extern void  __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

#define EXPORT __attribute__((visibility("default")))

EXPORT void *malloc(size_t n) { return __libc_malloc(n); }
EXPORT void free(void *p) { __libc_free(p); }
EXPORT void cfree(void *p) { __libc_free(p); }
EXPORT void *calloc(size_t n, size_t s) { return __libc_calloc(n, s); }
EXPORT void *realloc(void *p, size_t n) { return __libc_realloc(p, n); }
EXPORT void *memalign(size_t a, size_t n) { return __libc_memalign(a, n); }
EXPORT void *valloc(size_t n) { return __libc_valloc(n); }
EXPORT void *pvalloc(size_t n) { return __libc_pvalloc(n); }

EXPORT void *reallocarray(void *p, size_t n, size_t s)
{
    size_t t;
    if (__builtin_mul_overflow(n, s, &t)) { errno = ENOMEM; return NULL; }
    return __libc_realloc(p, t);
}

EXPORT void *aligned_alloc(size_t a, size_t n)
{
    if (a == 0 || (a & (a - 1))) { errno = EINVAL; return NULL; }
    return __libc_memalign(a, n);
}

EXPORT int posix_memalign(void **out, size_t a, size_t n)
{
    if (a < sizeof(void *) || (a & (a - 1))) return EINVAL;
    int saved = errno;
    void *p = __libc_memalign(a, n);
    if (!p) { int e = errno; errno = saved; return e ? e : ENOMEM; }
    errno = saved;
    *out = p;
    return 0;
}

/* glibc's malloc_usable_size, looked up in libc itself (the linked allocator
 * exports one too). */
EXPORT size_t malloc_usable_size(void *p)
{
    static size_t (*fn)(void *);
    if (!fn) {
        void *h = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
        if (h) fn = (size_t (*)(void *))dlsym(h, "malloc_usable_size");
        if (!fn) return 0;
    }
    return fn(p);
}
