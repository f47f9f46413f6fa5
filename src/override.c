/* override.c — the standard names.  malloc, free, __libc_malloc and
 * __libc_free are aliases of da_malloc and da_free (alloc.c and free.c built
 * with DA_STD_NAMES: no extra jump on the hottest calls); every other name is
 * here and forwards to the da_* core with a tail call.  Linked into libdynalloc.so
 * (for LD_PRELOAD) and libdynalloc.a (static override), not into the prefix
 * libraries.  The glibc-internal aliases (__libc_*) are here because some
 * programs and libraries call them directly; a pointer from any of them is
 * always a dynalloc pointer.
 */
#include "internal.h"
#include "dynalloc.h"

#define DA_OVERRIDE DA_API

DA_OVERRIDE void cfree(void *p) { da_free(p); }
DA_OVERRIDE void *calloc(size_t count, size_t size) { return da_calloc(count, size); }
DA_OVERRIDE void *realloc(void *p, size_t size) { return da_realloc(p, size); }
DA_OVERRIDE void *reallocarray(void *p, size_t count, size_t size) { return da_reallocarray(p, count, size); }
DA_OVERRIDE void free_sized(void *p, size_t size) { da_free_sized(p, size); }
DA_OVERRIDE void free_aligned_sized(void *p, size_t align, size_t size) { da_free_aligned_sized(p, align, size); }
DA_OVERRIDE int posix_memalign(void **out, size_t align, size_t size) { return da_posix_memalign(out, align, size); }
DA_OVERRIDE void *aligned_alloc(size_t align, size_t size) { return da_aligned_alloc(align, size); }
DA_OVERRIDE void *memalign(size_t align, size_t size) { return da_memalign(align, size); }
DA_OVERRIDE void *valloc(size_t size) { return da_valloc(size); }
DA_OVERRIDE void *pvalloc(size_t size) { return da_pvalloc(size); }
DA_OVERRIDE size_t malloc_usable_size(void *p) { return da_malloc_usable_size(p); }
DA_OVERRIDE int malloc_trim(size_t pad) { return da_malloc_trim(pad); }
DA_OVERRIDE struct mallinfo mallinfo(void) { return da_mallinfo(); }
DA_OVERRIDE struct mallinfo2 mallinfo2(void) { return da_mallinfo2(); }
DA_OVERRIDE void malloc_stats(void) { da_malloc_stats(); }
DA_OVERRIDE int mallopt(int param, int value) { return da_mallopt(param, value); }
DA_OVERRIDE int malloc_info(int options, FILE *fp) { return da_malloc_info(options, fp); }

DA_OVERRIDE void *__libc_calloc(size_t count, size_t size) { return da_calloc(count, size); }
DA_OVERRIDE void *__libc_realloc(void *p, size_t size) { return da_realloc(p, size); }
DA_OVERRIDE void *__libc_memalign(size_t align, size_t size) { return da_memalign(align, size); }
DA_OVERRIDE void *__libc_valloc(size_t size) { return da_valloc(size); }
DA_OVERRIDE void *__libc_pvalloc(size_t size) { return da_pvalloc(size); }
DA_OVERRIDE struct mallinfo __libc_mallinfo(void) { return da_mallinfo(); }
DA_OVERRIDE int __libc_mallopt(int param, int value) { return da_mallopt(param, value); }
DA_OVERRIDE int __posix_memalign(void **out, size_t align, size_t size) { return da_posix_memalign(out, align, size); }
