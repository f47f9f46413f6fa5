/* page.c — pool pages: carving blocks, collecting remote frees, the per-bin
 * queues, and the cross-thread "full page" protocol.
 *
 * Invariants (owner thread = the thread whose heap is page->heap):
 *  - a POOL page is on exactly one of its heap's queues: bins[bin] while it may
 *    have free blocks, full while every block is handed out (flags IN_FULL),
 *    kept[bin] while it has no live block and waits for its bin (flags KEPT);
 *  - queues and direct[] change only under the heap's span lock (a reclaimer,
 *    reclaim.c, walks the queues holding it); direct[] only by the owner;
 *  - heap->direct[bin] == bins[bin].first, or &da_page_empty when the queue is empty;
 *  - used = capacity - |free list|, counting blocks that sit on xfree or on a
 *    heap's delayed list as used until the owner collects them;
 *  - only the owner pops from page->free or takes the xfree list; others only push.
 *
 * Cross-thread protocol (state = low 2 bits of page->xfree):
 *  NORMAL   a remote free pushes the block onto xfree (one CAS);
 *  NOTIFY   set by the owner when the page goes to the full queue: the next remote
 *           free moves the state to FREEING, pushes its block onto the owner's
 *           heap->delayed list (so the owner notices the page has room again), and
 *           sets NORMAL; later remote frees use xfree;
 *  FREEING  the window in which a remote thread reads page->heap; whoever changes
 *           page->heap (abandon, adopt) first waits for it to close.
 */
#include "internal.h"
#include <errno.h>
#include <sched.h>

da_page_t da_page_empty = { .free = DA_LIST_END };   /* the fast path falls into the slow path */

/* ---- queues --------------------------------------------------------------------------- */
void da_queue_push_front(da_queue_t *q, da_page_t *page) {
  page->prev = NULL;
  page->next = q->first;
  if (q->first) q->first->prev = page;
  else q->last = page;
  q->first = page;
}

void da_queue_push_back(da_queue_t *q, da_page_t *page) {
  page->next = NULL;
  page->prev = q->last;
  if (q->last) q->last->next = page;
  else q->first = page;
  q->last = page;
}

void da_queue_remove(da_queue_t *q, da_page_t *page) {
  if (page->prev) page->prev->next = page->next;
  else q->first = page->next;
  if (page->next) page->next->prev = page->prev;
  else q->last = page->prev;
  page->next = page->prev = NULL;
}

/* The allocation page of bin becomes page (or the empty sentinel); the old one, if
 * still a page, loses the DA_USED_DIRECT bit and the new one gets it. */
void da_set_direct(da_heap_t *heap, size_t bin, da_page_t *page) {
  da_page_t *old = heap->direct[bin];
  if (old == page) return;
  if (old != &da_page_empty)
    atomic_store_explicit(&old->used, da_used(old), memory_order_relaxed);
  if (page != &da_page_empty)
    atomic_store_explicit(&page->used, da_used(page) | DA_USED_DIRECT, memory_order_relaxed);
  heap->direct[bin] = page;
  size_t size = da_bin_size(bin);
  if (size > DA_DIRECT_SMALL_MAX) return;
  size_t first = bin <= 8 ? bin : da_bin_size(bin - 1) / 16 + 1, last = bin <= 8 ? bin : size / 16;
  for (size_t i = first; i <= last; i++) heap->direct_small[i] = page;   /* bins 0 and 1: both 16 B */
}

static void sync_direct(da_heap_t *heap, size_t bin) {
  da_page_t *first = heap->bins[bin].first;
  da_set_direct(heap, bin, first ? first : &da_page_empty);
}

/* ---- the xfree word ---------------------------------------------------------------------- */
static uintptr_t xfree_wait_not_freeing(da_page_t *page) {
  uintptr_t tf = atomic_load_explicit(&page->xfree, memory_order_acquire);
  while ((tf & DA_X_MASK) == DA_X_FREEING) {
    sched_yield();
    tf = atomic_load_explicit(&page->xfree, memory_order_acquire);
  }
  return tf;
}

/* Set the state to NORMAL, keeping the list; waits while a remote free reads page->heap. */
static void xfree_set_normal(da_page_t *page) {
  uintptr_t tf = xfree_wait_not_freeing(page);
  while (!atomic_compare_exchange_weak_explicit(&page->xfree, &tf, tf & ~DA_X_MASK,
                                                memory_order_acq_rel, memory_order_acquire)) {
    if ((tf & DA_X_MASK) == DA_X_FREEING) tf = xfree_wait_not_freeing(page);
  }
}

