/* segment.c — segments and the runs of slices inside them.
 *
 * A heap owns its segments; only the owning thread allocates or frees runs in
 * them.  The one other thread that touches a heap's free runs is the purger
 * (purge.c), so run management takes only the heap's span lock, which the owner
 * gets with one CAS unless the purger holds it.  Global state (the cache of empty
 * segments, the abandoned segments of exited threads, and every heap's segment
 * list, which the statistics walk reads) is guarded by da_segments_lock, taken
 * only when a segment changes hands.
 *
 * Invariants of a NORMAL segment:
 *  - slices [da_first_run, DA_SLICES) are tiled by runs, each starting and ending
 *    on an OS page (a multiple of da_page_slices: purges and protections are in
 *    whole OS pages, see os.c); a run's head
 *    entry has slice_offset 0, a kind other than NONE and slice_count ≥ 1; every
 *    other slice of an allocated run has slice_offset = its distance to the head;
 *  - a FREE run is on exactly one heap->spans queue (bin = floor(log2(count))) and
 *    its last slice points back to its head; two adjacent FREE runs differ in
 *    their dirty state (a dirty run never absorbs a clean one, which keeps
 *    "dirty" exact: span_find prefers dirty runs, whose pages are resident);
 *  - a POOL run starts at a slice index that is a multiple of DA_POOL_PAGE_SLICES
 *    (a 64 KiB boundary), so free() finds its header from the pointer by
 *    arithmetic alone; BULK runs start on any slice;
 *  - used_slices = slices in POOL and BULK runs; a segment with used_slices == 0
 *    holds only FREE runs and goes to the global cache (unpurged, runs kept, see
 *    segment_release) unless it is its heap's last;
 *  - a FREE run with dirty == 0 is all zero (never used or purged);
 *  - a dirty FREE run freed at time t (page->magic, ms) is purged once
 *    t + purge_delay has passed, at the next purge pass of its heap.
 */
#include "internal.h"
#include <errno.h>
#include <sched.h>
#include <string.h>

static pthread_mutex_t segments_lock = PTHREAD_MUTEX_INITIALIZER;
static da_segment_t *cache_list;        /* empty segments, newest first */
static _Atomic(size_t) cache_count;   /* written under the lock, read without */
static da_segment_t *abandoned_list;    /* segments of exited threads */
static _Atomic(size_t) abandoned_count;
static _Atomic(size_t) slices_in_use;   /* in POOL and BULK runs of every segment */

/* Runs in use grew or shrank by delta slices: past DA_PURGER_START_BYTES the
 * process wants the purger thread (memory it frees then goes back while it idles). */
static void in_use_add(ptrdiff_t delta) {
  size_t now = atomic_fetch_add_explicit(&slices_in_use, (size_t)delta, memory_order_relaxed) + (size_t)delta;
  if (delta > 0 && (now << DA_SLICE_SHIFT) >= DA_PURGER_START_BYTES) da_purger_want();
}

/* Held through a whole cache maintenance, the unmapping outside segments_lock
 * included, so that malloc_trim returns only once the purger's pass is done. */
static pthread_mutex_t maintain_lock = PTHREAD_MUTEX_INITIALIZER;

void da_segment_lock_all(void) {
  da_lock(&maintain_lock);
  da_lock(&segments_lock);
}
void da_segment_unlock_all(bool child) {
  if (child) {
    pthread_mutex_init(&segments_lock, NULL);
    pthread_mutex_init(&maintain_lock, NULL);
  } else {
    da_unlock(&segments_lock);
    da_unlock(&maintain_lock);
  }
}

/* ---- free runs (spans) ------------------------------------------------------------ */

static size_t span_bin(size_t slices) { return 63 - (size_t)__builtin_clzl(slices); }

/* The headers of a free run: its head and its last slice.  heap may be NULL (a
 * run of an abandoned segment, on no queue). */
static da_page_t *free_run_init(da_heap_t *heap, da_segment_t *seg, size_t idx, size_t count,
                                bool dirty, uint32_t freed_at) {
  da_page_t *run = &seg->pages[idx];
  DA_SET(run->kind, (uint8_t)DA_KIND_FREE);
  DA_SET(run->flags, (uint8_t)0);
  run->slice_count = (uint16_t)count;
  run->slice_offset = 0;
  run->bin = (uint8_t)span_bin(count);
  run->dirty = dirty;
  run->magic = freed_at;
  run->block_size = 0;
  da_used_init(run, 0);
  atomic_store_explicit(&run->heap, heap, memory_order_relaxed);
  if (count > 1) {
    da_page_t *last = &seg->pages[idx + count - 1];
    DA_SET(last->kind, (uint8_t)DA_KIND_NONE);
    last->slice_offset = (uint16_t)(count - 1);
  }
  return run;
}

