/* heap.c — one heap per thread: creation on first use, the thread-exit hand-over,
 * the delayed-free list, periodic maintenance, and the fork handlers' part.
 *
 * Invariants:
 *  - da_heap_tls is &da_heap_empty until the thread's first allocation, and again
 *    after its heap was abandoned at thread exit; da_heap_empty owns nothing, so a
 *    free on such a thread takes the remote path and a malloc the slow path;
 *  - heap structs are never unmapped: they come from chunks obtained once and go
 *    back to heap_pool, so a pointer to a heap stays readable forever;
 *  - heaps_lock guards the list of live heaps and heap_pool; lock order is
 *    purger_mutex, heaps_lock, a heap's span lock, the segment lock, then the
 *    huge-cache and sbrk locks; an owner holding its span lock takes neither
 *    purger_mutex nor heaps_lock (malloc_trim waits for span locks while it
 *    holds heaps_lock).
 */
#include "internal.h"
#include <errno.h>
#include <string.h>

#define DA_HEAP_CHUNK ((size_t)64 << 10)

__thread da_heap_t *da_heap_tls __attribute__((tls_model("initial-exec"))) = &da_heap_empty;
da_heap_t da_heap_empty = { .direct = { [0 ... DA_BIN_COUNT - 1] = &da_page_empty },
                             .direct_small = { [0 ... DA_DIRECT_SMALL_COUNT - 1] = &da_page_empty } };
da_counters_t da_retired_stats;

static pthread_mutex_t heaps_lock = PTHREAD_MUTEX_INITIALIZER;
static da_heap_t *heaps_live;             /* all_next / all_prev */
static size_t heaps_with_thread;          /* live heaps whose thread exists (fork child: one at most) */
static da_heap_t *heap_pool;              /* recycled structs, linked by all_next */
static uint8_t *chunk_next, *chunk_end;   /* carving area for new structs */
static pthread_key_t heap_key;
static bool heap_key_ok;

static da_heap_t *heap_struct_alloc(void) {
  da_heap_t *heap = heap_pool;
  if (heap) {
    heap_pool = heap->all_next;
    return heap;
  }
  size_t size = (sizeof(da_heap_t) + 63) & ~(size_t)63;
  if (chunk_next == NULL || chunk_next + size > chunk_end) {
    chunk_next = da_os_alloc_meta(DA_HEAP_CHUNK);
    if (chunk_next == NULL) return NULL;
    chunk_end = chunk_next + DA_HEAP_CHUNK;
  }
  heap = (da_heap_t *)chunk_next;
  chunk_next += size;
  return heap;
}

static void heap_thread_done(void *value);

void da_heap_key_init(void) {
  heap_key_ok = pthread_key_create(&heap_key, heap_thread_done) == 0;
}

da_heap_t *da_heap_get_slow(void) {
  da_heap_t *heap = da_heap_tls;
  if (heap != &da_heap_empty) return heap;
  da_process_init();
  da_lock(&heaps_lock);
  heap = heap_struct_alloc();
  if (heap != NULL) {
    void **quarantine = heap->quarantine;   /* a reused heap keeps its (empty) quarantine */
    memset(heap, 0, sizeof *heap);
    heap->quarantine = quarantine;
    /* hardened mode: no link decodes with this link key (a block's low bits are
     * 0), so every pop fails its first test and goes to harden.c; no free block
     * carries this free key either.  Neither is used on a hardened page. */
    heap->link_key = da_options.harden ? da_link_key ^ DA_ALIGN / 2 : da_link_key;
    heap->free_key = da_options.harden ? da_free_key ^ 1 : da_free_key;
    da_sample_start(heap);
    for (size_t b = 0; b < DA_BIN_COUNT; b++) heap->direct[b] = &da_page_empty;
    for (size_t i = 0; i < DA_DIRECT_SMALL_COUNT; i++) heap->direct_small[i] = &da_page_empty;
    heap->live = 1;
    heap->all_next = heaps_live;
    if (heaps_live) heaps_live->all_prev = heap;
    heaps_live = heap;
    heaps_with_thread++;
  }
  da_unlock(&heaps_lock);
  if (heap == NULL) return NULL;
  da_heap_tls = heap;
  /* May allocate (glibc's second-level key array): the heap is already in place. */
  if (heap_key_ok) pthread_setspecific(heap_key, heap);
  return heap;
}

