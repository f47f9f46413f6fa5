/* bulk.c — blocks above 4096 bytes (bulk_alloc / bulk_free).
 *
 *  - up to DA_HUGE_THRESHOLD (1 MiB): a run of whole OS pages in one of the heap's
 *    segments, one block per run, header = the run's page header (kind BULK).
 *    Freed runs coalesce with their free neighbours and are reused at once, so a
 *    malloc/free loop makes no system call; their pages go back to the OS after
 *    the purge delay.
 *  - above: a huge segment, one mapping of its own: the segment header in the
 *    first slice, the block at offset 4 KiB (or at its alignment, up to 4 MiB
 *    where the block starts on the next segment boundary: see da_segment_of).
 *    A block that realloc moves at DA_REALLOC_MAP_MIN (256 KiB) or more gets one
 *    too.  Freed mappings wait in a cache (8 mappings, 1 GiB at most; 32 MiB
 *    without a running purger thread) for the purge delay.  Any huge request takes a
 *    cached mapping when there is one, resized with mremap, so its resident
 *    pages are reused instead of faulted in again.  Before fresh memory comes
 *    from the OS (a new segment, a huge block that grows) a cache above 32 MiB
 *    is emptied.  realloc resizes huge blocks with mremap, never copying.
 *  - the bulk cache of freed runs up to 64 KiB: bulk_cache.h.
 *
 * Invariants: a bulk run in use has xfree in state NOTIFY (it is always "full"),
 * so a free from another thread reaches the owner through heap->delayed; it is
 * on no queue (thread exit finds it by walking the segments);
 * a huge segment belongs to no heap and any thread may free it; its segmap bit
 * is set exactly while its block is live.
 */
#include "internal.h"
#include "bulk_cache.h"
#include <errno.h>
#include <string.h>

#define DA_HUGE_CACHE_SLOTS 8

static pthread_mutex_t huge_lock = PTHREAD_MUTEX_INITIALIZER;
static da_segment_t *huge_cache[DA_HUGE_CACHE_SLOTS];
static uint64_t huge_cache_time[DA_HUGE_CACHE_SLOTS];
static _Atomic(size_t) huge_cached_bytes;
static _Atomic(uint64_t) huge_mallocs, huge_frees;
static _Atomic(size_t) huge_live_bytes;

/* Held through a whole trim of the huge cache, the unmapping included, so that
 * malloc_trim returns only once a concurrent trim by the purger is done. */
static pthread_mutex_t huge_trim_lock = PTHREAD_MUTEX_INITIALIZER;

void da_huge_lock(bool lock, bool child) {
  if (child) {
    pthread_mutex_init(&huge_lock, NULL);
    pthread_mutex_init(&huge_trim_lock, NULL);
  } else if (lock) {
    pthread_mutex_lock(&huge_trim_lock);
    pthread_mutex_lock(&huge_lock);
  } else {
    pthread_mutex_unlock(&huge_lock);
    pthread_mutex_unlock(&huge_trim_lock);
  }
}

size_t da_huge_cache_bytes(void) {
  return atomic_load_explicit(&huge_cached_bytes, memory_order_relaxed);
}

void da_huge_counts(uint64_t *mallocs, uint64_t *frees, size_t *live_bytes) {
  *mallocs = atomic_load(&huge_mallocs);
  *frees = atomic_load(&huge_frees);
  *live_bytes = atomic_load(&huge_live_bytes);
}

static size_t round_slices(size_t n) { return (n + DA_SLICE_SIZE - 1) & ~(DA_SLICE_SIZE - 1); }

/* ---- runs ------------------------------------------------------------------------------------ */
void da_bulk_cache_flush(da_heap_t *heap, bool force) {
  if (!force && da_clock_ms() - heap->bulk_cache_used_ms < (uint64_t)da_options.purge_delay_ms) return;
  for (size_t n = 1; n <= DA_BULK_CACHE_SLICES; n++) {
    da_page_t *run = heap->bulk_cache[n];
    heap->bulk_cache[n] = NULL;
    heap->bulk_cached[n] = 0;
    while (run) {
      da_page_t *next = run->next;
      run->next = NULL;
      da_segment_run_free(heap, run);
      run = next;
    }
  }
}

