/* bulk_cache.h — the bulk cache's inline paths, shared by malloc (alloc.c),
 * free (free.c) and the bulk tier (bulk.c).
 *
 * A freed bulk run of up to DA_BULK_CACHE_SLICES slices stays whole (kind
 * CACHED) on a per-heap list by length, DA_BULK_CACHE_DEPTH deep, so that a
 * malloc/free loop of such sizes neither splits nor coalesces, and takes one
 * call each way.  The runs go back to the free runs when the cache has not been
 * used for the purge delay, at malloc_trim and at thread exit (bulk.c).
 *
 * Invariants: a cached run's header keeps the fields of its last use as a bulk
 * run (block_size, capacity 1, used 1, heap); only kind, next, dirty and xfree
 * change on the way in and out; bulk_cached[n] counts bulk_cache[n]'s list.
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
  if ((++heap->maintain_tick & 63) == 0) heap->bulk_cache_used_ms = da_clock_ms();
}

/* malloc of size > DA_BULK_CLASS_MAX: a cached run of the right length, or NULL (none, or
 * remote frees wait on heap->delayed: the general path collects them first). */
static inline void *da_bulk_cache_malloc(da_heap_t *heap, size_t size) {
  size_t slices = (size + DA_SLICE_SIZE - 1) >> DA_SLICE_SHIFT;
  if (slices > DA_BULK_CACHE_SLICES || atomic_load_explicit(&heap->delayed, memory_order_relaxed) != 0)
    return NULL;
  da_page_t *run = da_bulk_cache_take(heap, slices);
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
 * the cache has no room or the block looks freed already (the general path
 * then decides). */
static inline bool da_bulk_cache_free(da_heap_t *heap, da_page_t *run, void *p) {
  da_block_t *b = p;
  if ((uint8_t *)p != da_page_start(da_segment_of_page(run), run) || b->key == da_free_mark(b)) return false;
  if (!da_bulk_cache_put(heap, run)) return false;
  heap->stats.bulk_frees++;
  atomic_store_explicit(&run->xfree, 0, memory_order_relaxed);
  da_bulk_cache_used(heap);
  return true;
}

#endif