/* ---- remote frees into full pages ------------------------------------------------------- */
/* The delayed list links blocks of any page of the heap (encoded as the pages'
 * lists are).  Each link is checked before it is followed: it must be the end
 * or the start of a pool or bulk block that carries the free key. */
da_block_t *da_delayed_next(const da_block_t *b) {
  const da_block_t *next = (const da_block_t *)((uintptr_t)b->next ^ (uintptr_t)b ^ da_link_key);
  if (next == NULL) return NULL;
  const da_page_t *page = da_page_of(next);
  uint8_t kind = page ? DA_GET(page->kind) : DA_KIND_NONE;
  if ((kind != DA_KIND_POOL && kind != DA_KIND_BULK) || ((uintptr_t)next & (DA_ALIGN - 1)) != 0 ||
      next->key != da_free_mark(next))
    da_corrupt_list(b);
  return (da_block_t *)next;
}

static da_block_t *delayed_take(da_heap_t *heap) {
  return (da_block_t *)atomic_exchange_explicit(&heap->delayed, 0, memory_order_acquire);
}

void da_heap_collect_delayed(da_heap_t *heap) {
  da_span_lock(heap);
  da_block_t *block = delayed_take(heap);
  while (block) {
    da_block_t *next = da_delayed_next(block);
    da_page_t *page = da_page_of(block);
    da_delayed_count(page, -1);
    if (da_owner(page) == heap) da_free_local(heap, page, block);
    else da_free_remote(page, block);
    block = next;
  }
  da_span_unlock(heap);
}

/* Slow-path housekeeping: purge free runs whose delay has passed. */
void da_heap_maintain(da_heap_t *heap) {
  if (atomic_load_explicit(&heap->dirty_runs, memory_order_relaxed) != 0 || da_segment_cache_bytes() != 0)
    da_purger_notify();
  if ((++heap->maintain_tick & 15) != 0) return;
  uint64_t now = da_clock_ms();
  if (now < heap->purge_check_ms) return;
  heap->purge_check_ms = now + (uint64_t)(da_options.purge_delay_ms / 2 + 1);
  da_bulk_cache_flush(heap, false);
  if (heap->kept_pages != 0) {
    da_span_lock(heap);
    da_page_release_kept_locked(heap, false);
    da_span_unlock(heap);
  }
  da_segment_purge(heap, false);
  da_segment_cache_maintain(false);
  da_huge_cache_trim(false);
}

/* ---- thread exit --------------------------------------------------------------------------- */
/* Empty pages back to their segments; abandon: the thread leaves, so no page stays
 * its bin's allocation page (the next owner's heap chooses its own). */
static void heap_release_empty_pages(da_heap_t *heap, bool abandon) {
  da_span_lock(heap);
  da_page_release_kept_locked(heap, true);
  for (size_t b = 0; b < DA_BIN_COUNT; b++) {
    da_set_direct(heap, b, &da_page_empty);   /* before any page of the bin is freed */
    da_page_t *page = heap->bins[b].first;
    while (page) {
      da_page_t *next = page->next;
      da_page_collect(page);
      if (da_used(page) == 0) {
        da_queue_remove(&heap->bins[b], page);
        atomic_store_explicit(&page->xfree, 0, memory_order_relaxed);
        da_segment_run_free(heap, page);
      }
      page = next;
    }
    if (!abandon && heap->bins[b].first) da_set_direct(heap, b, heap->bins[b].first);
  }
  da_span_unlock(heap);
}

static void heap_abandon(da_heap_t *heap) {
  da_harden_flush(heap);
  da_heap_collect_delayed(heap);
  da_bulk_cache_flush(heap, true);
  heap_release_empty_pages(heap, true);
  da_segment_abandon_all(heap);   /* pages ownerless; no remote free reaches us after */
  da_lock(&heaps_lock);
  da_counters_add(&da_retired_stats, &heap->stats);
  if (heap->all_prev) heap->all_prev->all_next = heap->all_next;
  else heaps_live = heap->all_next;
  if (heap->all_next) heap->all_next->all_prev = heap->all_prev;
  heap->live = 0;
  /* Off the live list, so no reclaimer (which walks it under heaps_lock) puts
   * blocks back on delayed any more: those pushed before their page went
   * ownerless, or put back by a reclaimer's pass, go to their pages. */
  da_block_t *block = delayed_take(heap);
  while (block) {
    da_block_t *next = da_delayed_next(block);
    da_delayed_count(da_page_of(block), -1);
    da_free_remote(da_page_of(block), block);
    block = next;
  }
  heap->all_next = heap_pool;
  heap_pool = heap;
  bool last = heaps_with_thread != 0 && --heaps_with_thread == 0;
  da_unlock(&heaps_lock);
  if (last) da_purger_no_heaps();
  else da_purger_notify();   /* the abandoned segments may hold free pages */
}