static void span_insert(da_heap_t *heap, da_segment_t *seg, size_t idx, size_t count,
                        bool dirty, uint32_t freed_at) {
  da_page_t *run = free_run_init(heap, seg, idx, count, dirty, freed_at);
  da_queue_push_front(&heap->spans[run->bin], run);
  if (dirty) {
    atomic_store_explicit(&heap->dirty_runs, atomic_load_explicit(&heap->dirty_runs, memory_order_relaxed) + 1, memory_order_relaxed);
    heap->dirty_bytes += count << DA_SLICE_SHIFT;
  }
}

static void span_remove(da_heap_t *heap, da_page_t *run) {
  da_queue_remove(&heap->spans[run->bin], run);
  if (run->dirty) {
    atomic_store_explicit(&heap->dirty_runs, atomic_load_explicit(&heap->dirty_runs, memory_order_relaxed) - 1, memory_order_relaxed);
    heap->dirty_bytes -= (size_t)run->slice_count << DA_SLICE_SHIFT;
  }
}

/* Absorbed heads point at the head that absorbed them, so a stale pointer to
 * them still lands on a FREE run (reported as a double free). */
static void span_absorb(da_page_t *head, da_page_t *absorbed) {
  DA_SET(absorbed->kind, (uint8_t)DA_KIND_NONE);
  absorbed->slice_offset = (uint16_t)(absorbed - head);
}

/* Merge adjacent free runs of seg: those with the same dirty state, or with all
 * every pair (an empty segment becomes one run, dirty if any part was).  heap
 * holds the runs on its spans, or is NULL for an abandoned segment.  Free runs
 * of different states stay apart otherwise, so that a clean run is never taken
 * for a dirty one (span_find prefers dirty runs: their pages are resident). */
static void segment_coalesce(da_heap_t *heap, da_segment_t *seg, bool all) {
  for (size_t i = da_first_run; i < DA_SLICES; i += seg->pages[i].slice_count) {
    da_page_t *run = &seg->pages[i], *next;
    size_t end = i + run->slice_count;
    /* Only free runs change here, and a run becomes or stops being FREE only under
     * the span lock; the owner may be changing other kinds meanwhile. */
    if (DA_GET(run->kind) != DA_KIND_FREE) continue;
    bool dirty = run->dirty;
    uint32_t freed_at = run->magic;
    size_t count = run->slice_count;
    bool merged = false;
    while (end < DA_SLICES && DA_GET((next = &seg->pages[end])->kind) == DA_KIND_FREE &&
           (all || next->dirty == run->dirty)) {
      if (!merged && heap) span_remove(heap, run);
      if (heap) span_remove(heap, next);
      merged = true;
      dirty |= next->dirty;
      if ((int32_t)(next->magic - freed_at) > 0) freed_at = next->magic;
      count += next->slice_count;
      end += next->slice_count;
      span_absorb(run, next);
    }
    if (!merged) continue;
    if (heap) span_insert(heap, seg, i, count, dirty, freed_at);
    else free_run_init(NULL, seg, i, count, dirty, freed_at);
  }
}

/* The first slice index ≥ idx that is a multiple of align (a power of two). */
static size_t align_up(size_t idx, size_t align) { return (idx + align - 1) & ~(align - 1); }

/* A free run that holds `slices` slices starting at a multiple of align.  Dirty
 * runs (pages still resident) are preferred: taking a clean run while dirty ones
 * wait for the purge would make the resident set grow with every reuse. */
static da_page_t *span_find(da_heap_t *heap, size_t slices, size_t align) {
  da_page_t *clean = NULL;
  for (size_t b = span_bin(slices); b < DA_SPAN_BINS; b++) {
    int budget = 8;                     /* the first bin may hold runs too small */
    for (da_page_t *run = heap->spans[b].first; run && budget-- > 0; run = run->next) {
      size_t idx = da_segment_index(da_segment_of_page(run), run);
      if (align_up(idx, align) + slices > idx + run->slice_count) continue;
      if (run->dirty) return run;
      if (clean == NULL) clean = run;
    }
  }
  return clean;
}

/* No single free run holds the request, but free runs of both states side by
 * side may: join those of the first segment where they do (only there, so that
 * the other segments keep their dirty runs apart) and take the run. */
