/* bulk_cache.h — the bulk cache's inline paths, shared by malloc (alloc.c),
 * free (free.c) and the bulk tier (bulk.c).
 *
 * A freed bulk run of up to DA_BULK_CACHE_SLICES slices stays whole (kind
 * CACHED) on a per-heap list by length, DA_BULK_CACHE_DEPTH deep, so that a
 * malloc/free loop of such sizes neither splits nor coalesces, and takes one
 * call each way.  The runs go back to the free runs when the cache has not been
 * used for the purge delay, at malloc_trim and at thread exit (bulk.c).
 *
 * The owner's malloc and free use the cache without a lock; a reclaimer (the
 * purger thread or malloc_trim on another thread, reclaim.c) empties it only
 * after a handshake in which the owner pays two plain stores and a load: the
 * owner sets cache_busy, then reads cache_frozen (set: it leaves the cache alone
 * and takes the locked slow path); the reclaimer sets cache_frozen, runs
 * membarrier(2), which makes every running thread of the process pass a full
 * barrier, then reads cache_busy.  Either the reclaimer sees the owner busy (and
 * gives up), or the owner sees the freeze: never both miss (Dekker's argument,
 * with the barrier the owner's side lacks supplied by the kernel).  Under TSan,
 * which cannot see that barrier, the inline paths are off and every cache
 * operation takes the span lock.
 *
 * Invariants: a cached run's header keeps the fields of its last use as a bulk
 * run (block_size, capacity 1, used 1, heap); only kind, next, dirty and xfree
 * change on the way in and out; bulk_cached[n] counts bulk_cache[n]'s list;
 * the list changes only inside da_bulk_cache_enter/leave or under the span lock.
 */
#ifndef DA_BULK_CACHE_H
#define DA_BULK_CACHE_H

#include "internal.h"

static inline da_page_t *da_bulk_cache_take(da_heap_t *heap, size_t slices) {
  da_page_t *run = heap->bulk_cache[slices];
  if (run == NULL) return NULL;
  heap->bulk_cache[slices] = run->next;
  heap->bulk_cached[slices]--;
  run->next = NULL;
  run->dirty = 1;
  return run;
}

static inline bool da_bulk_cache_put(da_heap_t *heap, da_page_t *run) {
  size_t slices = run->slice_count;
  if (slices > DA_BULK_CACHE_SLICES || heap->bulk_cached[slices] >= DA_BULK_CACHE_DEPTH) return false;
  DA_SET(run->kind_flags, (uint16_t)DA_KIND_CACHED);   /* flags 0, as above */
  run->next = heap->bulk_cache[slices];
  heap->bulk_cache[slices] = run;
  heap->bulk_cached[slices]++;
  return true;
}

/* The cache served or grew: every 64th time, note when (the flush waits for
 * the purge delay after the last use). */
static inline void da_bulk_cache_used(da_heap_t *heap) {
  if ((++heap->cache_ops & 63) == 0) heap->bulk_cache_used_ms = da_clock_ms();
}

/* The owner's side of the handshake (above): false when a reclaimer holds the
 * cache, and then the caller takes the locked path. */
static inline bool da_bulk_cache_enter(da_heap_t *heap) {
#if DA_TSAN
  (void)heap;
  return false;
#else
  DA_SET(heap->cache_busy, (uint8_t)1);
  atomic_signal_fence(memory_order_seq_cst);   /* the kernel's barrier orders it (membarrier) */
  if (likely(DA_GET(heap->cache_frozen) == 0)) return true;
  DA_SET(heap->cache_busy, (uint8_t)0);
  return false;
#endif
}
static inline void da_bulk_cache_leave(da_heap_t *heap) {
  atomic_signal_fence(memory_order_seq_cst);
  DA_SET(heap->cache_busy, (uint8_t)0);
}

/* malloc of size > DA_BULK_CLASS_MAX: a cached run of the right length, or NULL (none,
 * remote frees wait on heap->delayed: the general path collects them first,
 * or a reclaimer holds the cache). */
static inline void *da_bulk_cache_malloc(da_heap_t *heap, size_t size) {
  size_t slices = da_run_slices(size);
  if (slices > DA_BULK_CACHE_SLICES || atomic_load_explicit(&heap->delayed, memory_order_relaxed) != 0)
    return NULL;
  if (!da_bulk_cache_enter(heap)) return NULL;
  da_page_t *run = da_bulk_cache_take(heap, slices);
  da_bulk_cache_leave(heap);
  if (run == NULL) return NULL;
  atomic_store_explicit(&run->xfree, DA_X_NOTIFY, memory_order_relaxed);
  /* kind and flags (0: a cached run's block starts it) in one store, as free
   * reads them: one 16-bit word */
  DA_SET(run->kind_flags, (uint16_t)DA_KIND_BULK);
  heap->stats.bulk_mallocs++;
  da_block_t *b = (da_block_t *)da_page_start(da_segment_of_page(run), run);
  b->key = 0;
  return b;
}

/* The owner frees a bulk block that starts its run into the cache; false when
 * the cache has no room, the block looks freed already or a reclaimer holds
 * the cache (the general path then decides). */
static inline bool da_bulk_cache_free(da_heap_t *heap, da_page_t *run, void *p) {
  da_block_t *b = p;
  if ((uint8_t *)p != da_page_start(da_segment_of_page(run), run) || b->key == da_free_mark(b)) return false;
  if (!da_bulk_cache_enter(heap)) return false;
  atomic_store_explicit(&run->xfree, 0, memory_order_relaxed);   /* NOTIFY while in use */
  bool put = da_bulk_cache_put(heap, run);
  if (put) da_bulk_cache_used(heap);
  else atomic_store_explicit(&run->xfree, DA_X_NOTIFY, memory_order_relaxed);
  da_bulk_cache_leave(heap);
  if (!put) return false;
  heap->stats.bulk_frees++;
  da_purger_notify();   /* an owner that idles from now on gets its cache taken back */
  return true;
}

#endif