void da_page_set_owner(da_page_t *page, da_heap_t *heap) {
  xfree_set_normal(page);
  atomic_store_explicit(&page->heap, heap, memory_order_release);
  DA_SET(page->flags, (uint8_t)(page->flags & ~DA_PAGE_IN_FULL));
}

/* Move the blocks other threads freed onto the page's free list.  The xfree
 * word carries the list's length, and the list becomes the free list as it is
 * when that is empty (the usual case: the owner collects when it runs out), so
 * the blocks, written last by other threads, are not walked here; otherwise the
 * list is walked to its tail. */
void da_page_collect(da_page_t *page) {
  uintptr_t tf = atomic_load_explicit(&page->xfree, memory_order_relaxed);
  if (da_x_list(tf) == NULL) return;
  while (!atomic_compare_exchange_weak_explicit(&page->xfree, &tf, tf & DA_X_MASK,
                                                memory_order_acquire, memory_order_relaxed)) {
  }
  da_block_t *list = da_x_list(tf);
  uint32_t n = da_x_count(tf);
#if DA_DEBUG >= 2
  uint32_t walked = 0;
  for (const da_block_t *b = list; b != NULL; b = da_link_next(b, da_link_key)) walked++;
  da_assert(walked == n);
#endif
  if (page->free != DA_LIST_END) {
    /* the list's tail is its n-th block: a walk of exactly n - 1 checked links,
     * so a corrupted list can neither end early unnoticed nor loop */
    da_block_t *tail = list;
    for (uint32_t i = 1; i < n; i++) {
      da_block_t *next = da_link_next(tail, da_link_key);
      if (!da_list_more(next)) da_corrupt_list(tail);
      tail = next;
    }
    da_link_set(tail, page->free, da_link_key);
  }
  page->free = list;
  da_used_set(page, da_used(page) - n);
}

/* Put a page with no free block on the full queue and arm NOTIFY.  Returns false
 * (and collects) when a remote free arrived first: the page is not full. */
static bool page_make_full(da_heap_t *heap, da_page_t *page) {
  uintptr_t tf = atomic_load_explicit(&page->xfree, memory_order_relaxed);
  for (;;) {
    da_assert((tf & DA_X_MASK) == DA_X_NORMAL);
    if (da_x_list(tf) != NULL) { da_page_collect(page); return false; }
    if (atomic_compare_exchange_weak_explicit(&page->xfree, &tf, DA_X_NOTIFY,
                                              memory_order_acq_rel, memory_order_relaxed)) break;
  }
  da_queue_remove(&heap->bins[page->bin], page);
  da_queue_push_back(&heap->full, page);
  DA_SET(page->flags, (uint8_t)(page->flags | DA_PAGE_IN_FULL));
  return true;
}

void da_page_make_full(da_heap_t *heap, da_page_t *page) {
  if (!page_make_full(heap, page)) return;
  sync_direct(heap, page->bin);
}

/* The owner freed into a full page: back to its bin queue, NOTIFY disarmed
 * (span lock held, as for every queue change). */
void da_page_unfull(da_heap_t *heap, da_page_t *page) {
  xfree_set_normal(page);
  da_queue_remove(&heap->full, page);
  DA_SET(page->flags, (uint8_t)(page->flags & ~DA_PAGE_IN_FULL));
  da_queue_push_back(&heap->bins[page->bin], page);
  sync_direct(heap, page->bin);
}

/* ---- emptied pages, kept for their bin ----------------------------------------------------
 * A pool page whose last block came back and that is not its bin's allocation
 * page is kept on heap->kept[bin] (flag KEPT), so that the bin's next page needs
 * no run: a program that frees a batch and allocates the next reuses its pages
 * with no trip through the segment's free runs (page_find's kept_take carves
 * such a page again).  A kept page has no live block and is no allocation
 * page, so the owner's fast paths never reach it; it changes only under the
 * span lock.  Its run goes back to its segment (da_page_release_kept):
 *  - when it has been kept longer than the purge delay (aged: the purger's pass
 *    and the owner's maintenance; the same pass purges the run);
 *  - when a run is wanted and no dirty free run fits (segment.c), one page at
 *    a time, so kept pages never add to a peak or to the resident memory;
 *  - at malloc_trim, the idle heap's reclaim, release on ENOMEM and thread exit;
 *  - at once when the purge delay is 0.
 * Each queue is oldest first: pages are kept at its back and taken from it
 * (the most recently used), aged from its front.  A kept page's dirty field
 * holds heap->kept_gen when it was kept; it is 1 again when the page is taken. */