static da_page_t *span_join(da_heap_t *heap, size_t slices, size_t align) {
  for (da_segment_t *seg = heap->segments; seg; seg = seg->next) {
    size_t start = 0, total = 0;
    for (size_t i = da_first_run; i < DA_SLICES; i += seg->pages[i].slice_count) {
      if (seg->pages[i].kind != DA_KIND_FREE) { total = 0; continue; }
      if (total == 0) start = i;
      total += seg->pages[i].slice_count;
      if (align_up(start, align) + slices <= start + total) {
        segment_coalesce(heap, seg, true);
        return span_find(heap, slices, align);
      }
    }
  }
  return NULL;
}

/* ---- segments ------------------------------------------------------------------------ */

static void segment_link(da_heap_t *heap, da_segment_t *seg) {
  da_lock(&segments_lock);
  seg->heap = heap;
  seg->prev = NULL;
  seg->next = heap->segments;
  if (heap->segments) heap->segments->prev = seg;
  heap->segments = seg;
  da_unlock(&segments_lock);
}

static void segment_unlink_locked(da_heap_t *heap, da_segment_t *seg) {
  if (seg->prev) seg->prev->next = seg->next;
  else heap->segments = seg->next;
  if (seg->next) seg->next->prev = seg->prev;
  seg->next = seg->prev = NULL;
  seg->heap = NULL;
}

/* Hardened mode: the gap below the segment's metadata and the OS page above it
 * (never touched by design) become inaccessible, and the segment gets its size
 * table; on (false), before the segment goes back to the OS, both are undone. */
static bool segment_harden(da_segment_t *seg, bool on) {
  uint8_t *above = (uint8_t *)seg + (da_first_run - da_page_slices) * DA_SLICE_SIZE;
  if (!on) {
    da_harden_segment_release(seg);
    da_os_protect(seg, DA_PAGE_MAX, true);
    da_os_protect(above, da_page_size, true);
    return true;
  }
  if (!da_harden_segment_init(seg)) return false;
  if (da_os_protect(seg, DA_PAGE_MAX, false)) {
    if (da_os_protect(above, da_page_size, false)) return true;
    da_os_protect(seg, DA_PAGE_MAX, true);
  }
  da_harden_segment_release(seg);
  return false;
}

/* A segment for heap: from the cache (newest first), else from the OS.  With
 * warm_only, only a cached segment whose pages are still resident, or NULL. */
static da_segment_t *segment_new(da_heap_t *heap, bool warm_only) {
  if (warm_only && atomic_load_explicit(&cache_count, memory_order_relaxed) == 0) return NULL;
  da_lock(&segments_lock);
  da_segment_t *seg = cache_list;
  if (seg && warm_only && !seg->cache_dirty) seg = NULL;
  if (seg) { cache_list = seg->next; cache_count--; }
  da_unlock(&segments_lock);
  if (seg == NULL && warm_only) return NULL;
  bool from_sbrk = seg ? seg->from_sbrk : false;
  bool dirty = seg ? seg->cache_dirty : false;
  if (seg == NULL) {
    da_huge_cache_shed();
    seg = da_os_alloc_segment(&from_sbrk);
    if (seg == NULL) {   /* out of memory: give back what is free, try once more */
      da_heap_release_free(heap);
      seg = da_os_alloc_segment(&from_sbrk);
    }
    if (seg == NULL) return NULL;
    if (da_options.harden && !segment_harden(seg, true)) {
      da_os_free(seg, DA_SEGMENT_SIZE, from_sbrk);
      return NULL;
    }
    if (da_options.verbose) da_message("dynalloc: new segment %p (%s)\n", seg, from_sbrk ? "sbrk" : "mmap");
  }
  seg->kind = DA_SEGMENT_NORMAL;
  seg->from_sbrk = from_sbrk;
  seg->map_size = DA_SEGMENT_SIZE;
  seg->used_slices = 0;
  seg->cache_dirty = 0;
  seg->purged = 0;
  da_segmap_set(seg, true);
  segment_link(heap, seg);
  if (dirty) {   /* back from the cache unpurged: its free runs as they were */
    for (size_t i = da_first_run; i < DA_SLICES; i += seg->pages[i].slice_count) {
      da_page_t *run = &seg->pages[i];
      span_insert(heap, seg, i, run->slice_count, run->dirty, run->magic);
    }
  } else {
    span_insert(heap, seg, da_first_run, DA_SLICES - da_first_run, false, (uint32_t)da_clock_ms());
  }
  return seg;
}

/* Put an empty segment on the global cache (segments_lock held). */
static void cache_push_locked(da_segment_t *seg, bool dirty) {
  da_segmap_set(seg, false);
  seg->cache_dirty = dirty;
  seg->cached_at = da_clock_ms();
  seg->next = cache_list;
  cache_list = seg;
  cache_count++;
}

