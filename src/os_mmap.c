/* os_mmap.c — the mmap back-end: the only file (with os_sbrk.c) that maps memory.
 *
 * Contract (see os.c): reserve returns read-write, zero-filled memory whose
 * address plus align_offset is a multiple of align; release gives it back whole;
 * purge drops the contents of whole OS pages (they read as zero afterwards);
 * remap grows or shrinks a mapping, moving it to a new aligned place if needed.
 * Every call is counted in da_os_stats, and made in whole OS pages of
 * da_page_size (da_os_check); where that page is larger than the kernel's (the
 * DYNALLOC_PAGE_SIZE test of a port), a fresh mapping is trimmed to start on one,
 * as such a kernel would place it.
 */
#define _GNU_SOURCE
#include "internal.h"
#include <sys/mman.h>
#include <errno.h>

#define DA_MMAP_FLAGS (MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)

/* Every call in whole OS pages of da_page_size: a kernel with that page would
 * refuse a misaligned address and round a length up (a purge would then zero
 * live data), so a miss is a bug of dynalloc's, reported before the call. */
void da_os_check(const char *call, const void *p, size_t size) {
  if ((((uintptr_t)p | size) & (da_page_size - 1)) != 0)
    da_fatal("%s(%p, %zu): not in whole OS pages of %zu bytes", call, p, size, da_page_size);
}

