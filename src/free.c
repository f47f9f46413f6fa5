/* free.c — freeing, pointer validation, and the remote-free push.
 *
 * Every pointer is checked before anything is written: its segment must be in
 * the segment map (else it is looked up among the huge blocks, and reported
 * when it is none of them), it must be the start of a block of a live run
 * (pool blocks: an exact multiple of the block size below the carved count,
 * da_pool_index: one multiply and one rotate), and a pool or bulk block must
 * not carry the free key (the double-free check).  A failed check aborts with
 * one line naming the function.
 *
 * Fast path (owner thread, pool block): segment map test, the header at p's
 * 64 KiB boundary (no load to find it), the block-boundary check, the key
 * check, the link encoded, three stores and the used count, which reaches zero
 * only on a page that is not its bin's allocation page (DA_USED_DIRECT).
 * Invariants: free never changes errno; a block on any free list carries
 * key = da_free_key ^ address and an encoded link (da_link_set).
 */
#include "internal.h"
#include "bulk_cache.h"
#include <string.h>

/* A free list whose link or free key does not check out: reported with the
 * block that holds it and its page.  Never a wild pointer handed out. */
void da_corrupt_list(const void *block) {
  const da_page_t *page = da_page_of(block);
  const void *start = page ? da_page_start(da_segment_of(block), page) : block;
  da_fatal("malloc(): corrupted free list in page %p (block %p)", start, block);
}

const da_block_t da_list_end = { .next = (da_block_t *)1 };

/* The link of b did not land in b's pool page: the end of the list (next is
 * NULL or DA_LIST_END), or corruption. */
da_block_t *da_link_end(const da_block_t *b, uintptr_t t) {
  uintptr_t next = t ^ (uintptr_t)b;
  if (next == 0 || next == (uintptr_t)DA_LIST_END) return (da_block_t *)next;
  da_corrupt_list(b);
}

static DA_NOINLINE da_block_t *pool_pop_slow(da_heap_t *heap, da_page_t *page, da_block_t *b, size_t size);

/* da_pool_pop's other cases.  In hardened mode the keys never match, so every
 * malloc of the pools comes here, and goes on to harden.c with no stack frame
 * (pool_pop_slow's is kept apart for that). */
da_block_t *da_pool_pop_slow(da_heap_t *heap, da_page_t *page, da_block_t *b, size_t size) {
  if (unlikely(da_options.harden)) return da_harden_pop(heap, size);
  return pool_pop_slow(heap, page, b, size);
}

/* The default mode's: the list is empty (b is the sentinel: a new page, or more
 * blocks, from da_pool_refill), b is its last block, or a check failed. */
static da_block_t *pool_pop_slow(da_heap_t *heap, da_page_t *page, da_block_t *b, size_t size) {
  if (b == DA_LIST_END) {
    if (heap == &da_heap_empty) {   /* the thread's first malloc (the process's: the options decide the mode) */
      da_process_init();
      if (da_options.harden) return da_harden_malloc(heap, size, DA_ALIGN);
      if (da_heap_get_slow() != NULL) return da_malloc(size);   /* its own heap's page, and countdown */
    } else if ((heap->sample_left -= (intptr_t)size) < 0) {
      void *p = da_sample_try(heap, size, 0, false);
      if (p != NULL) return p;
    }
    if (unlikely(da_percpu_on)) {   /* a block other threads freed on this CPU, before another page */
      da_block_t *c = da_percpu_pop(da_size_class(size));
      if (c != NULL) return c;
    }
    return da_pool_refill(heap, da_size_class(size));
  }
  /* the list's last block (every carved chunk has one), checked as
   * da_pool_take checks it; everything else (and every report) there.  Its
   * request counts down here (da_pool_pop's checks failed before it did): a
   * sample that falls on it is taken on it, not on the next allocation, whose
   * call site may be another. */
  uintptr_t t = (uintptr_t)b->next ^ heap->link_key;
  bool last = (t ^ (uintptr_t)b) == (uintptr_t)DA_LIST_END && b->key == (heap->free_key ^ (uintptr_t)b);
  if (last) heap->sample_left -= (intptr_t)size;
  if (heap->sample_left < 0) {   /* the countdown ran out */
    void *p = da_sample_try(heap, size, 0, false);
    if (p != NULL) return p;
  }
  if (last) return da_pool_hand_out(page, b, DA_LIST_END);
  return da_pool_take(page, b);
}