/* An empty segment (free runs only) leaves its heap for the global cache at
 * once, pages and all: a thread that needs a segment soon (another round of the
 * same work, the next short-lived thread) takes it warm.  It keeps its free runs
 * and their dirty states, so that its next heap reuses the pages it touched
 * first; a segment with no dirty run becomes one clean run.  The purger purges
 * cached segments after the purge delay (which zeroes their page entries: one
 * clean run again) and unmaps those beyond DYNALLOC_SEGMENT_CACHE. */
static void segment_release(da_heap_t *heap, da_segment_t *seg) {
  bool dirty = false;
  for (size_t i = da_first_run; i < DA_SLICES; i += seg->pages[i].slice_count) {
    da_page_t *run = &seg->pages[i];
    da_assert(run->kind == DA_KIND_FREE);
    dirty |= run->dirty;
    span_remove(heap, run);
  }
  if (!dirty) segment_coalesce(NULL, seg, true);
  da_lock(&segments_lock);
  segment_unlink_locked(heap, seg);
  cache_push_locked(seg, dirty);
  da_unlock(&segments_lock);
}

/* Everything above the OS page of the header's fields is purged, and the page
 * entries below that are cleared: they all read as zero then. */
static void segment_purge_cached(da_segment_t *seg) {
  size_t from = da_page_round(offsetof(da_segment_t, pages) + 1);
  memset(seg->pages, 0, from - offsetof(da_segment_t, pages));
  da_os_purge((uint8_t *)seg + from, DA_SEGMENT_SIZE - from);
}

/* Purge cached segments older than the delay (all with force), keep at most
 * DYNALLOC_SEGMENT_CACHE of them (none with force) and unmap the rest.
 * Returns true when a cached segment still waits for its delay. */
bool da_segment_cache_maintain(bool force) {
  /* A forced pass (malloc_trim, out of memory) waits for one in progress; a
   * periodic one leaves the work to it. */
  if (force) da_lock(&maintain_lock);
  else if (!da_trylock(&maintain_lock)) return true;
  uint64_t now = da_clock_ms();
  size_t keep_max = force ? 0 : (size_t)da_options.segment_cache;
  da_segment_t *expired = NULL;
  bool waiting = false;
  da_lock(&segments_lock);
  size_t kept = 0;
  for (da_segment_t **link = &cache_list; *link != NULL;) {
    da_segment_t *seg = *link;
    bool old = force || now - seg->cached_at >= (uint64_t)da_options.purge_delay_ms;
    if (!old) { waiting = true; kept++; link = &seg->next; continue; }
    if (!seg->cache_dirty && kept < keep_max) { kept++; link = &seg->next; continue; }
    *link = seg->next;           /* expired: purge it or give it back, outside the lock */
    cache_count--;
    seg->next = expired;
    expired = seg;
  }
  da_unlock(&segments_lock);
  while (expired) {
    da_segment_t *seg = expired;
    expired = seg->next;
    da_lock(&segments_lock);
    bool keep = cache_count < keep_max;
    if (keep) cache_count++;
    da_unlock(&segments_lock);
    if (!keep) {
      if (da_options.harden) segment_harden(seg, false);
      da_os_free(seg, DA_SEGMENT_SIZE, seg->from_sbrk);
      continue;
    }
    if (seg->cache_dirty) segment_purge_cached(seg);
    if (seg->cache_dirty && da_options.harden) da_harden_segment_purge(seg);
    da_lock(&segments_lock);
    seg->cache_dirty = 0;
    seg->next = cache_list;
    cache_list = seg;
    da_unlock(&segments_lock);
  }
  da_unlock(&maintain_lock);
  return waiting;
}

void da_segment_trim_cache(void) { da_segment_cache_maintain(true); }

size_t da_segment_cache_bytes(void) {
  return atomic_load_explicit(&cache_count, memory_order_relaxed) * DA_SEGMENT_SIZE;
}

/* ---- runs ---------------------------------------------------------------------------- */

/* ---- the span lock: owner (nesting) against a reclaimer ------------------------------------- */
/* The owner takes it (value 1) around every slow path that changes its queues,
 * runs or bulk cache; each first acquisition counts in lock_epoch, so that a
 * reclaimer sees whether the owner was active since its last look. */
void da_span_lock(da_heap_t *heap) {
  if (heap->span_depth++ > 0) return;
  int expected = 0;
  while (!atomic_compare_exchange_weak_explicit(&heap->span_lock, &expected, 1,
                                                memory_order_acquire, memory_order_relaxed)) {
    expected = 0;
    sched_yield();
  }
  heap->lock_epoch++;
}

/* Another thread (the purger, malloc_trim) takes a heap's lock (value 2): one
 * try, or with wait until the owner's slow path is done (the owner never blocks
 * while holding it).  The wait is bounded: in the child of a fork, a heap of a
 * thread that was in a slow path then keeps its lock forever. */