static void page_retire_locked(da_heap_t *heap, da_page_t *page, uint32_t freed_ms) {
  da_assert(da_used(page) == 0 && heap->direct[page->bin] != page);
  atomic_store_explicit(&page->xfree, 0, memory_order_relaxed);
  heap->stats.pages_retired++;
  da_segment_run_free_at_locked(heap, page, freed_ms);
}

static void kept_remove(da_heap_t *heap, da_page_t *page) {
  da_queue_remove(&heap->kept[page->bin], page);
  DA_SET(page->flags, (uint8_t)(page->flags & ~DA_PAGE_KEPT));
  heap->kept_pages--;
}

void da_page_keep(da_heap_t *heap, da_page_t *page) {
  da_assert(da_used(page) == 0 && !(page->flags & DA_PAGE_IN_FULL) && heap->direct[page->bin] != page);
  da_span_lock(heap);
  da_queue_remove(&heap->bins[page->bin], page);
  if (da_options.purge_delay_ms == 0) {
    page_retire_locked(heap, page, (uint32_t)da_clock_ms());
  } else {
    da_queue_push_back(&heap->kept[page->bin], page);
    DA_SET(page->flags, (uint8_t)(page->flags | DA_PAGE_KEPT));
    page->dirty = heap->kept_gen;
    heap->kept_pages++;
    heap->stats.pages_kept++;
  }
  da_span_unlock(heap);
  da_purger_notify();
}

/* The oldest kept page (of the generation furthest back, the first of its
 * queue) back to its segment: a run is wanted (segment.c).  One look at each
 * queue's front; false when none is kept.  Span lock held. */
bool da_page_release_one_kept_locked(da_heap_t *heap) {
  if (heap->kept_pages == 0) return false;
  size_t best = DA_BIN_COUNT;
  uint8_t oldest = 0;
  for (size_t b = 0; b < DA_BIN_COUNT; b++) {
    const da_page_t *p = heap->kept[b].first;
    if (p == NULL) continue;
    uint8_t age = (uint8_t)(heap->kept_gen - p->dirty);
    if (best == DA_BIN_COUNT || age > oldest) { oldest = age; best = b; }
  }
  da_page_t *page = heap->kept[best].first;
  kept_remove(heap, page);
  page_retire_locked(heap, page, (uint32_t)da_clock_ms());
  return true;
}

/* Kept pages back to their segments: all of them, or (aged) those kept for
 * longer than the purge delay; the generation moves at most every half delay,
 * and a page kept in generation g goes at g + 3, at least one delay later.  An
 * aged page's run counts as freed a delay ago: the next purge takes it.  Span
 * lock held; true when pages stay kept. */
bool da_page_release_kept_locked(da_heap_t *heap, bool all) {
  if (heap->kept_pages == 0) return false;
  uint64_t now = da_clock_ms();
  if (!all) {
    if (now < heap->kept_tick_ms) return true;
    heap->kept_tick_ms = now + (uint64_t)(da_options.purge_delay_ms / 2 + 1);
    heap->kept_gen++;
  }
  uint32_t freed_ms = (uint32_t)(all ? now : now - (uint64_t)da_options.purge_delay_ms);
  for (size_t b = 0; b < DA_BIN_COUNT && heap->kept_pages != 0; b++) {
    da_page_t *page;
    while ((page = heap->kept[b].first) != NULL && (all || (uint8_t)(heap->kept_gen - page->dirty) >= 3)) {
      kept_remove(heap, page);
      page_retire_locked(heap, page, freed_ms);
    }
  }
  return heap->kept_pages != 0;
}

/* ---- carving -------------------------------------------------------------------------------- */
static size_t page_reserved(const da_page_t *page) { return DA_POOL_PAGE_SIZE / page->block_size; }

/* The slices of a page of class bsize: the fewest whole OS pages that hold the
 * blocks 64 KiB holds.  16 for every pool class (64 KiB mod bsize < 4096); with
 * 4 KiB OS pages a bulk class page may be shorter (2 × 22528 B in 11 slices),
 * and the rest of its 64 KiB stays a free run. */
static size_t page_slices(size_t bsize) { return da_run_slices(DA_POOL_PAGE_SIZE / bsize * bsize); }

/* order[0..n) = a random permutation of 0..n-1 (Fisher-Yates, xorshift64*
 * seeded per thread from the secret): adjacent allocations of a hardened page
 * are not predictable. */
static void shuffle_order(uint16_t *order, size_t n) {
  static __thread uint64_t state __attribute__((tls_model("initial-exec")));
  if (state == 0) state = (da_link_key ^ (uintptr_t)&state) | 1;
  for (size_t i = 0; i < n; i++) order[i] = (uint16_t)i;
  for (size_t i = n; i-- > 1;) {
    state ^= state >> 12; state ^= state << 25; state ^= state >> 27;
    size_t j = (size_t)((state * 0x2545f4914f6cdd1du) >> 32) % (i + 1);
    uint16_t t = order[i]; order[i] = order[j]; order[j] = t;
  }
}