/* Take b, the first block of page's free list (not the end), checked as
 * da_pool_pop checks it, with the process's keys. */
da_block_t *da_pool_take(da_page_t *page, da_block_t *b) {
  if (b->key != da_free_mark(b)) da_corrupt_list(b);
  da_block_t *next = da_link_next(b, da_link_key);
  return da_pool_hand_out(page, b, next != NULL ? next : DA_LIST_END);
}

static inline uint16_t kind_and_flags(const da_page_t *page) {
  return DA_GET(page->kind_flags);   /* kind in the low byte (little-endian) */
}


/* Push onto the page's remote list, or, for a full page (NOTIFY), onto the
 * owner's delayed list so that the owner sees the page has room again.  A page
 * with no owner (its thread exited) wakes the purger, which collects it. */
static inline void remote_push(da_page_t *page, da_block_t *block) {
  block->key = da_free_mark(block);
  if (page->kind == DA_KIND_POOL) da_asan_freed(block, page->block_size);
  uintptr_t tf = atomic_load_explicit(&page->xfree, memory_order_relaxed);
  for (;;) {
    if ((tf & DA_X_MASK) == DA_X_NOTIFY) {
      if (!atomic_compare_exchange_weak_explicit(&page->xfree, &tf, (tf & ~DA_X_MASK) | DA_X_FREEING,
                                                 memory_order_acq_rel, memory_order_relaxed))
        continue;
      da_heap_t *heap = atomic_load_explicit(&page->heap, memory_order_acquire);
      da_delayed_count(page, 1);   /* before the push: the owner may collect at once */
      uintptr_t head = atomic_load_explicit(&heap->delayed, memory_order_relaxed);
      do {
        da_link_set(block, (da_block_t *)head, da_link_key);
      } while (!atomic_compare_exchange_weak_explicit(&heap->delayed, &head, (uintptr_t)block,
                                                      memory_order_release, memory_order_relaxed));
      tf = atomic_load_explicit(&page->xfree, memory_order_relaxed);
      while (!atomic_compare_exchange_weak_explicit(&page->xfree, &tf, tf & ~DA_X_MASK,
                                                    memory_order_release, memory_order_relaxed)) {
      }
      da_purger_notify();
      return;
    }
    da_link_set(block, da_x_list(tf), da_link_key);
    uintptr_t pushed = (uintptr_t)block | ((tf & ~DA_X_LIST_MASK) + DA_X_ONE);   /* state kept, count + 1 */
    if (atomic_compare_exchange_weak_explicit(&page->xfree, &tf, pushed, memory_order_release,
                                              memory_order_relaxed)) {
      da_purger_notify();   /* the page may be all free now: its owner may be idle */
      return;
    }
  }
}

void da_free_remote(da_page_t *page, da_block_t *block) { remote_push(page, block); }

/* Another thread's pool block (not hardened, not sampled): onto this CPU's cache
 * (percpu.c) where it runs and has room, else da_free_remote's push. */
DA_NOINLINE void da_free_foreign(da_page_t *page, da_block_t *block) {
  if (unlikely(da_percpu_on) && da_percpu_push(block, page->bin)) return;
  remote_push(page, block);
}

/* The owner frees a block (already marked free) into its page; span lock held. */
void da_free_local(da_heap_t *heap, da_page_t *page, da_block_t *block) {
  if (page->kind == DA_KIND_BULK) { da_bulk_free(heap, page); return; }
  da_asan_freed(block, page->block_size);
  da_link_set(block, page->free, da_link_key);
  page->free = block;
  uint32_t used = da_used(page) - 1;
  da_used_set(page, used);
  if (page->flags & DA_PAGE_IN_FULL) da_page_unfull(heap, page);
  if (used == 0) da_page_emptied(heap, page);
}

