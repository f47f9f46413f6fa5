/* api.c — the public da_* API: argument checks and standard semantics on top of
 * the cores in alloc.c and free.c.  Every function is exported (DA_API); the
 * standard names in override.c call these.
 *
 * Semantics (README "Semantics" mirrors this list):
 *  - sizes above PTRDIFF_MAX and overflowing count*size products: NULL, ENOMEM;
 *  - alignment not a power of two: EINVAL (posix_memalign also when it is not a
 *    multiple of sizeof(void *)); memalign(0, n) is malloc(n);
 *  - realloc(p, 0) frees p and returns NULL (as glibc); realloc(NULL, n) = malloc(n);
 *  - free, free_sized, free_aligned_sized and cfree never change errno;
 *  - posix_memalign returns ENOMEM and leaves errno = ENOMEM when out of memory
 *    (as glibc does); on success and on EINVAL errno is unchanged.
 */
#include "internal.h"
#include "dynalloc.h"
#include <errno.h>
#include <unistd.h>

static bool is_pow2(size_t x) { return x != 0 && (x & (x - 1)) == 0; }

/* da_malloc is defined in alloc.c and da_free in free.c: they are the cores. */
DA_API void da_cfree(void *p) { da_free(p); }

DA_API void *da_calloc(size_t count, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(count, size, &total)) { errno = ENOMEM; return NULL; }
  return da_alloc_zeroed(total);
}

DA_API void *da_realloc(void *p, size_t size) {
  if (p != NULL && size == 0) {
    da_free(p);
    return NULL;
  }
  return da_realloc_core(p, size);
}

DA_API void *da_reallocarray(void *p, size_t count, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(count, size, &total)) { errno = ENOMEM; return NULL; }
  return da_realloc(p, total);
}

DA_API void da_free_sized(void *p, size_t size) {
  da_free_sized_core(p, 0, size, "free_sized");
}

DA_API void da_free_aligned_sized(void *p, size_t align, size_t size) {
  da_free_sized_core(p, align, size, "free_aligned_sized");
}

DA_API int da_posix_memalign(void **out, size_t align, size_t size) {
  if (!is_pow2(align) || align % sizeof(void *) != 0) return EINVAL;
  int saved = errno;
  void *p = da_alloc_aligned(size, align);
  if (p == NULL) return errno = ENOMEM;   /* errno too, as glibc leaves it */
  errno = saved;
  *out = p;
  return 0;
}

DA_API void *da_aligned_alloc(size_t align, size_t size) {
  if (!is_pow2(align)) { errno = EINVAL; return NULL; }
  return da_alloc_aligned(size, align);
}

DA_API void *da_memalign(size_t align, size_t size) {
  if (align == 0) return da_malloc(size);
  if (!is_pow2(align)) { errno = EINVAL; return NULL; }
  return da_alloc_aligned(size, align);
}

/* The OS page is known once the process is initialised (the first call may be this one). */
DA_API void *da_valloc(size_t size) {
  da_process_init();
  return da_alloc_aligned(size, da_page_size);
}

DA_API void *da_pvalloc(size_t size) {
  da_process_init();
  if (size > (size_t)PTRDIFF_MAX) { errno = ENOMEM; return NULL; }
  size_t rounded = size == 0 ? da_page_size : da_page_round(size);
  return da_alloc_aligned(rounded, da_page_size);
}

DA_API size_t da_malloc_usable_size(void *p) { return da_usable_size(p, "malloc_usable_size"); }

DA_API int da_malloc_trim(size_t pad) {
  (void)pad;
  return da_heap_trim() ? 1 : 0;
}

static size_t clamp_int(size_t v) { return v > (size_t)INT32_MAX ? (size_t)INT32_MAX : v; }

/* The fields are defined in the README ("Statistics"), computed in stats.c. */
DA_API struct mallinfo2 da_mallinfo2(void) {
  da_totals_t t;
  struct mallinfo2 mi;
  da_stats_totals(&t);
  da_stats_mallinfo2(&t, &mi);
  return mi;
}

DA_API struct mallinfo da_mallinfo(void) {
  struct mallinfo2 m = da_mallinfo2();
  struct mallinfo mi;
  mi.arena = (int)clamp_int(m.arena);
  mi.ordblks = (int)clamp_int(m.ordblks);
  mi.smblks = (int)clamp_int(m.smblks);
  mi.hblks = (int)clamp_int(m.hblks);
  mi.hblkhd = (int)clamp_int(m.hblkhd);
  mi.usmblks = (int)clamp_int(m.usmblks);
  mi.fsmblks = (int)clamp_int(m.fsmblks);
  mi.uordblks = (int)clamp_int(m.uordblks);
  mi.fordblks = (int)clamp_int(m.fordblks);
  mi.keepcost = (int)clamp_int(m.keepcost);
  return mi;
}

DA_API void da_malloc_stats(void) { da_report_print(STDERR_FILENO); }

/* glibc's parameters (M_MXFAST … M_ARENA_MAX) are accepted and have no effect:
 * 1.  Any other parameter is unknown: 0. */
DA_API int da_mallopt(int param, int value) {
  (void)value;
  return (param >= 1 && param <= 4) || (param >= -8 && param <= -1) ? 1 : 0;
}
