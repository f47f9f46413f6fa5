/* bulk.c — blocks above 4096 bytes (bulk_alloc / bulk_free).
 *
 *  - up to DA_BULK_CLASS_MAX (32 KiB): a block of a bulk class, eight per power of
 *    two, carved from a pool page as pool blocks are (page.c; malloc_large in
 *    alloc.c takes them); only an over-aligned request of these sizes comes here.
 *  - up to DA_HUGE_THRESHOLD (1 MiB): a run of whole OS pages in one of the heap's
 *    segments, one block per run, header = the run's page header (kind BULK).
 *    Freed runs coalesce with their free neighbours and are reused at once, so a
 *    malloc/free loop makes no system call; their pages go back to the OS after
 *    the purge delay.
 *  - above: a mapping of its own (huge.c).
 *  - the bulk cache of freed runs up to 64 KiB: bulk_cache.h.
 *
 * Invariants: a bulk run in use has xfree in state NOTIFY (it is always "full"),
 * so a free from another thread reaches the owner through heap->delayed; it is
 * on no queue (thread exit finds it by walking the segments).
 */
#include "internal.h"
#include "bulk_cache.h"
#include <errno.h>
#include <string.h>

/* ---- runs ------------------------------------------------------------------------------------ */
/* The owner's flush: after the purge delay without use, or with force. */
void da_bulk_cache_flush(da_heap_t *heap, bool force) {
  if (!force && da_clock_ms() - heap->bulk_cache_used_ms < (uint64_t)da_options.purge_delay_ms) return;
  da_span_lock(heap);
  da_bulk_cache_flush_locked(heap);
  da_span_unlock(heap);
}

/* Every cached run back to the free runs; span lock held, and the owner is in
 * no lock-free cache operation (it holds the lock, or a reclaimer froze it). */
void da_bulk_cache_flush_locked(da_heap_t *heap) {
  for (size_t n = 1; n <= DA_BULK_CACHE_SLICES; n++) {
    da_page_t *run = heap->bulk_cache[n];
    heap->bulk_cache[n] = NULL;
    heap->bulk_cached[n] = 0;
    while (run) {
      da_page_t *next = run->next;
      run->next = NULL;
      da_segment_run_free_locked(heap, run);
      run = next;
    }
  }
}

/* A zeroed block on pages that are not resident (fresh or purged): each page is
 * written once here.  A program that reads its calloc'ed block first (to check
 * it, or to read-modify-write it) would otherwise map the shared zero page and
 * then fault again to copy it on the first write, and in a multi-threaded
 * process that copy flushes the other CPUs' TLBs (an IPI each time). */
static void touch_for_write(uint8_t *p, size_t size) {
  for (size_t off = 0; off < size; off += da_page_size) ((volatile uint8_t *)p)[off] = 0;
}

/* Runs start on OS pages: an alignment up to that costs nothing extra. */
static size_t align_extra(size_t align) { return align > da_page_size ? align - da_page_size : 0; }

static void *run_block_alloc(da_heap_t *heap, size_t size, size_t align, bool zero) {
  size_t slices = da_run_slices(size + align_extra(align));
  if (atomic_load_explicit(&heap->delayed, memory_order_relaxed) != 0) da_heap_collect_delayed(heap);
  da_span_lock(heap);
  da_page_t *run = slices <= DA_BULK_CACHE_SLICES ? da_bulk_cache_take(heap, slices) : NULL;
  da_span_unlock(heap);
  if (run == NULL) {
    da_heap_maintain(heap);
    run = da_segment_run_alloc(heap, slices, 1);
    if (run == NULL) { errno = ENOMEM; return NULL; }
  }
  uint8_t *start = da_page_start(da_segment_of_page(run), run);
  uint8_t *p = (uint8_t *)(((uintptr_t)start + align - 1) & ~(uintptr_t)(align - 1));
  DA_SET(run->kind, (uint8_t)DA_KIND_BULK);
  run->bin = 0;
  run->block_size = (uint32_t)(slices << DA_SLICE_SHIFT);
  run->magic = 0;
  run->shift = 0;
  DA_SET(run->capacity, (uint16_t)1);
  run->free = NULL;
  da_used_init(run, 1);
  atomic_store_explicit(&run->xfree, DA_X_NOTIFY, memory_order_relaxed);
  atomic_store_explicit(&run->heap, heap, memory_order_release);
  DA_SET(run->flags, (uint8_t)(p != start ? DA_PAGE_HAS_ALIGNED : 0));
  heap->stats.bulk_mallocs++;
  if (zero) {
    if (run->dirty) memset(p, 0, size);
    else touch_for_write(p, size);
  } else {
    ((da_block_t *)p)->key = 0;
  }
  da_purger_check();
  return p;
}

/* The owner frees a bulk run (span lock held): into the cache, or to the segment. */
void da_bulk_free(da_heap_t *heap, da_page_t *page) {
  DA_SET(page->flags, (uint8_t)0);
  atomic_store_explicit(&page->xfree, 0, memory_order_relaxed);
  heap->stats.bulk_frees++;
  if (da_bulk_cache_put(heap, page)) {
    da_bulk_cache_used(heap);
    da_purger_notify();
    return;
  }
  da_segment_run_free_locked(heap, page);
  da_heap_maintain(heap);
}

void *da_bulk_alloc(da_heap_t *heap, size_t size, size_t align, bool zero) {
  if (align < DA_ALIGN) align = DA_ALIGN;
  if (size < DA_ALIGN) size = DA_ALIGN;   /* an aligned block must lie inside its run */
  size_t extra = align_extra(align);
  if (size <= DA_HUGE_THRESHOLD && extra <= DA_HUGE_THRESHOLD - size) {
    if (heap == &da_heap_empty && (heap = da_heap_get_slow()) == NULL) { errno = ENOMEM; return NULL; }
    return run_block_alloc(heap, size, align, zero);
  }
  return da_huge_alloc_aligned(size, align, zero);
}

/* Grow a bulk block in place over the free run after it (owner thread only). */
bool da_bulk_grow(da_page_t *page, size_t size) {
  da_heap_t *heap = da_heap_tls;
  if (da_owner(page) != heap || (page->flags & DA_PAGE_HAS_ALIGNED) || size > DA_HUGE_THRESHOLD) return false;
  size_t slices = da_run_slices(size);
  if (!da_segment_run_grow(heap, page, slices)) return false;
  page->block_size = (uint32_t)(slices << DA_SLICE_SHIFT);
  return true;
}