/* The hardened mode's carving: blocks [0, n) from first linked in a random order
 * onto next, filled. */
static DA_NOINLINE da_block_t *carve_hardened(da_page_t *page, uint8_t *first, size_t n, da_block_t *next) {
  uint16_t order[DA_EXTEND_BYTES / DA_ALIGN];
  bool shuffle = n <= sizeof order / sizeof order[0];
  if (shuffle) shuffle_order(order, n);
  for (size_t i = n; i-- > 0;) {
    da_block_t *b = (da_block_t *)(first + (shuffle ? order[i] : i) * page->block_size);
    da_link_set(b, next, da_link_key);
    b->key = da_free_mark(b);
    da_harden_fill(page, b);
    da_asan_freed(b, page->block_size);
    next = b;
  }
  if (unlikely(da_vg))
    for (size_t i = 0; i < n; i++) da_vg_listed(first + i * page->block_size);
  return next;
}

static void page_extend(da_page_t *page) {
  size_t bsize = page->block_size;
  size_t n = DA_EXTEND_BYTES / bsize;
  if (n < 4) n = 4;
  if (n > page_reserved(page) - page->capacity) n = page_reserved(page) - page->capacity;
  uint8_t *first = da_page_start(da_segment_of_page(page), page) + (size_t)page->capacity * bsize;
  da_block_t *next = page->free;
  if (unlikely(da_page_hardened(page))) {
    next = carve_hardened(page, first, n, next);
  } else {
    /* from the last block down, two a step where it can (no register copy for next) */
    uint8_t *b = first + n * bsize;
    if (n & 1) {
      b -= bsize;
      da_link_set((da_block_t *)b, next, da_link_key);
      ((da_block_t *)b)->key = da_free_mark(b);
      da_asan_freed(b, bsize);
      next = (da_block_t *)b;
    }
    while (b != first) {
      uint8_t *hi = b - bsize, *lo = hi - bsize;
      da_link_set((da_block_t *)hi, next, da_link_key);
      ((da_block_t *)hi)->key = da_free_mark(hi);
      da_link_set((da_block_t *)lo, (da_block_t *)hi, da_link_key);
      ((da_block_t *)lo)->key = da_free_mark(lo);
      da_asan_freed(hi, bsize);
      da_asan_freed(lo, bsize);
      next = (da_block_t *)lo;
      b = lo;
    }
  }
  page->free = next;
  DA_SET(page->capacity, (uint16_t)(page->capacity + n));
}

static da_page_t *page_new(da_heap_t *heap, size_t bin) {
  size_t bsize = da_bin_size(bin);
  da_page_t *page = da_segment_run_alloc(heap, page_slices(bsize), DA_POOL_PAGE_SLICES);
  if (page == NULL) return NULL;
  DA_SET(page->kind, (uint8_t)DA_KIND_POOL);
  page->bin = (uint8_t)bin;
  DA_SET(page->flags, (uint8_t)(da_options.harden ? DA_PAGE_HARDENED : 0));
  if (unlikely(da_vg)) da_vg_noaccess(da_page_start(da_segment_of_page(page), page), page_slices(bsize) << DA_SLICE_SHIFT);
  page->block_size = (uint32_t)bsize;
  unsigned shift;
  page->magic = da_pool_magic((uint32_t)bsize, &shift);
  page->shift = (uint16_t)shift;
  DA_SET(page->capacity, (uint16_t)0);
  page->free = DA_LIST_END;
  da_used_init(page, 0);
  atomic_store_explicit(&page->xfree, 0, memory_order_relaxed);
  atomic_store_explicit(&page->heap, heap, memory_order_release);
  heap->stats.pages_made++;
  page_extend(page);
  da_queue_push_front(&heap->bins[bin], page);
  return page;
}

/* The bin's most recently kept page, back in its queue's front; NULL if none.
 * Carved again from its start, lazily as a new page is (page_extend): a free
 * list in the order of the last batch's frees would hand the next batch's
 * blocks out scattered over the page (trees-binary 10 %, batch-small up to 30 %
 * slower than carving anew, in one interleaved run).  A hardened page keeps its
 * list: its blocks are in a random order anyway, and filled. */
