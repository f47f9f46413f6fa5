/* alloc.c — allocation entry points' cores: malloc, aligned, zeroed, realloc.
 *
 * Fast path (malloc of ≤ 4096 B on a thread whose page has a free block): one
 * TLS load, the class computation, the page and its first free block, the
 * block's link decoded and checked, its free key checked (da_pool_pop), three
 * stores.  No lock, no atomic read-modify-write, no counter: statistics come
 * from page state when a report is asked for.  A request of a bulk class
 * (4097–32768 B) takes the same path after one call; larger ones take a run of
 * whole pages (bulk.c) or a mapping (huge.c).
 * Invariants: every pointer returned is 16-byte aligned (8-byte for a 0–8 byte
 * request is never needed: the smallest class is 16 B); NULL comes with errno =
 * ENOMEM; a size above PTRDIFF_MAX never reaches the OS layer.
 */
#include "internal.h"
#include "bulk_cache.h"
#include <errno.h>
#include <string.h>

/* Every path but the pool fast path is marked busy (lock.c): a fork from a
 * signal handler that interrupted it gives the child a fresh heap.  A bulk run
 * or a mapping, not sampled (size ≤ PTRDIFF_MAX - 1). */
DA_NOINLINE void *da_large_block(size_t size, size_t align, bool zero) {
  bool harden = da_options.harden;   /* a byte at least for the canary */
  da_busy_enter();
  if (unlikely(da_vg)) da_vg_quiet();
  void *p = da_bulk_alloc(da_heap_tls, size + harden, align, zero);
  if (harden && p != NULL) {
    da_page_t *page = da_checked_page(p, "malloc", "freed pointer");
    da_harden_large_set(page, p, size);
    if (unlikely(da_vg)) da_vg_alloc(p, size, da_bulk_usable(page, p), zero);
  }
  if (unlikely(da_vg)) da_vg_loud();
  da_busy_leave();
  return p;
}

/* The same, counted down by the sampling countdown (sample.c). */
DA_NOINLINE void *da_alloc_large(size_t size, size_t align, bool zero) {
  if (size > (size_t)PTRDIFF_MAX - 1) { errno = ENOMEM; return NULL; }
  da_heap_t *heap = da_heap_get();   /* the thread's first allocation counts too */
  if (heap != NULL && (heap->sample_left = (intptr_t)((uintptr_t)heap->sample_left - size)) < 0) {
    da_busy_enter();
    void *p = da_sample_try(heap, size, align, zero);
    da_busy_leave();
    if (p != NULL) return p;
  }
  return da_large_block(size, align, zero);
}

/* Hardened mode: the request of q, a block realloc made for size bytes (a
 * guarded sample keeps the one it was made for). */
static void harden_request(void *q, size_t size) {
  if (da_guard_contains(q)) return;
  da_page_t *page = da_checked_page(q, "realloc", "freed pointer");
  if (page->kind != DA_KIND_POOL) da_harden_large_set(page, q, size);
  else if (da_page_hardened(page)) da_harden_resize(page, q, size);
}

/* The allocation page of bin has no free block (da_pool_pop_slow). */
DA_NOINLINE void *da_pool_refill(da_heap_t *heap, size_t bin) {
  da_busy_enter();
  void *p = da_page_malloc_slow(heap, bin);
  da_busy_leave();
  return p;
}

/* malloc above 32 KiB: the bulk cache inline, counted down as the pools are
 * (a function of its own, so that malloc_large's class path keeps its registers). */
static DA_NOINLINE void *malloc_run(size_t size, da_heap_t *heap) {   /* size first: it is in place */
  intptr_t left = (intptr_t)((uintptr_t)heap->sample_left - size);   /* the countdown, as the pool's */
  if (unlikely(da_options.harden || left < 0)) return da_alloc_large(size, DA_ALIGN, false);   /* its canary, a sample */
  da_busy_enter();
  void *p = da_bulk_cache_malloc(heap, size);
  da_busy_leave();
  if (unlikely(p == NULL)) return da_alloc_large(size, DA_ALIGN, false);
  heap->sample_left = left;   /* a cache hit: never da_heap_empty's */
  return p;
}

/* malloc above 4096 B, one call from malloc: a bulk class block as malloc takes
 * a pool block, else a run. */
static DA_NOINLINE void *malloc_large(size_t size) {
  da_heap_t *heap = da_heap_tls;
  if (likely(size <= DA_BULK_CLASS_MAX)) {
    size_t bin = da_bulk_class_index(size);
    da_page_t *page = heap->direct[bin];
    return da_pool_pop(heap, page, page->free, size);
  }
  return malloc_run(size, heap);
}

DA_API void *da_malloc(size_t size) {
  if (likely(size <= DA_DIRECT_SMALL_MAX)) {
    da_heap_t *heap = da_heap_tls;
    da_page_t *page = heap->direct_small[(size + 15) >> 4];
    return da_pool_pop(heap, page, page->free, size);
  }
  if (likely(size <= DA_POOL_MAX)) {
    da_heap_t *heap = da_heap_tls;
    size_t bin = da_block_index(size);
    da_page_t *page = heap->direct[bin];
    return da_pool_pop(heap, page, page->free, size);
  }
  return malloc_large(size);
}
#ifdef DA_STD_NAMES   /* the standard libraries: override.c has the other names */
DA_API extern __typeof(da_malloc) malloc __attribute__((alias("da_malloc")));
DA_API extern __typeof(da_malloc) __libc_malloc __attribute__((alias("da_malloc")));
#endif

/* align is a power of two.  Class blocks are aligned to the largest power of
 * two that divides their size (their pages start on a 64 KiB boundary), so an
 * aligned request up to 32 KiB takes the first class that fits it and is
 * aligned enough (da_aligned_class); the rest take runs of whole pages. */
