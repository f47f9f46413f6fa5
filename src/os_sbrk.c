/* os_sbrk.c — the sbrk() back-end: segments carved from the program break.
 *
 * Invariants:
 *  - every segment handed out is DA_SEGMENT_SIZE bytes aligned to DA_SEGMENT_SIZE;
 *    the break is grown by the alignment gap plus one segment;
 *  - a released segment at the top of the break lowers the break (again and again
 *    while the new top is a released segment); any other is unmapped, leaving a
 *    hole in the heap whose address goes on `holes`, so its address space goes
 *    back to the OS too (RLIMIT_AS counts it); the next reservation maps a hole
 *    again with MAP_FIXED_NOREPLACE, dropping it if something else took its place;
 *  - when the break cannot grow, or someone else moved it so that the space we
 *    got is not contiguous, reserve returns NULL and os.c falls back to mmap;
 *  - sbrk_lock guards the break and the holes; the fork handlers take it.
 */
#define _GNU_SOURCE
#include "internal.h"
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#define DA_SBRK_HOLES 256

static pthread_mutex_t sbrk_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *holes[DA_SBRK_HOLES];   /* released segments below the top, unmapped;
                                           more than this many are given back, not reused */
static size_t hole_count;

static void *sbrk_call(intptr_t delta) {
  atomic_fetch_add_explicit(&da_os_stats.sbrk_calls, 1, memory_order_relaxed);
  int saved = errno;
  void *p = sbrk(delta);
  errno = saved;
  return p == (void *)-1 ? NULL : p;
}

static void *sbrk_grow_aligned(size_t size, size_t align) {
  uint8_t *old = sbrk_call(0);
  if (old == NULL) return NULL;
  size_t gap = (size_t)(-(uintptr_t)old & (align - 1));
  if (size + gap < size || size + gap > (size_t)INTPTR_MAX) return NULL;
  uint8_t *got = sbrk_call((intptr_t)(size + gap));
  if (got == NULL) return NULL;
  if (got != old) {                    /* the break moved between the two calls */
    uint8_t *start = (uint8_t *)(((uintptr_t)got + align - 1) & ~(uintptr_t)(align - 1));
    if (start + size <= got + size + gap) return start;
    return NULL;                       /* leave it: lowering could free someone's memory */
  }
  return old + gap;
}

/* Map a hole again at its own address; NULL when none can be had. */
static void *hole_take(size_t size) {
  while (hole_count > 0) {
    uint8_t *hole = holes[--hole_count];
    atomic_fetch_add_explicit(&da_os_stats.mmap_calls, 1, memory_order_relaxed);
    int saved = errno;
    void *p = mmap(hole, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    errno = saved;
    if (p == hole) return p;
    if (p != MAP_FAILED) munmap(p, size);   /* an old kernel ignoring the flag */
  }
  return NULL;
}

void *da_sbrk_reserve(size_t size, size_t align) {
  if (size != DA_SEGMENT_SIZE || align != DA_SEGMENT_SIZE) return NULL;
  da_lock(&sbrk_lock);
  void *p = hole_take(size);
  if (p == NULL) p = sbrk_grow_aligned(size, align);
  da_unlock(&sbrk_lock);
  return p;
}

static bool hole_remove(uint8_t *hole) {
  for (size_t i = 0; i < hole_count; i++) {
    if (holes[i] == hole) {
      holes[i] = holes[--hole_count];
      return true;
    }
  }
  return false;
}

void da_sbrk_release(void *p, size_t size) {
  da_lock(&sbrk_lock);
  uint8_t *top = sbrk_call(0);
  if (top == (uint8_t *)p + size && sbrk_call(-(intptr_t)size) != NULL) {
    /* lower further over the holes now at the top */
    for (top = (uint8_t *)p; hole_remove(top - size); top -= size)
      if (sbrk_call(-(intptr_t)size) == NULL) break;
  } else {
    da_mmap_release(p, size);
    if (hole_count < DA_SBRK_HOLES) holes[hole_count++] = p;   /* else: not reused */
  }
  da_unlock(&sbrk_lock);
}

void da_sbrk_lock(bool lock) {
  if (lock) da_lock(&sbrk_lock);
  else da_unlock(&sbrk_lock);
}
void da_sbrk_fork_child(void) { pthread_mutex_init(&sbrk_lock, NULL); }
