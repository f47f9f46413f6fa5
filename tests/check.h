/* check.h — the check macros and helpers shared by every test program.
 *
 * One source builds in two ways:
 *  - plainly: the program calls malloc, free …; the allocator under test is
 *    whatever the process uses (LD_PRELOAD=libdynalloc.so, libdynalloc.a linked
 *    in, or the system allocator when run bare);
 *  - with -DTEST_PREFIX: the standard names are macros for the da_ names of
 *    libdynalloc-prefix, and the system allocator stays in place for libc.
 *    Such a program must never free with free() memory that libc allocated
 *    (strdup, asprintf, fopen …) — it would reach da_free.
 *
 * A failed CHECK prints file:line and the expression and exits with status 1.
 * A program that does not apply exits with TEST_SKIP (77) after printing why.
 * When the runner sets TEST_EXPECT_DYNALLOC=1, test_init() fails unless the
 * allocator under test really is dynalloc.
 */
#ifndef TEST_CHECK_H
#define TEST_CHECK_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TEST_SKIP 77

#ifdef TEST_PREFIX
#include "dynalloc.h"
#define malloc                da_malloc
#define calloc                da_calloc
#define realloc               da_realloc
#define reallocarray          da_reallocarray
#define free                  da_free
#define cfree                 da_cfree
#define free_sized            da_free_sized
#define free_aligned_sized    da_free_aligned_sized
#define posix_memalign        da_posix_memalign
#define aligned_alloc         da_aligned_alloc
#define memalign              da_memalign
#define valloc                da_valloc
#define pvalloc               da_pvalloc
#define malloc_usable_size    da_malloc_usable_size
#define malloc_trim           da_malloc_trim
#define mallinfo()            da_mallinfo()
#define mallinfo2()           da_mallinfo2()
#define malloc_stats          da_malloc_stats
#define malloc_info           da_malloc_info
#define mallopt               da_mallopt
#define TEST_HAS(fn)          1
#else
/* Newer entry points that the system C library may lack: declared weak, so a
 * program run without dynalloc sees NULL and skips what needs them. */
extern void free_sized(void *ptr, size_t size) __attribute__((weak));
extern void free_aligned_sized(void *ptr, size_t alignment, size_t size) __attribute__((weak));
extern void cfree(void *ptr) __attribute__((weak));
#define TEST_HAS(fn)          ((fn) != NULL)
#endif

static const char *test_name = "test";
static _Thread_local unsigned long test_checks;   /* per thread, so no data race;
                                                     test_done reports the main thread's */
static int test_dynalloc = -1;

static __attribute__((unused)) void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
static __attribute__((unused)) void test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "%s: FAILED at %s:%d: ", test_name, file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    _exit(1);
}