bool da_span_lock_other(da_heap_t *heap, bool wait) {
  for (int tries = wait ? 100000 : 1; tries > 0; tries--) {
    int expected = 0;
    if (atomic_compare_exchange_strong_explicit(&heap->span_lock, &expected, 2,
                                                memory_order_acquire, memory_order_relaxed))
      return true;
    if (tries > 1) sched_yield();
  }
  return false;
}

void da_span_unlock_other(da_heap_t *heap) {
  atomic_store_explicit(&heap->span_lock, 0, memory_order_release);
}

void da_span_unlock(da_heap_t *heap) {
  if (--heap->span_depth > 0) return;
  atomic_store_explicit(&heap->span_lock, 0, memory_order_release);
}

static da_page_t *run_alloc_locked(da_heap_t *heap, size_t slices, size_t align);

da_page_t *da_segment_run_alloc(da_heap_t *heap, size_t slices, size_t align) {
  da_span_lock(heap);
  da_page_t *run = run_alloc_locked(heap, slices, align);
  da_span_unlock(heap);
  return run;
}

/* Take `slices` slices at a multiple of align out of a free run; what lies
 * before and after them stays free. */
static da_page_t *run_alloc_locked(da_heap_t *heap, size_t slices, size_t align) {
  da_assert(slices >= 1 && slices <= DA_SLICES - da_first_run && (align & (align - 1)) == 0);
  slices = (slices + da_page_slices - 1) & ~(da_page_slices - 1);   /* whole OS pages */
  if (align < da_page_slices) align = da_page_slices;
  da_page_t *run = span_find(heap, slices, align);
  /* Pages kept for their bins (page.c) are resident: before a clean run is
   * touched or a segment mapped, they go back one at a time, oldest first, until
   * a dirty run fits, but no more of them than the run has pool pages: one fits
   * a run of up to a pool page, and pages released from between live ones join
   * into no larger run, so the rest stay kept for their bins. */
  size_t release = (slices + DA_POOL_PAGE_SLICES - 1) / DA_POOL_PAGE_SLICES;
  while ((run == NULL || !run->dirty) && release-- > 0 && da_page_release_one_kept_locked(heap))
    run = span_find(heap, slices, align);
  /* Only clean runs fit: a warm cached segment costs no new resident memory,
   * a clean run does (a batch that refills its heap would otherwise fault in
   * the untouched tail of a segment while the cache holds one it touched). */
  if ((run == NULL || !run->dirty) && segment_new(heap, true) != NULL) run = span_find(heap, slices, align);
  if (run == NULL && da_segment_try_adopt(heap)) run = span_find(heap, slices, align);   /* nests the lock */
  if (run == NULL) run = span_join(heap, slices, align);
  if (run == NULL) {
    da_segment_t *seg = segment_new(heap, false);
    if (seg == NULL) return NULL;
    segment_coalesce(heap, seg, true);   /* a cached segment keeps its runs apart */
    run = span_find(heap, slices, align);
    if (run == NULL) return NULL;
  }
  da_segment_t *seg = da_segment_of_page(run);
  size_t idx = da_segment_index(seg, run);
  size_t count = run->slice_count;
  bool dirty = run->dirty;
  uint32_t freed_at = run->magic;
  span_remove(heap, run);
  size_t start = align_up(idx, align);
  if (start > idx) span_insert(heap, seg, idx, start - idx, dirty, freed_at);
  count -= start - idx;
  idx = start;
  run = &seg->pages[idx];
  if (count > slices) span_insert(heap, seg, idx + slices, count - slices, dirty, freed_at);
  run->slice_count = (uint16_t)slices;
  run->slice_offset = 0;
  DA_SET(run->kind, (uint8_t)DA_KIND_NONE);   /* not FREE any more, under the span lock */
  run->dirty = dirty;              /* tells calloc whether the run may hold old data */
  DA_SET(run->flags, (uint8_t)0);
  run->next = run->prev = NULL;
  for (size_t i = 1; i < slices; i++) {
    seg->pages[idx + i].slice_offset = (uint16_t)i;
    DA_SET(seg->pages[idx + i].kind, (uint8_t)DA_KIND_NONE);
  }
  seg->used_slices += (uint32_t)slices;
  in_use_add((ptrdiff_t)slices);
  da_asan_unpoison(da_page_start(seg, run), slices * DA_SLICE_SIZE);   /* a pool page's blocks, before */
  return run;
}

void da_segment_run_free(da_heap_t *heap, da_page_t *run) {
  da_span_lock(heap);
  da_segment_run_free_locked(heap, run);
  da_span_unlock(heap);
}

