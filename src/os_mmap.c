/* os_mmap.c — the mmap back-end: the only file (with os_sbrk.c) that maps memory.
 *
 * Contract (see os.c): reserve returns read-write, zero-filled memory whose
 * address plus align_offset is a multiple of align; release gives it back whole;
 * purge drops the contents of whole OS pages (they read as zero afterwards);
 * remap grows or shrinks a mapping, moving it to a new aligned place if needed.
 * Every call is counted in da_os_stats.
 */
#define _GNU_SOURCE
#include "internal.h"
#include <sys/mman.h>
#include <errno.h>

#define DA_MMAP_FLAGS (MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)

static void *mmap_plain(size_t size, int prot) {
  atomic_fetch_add_explicit(&da_os_stats.mmap_calls, 1, memory_order_relaxed);
  void *p = mmap(NULL, size, prot, DA_MMAP_FLAGS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

static void unmap(void *p, size_t size) {
  if (size == 0) return;
  atomic_fetch_add_explicit(&da_os_stats.munmap_calls, 1, memory_order_relaxed);
  int saved = errno;
  munmap(p, size);
  errno = saved;
}

/* Map size + align bytes, then unmap the head and tail around the aligned part. */
static void *mmap_aligned(size_t size, size_t align, size_t offset, int prot) {
  if (align <= DA_SLICE_SIZE && offset == 0) return mmap_plain(size, prot);
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

/* size bytes read-write between two inaccessible pages: one read-write mapping
 * whose first and last pages are then made inaccessible (in this order, so that
 * valgrind, which follows mmap's protection, sees the middle as addressable).
 * Returns the middle. */
void *da_mmap_guarded(size_t size) {
  uint8_t *raw = mmap_plain(size + 2 * DA_SLICE_SIZE, PROT_READ | PROT_WRITE);
  if (raw == NULL) return NULL;
  int saved = errno;
  int rc = mprotect(raw, DA_SLICE_SIZE, PROT_NONE) | mprotect(raw + DA_SLICE_SIZE + size, DA_SLICE_SIZE, PROT_NONE);
  errno = saved;
  if (rc != 0) { unmap(raw, size + 2 * DA_SLICE_SIZE); return NULL; }
  return raw + DA_SLICE_SIZE;
}

void da_mmap_purge(void *p, size_t size) {
  atomic_fetch_add_explicit(&da_os_stats.madvise_calls, 1, memory_order_relaxed);
  int saved = errno;
  madvise(p, size, MADV_DONTNEED);
  errno = saved;
}

/* Grow or shrink in place when the kernel can; otherwise move the pages (no copy)
 * where the kernel likes (page alignment), or into a fresh aligned reservation
 * with MREMAP_FIXED. */
void *da_mmap_remap(void *p, size_t old_size, size_t new_size, size_t align) {
  atomic_fetch_add_explicit(&da_os_stats.mremap_calls, 1, memory_order_relaxed);
  int saved = errno;   /* a refusal in place that the move below makes good is no error */
  void *q = mremap(p, old_size, new_size, 0);
  if (q != MAP_FAILED) return q;
  errno = saved;
  if (align <= DA_SLICE_SIZE) {   /* any page will do: the kernel picks it */
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
