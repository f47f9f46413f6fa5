/* reclaim.c — taking back what a live heap holds free while its owner is idle:
 * pool pages whose blocks all came back from other threads, the emptied pages
 * it keeps for their bins (page.c), bulk runs other threads freed, and the bulk
 * cache.  The purger thread does it for heaps idle
 * since its previous pass; malloc_trim on any thread does it for every heap.
 *
 * The owner's fast paths take no lock and make no atomic read-modify-write, so
 * the reclaimer (holding the heap's span lock, value 2) touches only what they
 * cannot reach:
 *  - a pool page other than its bin's allocation page (direct[bin]): the owner's
 *    malloc pops only from direct pages, and its free writes a page only for one
 *    of that page's live blocks.  A page whose every handed-out block sits on
 *    its remote list (used == that list's count ≥ 1, plus one when a block of it
 *    is on the delayed list) has no live block: the reclaimer takes the list by
 *    one CAS and gives the run back to its segment;
 *  - a bulk run whose block another thread freed (it sits on the delayed list);
 *  - the queues (kept[] included), direct[], the delayed list and the runs, which the owner
 *    changes only in its slow paths and only while holding the span lock;
 *  - the bulk cache, used by the owner's malloc and free without the lock:
 *    after the handshake of bulk_cache.h (cache_frozen, membarrier, cache_busy).
 * A heap is idle when lock_epoch (the owner's lock acquisitions) has not moved
 * since the reclaimer's previous look; the bulk cache is idle when cache_ops has
 * not moved either.  Delayed blocks of pages that still hold live blocks go back
 * on the delayed list, so the owner still learns that those pages have room.
 */
#include "internal.h"
#include <sched.h>

/* page's blocks are all free when `extra` of its blocks wait elsewhere (on the
 * delayed list) and the rest of the handed-out ones on its remote list. */
static bool page_take_back(da_heap_t *heap, da_page_t *page, uint32_t extra) {
  if (page->kind != DA_KIND_POOL || da_owner(page) != heap || heap->direct[page->bin] == page) return false;
  uint32_t used = da_used(page);
  uintptr_t tf = atomic_load_explicit(&page->xfree, memory_order_acquire);
  if (used == 0 || (tf & DA_X_MASK) == DA_X_FREEING || da_x_count(tf) + extra != used) return false;
  if (!atomic_compare_exchange_strong_explicit(&page->xfree, &tf, 0, memory_order_acq_rel, memory_order_relaxed))
    return false;   /* a remote free came first: it cannot have been the last */
  if (extra) da_delayed_count(page, -1);   /* its delayed block leaves the list with it */
  da_queue_remove((page->flags & DA_PAGE_IN_FULL) ? &heap->full : &heap->bins[page->bin], page);
  DA_SET(page->flags, (uint8_t)0);
  page->free = DA_LIST_END;
  da_used_set(page, 0);
  heap->stats.pages_reclaimed++;
  da_segment_run_free_locked(heap, page);
  return true;
}

/* A bulk run whose one block another thread freed: back to its segment. */
static void bulk_take_back(da_heap_t *heap, da_page_t *run) {
  DA_SET(run->flags, (uint8_t)0);
  atomic_store_explicit(&run->xfree, 0, memory_order_relaxed);
  da_used_init(run, 0);
  heap->stats.bulk_reclaimed++;
  da_segment_run_free_locked(heap, run);
}

static void delayed_push(da_heap_t *heap, da_block_t *block) {
  uintptr_t head = atomic_load_explicit(&heap->delayed, memory_order_relaxed);
  do {
    da_link_set(block, (da_block_t *)head, da_link_key);
  } while (!atomic_compare_exchange_weak_explicit(&heap->delayed, &head, (uintptr_t)block,
                                                  memory_order_release, memory_order_relaxed));
}

/* The delayed list: bulk runs are taken back, a pool block whose page is then
 * all free takes its page with it, the others go back on the list. */
static bool reclaim_delayed(da_heap_t *heap) {
  da_block_t *block = (da_block_t *)atomic_exchange_explicit(&heap->delayed, 0, memory_order_acquire);
  da_block_t *keep = NULL;
  bool any = false;
  while (block) {
    da_block_t *next = da_delayed_next(block);
    da_page_t *page = da_page_of(block);
    if (da_owner(page) == heap && page->kind == DA_KIND_BULK) {
      da_delayed_count(page, -1);
      bulk_take_back(heap, page);
      any = true;
    } else if (da_owner(page) == heap && page_take_back(heap, page, 1)) {
      any = true;
    } else {
      block->next = keep;   /* plain link: a private list until pushed back */
      keep = block;
    }
    block = next;
  }
  while (keep) {
    da_block_t *next = keep->next;
    delayed_push(heap, keep);
    keep = next;
  }
  return any;
}

/* Pages of the queues, the allocation pages excepted, whose blocks are all back. */
static bool reclaim_queues(da_heap_t *heap) {
  bool any = false;
  for (size_t b = 0; b < DA_BIN_COUNT; b++) {
    da_page_t *page = heap->bins[b].first, *next;
    for (page = page ? page->next : NULL; page; page = next) {
      next = page->next;
      any |= page_take_back(heap, page, 0);
    }
  }
  for (da_page_t *page = heap->full.first, *next; page; page = next) {
    next = page->next;
    any |= page_take_back(heap, page, 0);
  }
  return any;
}

/* The bulk cache, after the handshake; with force, waits until the owner is
 * out of its cache operation.  False when the cache was left alone. */
static bool reclaim_bulk_cache(da_heap_t *heap, bool force) {
  uint32_t ops = DA_GET(heap->cache_ops);
  bool idle = ops == heap->seen_cache_ops;
  heap->seen_cache_ops = ops;
  if (!force && !idle) return false;
  bool cached = false;   /* a glance without the handshake: a put since moves cache_ops */
  for (size_t n = 1; n <= DA_BULK_CACHE_SLICES && !cached; n++) cached = DA_GET(heap->bulk_cache[n]) != NULL;
  if (!cached) return false;
  bool taken = false;
  for (int tries = 0; tries < (force ? 1000 : 1); tries++) {
    DA_SET(heap->cache_frozen, (uint8_t)1);
    if (!da_os_membarrier()) break;
    if (DA_GET(heap->cache_busy) == 0) {
      da_bulk_cache_flush_locked(heap);
      taken = true;
      break;
    }
    DA_SET(heap->cache_frozen, (uint8_t)0);
    sched_yield();
  }
  DA_SET(heap->cache_frozen, (uint8_t)0);
  return taken;
}

/* With the heap's span lock held by this (non-owner) thread.  Without force,
 * only a heap idle since the previous call is touched; returns true when the
 * owner was active (a later pass should look again). */
bool da_heap_reclaim(da_heap_t *heap, bool force) {
  bool idle = heap->lock_epoch == heap->seen_epoch;
  heap->seen_epoch = heap->lock_epoch;
  if (!force && !idle) return true;
  bool any = reclaim_delayed(heap);
  if (heap->kept_pages != 0) {
    da_page_release_kept_locked(heap, true);
    any = true;
  }
  any |= reclaim_queues(heap);
  any |= reclaim_bulk_cache(heap, force);
  if (any) da_segment_purge_locked(heap, true);   /* idle: no reason to wait for the delay */
  return false;
}