#define CHECK(cond) \
    do { test_checks++; if (!(cond)) test_fail(__FILE__, __LINE__, "%s", #cond); } while (0)
#define CHECKF(cond, ...) \
    do { test_checks++; if (!(cond)) test_fail(__FILE__, __LINE__, __VA_ARGS__); } while (0)

/* Is the allocator under test dynalloc?  Its smallest block is 16 bytes; the
 * system allocator on x86-64 gives 24 for malloc(1). */
/* DYNALLOC_HARDEN=1: dynalloc's hardened mode, where usable sizes are the requests. */
static __attribute__((unused)) int test_hardened(void)
{
    const char *hard = getenv("DYNALLOC_HARDEN");
    return hard != NULL && strcmp(hard, "1") == 0;
}

/* DYNALLOC_GUARD_SAMPLE=1: every pool-sized block a guarded sample, whose usable size is the request. */
static __attribute__((unused)) int test_guarded(void)
{
    const char *every = getenv("DYNALLOC_GUARD_SAMPLE");
    return every != NULL && strcmp(every, "1") == 0;
}

/* DYNALLOC_PROF=1 DYNALLOC_PROF_RATE=1: every block a heap-profile sample, a run
 * of whole pages (its usable size: 4096 for a 1-byte request). */
static __attribute__((unused)) int test_profiled(void)
{
    const char *prof = getenv("DYNALLOC_PROF"), *rate = getenv("DYNALLOC_PROF_RATE");
    return prof != NULL && strcmp(prof, "1") == 0 && rate != NULL && strcmp(rate, "1") == 0;
}

/* The OS page dynalloc works in: the kernel's, or DYNALLOC_PAGE_SIZE where that asks for more. */
static __attribute__((unused)) size_t test_os_page(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const char *e = getenv("DYNALLOC_PAGE_SIZE");
    if (e != NULL && (size_t)atol(e) > page) page = (size_t)atol(e);
    return page;
}

/* Usable sizes are the requests (the hardened mode, or every block sampled). */
static __attribute__((unused)) int test_exact_usable(void)
{
    return test_hardened() || test_guarded();
}

static __attribute__((unused)) int test_is_dynalloc(void)
{
    if (test_dynalloc < 0) {
#ifdef TEST_PREFIX
        test_dynalloc = 1;
#else
        void *p = malloc(1);
        /* dynalloc's smallest class, the request itself (hardened mode, guarded
         * samples), or a page (profile samples) */
        test_dynalloc = p != NULL &&
                        malloc_usable_size(p) == (test_profiled() ? 4096 : test_exact_usable() ? 1 : 16);
        free(p);
#endif
    }
    return test_dynalloc;
}

static __attribute__((unused)) void test_init(const char *name)
{
    const char *want = getenv("TEST_EXPECT_DYNALLOC");
    test_name = name;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (want != NULL && *want == '1' && !test_is_dynalloc())
        test_fail(__FILE__, __LINE__, "the allocator under test is not dynalloc");
    printf("%s: allocator %s%s\n", name, test_is_dynalloc() ? "dynalloc" : "system",
#ifdef TEST_PREFIX
           " (da_ names)"
#else
           ""
#endif
    );
}

static __attribute__((unused)) int test_done(void)
{
    printf("%s: ok, %lu checks\n", test_name, test_checks);
    return 0;
}

static __attribute__((unused)) void test_skip(const char *why) __attribute__((noreturn));
static __attribute__((unused)) void test_skip(const char *why)
{
    printf("%s: skipped: %s\n", test_name, why);
    fflush(stdout);
    exit(TEST_SKIP);
}

/* A divisor for the amount of work, from TEST_SCALE (default 1): the runner
 * raises it under slow instrumentation (ThreadSanitizer, debug walks). */
static __attribute__((unused)) unsigned test_scale(void)
{
    const char *s = getenv("TEST_SCALE");
    long v = s != NULL ? strtol(s, NULL, 10) : 1;
    return v >= 1 ? (unsigned)v : 1;
}

/* Resident set size in bytes, from /proc/self/statm, without stdio (no
 * allocation: safe while a test waits for the purger and in fork children). */
static __attribute__((unused)) size_t test_rss(void)
{
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    const char *s = strchr(buf, ' ');
    return s ? (size_t)strtoul(s + 1, NULL, 10) * (size_t)sysconf(_SC_PAGESIZE) : 0;
}

/* TEST_RSS_CHECK: RSS can be asserted (not under ASan or TSan, whose shadow
 * memory does not shrink with the heap). */
#if !defined(__SANITIZE_THREAD__) && !defined(__SANITIZE_ADDRESS__)
#if defined(__has_feature)
#if !__has_feature(thread_sanitizer) && !__has_feature(address_sanitizer)
#define TEST_RSS_CHECK 1
#endif
#else
#define TEST_RSS_CHECK 1
#endif
#endif

/* Deterministic pseudo-random numbers (xorshift64*), one state per user. */
static inline __attribute__((unused)) uint64_t test_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* The byte pattern of a block: byte i of a block tagged `tag` is pat(tag, i). */
static inline __attribute__((unused)) uint8_t test_pat(uint64_t tag, size_t i)
{
    uint64_t v = (tag + i) * 0x9E3779B97F4A7C15ULL;
    return (uint8_t)(v >> 56);
}

static __attribute__((unused)) void test_fill(void *p, size_t n, uint64_t tag)
{
    uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = test_pat(tag, i);
}

/* Returns the offset of the first byte that differs, or n when all match. */
static __attribute__((unused)) size_t test_verify(const void *p, size_t n, uint64_t tag)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != test_pat(tag, i))
            return i;
    return n;
}

/* The same for large blocks, touching the first 16 KiB, the first 64 bytes of
 * every later 4 KiB, and (when filling) the last 4 KiB, so that multi-megabyte
 * blocks stay cheap.  The positions checked do not depend on the block size,
 * so a prefix of a block filled at one size verifies at a smaller one. */
static __attribute__((unused)) void test_fill_sparse(void *p, size_t n, uint64_t tag)
{
    uint8_t *b = p;
    if (n <= 16384) {
        test_fill(p, n, tag);
        return;
    }
    test_fill(b, 16384, tag);
    for (size_t i = 16384; i < n; i += 4096)
        for (size_t j = i; j < i + 64 && j < n; j++)
            b[j] = test_pat(tag, j);
    for (size_t i = n - 4096; i < n; i++)
        b[i] = test_pat(tag, i);
}

static __attribute__((unused)) size_t test_verify_sparse(const void *p, size_t n, uint64_t tag)
{
    const uint8_t *b = p;
    if (n <= 16384)
        return test_verify(p, n, tag);
    for (size_t i = 0; i < 16384; i++)
        if (b[i] != test_pat(tag, i))
            return i;
    for (size_t i = 16384; i < n; i += 4096)
        for (size_t j = i; j < i + 64 && j < n; j++)
            if (b[j] != test_pat(tag, j))
                return j;
    return n;
}

/* A size the compiler cannot see through, for requests that must fail. */
static __attribute__((unused)) size_t test_opaque(size_t v)
{
    volatile size_t x = v;
    return x;
}

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

#endif