/* With the heap's span lock held (by the owner or a reclaimer). */
void da_segment_run_free_locked(da_heap_t *heap, da_page_t *run) {
  da_segment_run_free_at_locked(heap, run, (uint32_t)da_clock_ms());
}

/* The same, the run counting as freed at freed_ms (its purge is due a delay after). */
void da_segment_run_free_at_locked(da_heap_t *heap, da_page_t *run, uint32_t freed_ms) {
  da_segment_t *seg = da_segment_of_page(run);
  size_t idx = da_segment_index(seg, run);
  size_t count = run->slice_count;
  seg->used_slices -= (uint32_t)count;
  in_use_add(-(ptrdiff_t)count);
  DA_SET(run->kind, (uint8_t)DA_KIND_FREE);        /* until span_insert, for the checks below */
  size_t next_idx = idx + count;   /* the run is dirty: it merges with dirty neighbours */
  /* relaxed reads: a run its owner just took (kind NONE under the lock) gets its kind
   * outside the lock, and a reclaimer may hold the lock meanwhile */
  if (next_idx < DA_SLICES && DA_GET(seg->pages[next_idx].kind) == DA_KIND_FREE && seg->pages[next_idx].dirty) {
    da_page_t *next = &seg->pages[next_idx];
    span_remove(heap, next);
    count += next->slice_count;
    span_absorb(run, next);
  }
  if (idx > da_first_run) {
    da_page_t *last = &seg->pages[idx - 1];
    da_page_t *prev = last - last->slice_offset;
    if (DA_GET(prev->kind) == DA_KIND_FREE && prev->dirty) {
      span_remove(heap, prev);
      size_t prev_idx = da_segment_index(seg, prev);
      count += idx - prev_idx;
      span_absorb(prev, run);
      idx = prev_idx;
    }
  }
  if (seg->used_slices == 0 && (heap->segments != seg || seg->next != NULL)) {
    span_insert(heap, seg, idx, count, true, freed_ms);
    segment_release(heap, seg);
    return;
  }
  span_insert(heap, seg, idx, count, true, freed_ms);
}

/* Grow a run in place to `slices` (rounded up to whole OS pages) by taking the
 * front of the free run that follows it; false when that run is missing or too
 * short. */
bool da_segment_run_grow(da_heap_t *heap, da_page_t *run, size_t slices) {
  slices = (slices + da_page_slices - 1) & ~(da_page_slices - 1);
  da_segment_t *seg = da_segment_of_page(run);
  size_t idx = da_segment_index(seg, run), count = run->slice_count;
  if (slices <= count || idx + slices > DA_SLICES) return false;
  da_span_lock(heap);
  da_page_t *next = &seg->pages[idx + count];
  bool ok = idx + count < DA_SLICES && next->kind == DA_KIND_FREE && count + next->slice_count >= slices;
  if (ok) {
    size_t next_count = next->slice_count;
    bool dirty = next->dirty;
    uint32_t freed_at = next->magic;
    span_remove(heap, next);
    if (count + next_count > slices)
      span_insert(heap, seg, idx + slices, count + next_count - slices, dirty, freed_at);
    for (size_t i = count; i < slices; i++) {
      seg->pages[idx + i].slice_offset = (uint16_t)i;
      DA_SET(seg->pages[idx + i].kind, (uint8_t)DA_KIND_NONE);
    }
    run->slice_count = (uint16_t)slices;
    seg->used_slices += (uint32_t)(slices - count);
    in_use_add((ptrdiff_t)(slices - count));
    da_asan_unpoison(da_page_start(seg, run) + count * DA_SLICE_SIZE, (slices - count) * DA_SLICE_SIZE);
  }
  da_span_unlock(heap);
  return ok;
}

/* Return the pages of dirty free runs to the OS: those freed at least
 * purge_delay ms ago, or all of them when force is set. */
void da_segment_purge(da_heap_t *heap, bool force) {
  if (atomic_load_explicit(&heap->dirty_runs, memory_order_relaxed) == 0) return;
  da_span_lock(heap);
  da_segment_purge_locked(heap, force);
  da_span_unlock(heap);
}