/* Heaps whose thread still exists: in a fork child the heaps of the parent's
 * other threads stay live (their memory is the child's) but count no thread. */
size_t da_heap_live_count(void) {
  da_lock(&heaps_lock);
  size_t n = heaps_with_thread;
  da_unlock(&heaps_lock);
  return n;
}

static void heap_thread_done(void *value) {
  da_heap_t *heap = value;
  if (heap == NULL || heap == &da_heap_empty) return;
  da_busy_enter();
  da_heap_tls = &da_heap_empty;
  heap_abandon(heap);
  da_busy_leave();
}

/* ---- walks, trim, fork -------------------------------------------------------------------------- */
void da_heap_foreach_live(void (*fn)(da_heap_t *, void *), void *arg) {
  da_lock(&heaps_lock);
  for (da_heap_t *heap = heaps_live; heap; heap = heap->all_next) fn(heap, arg);
  da_unlock(&heaps_lock);
}

void da_heap_foreach(void (*fn)(da_heap_t *, void *), void *arg) {
  da_lock(&heaps_lock);
  da_segment_lock_all();
  for (da_heap_t *heap = heaps_live; heap; heap = heap->all_next) fn(heap, arg);
  da_segment_unlock_all(false);
  da_unlock(&heaps_lock);
}

void da_heap_retired_counters(da_counters_t *out) {
  da_lock(&heaps_lock);
  *out = da_retired_stats;
  da_unlock(&heaps_lock);
}

/* Another live heap, for malloc_trim: what its owner cannot reach is taken
 * back (reclaim.c) and its free runs purged, whether the owner idles or not. */
static void trim_other(da_heap_t *heap, void *self) {
  if (heap == self || !da_span_lock_other(heap, true)) return;
  da_heap_reclaim(heap, true);
  da_segment_purge_locked(heap, true);
  da_span_unlock_other(heap);
}

/* malloc_trim: the calling thread's empty pages and free runs, every abandoned
 * segment (adopted, so its free memory can be purged, or purged in place by a
 * thread with no heap), what every other heap holds free, and all caches. */
bool da_heap_trim(void) {
  da_busy_enter();
  da_heap_t *heap = da_heap_tls;
  size_t before = atomic_load(&da_os_stats.purged) + atomic_load(&da_os_stats.munmap_calls);
  da_percpu_drain(true);
  if (heap != &da_heap_empty) {
    da_harden_flush(heap);
    da_heap_collect_delayed(heap);
    while (da_segment_try_adopt(heap)) {
    }
    da_bulk_cache_flush(heap, true);
    heap_release_empty_pages(heap, false);
    da_segment_purge(heap, true);
  }
  da_heap_foreach_live(trim_other, heap);
  da_segment_purge_abandoned((uint32_t)da_clock_ms(), 0);
  da_segment_trim_cache();
  da_huge_cache_trim(true);
  da_busy_leave();
  return atomic_load(&da_os_stats.purged) + atomic_load(&da_os_stats.munmap_calls) != before;
}

/* The OS refused memory: give back everything this heap and the caches hold
 * free (empty segments, cached runs and mappings), so that a retry can succeed.
 * Called where the heap's state is consistent. */
void da_heap_release_free(da_heap_t *heap) {
  if (heap != NULL && heap != &da_heap_empty) {
    da_bulk_cache_flush(heap, true);
    da_span_lock(heap);
    da_page_release_kept_locked(heap, true);
    da_span_unlock(heap);
    da_segment_purge(heap, true);
  }
  da_segment_trim_cache();
  da_huge_cache_trim(true);
}

static bool fork_threaded;   /* the parent had more than one heap or a purger */

/* fork, also from a signal handler (docs/design.md, "fork").  The prepare
 * handler takes every allocator lock, in the lock order.  Its thread holds
 * none of them (a thread holds one only with its signals blocked, lock.c), and
 * every holder finishes its critical section without waiting for this thread,
 * so the waits end; from the first lock to the parent and child handlers this
 * thread's signals are blocked too. */