static void *kernel_mmap(size_t size, int prot, int flags) {
  atomic_fetch_add_explicit(&da_os_stats.mmap_calls, 1, memory_order_relaxed);
  void *p = mmap(NULL, size, prot, flags, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

/* The kernel's own trims of a mapping that it aligned to its smaller page. */
static void kernel_unmap(void *p, size_t size) {
  if (size == 0) return;
  atomic_fetch_add_explicit(&da_os_stats.munmap_calls, 1, memory_order_relaxed);
  int saved = errno;
  munmap(p, size);
  errno = saved;
}

static void unmap(void *p, size_t size) {
  if (size == 0) return;
  da_os_check("munmap", p, size);
  kernel_unmap(p, size);
}

/* A mapping at an OS page: where dynalloc's page is larger than the kernel's
 * (DYNALLOC_PAGE_SIZE), a larger one trimmed to it, as that kernel would give. */
static void *mmap_flags(size_t size, int prot, int flags) {
  da_os_check("mmap", NULL, size);
  if (size > SIZE_MAX - DA_PAGE_MAX) return NULL;   /* the trimmed mapping's length below */
  uint8_t *p = kernel_mmap(size, prot, flags);
  if (p == NULL || ((uintptr_t)p & (da_page_size - 1)) == 0) return p;
  kernel_unmap(p, size);
  uint8_t *raw = kernel_mmap(size + da_page_size - da_kernel_page, prot, flags);
  if (raw == NULL) return NULL;
  uint8_t *start = (uint8_t *)(((uintptr_t)raw + da_page_size - 1) & ~(uintptr_t)(da_page_size - 1));
  kernel_unmap(raw, (size_t)(start - raw));
  kernel_unmap(start + size, (size_t)(raw + size + da_page_size - da_kernel_page - (start + size)));
  return start;
}

static void *mmap_plain(size_t size, int prot) { return mmap_flags(size, prot, DA_MMAP_FLAGS); }

/* size bytes of inaccessible address space, swap reserved (so that the kernel
 * never merges it with the NORESERVE mappings placed inside it: guard.c). */
void *da_mmap_inaccessible(size_t size) { return mmap_flags(size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS); }

/* An inaccessible NORESERVE mapping replacing [p, p + size) of one of ours. */
bool da_mmap_fixed_inaccessible(void *p, size_t size) {
  da_os_check("mmap", p, size);
  atomic_fetch_add_explicit(&da_os_stats.mmap_calls, 1, memory_order_relaxed);
  int saved = errno;   /* the area is made inside malloc, which may still succeed */
  bool ok = mmap(p, size, PROT_NONE, DA_MMAP_FLAGS | MAP_FIXED, -1, 0) == p;
  errno = saved;
  return ok;
}

/* Map size + align bytes, then unmap the head and tail around the aligned part. */
static void *mmap_aligned(size_t size, size_t align, size_t offset, int prot) {
  if (align < da_page_size) align = da_page_size;
  if (align <= da_page_size && offset == 0) return mmap_plain(size, prot);
  if (size + align < size) return NULL;
  uint8_t *raw = mmap_plain(size + align, prot);
  if (raw == NULL) return NULL;
  uintptr_t start = (((uintptr_t)raw + offset + align - 1) & ~(uintptr_t)(align - 1)) - offset;
  if (start < (uintptr_t)raw) start += align;
  unmap(raw, start - (uintptr_t)raw);
  unmap((void *)(start + size), (uintptr_t)raw + size + align - (start + size));
  return (void *)start;
}

void *da_mmap_reserve(size_t size, size_t align, size_t offset) {
  return mmap_aligned(size, align, offset, PROT_READ | PROT_WRITE);
}

void da_mmap_release(void *p, size_t size) { unmap(p, size); }

bool da_mmap_protect(void *p, size_t size, int prot) {
  da_os_check("mprotect", p, size);
  int saved = errno;
  int rc = mprotect(p, size, prot);
  errno = saved;
  return rc == 0;
}

/* size bytes read-write between two inaccessible OS pages: one read-write mapping
 * whose first and last pages are then made inaccessible (in this order, so that
 * valgrind, which follows mmap's protection, sees the middle as addressable).
 * Returns the middle. */
void *da_mmap_guarded(size_t size) {
  size_t g = da_page_size;
  uint8_t *raw = mmap_plain(size + 2 * g, PROT_READ | PROT_WRITE);
  if (raw == NULL) return NULL;
  if (!da_mmap_protect(raw, g, PROT_NONE) || !da_mmap_protect(raw + g + size, g, PROT_NONE)) {
    unmap(raw, size + 2 * g);
    return NULL;
  }
  return raw + g;
}

void da_mmap_purge(void *p, size_t size) {
  da_os_check("madvise", p, size);
  atomic_fetch_add_explicit(&da_os_stats.madvise_calls, 1, memory_order_relaxed);
  int saved = errno;
  madvise(p, size, MADV_DONTNEED);
  errno = saved;
}

void da_mmap_advise_huge(void *p, size_t size) {
  da_os_check("madvise", p, size);
  int saved = errno;
  madvise(p, size, MADV_HUGEPAGE);
  errno = saved;
}

/* Grow or shrink in place when the kernel can; otherwise move the pages (no copy)
 * where the kernel likes (page alignment), or into a fresh aligned reservation
 * with MREMAP_FIXED. */
void *da_mmap_remap(void *p, size_t old_size, size_t new_size, size_t align) {
  da_os_check("mremap", p, old_size);
  da_os_check("mremap", NULL, new_size);
  atomic_fetch_add_explicit(&da_os_stats.mremap_calls, 1, memory_order_relaxed);
  int saved = errno;   /* a refusal in place that the move below makes good is no error */
  void *q = mremap(p, old_size, new_size, 0);
  if (q != MAP_FAILED) return q;
  errno = saved;
  if (align < da_page_size) align = da_page_size;
  if (align <= da_kernel_page) {   /* any page will do: the kernel picks it */
    atomic_fetch_add_explicit(&da_os_stats.mremap_calls, 1, memory_order_relaxed);
    q = mremap(p, old_size, new_size, MREMAP_MAYMOVE);
    errno = saved;
    return q == MAP_FAILED ? NULL : q;
  }
  /* The target is reserved read-write although mremap replaces it: valgrind then
   * sees the grown part as addressable (with PROT_NONE it kept that part's old
   * protection in its shadow state, while the kernel gives it the block's). */
  uint8_t *target = mmap_aligned(new_size, align, 0, PROT_READ | PROT_WRITE);
  if (target == NULL) return NULL;
  atomic_fetch_add_explicit(&da_os_stats.mremap_calls, 1, memory_order_relaxed);
  q = mremap(p, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, target);
  if (q == MAP_FAILED) { unmap(target, new_size); return NULL; }
  return q;
}