void da_segment_purge_locked(da_heap_t *heap, bool force) {
  uint32_t now = (uint32_t)da_clock_ms();
  uint32_t delay = (uint32_t)da_options.purge_delay_ms;
  bool purged = false;
  for (size_t b = 0; b < DA_SPAN_BINS; b++) {
    da_page_t *next;
    for (da_page_t *run = heap->spans[b].first; run; run = next) {
      next = run->next;
      if (!force && now - run->magic < delay) continue;
      /* transparent huge pages: a hole smaller than a huge page is left in it
       * (purging it would split the page), but for malloc_trim and forced purges */
      if (!force && da_options.thp && run->slice_count < DA_THP_SLICES) continue;
      da_segment_t *seg = da_segment_of_page(run);
      if (!run->dirty) continue;
      da_os_purge(da_page_start(seg, run), (size_t)run->slice_count << DA_SLICE_SHIFT);
      run->dirty = 0;
      atomic_store_explicit(&heap->dirty_runs, atomic_load_explicit(&heap->dirty_runs, memory_order_relaxed) - 1, memory_order_relaxed);
      heap->dirty_bytes -= (size_t)run->slice_count << DA_SLICE_SHIFT;
      seg->purged = 1;
      purged = true;
    }
  }
  if (!purged) return;
  for (da_segment_t *seg = heap->segments; seg; seg = seg->next) {   /* purged runs join their clean neighbours */
    if (!seg->purged) continue;
    seg->purged = 0;
    segment_coalesce(heap, seg, false);
  }
}

/* ---- abandonment (thread exit) and adoption ---------------------------------------------- */

/* Called by an exiting thread after its pages are collected: every page is set
 * ownerless (remote frees then go to the page lists, never to this heap) and
 * the segments move to the abandoned list. */
void da_segment_abandon_all(da_heap_t *heap) {
  da_span_lock(heap);
  for (size_t b = 0; b < DA_SPAN_BINS; b++) heap->spans[b].first = heap->spans[b].last = NULL;
  /* and the page queues: the heap stays on the live list until its thread is
   * gone, and a reclaimer walking them must not reach pages that an adopter
   * owns by then */
  for (size_t b = 0; b < DA_BIN_COUNT; b++) heap->bins[b].first = heap->bins[b].last = NULL;
  heap->full.first = heap->full.last = NULL;
  atomic_store_explicit(&heap->dirty_runs, 0, memory_order_relaxed);
  heap->dirty_bytes = 0;
  da_lock(&segments_lock);
  da_segment_t *seg = heap->segments;
  heap->segments = NULL;
  da_unlock(&segments_lock);
  while (seg) {
    da_segment_t *next = seg->next;
    for (size_t i = da_first_run; i < DA_SLICES; i += seg->pages[i].slice_count) {
      da_page_t *page = &seg->pages[i];
      if (page->kind == DA_KIND_POOL || page->kind == DA_KIND_BULK) da_page_set_owner(page, NULL);
      else atomic_store_explicit(&page->heap, NULL, memory_order_relaxed);
      page->next = page->prev = NULL;
    }
    da_lock(&segments_lock);
    seg->heap = NULL;
    seg->prev = NULL;
    seg->next = abandoned_list;
    if (abandoned_list) abandoned_list->prev = seg;
    abandoned_list = seg;
    seg->abandoned = 1;
    atomic_fetch_add_explicit(&abandoned_count, 1, memory_order_relaxed);
    da_unlock(&segments_lock);
    seg = next;
  }
  da_span_unlock(heap);
}

/* Take one abandoned segment: its free runs join our spans, its pages our queues
 * (after collecting what other threads freed into them meanwhile). */
static void abandoned_unlink_locked(da_segment_t *seg) {
  if (seg->prev) seg->prev->next = seg->next;
  else abandoned_list = seg->next;
  if (seg->next) seg->next->prev = seg->prev;
  seg->next = seg->prev = NULL;
  seg->abandoned = 0;
  atomic_fetch_sub_explicit(&abandoned_count, 1, memory_order_relaxed);
}

static void segment_adopt(da_heap_t *heap, da_segment_t *seg);

bool da_segment_try_adopt(da_heap_t *heap) {
  if (atomic_load_explicit(&abandoned_count, memory_order_relaxed) == 0) return false;
  da_lock(&segments_lock);
  da_segment_t *seg = abandoned_list;
  if (seg) abandoned_unlink_locked(seg);
  da_unlock(&segments_lock);
  if (seg == NULL) return false;
  segment_adopt(heap, seg);
  return true;
}

static void segment_adopt(da_heap_t *heap, da_segment_t *seg) {
  da_span_lock(heap);
  segment_link(heap, seg);
  heap->stats.segments_adopted++;
  uint16_t in_use[DA_SLICES];
  size_t n = 0;
  uint32_t now = (uint32_t)da_clock_ms();
  for (size_t i = da_first_run; i < DA_SLICES; i += seg->pages[i].slice_count) {
    da_page_t *page = &seg->pages[i];
    if (page->kind == DA_KIND_FREE) span_insert(heap, seg, i, page->slice_count, page->dirty, now);
    else in_use[n++] = (uint16_t)i;
  }
  /* The last page freed here may release the segment (run_free does that); a
   * segment with no page in use at all is released here. */
  for (size_t k = 0; k < n; k++) da_page_adopt(heap, &seg->pages[in_use[k]]);
  if (n == 0 && (heap->segments != seg || seg->next != NULL)) segment_release(heap, seg);
  da_span_unlock(heap);
}