/* off (bytes from the start of a pool page, < 64 KiB) starts a carved block. */
static inline bool pool_offset_ok(const da_page_t *page, uint32_t off) {
  return da_pool_index(page, off) < DA_GET(page->capacity);
}

/* Where p must start for page to be its run: pool pages check the block grid. */
static bool pool_block_ok(const da_segment_t *seg, const da_page_t *page, const void *p) {
  return pool_offset_ok(page, (uint32_t)((const uint8_t *)p - da_page_start(seg, page)));
}

static bool bulk_block_ok(const da_segment_t *seg, const da_page_t *page, const void *p) {
  const uint8_t *start = da_page_start(seg, page);
  if ((const uint8_t *)p == start) return true;
  return (DA_GET(page->flags) & DA_PAGE_HAS_ALIGNED) && (const uint8_t *)p > start &&
         (const uint8_t *)p < start + page->block_size;
}

/* Validate p for func; returns its header or aborts.  A pointer into a free run
 * at a page boundary (where bulk blocks start) is reported as freed.  NULL for
 * a pointer into the guarded area (guard.c), which every caller but realloc
 * has sent there before. */
da_page_t *da_checked_page(const void *p, const char *func, const char *freed_word) {
  da_page_t *page = da_page_of(p);
  if (page == NULL) {   /* not in a segment: a guarded sample, a huge block, or not dynalloc's */
    if (da_guard_contains(p)) return NULL;
    da_huge_t *h = da_huge_find(p);
    if (h == NULL) da_invalid(func, "invalid pointer", p);
    return &h->page;
  }
  const da_segment_t *seg = da_segment_of(p);
  /* the kinds of live blocks by tests, most common first: a switch's indirect
   * jump mispredicts when a program alternates between kinds (realloc of a
   * string that is a pool block, then a bulk run, then a mapping) */
  uint8_t kind = DA_GET(page->kind);
  bool ok = false;
  if (kind == DA_KIND_POOL) ok = pool_block_ok(seg, page, p);
  else if (kind == DA_KIND_BULK) ok = bulk_block_ok(seg, page, p);
  if (ok) {
    if (((const da_block_t *)p)->key == da_free_mark(p)) da_invalid(func, freed_word, p);
    return page;
  }
  switch (kind) {
    case DA_KIND_CACHED:
      if ((const uint8_t *)p == da_page_start(seg, page) || (DA_GET(page->flags) & DA_PAGE_HAS_ALIGNED))
        da_invalid(func, freed_word, p);
      break;
    case DA_KIND_FREE:
      if (((uintptr_t)p & (DA_SLICE_SIZE - 1)) == 0) da_invalid(func, freed_word, p);
      break;
    default:
      break;
  }
  da_invalid(func, "invalid pointer", p);
}

static DA_NOINLINE void free_checked(void *p, const char *func);

/* free() of p that a faster path did not take (harden.c: not a live block):
 * checked in full, every misuse reported. */
void da_free_checked(void *p) { free_checked(p, "free"); }

static DA_NOINLINE void free_checked(void *p, const char *func) {
  if (da_guard_contains(p)) { da_guard_free(p, func); return; }
  da_page_t *page = da_checked_page(p, func, "double free");
  if (unlikely(da_options.harden) && page->kind != DA_KIND_POOL) da_harden_large_size(page, p, func);
  if (da_page_sampled(page)) da_prof_free(page, p);   /* a flagged run always comes here */
  if (page->kind == DA_KIND_HUGE) { da_huge_free(page, func); return; }
  da_block_t *block = p;
  da_heap_t *heap = da_heap_tls;
  if (da_page_hardened(page)) { da_harden_free(heap, page, p, func); return; }
  /* An ownerless page (its thread exited) takes the block on its remote list, as
   * any other thread's page would: a thread that adopts the segment to allocate
   * collects it, or else the purger does. */
  if (da_owner(page) == heap) {
    block->key = da_free_mark(block);
    da_span_lock(heap);
    da_free_local(heap, page, block);
    da_span_unlock(heap);
  } else if (page->kind == DA_KIND_POOL && !da_page_sampled(page)) {
    da_free_foreign(page, block);
  } else {
    da_free_remote(page, block);
  }
#if DA_DEBUG >= 3
  if (heap != &da_heap_empty && !da_heap_is_valid(heap)) da_fatal("heap %p invalid after free", heap);
#endif
}

