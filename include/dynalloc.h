/* dynalloc.h — the prefixed public API of dynalloc.
 *
 * Every function here is also exported under its standard name (malloc, free …)
 * by libdynalloc.so / libdynalloc.a.  Programs that keep the system allocator link
 * libdynalloc-prefix.{so,a} instead and call only the da_ names.
 *
 * Semantics (identical under both names):
 *  - every block of 16 bytes or more is 16-byte aligned;
 *  - da_malloc(0) returns a unique, freeable pointer;
 *  - a size above PTRDIFF_MAX, or a calloc/reallocarray product that overflows,
 *    returns NULL with errno = ENOMEM;
 *  - an alignment that is not a power of two (or, for da_posix_memalign, not a
 *    multiple of sizeof(void*)) gives EINVAL;
 *  - da_free never changes errno;
 *  - da_posix_memalign out of memory returns ENOMEM and sets errno = ENOMEM;
 *  - da_malloc_info(0, fp) writes glibc's XML shape; options != 0: -1, EINVAL;
 *  - da_mallopt returns 1 for glibc's parameters (no effect), 0 for others;
 *  - da_prof_dump keeps errno when it succeeds;
 *  - an invalid or double free aborts with one line on stderr:
 *      dynalloc: free(): invalid pointer 0x…
 *      dynalloc: free(): double free 0x…
 */
#ifndef DYNALLOC_H
#define DYNALLOC_H

#include <stddef.h>
#include <stdio.h>
#include <malloc.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DYNALLOC_VERSION_MAJOR 0
#define DYNALLOC_VERSION_MINOR 1

void  *da_malloc(size_t size);
void  *da_calloc(size_t count, size_t size);
void  *da_realloc(void *ptr, size_t size);
void  *da_reallocarray(void *ptr, size_t count, size_t size);
void   da_free(void *ptr);
void   da_cfree(void *ptr);
void   da_free_sized(void *ptr, size_t size);
void   da_free_aligned_sized(void *ptr, size_t alignment, size_t size);
int    da_posix_memalign(void **out, size_t alignment, size_t size);
void  *da_aligned_alloc(size_t alignment, size_t size);
void  *da_memalign(size_t alignment, size_t size);
void  *da_valloc(size_t size);
void  *da_pvalloc(size_t size);
size_t da_malloc_usable_size(void *ptr);
int    da_malloc_trim(size_t pad);
struct mallinfo  da_mallinfo(void);
struct mallinfo2 da_mallinfo2(void);
void   da_malloc_stats(void);
int    da_malloc_info(int options, FILE *fp);
int    da_mallopt(int param, int value);

/* The heap profile (DYNALLOC_PROF=1) to path (%p: the pid; NULL: the file
 * DYNALLOC_PROF_FILE names, by default dynalloc.%p.heap), in the text format
 * google-pprof reads: live bytes and objects by call stack, and everything
 * allocated since start, estimated from the samples.  0, or -1 with errno
 * (EINVAL: the profiler is off; else open's or write's).  No da_ program needs
 * the standard names for it: it is exported by every library. */
int    da_prof_dump(const char *path);

#ifdef __cplusplus
}
#endif
#endif