static void *run_block_alloc(da_heap_t *heap, size_t size, size_t align, bool zero) {
  size_t extra = align > DA_SLICE_SIZE ? align - DA_SLICE_SIZE : 0;
  size_t slices = (size + extra + DA_SLICE_SIZE - 1) >> DA_SLICE_SHIFT;
  if (atomic_load_explicit(&heap->delayed, memory_order_relaxed) != 0) da_heap_collect_delayed(heap);
  da_page_t *run = slices <= DA_BULK_CACHE_SLICES ? da_bulk_cache_take(heap, slices) : NULL;
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
  run->reserved = 1;
  DA_SET(run->capacity, (uint16_t)1);
  run->free = NULL;
  da_used_set(run, 1);
  atomic_store_explicit(&run->xfree, DA_X_NOTIFY, memory_order_relaxed);
  atomic_store_explicit(&run->heap, heap, memory_order_release);
  DA_SET(run->flags, (uint8_t)(p != start ? DA_PAGE_HAS_ALIGNED : 0));
  heap->stats.bulk_mallocs++;
  if (zero) {
    if (run->dirty) memset(p, 0, size);
  } else {
    ((da_block_t *)p)->key = 0;
  }
  da_purger_check();
  return p;
}

void da_bulk_free(da_heap_t *heap, da_page_t *page) {
  DA_SET(page->flags, (uint8_t)0);
  atomic_store_explicit(&page->xfree, 0, memory_order_relaxed);
  heap->stats.bulk_frees++;
  if (da_bulk_cache_put(heap, page)) {
    da_bulk_cache_used(heap);
    return;
  }
  da_segment_run_free(heap, page);
  da_heap_maintain(heap);
}

/* ---- huge segments ------------------------------------------------------------------------------- */
static size_t huge_offset(size_t align) {
  if (align <= DA_SLICE_SIZE) return DA_SLICE_SIZE;
  return align <= DA_SEGMENT_SIZE ? align : DA_SEGMENT_SIZE;
}

/* A cached mapping for a block that needs map bytes: one of at least map and at
 * most 25 % more, as it is; else the smallest larger one, cut down to map; else
 * the largest smaller one, grown to map by mremap (its resident pages stay, only
 * the new part faults in).  So while the cache holds anything, no huge request
 * maps fresh memory, and a freed mapping is either reused or returned after the
 * purge delay.  *dirty: how many bytes of the block may be non-zero. */
static da_segment_t *huge_cache_take(size_t map, size_t *dirty) {
  if (da_huge_cache_bytes() == 0) return NULL;
  size_t fit = DA_HUGE_CACHE_SLOTS, larger = DA_HUGE_CACHE_SLOTS, smaller = DA_HUGE_CACHE_SLOTS;
  pthread_mutex_lock(&huge_lock);
  for (size_t i = 0; i < DA_HUGE_CACHE_SLOTS; i++) {
    const da_segment_t *s = huge_cache[i];
    if (s == NULL) continue;
    if (s->map_size >= map && s->map_size - map <= map / 4) {
      fit = i;
      break;
    }
    if (s->map_size > map) {
      if (larger == DA_HUGE_CACHE_SLOTS || s->map_size < huge_cache[larger]->map_size) larger = i;
    } else if (smaller == DA_HUGE_CACHE_SLOTS || s->map_size > huge_cache[smaller]->map_size) {
      smaller = i;
    }
  }
  size_t pick = fit != DA_HUGE_CACHE_SLOTS ? fit : larger != DA_HUGE_CACHE_SLOTS ? larger : smaller;
  da_segment_t *seg = NULL;
  if (pick != DA_HUGE_CACHE_SLOTS) {
    seg = huge_cache[pick];
    huge_cache[pick] = NULL;
    atomic_fetch_sub(&huge_cached_bytes, seg->map_size);
  }
  pthread_mutex_unlock(&huge_lock);
  if (seg == NULL) return NULL;
  *dirty = seg->huge_size;
  if (pick != fit) {
    if (seg->map_size < map) da_huge_cache_shed();
    da_segment_t *moved = da_os_remap(seg, seg->map_size, map, DA_SEGMENT_SIZE);
    if (moved == NULL) {   /* the OS refused: give it back, the caller maps afresh */
      da_os_free(seg, seg->map_size, false);
      return NULL;
    }
    seg = moved;
    seg->map_size = map;
  }
  return seg;
}

/* The byte limit of the huge cache: large while the purger thread runs and
 * returns expired mappings after the purge delay, small when only slow paths
 * would (the purger is off, failed to start, or ended with the last heap: it
 * then sheds the cache down to this, under huge_lock, and a put that reads the
 * flag under that lock after it sees the small limit). */