static da_page_t *kept_take(da_heap_t *heap, size_t bin) {
  da_page_t *page = heap->kept[bin].last;
  if (page == NULL) return NULL;
  kept_remove(heap, page);
  page->dirty = 1;   /* as for every page in use: its pages are resident */
  if (!da_page_hardened(page)) {
    page->free = DA_LIST_END;
    DA_SET(page->capacity, (uint16_t)0);
    page_extend(page);
  }
  da_queue_push_front(&heap->bins[bin], page);
  return page;
}

/* Find a page of the bin with a free block: walk the queue collecting remote
 * frees, moving exhausted pages to the full queue (each page visited either
 * serves or leaves the queue, so the walk is amortised O(1)); else a new page.
 * A page that has local free blocks serves without collecting: its remote
 * frees are taken when those run out, in one step with no walk. */
static da_page_t *page_find(da_heap_t *heap, size_t bin) {
  da_queue_t *q = &heap->bins[bin];
  da_page_t *page = q->first;
  while (page) {
    da_page_t *next = page->next;
    if (page->free == DA_LIST_END) da_page_collect(page);
    if (page->free != DA_LIST_END) break;
    if (page->capacity < page_reserved(page)) { page_extend(page); break; }
    if (!page_make_full(heap, page)) break;
    page = next;
  }
  if (page == NULL) page = kept_take(heap, bin);
  if (page == NULL) page = page_new(heap, bin);
  else if (q->first != page) {
    da_queue_remove(q, page);
    da_queue_push_front(q, page);
  }
  sync_direct(heap, bin);
  return page;
}

void *da_page_malloc_slow(da_heap_t *heap, size_t bin) {
  if (heap == &da_heap_empty) {
    heap = da_heap_get_slow();
    if (heap == NULL) { errno = ENOMEM; return NULL; }
  }
  da_heap_maintain(heap);
  da_span_lock(heap);   /* queues change: a reclaimer must not walk them meanwhile */
  if (atomic_load_explicit(&heap->delayed, memory_order_relaxed) != 0) da_heap_collect_delayed(heap);
  da_page_t *page = heap->direct[bin];
  if (page->free == DA_LIST_END) page = page_find(heap, bin);
  da_span_unlock(heap);
  if (page == NULL) { errno = ENOMEM; return NULL; }
  da_block_t *b = da_pool_take(page, page->free);
  da_purger_check();
#if DA_DEBUG >= 3
  if (!da_heap_is_valid(heap)) da_fatal("heap %p invalid after malloc", heap);
#endif
  return b;
}

/* ---- adoption ---------------------------------------------------------------------------------- */
/* A page of an adopted segment joins this heap's queues. */
void da_page_adopt(da_heap_t *heap, da_page_t *page) {
  da_page_set_owner(page, heap);
  page->next = page->prev = NULL;
  da_page_collect(page);
  if (page->kind == DA_KIND_BULK) {
    if (da_used(page) == 0) { heap->stats.bulk_frees++; da_segment_run_free(heap, page); return; }
    uintptr_t tf = 0;
    if (!atomic_compare_exchange_strong(&page->xfree, &tf, DA_X_NOTIFY)) {
      da_page_collect(page);   /* freed meanwhile */
      heap->stats.bulk_frees++;
      da_segment_run_free(heap, page);
    }
    return;
  }
  if (da_used(page) == 0) {
    atomic_store_explicit(&page->xfree, 0, memory_order_relaxed);
    da_segment_run_free(heap, page);
    return;
  }
  da_queue_push_back(&heap->bins[page->bin], page);
  if (page->free == DA_LIST_END && page->capacity == page_reserved(page)) page_make_full(heap, page);
  sync_direct(heap, page->bin);
}

bool da_page_is_valid(const da_page_t *page) {
  DA_CHECK(page->kind == DA_KIND_POOL && page->block_size == da_bin_size(page->bin));
  DA_CHECK(page->capacity <= page_reserved(page));
  DA_CHECK(page->slice_count == page_slices(page->block_size) &&   /* da_free finds it by arithmetic */
           da_segment_index(da_segment_of_page(page), page) % DA_POOL_PAGE_SLICES == 0);
  size_t free_count = 0;
  const uint8_t *start = da_page_start(da_segment_of_page(page), page);
  DA_CHECK(page->free != NULL);
  for (const da_block_t *b = page->free; da_list_more(b); b = da_link_next(b, da_link_key)) {
    size_t off = (size_t)((const uint8_t *)b - start);
    DA_CHECK(off % page->block_size == 0 && off / page->block_size < page->capacity);
    DA_CHECK(b->key == da_free_mark(b));
    DA_CHECK(++free_count <= page->capacity);
  }
  DA_CHECK(free_count + da_used(page) == page->capacity);
  return true;
}
