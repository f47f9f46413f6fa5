/* os_sbrk.c — the sbrk() back-end: segments carved from the program break.
 *
 * Invariants:
 *  - every segment handed out is DA_SEGMENT_SIZE bytes aligned to DA_SEGMENT_SIZE;
 *    the break is grown by the alignment gap plus one segment, and the gap is
 *    given back (break lowered) when nothing else moved the break meanwhile;
 *  - a released segment at the top of the break lowers the break; any other is
 *    purged and kept on a free list for the next reservation (the break cannot
 *    have holes given back);
 *  - when the break cannot grow, or someone else moved it so that the space we
 *    got is not contiguous, reserve returns NULL and os.c falls back to mmap.
 *  - sbrk_lock guards the break and the free list; fork handlers in init.c take it.
 */
#define _GNU_SOURCE
#include "internal.h"
#include <unistd.h>
#include <errno.h>

static pthread_mutex_t sbrk_lock = PTHREAD_MUTEX_INITIALIZER;
static void *sbrk_free_list;          /* released segments; link in the first word */

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

void *da_sbrk_reserve(size_t size, size_t align) {
  if (size != DA_SEGMENT_SIZE || align != DA_SEGMENT_SIZE) return NULL;
  pthread_mutex_lock(&sbrk_lock);
  void *p = sbrk_free_list;
  if (p != NULL) {
    sbrk_free_list = *(void **)p;
    *(void **)p = NULL;                /* the contract: reserved memory reads as zero */
  } else {
    p = sbrk_grow_aligned(size, align);
  }
  pthread_mutex_unlock(&sbrk_lock);
  return p;
}

void da_sbrk_release(void *p, size_t size) {
  pthread_mutex_lock(&sbrk_lock);
  uint8_t *top = sbrk_call(0);
  if (top == (uint8_t *)p + size && sbrk_call(-(intptr_t)size) != NULL) {
    pthread_mutex_unlock(&sbrk_lock);
    return;
  }
  da_mmap_purge(p, size);
  *(void **)p = sbrk_free_list;
  sbrk_free_list = p;
  pthread_mutex_unlock(&sbrk_lock);
}

void da_sbrk_lock(bool lock) {
  if (lock) pthread_mutex_lock(&sbrk_lock);
  else pthread_mutex_unlock(&sbrk_lock);
}
void da_sbrk_fork_child(void) { pthread_mutex_init(&sbrk_lock, NULL); }