/* Every free but the owner's pool fast path is marked busy (lock.c). */
static DA_NOINLINE void free_generic(void *p, const char *func) {
  da_busy_enter();
  if (unlikely(da_vg)) { da_vg_free(p); da_vg_quiet(); }   /* memcheck's report of a bad free first */
  free_checked(p, func);
  if (unlikely(da_vg)) da_vg_loud();
  da_busy_leave();
}

/* Another thread's pool block p, of page: by one CAS (or onto this CPU's cache);
 * false when p is not a live block's start (free_checked reports it). */
static inline bool foreign_free(const da_segment_t *seg, da_page_t *page, void *p) {
  da_block_t *b = p;
  if (unlikely(!pool_block_ok(seg, page, p) || b->key == da_free_mark(b))) return false;
  da_free_foreign(page, b);
  return true;
}

/* Not the owner's pool block: the owner's bulk block into the bulk cache, another
 * thread's pool block by one CAS, everything else (and every misuse) through
 * free_generic.  Kept out of da_free so that the fast path needs no stack frame. */
static void free_other_body(void *p, const da_segment_t *seg, da_heap_t *heap) {
  da_page_t *page = da_page_in(seg, p);   /* seg is in the segment map */
  uint16_t kf = kind_and_flags(page);
  bool done = false;
  if (kf == DA_KIND_BULK && da_owner(page) == heap && DA_DEBUG < 3 && !da_options.harden &&
      da_bulk_cache_free(heap, page, p)) {
    done = true;
  } else if (DA_DEBUG < 3 && ((kf == DA_KIND_POOL && da_owner(page) != heap) ||
                               (unlikely(da_percpu_on) && kf == (DA_KIND_POOL | DA_PAGE_IN_FULL << 8) &&
                                da_owner(page) != heap))) {
    done = foreign_free(seg, page, p);   /* (onto this CPU's cache: of a full page too) */
  } else if (DA_DEBUG < 3 && (kf & ~(DA_PAGE_IN_FULL << 8)) == (DA_KIND_POOL | DA_PAGE_HARDENED << 8)) {
    da_harden_free_pool(heap, page, p);   /* a tail call: misuse goes back to da_free_checked */
    return;
  }
  if (!done) free_checked(p, "free");
}

/* Under memcheck (vg.c): its report of a bad free first, then dynalloc's own
 * work unreported. */
static DA_NOINLINE DA_COLD void free_other_memcheck(void *p, const da_segment_t *seg, da_heap_t *heap) {
  da_vg_free(p);
  da_vg_quiet();
  free_other_body(p, seg, heap);
  da_vg_loud();
}

static DA_NOINLINE void free_other(void *p, const da_segment_t *seg, da_heap_t *heap) {
  da_busy_enter();
  if (unlikely(da_vg)) free_other_memcheck(p, seg, heap);
  else free_other_body(p, seg, heap);
  da_busy_leave();
}

/* The fast path emptied a page that is not its bin's allocation page
 * (da_page_emptied's test, inline there): kept for its bin, marked busy. */
static DA_NOINLINE void page_keep(da_heap_t *heap, da_page_t *page) {
  da_busy_enter();
  da_page_keep(heap, page);
  da_busy_leave();
}

/* Not in a segment: NULL, a huge block, or a pointer dynalloc never returned. */
static DA_NOINLINE void free_unmapped(void *p) {
  if (p != NULL) free_generic(p, "free");
}