void *da_alloc_aligned(size_t size, size_t align) {
  /* a sampled block (guard.c) of 1-15 B is only 8-byte aligned (of 0 B, 16) */
  if (align <= DA_ALIGN) return da_malloc(align > 8 && size - 1 < 15 ? 16 : size);
  if (da_heap_tls == &da_heap_empty) da_process_init();   /* the options decide the mode */
  if (da_options.harden) {
    if (size > (size_t)PTRDIFF_MAX) { errno = ENOMEM; return NULL; }
    da_busy_enter();
    void *p = da_harden_malloc(da_heap_tls, size, align);
    da_busy_leave();
    return p;
  }
  size_t bin = da_aligned_class(size, align);
  if (bin < DA_BIN_COUNT) return da_malloc(da_bin_size(bin));
  return da_alloc_large(size, align, false);
}

void *da_alloc_zeroed(size_t size) {
  if (size <= DA_BULK_CLASS_MAX) {
    void *p = da_malloc(size);
    if (p != NULL) memset(p, 0, size);
    return p;
  }
  return da_alloc_large(size, DA_ALIGN, true);
}

/* realloc's move: the block (of usable bytes, header page) does not keep, or
 * keeps no longer; huge blocks are resized by remapping, bulk runs grown in
 * place when the pages after them are free, everything else moves (and so do
 * heap-profile samples, prof.c).  harden:
 * the block's canary is set anew wherever it ends up (a mapping of its own
 * gets a byte for it, as da_alloc_large gives one). */
static DA_NOINLINE void *realloc_move(void *p, size_t size, da_page_t *page, size_t usable, bool harden) {
  if (size > (size_t)PTRDIFF_MAX) { errno = ENOMEM; return NULL; }
  if (da_page_sampled(page)) {   /* its record is keyed by its address: copied below */
  } else if (page->kind == DA_KIND_HUGE) {
    void *q = da_huge_realloc(page, p, size + harden);
    if (q != NULL && harden) da_harden_large_set(page, q, size);
    if (q != NULL && unlikely(da_vg)) da_vg_resized(p, q, usable, size, da_huge_usable(page));
    if (q != NULL) return q;
  } else if (page->kind == DA_KIND_BULK && size > usable && da_bulk_grow(page, size + harden)) {
    if (harden) da_harden_large_set(page, p, size);
    if (unlikely(da_vg)) da_vg_resized(p, p, usable, size, da_bulk_usable(page, p));
    return p;
  }
  /* A block that grows past a page moves with a quarter to spare: a string or
   * vector grown in small steps is then copied O(log n) times, not once a page. */
  size_t want = size;
  if (size > usable && size > DA_POOL_MAX && usable + usable / 4 > size) want = usable + usable / 4;
  bool mapped = size > usable && want >= DA_REALLOC_MAP_MIN;
  void *q = mapped ? da_huge_alloc(want + harden) : da_malloc(want);
  if (q == NULL && want != size) { mapped = false; q = da_malloc(size); }
  if (q == NULL) return NULL;
  if (unlikely(da_vg) && mapped)   /* a new mapping (da_malloc's blocks are announced there) */
    da_vg_alloc(q, size, da_bulk_usable(da_checked_page(q, "realloc", "freed pointer"), q), false);
  memcpy(q, p, size < usable ? size : usable);
  if (unlikely(harden)) harden_request(q, size);
  da_free(p);
  return q;
}

/* realloc in hardened mode: usable is the request, and the block is kept (its
 * canary moved) while the new size fits its class or pages and wastes less
 * than half of them. */
static DA_NOINLINE void *realloc_hardened(void *p, size_t size) {
  if (da_guard_contains(p)) return da_guard_realloc(p, size);
  da_page_t *page;
  size_t usable = da_usable_page(p, "realloc", &page);
  if (da_page_hardened(page)) {
    if (size < page->block_size && size >= page->block_size / 2) {
      da_harden_resize(page, p, size);
      if (unlikely(da_vg)) da_vg_resized(p, p, usable, size, page->block_size);
      return p;
    }
  } else if (page->kind != DA_KIND_POOL) {
    size_t room = da_bulk_usable(page, p);
    if (size < room && size >= room / 2) {
      da_harden_large_set(page, p, size);
      if (unlikely(da_vg)) da_vg_resized(p, p, usable, size, room);
      return p;
    }
  }
  return realloc_move(p, size, page, usable, true);
}

/* realloc: keep the block when the new size fits and wastes less than half of
 * it (a size above PTRDIFF_MAX never fits); else realloc_move.  A guarded
 * sample is the one pointer outside the segments that da_checked_page does not
 * report or take for a huge block (it returns NULL). */
static void *realloc_marked(void *p, size_t size) {
  if (unlikely(da_options.harden)) return realloc_hardened(p, size);
  da_page_t *page = da_checked_page(p, "realloc", "freed pointer");
  if (unlikely(page == NULL)) return da_guard_realloc(p, size);
  size_t usable = page->kind == DA_KIND_POOL ? page->block_size : da_bulk_usable(page, p);
  if (size <= usable && size >= usable / 2) return p;
  return realloc_move(p, size, page, usable, false);
}

void *da_realloc_core(void *p, size_t size) {
  if (p == NULL) return da_malloc(size);
  da_busy_enter();
  if (unlikely(da_vg)) da_vg_quiet();   /* the checks read the canary, the copy the old block */
  void *q = realloc_marked(p, size);
  if (unlikely(da_vg)) da_vg_loud();
  da_busy_leave();
  return q;
}
