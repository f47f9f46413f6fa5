/* libc_shim.c — maps the da_ API onto the C library's allocator.
 *
 * Linked instead of libdynalloc-prefix.a when FUZZ_TARGET=libc, so that the
 * fuzz harness itself can be checked against a known-good allocator (glibc).
 * The sized frees ignore their size, as the C library has no such calls.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdlib.h>
#include "dynalloc.h"

void  *da_malloc(size_t n)                         { return malloc(n); }
void  *da_calloc(size_t c, size_t n)               { return calloc(c, n); }
void  *da_realloc(void *p, size_t n)               { return realloc(p, n); }
void  *da_reallocarray(void *p, size_t c, size_t n){ return reallocarray(p, c, n); }
void   da_free(void *p)                            { free(p); }
void   da_cfree(void *p)                           { free(p); }
void   da_free_sized(void *p, size_t n)            { (void)n; free(p); }
void   da_free_aligned_sized(void *p, size_t a, size_t n) { (void)a; (void)n; free(p); }
int    da_posix_memalign(void **o, size_t a, size_t n) { return posix_memalign(o, a, n); }
void  *da_aligned_alloc(size_t a, size_t n)        { return aligned_alloc(a, n); }
void  *da_memalign(size_t a, size_t n)             { return memalign(a, n); }
void  *da_valloc(size_t n)                         { return valloc(n); }
void  *da_pvalloc(size_t n)                        { return pvalloc(n); }
size_t da_malloc_usable_size(void *p)              { return malloc_usable_size(p); }
int    da_malloc_trim(size_t pad)                  { return malloc_trim(pad); }