void da_heap_fork_prepare(void) {
  da_purger_fork(0, false);
  da_lock(&heaps_lock);
  fork_threaded = atomic_load(&da_purger_running) || (heaps_live && heaps_live->all_next);
  da_segment_lock_all();
  da_huge_lock(true, false);
  da_sbrk_lock(true);
}

void da_heap_fork_parent(void) {
  da_sbrk_lock(false);
  da_huge_lock(false, false);
  da_segment_unlock_all(false);
  da_unlock(&heaps_lock);
  da_purger_fork(1, false);
}

/* In the child only this thread exists: locks are re-initialised, and a full
 * page left in the FREEING state by a thread that no longer exists is reset.
 * When fork ran in a signal handler that interrupted a slow path of this
 * thread (da_busy), its heap may be half-way through a change: the child
 * leaves it as it is and takes a fresh heap at its next allocation.  The
 * interrupted call, if the handler returns, completes on the old heap, which
 * no other call touches; its memory is not reused. */
void da_heap_fork_child(void) {
  da_sbrk_fork_child();
  da_os_membarrier_fork_child();
  da_huge_lock(false, true);
  da_segment_unlock_all(true);
  pthread_mutex_init(&heaps_lock, NULL);
  da_purger_fork(2, fork_threaded);
  da_lock_fork_child();
  da_heap_t *heap = da_heap_tls;
  heaps_with_thread = heap != &da_heap_empty && da_busy == 0;
  if (heap == &da_heap_empty) return;
  if (da_busy != 0) {
    da_heap_tls = &da_heap_empty;
    return;
  }
  for (da_page_t *page = heap->full.first; page; page = page->next) {
    uintptr_t tf = atomic_load_explicit(&page->xfree, memory_order_relaxed);
    if ((tf & DA_X_MASK) == DA_X_FREEING)
      atomic_store_explicit(&page->xfree, tf & ~DA_X_MASK, memory_order_relaxed);
  }
}

/* The page queues, direct[] and their pages: with the span lock held, as a
 * reclaimer changes the pages it takes back (and their queues) under it. */
static bool heap_queues_valid(const da_heap_t *heap) {
  for (size_t b = 0; b < DA_BIN_COUNT; b++) {
    const da_page_t *first = heap->bins[b].first;
    DA_CHECK(heap->direct[b] == (first ? first : &da_page_empty));
    for (const da_page_t *p = first; p; p = p->next) {
      DA_CHECK(p->bin == b && !(p->flags & DA_PAGE_IN_FULL) && da_owner(p) == heap);
      bool marked = (atomic_load_explicit(&p->used, memory_order_relaxed) & DA_USED_DIRECT) != 0;
      DA_CHECK(marked == (p == first));   /* only the allocation page carries the bit */
      DA_CHECK(da_page_is_valid(p));
    }
  }
  uint32_t kept = 0;
  for (size_t b = 0; b < DA_BIN_COUNT; b++)
    for (const da_page_t *p = heap->kept[b].first; p; p = p->next, kept++)   /* whole, no live block */
      DA_CHECK(p->bin == b && (p->flags & DA_PAGE_KEPT) && atomic_load_explicit(&p->used, memory_order_relaxed) == 0 &&
               da_owner(p) == heap && da_page_is_valid(p));
  DA_CHECK(kept == heap->kept_pages);
  for (size_t i = 0; i < DA_DIRECT_SMALL_COUNT; i++)
    DA_CHECK(heap->direct_small[i] == heap->direct[da_block_index(i * 16)]);
  for (const da_page_t *p = heap->full.first; p; p = p->next)
    DA_CHECK((p->flags & DA_PAGE_IN_FULL) && da_owner(p) == heap &&
             !(atomic_load_explicit(&p->used, memory_order_relaxed) & DA_USED_DIRECT));
  return true;
}

bool da_heap_is_valid(const da_heap_t *heap) {
  /* the purger may be taking pages back, purging or releasing free runs: hold it off */
  da_span_lock((da_heap_t *)heap);
  bool ok = heap_queues_valid(heap);
  for (const da_segment_t *seg = heap->segments; seg && ok; seg = seg->next)
    ok = seg->heap == heap && da_segment_is_valid(seg);
  da_span_unlock((da_heap_t *)heap);
  DA_CHECK(ok);
  return true;
}