static size_t huge_cache_limit(void) {
  return atomic_load(&da_purger_running) ? DA_HUGE_CACHE_MAX : DA_HUGE_CACHE_KEEP;
}

static bool huge_cache_put(da_segment_t *seg) {
  if (da_options.purge_delay_ms == 0) return false;
  bool done = false;
  pthread_mutex_lock(&huge_lock);
  bool room = da_huge_cache_bytes() + seg->map_size <= huge_cache_limit();
  for (size_t i = 0; i < DA_HUGE_CACHE_SLOTS && room && !done; i++) {
    if (huge_cache[i] == NULL) {
      huge_cache[i] = seg;
      huge_cache_time[i] = da_clock_ms();
      atomic_fetch_add(&huge_cached_bytes, seg->map_size);
      done = true;
    }
  }
  pthread_mutex_unlock(&huge_lock);
  return done;
}

/* Unmap cached mappings older than the purge delay (all of them with all). */
void da_huge_cache_trim(bool all) {
  if (all) pthread_mutex_lock(&huge_trim_lock);
  else if (da_huge_cache_bytes() == 0 || pthread_mutex_trylock(&huge_trim_lock) != 0) return;
  da_segment_t *expired[DA_HUGE_CACHE_SLOTS];
  size_t n = 0;
  uint64_t now = da_clock_ms();
  pthread_mutex_lock(&huge_lock);
  for (size_t i = 0; i < DA_HUGE_CACHE_SLOTS; i++) {
    da_segment_t *s = huge_cache[i];
    if (s && (all || now - huge_cache_time[i] >= (uint64_t)da_options.purge_delay_ms)) {
      huge_cache[i] = NULL;
      atomic_fetch_sub(&huge_cached_bytes, s->map_size);
      expired[n++] = s;
    }
  }
  pthread_mutex_unlock(&huge_lock);
  for (size_t i = 0; i < n; i++) da_os_free(expired[i], expired[i]->map_size, false);
  pthread_mutex_unlock(&huge_trim_lock);
}

/* Called before fresh memory comes from the OS (a new segment, a huge block
 * grown in place): cached mappings beyond the small limit would only add to the
 * peak then, so they all go back. */
void da_huge_cache_shed(void) {
  if (da_huge_cache_bytes() > DA_HUGE_CACHE_KEEP) da_huge_cache_trim(true);
}

static void *huge_alloc(size_t size, size_t align, bool zero) {
  size_t off = huge_offset(align);
  if (size > (size_t)PTRDIFF_MAX - off - DA_SLICE_SIZE) { errno = ENOMEM; return NULL; }
  size_t map = off + round_slices(size);
  size_t dirty = 0;
  da_segment_t *seg = align <= DA_SLICE_SIZE ? huge_cache_take(map, &dirty) : NULL;
  bool fresh = seg == NULL;
  if (fresh) {
    size_t map_align = align > DA_SEGMENT_SIZE ? align : DA_SEGMENT_SIZE;
    size_t map_offset = align > DA_SEGMENT_SIZE ? DA_SEGMENT_SIZE : 0;
    seg = da_os_alloc_huge(map, map_align, map_offset);
    if (seg == NULL) {   /* out of memory: give back what is free, try once more */
      da_heap_release_free(da_heap_tls);
      seg = da_os_alloc_huge(map, map_align, map_offset);
    }
    if (seg == NULL) { errno = ENOMEM; return NULL; }
    seg->map_size = map;
  }
  seg->kind = DA_SEGMENT_HUGE;
  seg->from_sbrk = 0;
  seg->heap = NULL;
  seg->used_slices = 0;
  seg->huge_size = seg->map_size - off;
  da_page_t *page = &seg->pages[off >> DA_SLICE_SHIFT];
  memset(page, 0, sizeof *page);
  DA_SET(page->kind, (uint8_t)DA_KIND_HUGE);
  page->block_size = seg->huge_size > UINT32_MAX ? UINT32_MAX : (uint32_t)seg->huge_size;
  da_used_set(page, 1);
  da_segmap_set(seg, true);
  atomic_fetch_add_explicit(&huge_mallocs, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&huge_live_bytes, seg->huge_size, memory_order_relaxed);
  uint8_t *p = (uint8_t *)seg + off;
  da_purger_check();
  if (zero) {
    if (!fresh) memset(p, 0, size < dirty ? size : dirty);
  } else if (!fresh) {
    ((da_block_t *)p)->key = 0;
  }
  return p;
}