/* The purger's pass over abandoned segments.  Their pages have no owner, so it
 * collects what other threads freed into them: a pool page or bulk run whose
 * blocks have all come back becomes a dirty free run, and dirty free runs are
 * purged after the delay.  A segment left with free runs only goes to the
 * segment cache.  Returns whether a dirty run still waits for its delay.
 * All under segments_lock: an adopter unlinks a segment under
 * it before touching its pages, and remote frees only push onto xfree lists. */
bool da_segment_purge_abandoned(uint32_t now, uint32_t delay) {
  if (atomic_load_explicit(&abandoned_count, memory_order_relaxed) == 0) return false;
  bool waiting = false;
  da_lock(&segments_lock);
  da_segment_t *next;
  for (da_segment_t *seg = abandoned_list; seg; seg = next) {
    next = seg->next;
    bool dirty = false;
    for (size_t i = da_first_run; i < DA_SLICES; i += seg->pages[i].slice_count) {
      da_page_t *run = &seg->pages[i];
      if (run->kind == DA_KIND_POOL || run->kind == DA_KIND_BULK) {
        da_page_collect(run);
        if (da_used(run) != 0) continue;
        seg->used_slices -= run->slice_count;
        in_use_add(-(ptrdiff_t)run->slice_count);
        atomic_store_explicit(&run->xfree, 0, memory_order_relaxed);
        free_run_init(NULL, seg, i, run->slice_count, true, now);
      }
      if (run->kind != DA_KIND_FREE) continue;
      if (run->dirty && now - run->magic >= delay) {
        da_os_purge(da_page_start(seg, run), (size_t)run->slice_count << DA_SLICE_SHIFT);
        run->dirty = 0;
      }
      dirty |= run->dirty;
    }
    waiting |= dirty;
    segment_coalesce(NULL, seg, seg->used_slices == 0 && !dirty);
    if (seg->used_slices == 0 && seg->kind == DA_SEGMENT_NORMAL) {
      abandoned_unlink_locked(seg);
      cache_push_locked(seg, dirty);
    }
  }
  da_unlock(&segments_lock);
  return waiting;
}

/* ---- validity (DA_DEBUG ≥ 3 walks call it after each state change) ------------------------ */
bool da_segment_is_valid(const da_segment_t *seg) {
  DA_CHECK(seg->kind == DA_SEGMENT_NORMAL);
  size_t used = 0;
  bool prev_free = false, prev_dirty = false;
  size_t i = da_first_run;
  while (i < DA_SLICES) {
    const da_page_t *run = &seg->pages[i];
    size_t count = run->slice_count;
    DA_CHECK(run->slice_offset == 0 && count != 0 && i + count <= DA_SLICES);
    DA_CHECK(i % da_page_slices == 0 && count % da_page_slices == 0);   /* whole OS pages */
    if (run->kind == DA_KIND_FREE) {
      DA_CHECK(!prev_free || run->dirty != prev_dirty);
      prev_dirty = run->dirty;
      DA_CHECK(count == 1 || seg->pages[i + count - 1].slice_offset == count - 1);
      prev_free = true;
    } else {
      DA_CHECK(run->kind == DA_KIND_POOL || run->kind == DA_KIND_BULK || run->kind == DA_KIND_CACHED);
      for (size_t k = 1; k < count; k++) DA_CHECK(seg->pages[i + k].slice_offset == k);
      if (run->kind == DA_KIND_POOL) DA_CHECK(da_page_is_valid(run));
      used += count;
      prev_free = false;
    }
    i += count;
  }
  DA_CHECK(i == DA_SLICES && used == seg->used_slices);
  return true;
}

/* ---- read-only walks for the statistics (stats.c) ------------------------------------------ */
void da_segment_foreach_abandoned(void (*fn)(const da_segment_t *, da_totals_t *), da_totals_t *t) {
  da_lock(&segments_lock);
  for (da_segment_t *seg = abandoned_list; seg; seg = seg->next) fn(seg, t);
  da_unlock(&segments_lock);
}

void da_segment_foreach_cached(void (*fn)(const da_segment_t *, da_totals_t *), da_totals_t *t) {
  da_lock(&segments_lock);
  for (da_segment_t *seg = cache_list; seg; seg = seg->next) fn(seg, t);
  da_unlock(&segments_lock);
}