DA_API void da_free(void *p) {
  da_segment_t *seg = da_segment_of(p);
  if (unlikely(!da_segmap_contains((uintptr_t)seg))) { free_unmapped(p); return; }
  /* Pool pages start on 64 KiB boundaries of their segment, so the header at p's
   * 64 KiB boundary is p's page when p is in a pool page (a pointer past the
   * end of a bulk class page, which may be shorter than 64 KiB, fails the
   * carved-bytes test below).  Arithmetic alone finds it: the page address
   * feeds the stores below, and the next malloc's loads of page->free wait for
   * them. */
  da_page_t *page = da_pool_page_at(seg, p);
  da_heap_t *heap = da_heap_tls;
  if (likely(DA_PEEK(uint16_t, page->kind_flags) == DA_KIND_POOL && DA_PEEK(da_heap_t *, page->heap) == heap) &&
      DA_DEBUG < 3) {
    da_block_t *b = p;
    uintptr_t mark = heap->free_key ^ (uintptr_t)b;
    if (unlikely(!pool_offset_ok(page, (uint32_t)((uintptr_t)p & (DA_POOL_PAGE_SIZE - 1))) || b->key == mark)) {
      free_generic(p, "free");   /* reports the misuse */
      return;
    }
    da_link_set(b, page->free, heap->link_key);
    b->key = mark;
    da_asan_freed(b, page->block_size);
    page->free = b;
    if (unlikely(da_used_add(page, -1))) page_keep(heap, page);   /* never the allocation page */
    return;
  }
  free_other(p, seg, heap);
}
#ifdef DA_STD_NAMES   /* the standard libraries: override.c has the other names */
DA_API extern __typeof(da_free) free __attribute__((alias("da_free")));
DA_API extern __typeof(da_free) __libc_free __attribute__((alias("da_free")));
#endif

/* p's header, checked as free checks it, in *page; returns its usable size. */
size_t da_usable_page(const void *p, const char *func, da_page_t **page) {
  *page = da_checked_page(p, func, "freed pointer");
  if ((*page)->kind == DA_KIND_POOL)   /* hardened: the request */
    return unlikely(da_options.harden) ? da_harden_size(*page, p, func) : (*page)->block_size;
  return unlikely(da_options.harden) ? da_harden_large_size(*page, p, func) : da_bulk_usable(*page, p);
}

size_t da_usable_size(const void *p, const char *func) {
  if (p == NULL) return 0;
  if (da_guard_contains(p)) return da_guard_size(p, func);
  da_page_t *page;
  return da_usable_page(p, func, &page);
}

/* free_sized / free_aligned_sized: the size (and alignment) must be one that
 * could have produced this block: from malloc of that size, or from a realloc
 * to that size that kept the block (it keeps it down to half its usable size). */
void da_free_sized_core(void *p, size_t align, size_t size, const char *func) {
  if (p == NULL) return;
  if (da_guard_contains(p)) {   /* the request is known exactly: the one da_alloc_aligned made */
    size_t req = da_guard_size(p, func);
    bool ok = size == req || (align > 8 && size < 16 && req == 16);   /* 16 B for 16-aligned ones below 16 B */
    if (!ok && align > DA_ALIGN) {   /* a larger alignment asks for its class's size */
      size_t bin = da_aligned_class(size, align);
      ok = bin < DA_BIN_COUNT && da_bin_size(bin) == req;
    }
    if (!ok) da_fatal("%s(): wrong size %zu for %p", func, size, p);
    free_generic(p, func);
    return;
  }
  da_page_t *page = da_checked_page(p, func, "double free");
  size_t usable = page->kind == DA_KIND_POOL ? page->block_size : da_bulk_usable(page, p);
  bool ok = size <= usable;
  if (da_page_sampled(page)) {
    /* a heap-profile sample of any size: the run is all the check has */
  } else if (da_page_hardened(page)) {
    ok = size == da_harden_size(page, p, func);   /* the request is known exactly */
  } else if (unlikely(da_options.harden) && page->kind != DA_KIND_POOL) {
    ok = size == da_harden_large_size(page, p, func);
  } else if (ok && size < usable / 2) {
    if (page->kind == DA_KIND_POOL) {
      ok = (align > DA_ALIGN ? da_aligned_class(size, align) : da_size_class(size)) == page->bin;
    } else {
      size_t tier_min = page->kind == DA_KIND_HUGE ? DA_HUGE_THRESHOLD : DA_BULK_CLASS_MAX;
      ok = size > tier_min || align > DA_ALIGN;
    }
  }
  if (!ok) da_fatal("%s(): wrong size %zu for %p", func, size, p);
  free_generic(p, func);
}