static void huge_free(da_segment_t *seg) {
  da_segmap_set(seg, false);
  atomic_fetch_add_explicit(&huge_frees, 1, memory_order_relaxed);
  atomic_fetch_sub_explicit(&huge_live_bytes, seg->huge_size, memory_order_relaxed);
  if (seg->map_size - seg->huge_size == DA_SLICE_SIZE && huge_cache_put(seg)) {
    da_purger_notify();
    return;
  }
  da_os_free(seg, seg->map_size, false);
}

/* A mapping of its own for a block that realloc moves (DA_REALLOC_MAP_MIN and
 * more): it grows further with mremap, moving pages rather than bytes, and
 * leaves no hole in a segment behind. */
void *da_huge_alloc(size_t size) {
  if (size > (size_t)PTRDIFF_MAX) { errno = ENOMEM; return NULL; }
  return huge_alloc(size, DA_ALIGN, false);
}

void *da_bulk_alloc(da_heap_t *heap, size_t size, size_t align, bool zero) {
  if (align < DA_ALIGN) align = DA_ALIGN;
  if (size < DA_ALIGN) size = DA_ALIGN;   /* an aligned block must lie inside its run */
  size_t extra = align > DA_SLICE_SIZE ? align - DA_SLICE_SIZE : 0;
  if (size <= DA_HUGE_THRESHOLD && extra <= DA_HUGE_THRESHOLD - size) {
    if (heap == &da_heap_empty && (heap = da_heap_get_slow()) == NULL) { errno = ENOMEM; return NULL; }
    return run_block_alloc(heap, size, align, zero);
  }
  return huge_alloc(size, align, zero);
}

/* Free a huge block (any thread). */
void da_huge_free(da_page_t *page) {
  huge_free(da_segment_of_page(page));
}

size_t da_bulk_usable(const da_page_t *page, const void *p) {
  da_segment_t *seg = da_segment_of_page(page);
  if (page->kind == DA_KIND_HUGE) return seg->huge_size;
  return (size_t)(da_page_start(seg, page) + page->block_size - (const uint8_t *)p);
}

/* Grow a bulk block in place over the free run after it (owner thread only). */
bool da_bulk_grow(da_page_t *page, size_t size) {
  da_heap_t *heap = da_heap_tls;
  if (da_owner(page) != heap || (page->flags & DA_PAGE_HAS_ALIGNED) || size > DA_HUGE_THRESHOLD) return false;
  size_t slices = (size + DA_SLICE_SIZE - 1) >> DA_SLICE_SHIFT;
  if (!da_segment_run_grow(heap, page, slices)) return false;
  page->block_size = (uint32_t)(slices << DA_SLICE_SHIFT);
  return true;
}

/* Resize a huge block in place or by moving its pages; NULL when the block must
 * be copied instead (new size no longer huge) or the OS refused. */
void *da_bulk_realloc_huge(da_page_t *page, void *p, size_t size) {
  da_segment_t *seg = da_segment_of_page(page);
  size_t off = (size_t)((uint8_t *)p - (uint8_t *)seg);
  if (size <= seg->huge_size && size >= seg->huge_size / 2) return p;
  if (size < DA_REALLOC_MAP_MIN || size > (size_t)PTRDIFF_MAX / 2) return NULL;
  /* growing: a quarter more than asked, so that a block growing in small steps
   * costs one mremap per 25 % of growth, not one per page */
  if (size > seg->huge_size) {
    size += size / 4;
    da_huge_cache_shed();
  }
  size_t map = off + round_slices(size);
  da_segmap_set(seg, false);
  da_segment_t *moved = da_os_remap(seg, seg->map_size, map, DA_SEGMENT_SIZE);
  if (moved == NULL) { da_segmap_set(seg, true); return NULL; }
  atomic_fetch_add_explicit(&huge_live_bytes, map - off - moved->huge_size, memory_order_relaxed);
  moved->map_size = map;
  moved->huge_size = map - off;
  da_page_t *mp = &moved->pages[off >> DA_SLICE_SHIFT];
  mp->block_size = moved->huge_size > UINT32_MAX ? UINT32_MAX : (uint32_t)moved->huge_size;
  da_segmap_set(moved, true);
  return (uint8_t *)moved + off;
}
