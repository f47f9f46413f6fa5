/* huge.c — blocks above DA_HUGE_THRESHOLD (1 MiB): a mapping of their own each,
 * their descriptors, and the cache of freed mappings.
 *
 *  - A huge block is the first byte of its own mapping, aligned as asked (a
 *    page at least), and the mapping holds nothing else: no header beside the
 *    block, so neither an overflow or underflow of it nor a page the program
 *    maps next to it reaches allocator state.  In the hardened mode the
 *    mapping ends in an inaccessible page, so an overflow faults.  A block that realloc moves at
 *    DA_REALLOC_MAP_MIN (256 KiB) or more gets one too.
 *  - Its descriptor (da_huge_t) lives in a metadata mapping that has an
 *    inaccessible page on either side (da_os_alloc_meta), found through an
 *    open-addressing hash table keyed by the block's address.  Huge mappings are
 *    not in the segment map, so free(), realloc() and malloc_usable_size() of a
 *    pointer outside every segment come here (da_huge_find): an address inside
 *    or near a huge block that is not a live block's start is not in the table
 *    and is reported, and nothing is read from the block.
 *  - Freed mappings wait in a cache (16 mappings, 1 GiB at most; 32 MiB without a
 *    running purger thread) for the purge delay.  Any huge request takes a
 *    cached mapping when there is one, resized with mremap, so its resident
 *    pages are reused instead of faulted in again.  A block that realloc moves
 *    (a growing one) splits a larger cached mapping instead of cutting it: the
 *    rest stays cached as a piece of the same kernel mapping right after the
 *    block, which then grows over it with no system call; freed pieces join
 *    again.  Before fresh memory comes from the OS (a new segment, a huge block
 *    that grows) a cache above 32 MiB is emptied.  realloc resizes huge blocks
 *    with mremap, never copying.
 *
 * Invariants: cached pieces never overlap; two are joined, or a block grows
 * over one, only when they share their origin (one kernel mapping: mremap
 * refuses a range across two); a descriptor is in the table exactly while its block is live, and
 * is taken out before its mapping moves or goes (so a mapping the kernel puts
 * at the old address meanwhile never meets a stale entry); the table, the
 * descriptors and the cache change only under huge_lock, and lookups take no
 * lock (a seqlock, below); any thread may free a huge block.
 */
#include "internal.h"
#include <errno.h>
#include <sched.h>
#include <string.h>

#define DA_HUGE_CACHE_SLOTS 16
#define DA_HUGE_DESC_CHUNK  ((size_t)16 << 10)   /* descriptors are carved 16 KiB at a time */
#define DA_HUGE_TABLE_MIN   512                  /* slots of the first table (4 KiB) */

static pthread_mutex_t huge_lock = PTHREAD_MUTEX_INITIALIZER;
static da_huge_t *huge_cache[DA_HUGE_CACHE_SLOTS];
static _Atomic(size_t) huge_cached_bytes;
static _Atomic(uint64_t) huge_mallocs, huge_frees;
static _Atomic(size_t) huge_live_bytes;

static da_huge_t *desc_unused;   /* descriptors not describing anything */
static uint8_t *desc_next, *desc_end;

/* Held through a whole trim of the huge cache, the unmapping included, so that
 * malloc_trim returns only once a concurrent trim by the purger is done. */
static pthread_mutex_t huge_trim_lock = PTHREAD_MUTEX_INITIALIZER;

void da_huge_lock(bool lock, bool child) {
  if (child) {
    pthread_mutex_init(&huge_lock, NULL);
    pthread_mutex_init(&huge_trim_lock, NULL);
  } else if (lock) {
    da_lock(&huge_trim_lock);
    da_lock(&huge_lock);
  } else {
    da_unlock(&huge_lock);
    da_unlock(&huge_trim_lock);
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

/* The cache's mappings and their bytes (statistics). */
void da_huge_cache_counts(size_t *count, size_t *bytes) {
  da_lock(&huge_lock);
  size_t n = 0, b = 0;
  for (size_t i = 0; i < DA_HUGE_CACHE_SLOTS; i++)
    if (huge_cache[i] != NULL) { n++; b += huge_cache[i]->map_size; }
  da_unlock(&huge_lock);
  *count = n;
  *bytes = b;
}

/* ---- mappings ------------------------------------------------------------------------------------ */
/* In the hardened mode every huge mapping ends in an inaccessible page (not
 * counted as mapped), so a linear overflow faults at the block's last page
 * instead of running into whatever the kernel maps next.  map is the block's
 * part; the guard comes after it. */
static size_t guard_size(void) { return da_options.harden ? da_page_size : 0; }

static void huge_unmap(uint8_t *block, size_t map) {
  size_t g = guard_size();
  if (g != 0) da_os_protect(block + map, g, true);   /* counted again, then all of it given back */
  da_os_free(block, map + g, false);
}

static uint8_t *huge_map(size_t map, size_t align) {
  size_t g = guard_size();
  uint8_t *block = da_os_alloc_huge(map + g, align, 0);
  if (block != NULL && g != 0 && !da_os_protect(block + map, g, false)) {
    da_os_free(block, map + g, false);
    return NULL;
  }
  return block;
}

/* mremap needs one mapping: the guard is made accessible for the move, then
 * inaccessible again at the new end (or the old one, where the OS refused).
 * A guard that held the block's bytes (the block shrank) is purged first, so
 * that it reads as zero when it is part of a block again (calloc counts on the
 * bytes past a cached mapping's block being zero). */
static uint8_t *huge_remap(uint8_t *block, size_t old_map, size_t map) {
  size_t g = guard_size();
  if (g != 0) da_os_protect(block + old_map, g, true);
  uint8_t *moved = da_os_remap(block, old_map + g, map + g, da_page_size);
  if (g != 0) {
    uint8_t *guard = moved != NULL ? moved + map : block + old_map;
    if (moved != NULL && map < old_map) da_os_purge(guard, g);
    da_os_protect(guard, g, false);
  }
  return moved;
}

/* ---- descriptors and the table (changed under huge_lock) -------------------------------- */
/* Lookups take no lock: the table is a seqlock.  A writer (huge_lock held) makes
 * table_seq odd, changes slots or publishes a new table, and makes it even
 * again; a reader probes the current table with relaxed loads and tries again
 * when the sequence moved or was odd.  A replaced table stays mapped, since a
 * reader may still be probing it (all of them together are smaller than the
 * current one), and descriptors are never unmapped, so a probe never reads
 * freed memory; a descriptor's block changes only while it is out of the table,
 * after a removal moved the sequence. */
typedef struct huge_table_s {
  size_t              cap;            /* a power of two */
  _Atomic(da_huge_t *) slot[];        /* open addressing, linear probing; NULL = empty */
} huge_table_t;

static _Atomic(huge_table_t *) table;
static _Atomic(uint64_t) table_seq;
static size_t table_count;

static void seq_begin(void) {
  atomic_store_explicit(&table_seq, atomic_load_explicit(&table_seq, memory_order_relaxed) + 1,
                        memory_order_relaxed);
  atomic_thread_fence(memory_order_release);
}
static void seq_end(void) {
  atomic_store_explicit(&table_seq, atomic_load_explicit(&table_seq, memory_order_relaxed) + 1,
                        memory_order_release);
}

static uint8_t *block_of(const da_huge_t *h) { return __atomic_load_n(&h->block, __ATOMIC_RELAXED); }
static void block_set(da_huge_t *h, uint8_t *block) { __atomic_store_n(&h->block, block, __ATOMIC_RELAXED); }

static da_huge_t *desc_new(void) {
  da_huge_t *h = desc_unused;
  if (h != NULL) {
    desc_unused = h->next;
  } else {
    if (desc_next == NULL || desc_next + sizeof *h > desc_end) {
      desc_next = da_os_alloc_meta(DA_HUGE_DESC_CHUNK);
      if (desc_next == NULL) return NULL;
      /* under memcheck: its leak search must not find the blocks' addresses here */
      if (unlikely(da_vg)) da_vg_noaccess(desc_next, DA_HUGE_DESC_CHUNK);
      desc_end = desc_next + DA_HUGE_DESC_CHUNK;
    }
    h = (da_huge_t *)desc_next;
    desc_next += sizeof *h;
  }
  block_set(h, NULL);
  h->map_size = 0;
  h->cached_at = 0;
  h->next = NULL;
  return h;
}

static void desc_delete(da_huge_t *h) {
  block_set(h, NULL);
  h->next = desc_unused;
  desc_unused = h;
}

static size_t slot_of(const void *block, size_t cap) {
  return (size_t)((((uintptr_t)block >> DA_SLICE_SHIFT) * 0x9e3779b97f4a7c15u) >> 20) & (cap - 1);
}

static da_huge_t *slot_get(const huge_table_t *t, size_t i) {
  return atomic_load_explicit(&t->slot[i], memory_order_relaxed);
}
static void slot_set(huge_table_t *t, size_t i, da_huge_t *h) {
  atomic_store_explicit(&t->slot[i], h, memory_order_relaxed);
}

static void table_put(huge_table_t *t, da_huge_t *h) {
  size_t i = slot_of(block_of(h), t->cap);
  while (slot_get(t, i) != NULL) i = (i + 1) & (t->cap - 1);
  slot_set(t, i, h);
}

/* Room for one more entry at a load of at most one half: false when the OS
 * refused the larger table. */
static bool table_reserve(void) {
  huge_table_t *old = atomic_load_explicit(&table, memory_order_relaxed);
  size_t old_cap = old ? old->cap : 0;
  if ((table_count + 1) * 2 <= old_cap) return true;
  size_t cap = old_cap ? old_cap * 2 : DA_HUGE_TABLE_MIN;
  huge_table_t *t = da_os_alloc_meta(sizeof *t + cap * sizeof t->slot[0]);
  if (t == NULL) return false;
  t->cap = cap;
  for (size_t i = 0; i < old_cap; i++)
    if (slot_get(old, i) != NULL) table_put(t, slot_get(old, i));
  atomic_store_explicit(&table, t, memory_order_release);   /* readers see it filled */
  return true;
}

/* The slot of block in t, or SIZE_MAX.  At most cap probes, so that a reader
 * racing a writer always ends (and then retries). */
static size_t table_find(const huge_table_t *t, const void *block) {
  if (t == NULL) return SIZE_MAX;
  for (size_t n = 0, i = slot_of(block, t->cap); n < t->cap; n++, i = (i + 1) & (t->cap - 1)) {
    const da_huge_t *h = slot_get(t, i);
    if (h == NULL) return SIZE_MAX;
    if (block_of(h) == (const uint8_t *)block) return i;
  }
  return SIZE_MAX;
}

/* Remove slot i, shifting back the entries of its probe run behind it. */
static void table_remove_at(huge_table_t *t, size_t i) {
  seq_begin();
  slot_set(t, i, NULL);
  table_count--;
  for (size_t j = (i + 1) & (t->cap - 1); slot_get(t, j) != NULL; j = (j + 1) & (t->cap - 1)) {
    da_huge_t *h = slot_get(t, j);
    size_t home = slot_of(block_of(h), t->cap);
    /* h may fill the hole when its home is not in (i, j] (cyclically) */
    if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
      slot_set(t, i, h);
      slot_set(t, j, NULL);
      i = j;
    }
  }
  seq_end();
}

static bool table_remove(const da_huge_t *h) {
  huge_table_t *t = atomic_load_explicit(&table, memory_order_relaxed);
  size_t i = table_find(t, block_of(h));
  if (i == SIZE_MAX || slot_get(t, i) != h) return false;
  table_remove_at(t, i);
  return true;
}

/* Enter h (room reserved). */
static void table_insert(da_huge_t *h) {
  seq_begin();
  table_put(atomic_load_explicit(&table, memory_order_relaxed), h);
  table_count++;
  seq_end();
}

/* The descriptor of the live huge block that starts at p, or NULL.  No lock. */
/* The seqlock read of the table, as a loop (a probe past the first slot, a
 * writer in progress, a moved sequence). */
static DA_NOINLINE da_huge_t *huge_find_slow(const void *p) {
  for (;;) {
    uint64_t seq = atomic_load_explicit(&table_seq, memory_order_acquire);
    if (seq & 1) {   /* a writer is between its two steps (a few stores) */
      sched_yield();
      continue;
    }
    const huge_table_t *t = atomic_load_explicit(&table, memory_order_acquire);
    size_t i = table_find(t, p);
    da_huge_t *h = i == SIZE_MAX ? NULL : slot_get(t, i);
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&table_seq, memory_order_relaxed) == seq) return h;
  }
}

/* A block found in its home slot, the common case (the table is kept below
 * half full), is one read of the seqlock with no loop and no call. */
da_huge_t *da_huge_find(const void *p) {
  if (((uintptr_t)p & (DA_SLICE_SIZE - 1)) != 0) return NULL;
  uint64_t seq = atomic_load_explicit(&table_seq, memory_order_acquire);
  const huge_table_t *t = atomic_load_explicit(&table, memory_order_acquire);
  if (likely(t != NULL && !(seq & 1))) {
    da_huge_t *h = slot_get(t, slot_of(p, t->cap));
    if (h != NULL && block_of(h) == (const uint8_t *)p) {
      atomic_thread_fence(memory_order_acquire);
      if (likely(atomic_load_explicit(&table_seq, memory_order_relaxed) == seq)) return h;
    }
  }
  return huge_find_slow(p);
}

/* ---- the cache of freed mappings --------------------------------------------------------------- */
/* The slot of the cached piece of h's mapping that starts where h ends
 * (huge_lock held), or DA_HUGE_CACHE_SLOTS.  Only pieces of one kernel mapping
 * are joined: mremap refuses a range across two (EFAULT). */
static size_t cache_slot_after_locked(const da_huge_t *h) {
  size_t i = 0;
  while (i < DA_HUGE_CACHE_SLOTS &&
         (huge_cache[i] == NULL || huge_cache[i]->block != h->block + h->map_size || huge_cache[i]->origin != h->origin))
    i++;
  return i;
}

/* h (out of the cache) keeps its first map bytes; the rest of its pages stay
 * in the cache as a mapping of their own, in slot i, with h's time (huge_lock
 * held).  No system call: the kernel still sees one mapping, and the pages stay
 * resident for whoever takes them.  False (h unchanged) when no descriptor is
 * left or the mode guards every mapping's end (hardened: the tail would then
 * sit unguarded after the block). */
static bool cache_split_locked(da_huge_t *h, size_t map, size_t i) {
  if (guard_size() != 0 || huge_cache[i] != NULL) return false;
  da_huge_t *t = desc_new();
  if (t == NULL) return false;
  block_set(t, h->block + map);
  t->map_size = h->map_size - map;
  t->origin = h->origin;
  t->cached_at = h->cached_at;
  huge_cache[i] = t;
  atomic_fetch_add(&huge_cached_bytes, t->map_size);
  h->map_size = map;
  return true;
}

/* A cached mapping for a block of map bytes: one of at least map and at most
 * 25 % more, as it is; else the smallest larger one, cut down to map (for a
 * block that realloc moves, and so is growing, split instead: its rest stays
 * cached right after it, and the block's next growth takes those resident
 * pages in place, huge_realloc); else the largest smaller one, grown to map by
 * mremap (its resident pages stay, only the new part faults in).  So while the
 * cache holds anything, no huge request maps fresh memory, and a freed mapping
 * is either reused or returned after the purge delay.  *dirty: how many bytes
 * of the block may be non-zero. */
static da_huge_t *huge_cache_take(size_t map, bool growing, size_t *dirty) {
  if (da_huge_cache_bytes() == 0) return NULL;
  size_t fit = DA_HUGE_CACHE_SLOTS, larger = DA_HUGE_CACHE_SLOTS, smaller = DA_HUGE_CACHE_SLOTS;
  da_lock(&huge_lock);
  /* A growing block takes the largest, and leaves the rest of another one's
   * split (a piece that does not start its mapping) to the block before it,
   * unless nothing else is cached. */
  for (int pass = growing ? 0 : 1; pass < 2 && fit == larger && larger == smaller; pass++) {
    for (size_t i = 0; i < DA_HUGE_CACHE_SLOTS; i++) {
      const da_huge_t *s = huge_cache[i];
      if (s == NULL || (pass == 0 && s->block != s->origin)) continue;
      if (s->map_size >= map && s->map_size - map <= map / 4) {
        fit = i;
        break;
      }
      if (s->map_size > map) {
        if (larger == DA_HUGE_CACHE_SLOTS || (s->map_size < huge_cache[larger]->map_size) != growing) larger = i;
      } else if (smaller == DA_HUGE_CACHE_SLOTS || s->map_size > huge_cache[smaller]->map_size) {
        smaller = i;
      }
    }
  }
  size_t pick = fit != DA_HUGE_CACHE_SLOTS ? fit : larger != DA_HUGE_CACHE_SLOTS ? larger : smaller;
  da_huge_t *h = NULL;
  bool split = false;
  if (pick != DA_HUGE_CACHE_SLOTS) {
    h = huge_cache[pick];
    huge_cache[pick] = NULL;
    atomic_fetch_sub(&huge_cached_bytes, h->map_size);
    split = growing && pick == larger && cache_split_locked(h, map, pick);
  }
  da_unlock(&huge_lock);
  if (h == NULL) return NULL;
  *dirty = h->map_size;
  if (pick != fit && !split) {
    if (h->map_size < map) da_huge_cache_shed();
    uint8_t *moved = huge_remap(h->block, h->map_size, map);
    if (moved == NULL) {   /* the OS refused: give it back, the caller maps afresh */
      huge_unmap(h->block, h->map_size);
      da_lock(&huge_lock);
      desc_delete(h);
      da_unlock(&huge_lock);
      return NULL;
    }
    if (moved != h->block) h->origin = moved;   /* a mapping of its own now */
    block_set(h, moved);
    h->map_size = map;
  }
  return h;
}

/* The byte limit of the huge cache: large while the purger thread runs and
 * returns expired mappings after the purge delay, small when only slow paths
 * would (the purger is off, failed to start, or ended with the last heap: it
 * then sheds the cache down to this, under huge_lock, and a put that reads the
 * flag under that lock after it sees the small limit). */
static size_t huge_cache_limit(void) {
  return atomic_load(&da_purger_running) ? DA_HUGE_CACHE_MAX : DA_HUGE_CACHE_KEEP;
}

/* The cached pages of t, right after those of h, join h, which keeps the
 * older time of the two, so nothing waits longer than the purge delay; t's
 * descriptor goes (huge_lock held, t out of its slot). */
static void cache_absorb_locked(da_huge_t *h, da_huge_t *t) {
  h->map_size += t->map_size;
  if (t->cached_at < h->cached_at) h->cached_at = t->cached_at;
  desc_delete(t);
}

/* Cached pages right after h's (the rest of a split, cache_split_locked) join h. */
static void cache_join_next_locked(da_huge_t *h) {
  size_t i = cache_slot_after_locked(h);
  if (i == DA_HUGE_CACHE_SLOTS) return;
  da_huge_t *t = huge_cache[i];
  huge_cache[i] = NULL;
  cache_absorb_locked(h, t);
}

/* huge_lock held.  The cached bytes of a split mapping join again, either way. */
static bool huge_cache_put_locked(da_huge_t *h) {
  if (da_options.purge_delay_ms == 0 || da_huge_cache_bytes() + h->map_size > huge_cache_limit()) return false;
  for (size_t i = 0; i < DA_HUGE_CACHE_SLOTS; i++) {
    if (huge_cache[i] == NULL) {
      atomic_fetch_add(&huge_cached_bytes, h->map_size);
      h->cached_at = da_clock_ms();
      cache_join_next_locked(h);
      for (size_t j = 0; j < DA_HUGE_CACHE_SLOTS; j++) {
        da_huge_t *s = huge_cache[j];
        if (s != NULL && s->block + s->map_size == h->block && s->origin == h->origin) {   /* h: the rest of s's split */
          cache_absorb_locked(s, h);
          return true;
        }
      }
      huge_cache[i] = h;
      return true;
    }
  }
  return false;
}

/* Unmap cached mappings older than the purge delay (all of them with all). */
void da_huge_cache_trim(bool all) {
  if (all) da_lock(&huge_trim_lock);
  else if (da_huge_cache_bytes() == 0 || !da_trylock(&huge_trim_lock)) return;
  da_huge_t *expired[DA_HUGE_CACHE_SLOTS];
  size_t n = 0;
  uint64_t now = da_clock_ms();
  da_lock(&huge_lock);
  for (size_t i = 0; i < DA_HUGE_CACHE_SLOTS; i++) {
    da_huge_t *s = huge_cache[i];
    if (s && (all || now - s->cached_at >= (uint64_t)da_options.purge_delay_ms)) {
      huge_cache[i] = NULL;
      atomic_fetch_sub(&huge_cached_bytes, s->map_size);
      expired[n++] = s;
    }
  }
  da_unlock(&huge_lock);
  for (size_t i = 0; i < n; i++) huge_unmap(expired[i]->block, expired[i]->map_size);
  da_lock(&huge_lock);
  for (size_t i = 0; i < n; i++) desc_delete(expired[i]);
  da_unlock(&huge_lock);
  da_unlock(&huge_trim_lock);
}

/* Called before fresh memory comes from the OS (a new segment, a huge block
 * grown in place): cached mappings beyond the small limit would only add to the
 * peak then, so they all go back. */
void da_huge_cache_shed(void) {
  if (da_huge_cache_bytes() > DA_HUGE_CACHE_KEEP) da_huge_cache_trim(true);
}

/* ---- blocks ------------------------------------------------------------------------------------- */
static void desc_describe(da_huge_t *h) {
  memset(&h->page, 0, sizeof h->page);
  DA_SET(h->page.kind, (uint8_t)DA_KIND_HUGE);
  h->page.block_size = h->map_size > UINT32_MAX ? UINT32_MAX : (uint32_t)h->map_size;
  da_used_init(&h->page, 1);
}

static void *huge_alloc_aligned(size_t size, size_t align, bool zero, bool growing) {
  if (align < da_page_size) align = da_page_size;
  if (size > (size_t)PTRDIFF_MAX - DA_PAGE_MAX) { errno = ENOMEM; return NULL; }
  size_t map = da_page_round(size);
  size_t dirty = 0;
  da_huge_t *h = align == da_page_size ? huge_cache_take(map, growing, &dirty) : NULL;
  bool fresh = h == NULL;
  if (fresh) {
    uint8_t *block = huge_map(map, align);
    if (block == NULL) {   /* out of memory: give back what is free, try once more */
      da_heap_release_free(da_heap_tls);
      block = huge_map(map, align);
    }
    if (block == NULL) { errno = ENOMEM; return NULL; }
    da_lock(&huge_lock);
    h = desc_new();
    da_unlock(&huge_lock);
    if (h == NULL) { huge_unmap(block, map); errno = ENOMEM; return NULL; }
    block_set(h, block);
    h->origin = block;
    h->map_size = map;
  }
  desc_describe(h);
  da_lock(&huge_lock);
  bool placed = table_reserve();
  if (placed) table_insert(h);
  da_unlock(&huge_lock);
  if (!placed) {
    huge_unmap(h->block, h->map_size);
    da_lock(&huge_lock);
    desc_delete(h);
    da_unlock(&huge_lock);
    errno = ENOMEM;
    return NULL;
  }
  atomic_fetch_add_explicit(&huge_mallocs, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&huge_live_bytes, h->map_size, memory_order_relaxed);
  da_purger_check();
  if (zero && !fresh) memset(h->block, 0, size < dirty ? size : dirty);
  return h->block;
}

/* Each huge call takes huge_lock two or three times: its signals are blocked
 * once for the whole call (lock.c), so the locks inside cost no system call. */
static void *huge_alloc_signals_blocked(size_t size, size_t align, bool zero, bool growing) {
  da_signals_block();
  void *p = huge_alloc_aligned(size, align, zero, growing);
  da_signals_restore();
  return p;
}

void *da_huge_alloc_aligned(size_t size, size_t align, bool zero) {
  return huge_alloc_signals_blocked(size, align, zero, false);
}

/* A mapping of its own for a block that realloc moves (DA_REALLOC_MAP_MIN and
 * more): it grows further with mremap, moving pages rather than bytes, and
 * leaves no hole in a segment behind. */
void *da_huge_alloc(size_t size) {
  if (size > (size_t)PTRDIFF_MAX) { errno = ENOMEM; return NULL; }
  return huge_alloc_signals_blocked(size, DA_ALIGN, false, true);
}

/* Free a huge block (any thread): page is its descriptor's header, from
 * da_huge_find.  Two threads freeing the same block at once: one of them finds
 * it gone from the table and reports the double free. */
static void huge_free(da_page_t *page, const char *func) {
  da_huge_t *h = (da_huge_t *)page;
  da_lock(&huge_lock);
  bool live = table_remove(h);
  da_unlock(&huge_lock);
  if (!live) da_invalid(func, "double free", h->block);
  atomic_fetch_add_explicit(&huge_frees, 1, memory_order_relaxed);
  atomic_fetch_sub_explicit(&huge_live_bytes, h->map_size, memory_order_relaxed);
  da_lock(&huge_lock);
  bool cached = huge_cache_put_locked(h);
  da_unlock(&huge_lock);
  if (cached) {
    da_purger_notify();
    return;
  }
  huge_unmap(h->block, h->map_size);
  da_lock(&huge_lock);
  desc_delete(h);
  da_unlock(&huge_lock);
}

void da_huge_free(da_page_t *page, const char *func) {
  da_signals_block();
  huge_free(page, func);
  da_signals_restore();
}


/* A growing block takes the cached pages right after its own (the rest of the
 * mapping it was split from), up to map bytes; what it does not need stays
 * cached (huge_lock held).  No system call, and no page faults in again. */
static void grow_into_cache_locked(da_huge_t *h, size_t map) {
  size_t i = cache_slot_after_locked(h);
  if (i == DA_HUGE_CACHE_SLOTS) return;
  da_huge_t *t = huge_cache[i];
  size_t need = map - h->map_size;
  if (t->map_size > need) {
    block_set(t, t->block + need);
    t->map_size -= need;
    atomic_fetch_sub(&huge_cached_bytes, need);
    h->map_size = map;
    return;
  }
  huge_cache[i] = NULL;
  atomic_fetch_sub(&huge_cached_bytes, t->map_size);
  h->map_size += t->map_size;
  desc_delete(t);
}

/* Resize a huge block in place or by moving its pages; NULL when the block must
 * be copied instead (new size no longer huge) or the OS refused. */
static void *huge_realloc(da_page_t *page, size_t size) {
  da_huge_t *h = (da_huge_t *)page;
  if (size < DA_REALLOC_MAP_MIN || size > (size_t)PTRDIFF_MAX / 2) return NULL;
  /* growing: a quarter more than asked, so that a block growing in small steps
   * costs one mremap per 25 % of growth, not one per page */
  if (size > h->map_size) {
    size += size / 4;
    da_huge_cache_shed();
  }
  size_t map = da_page_round(size), old = h->map_size;
  da_lock(&huge_lock);
  table_remove(h);
  if (map > old) grow_into_cache_locked(h, map);
  da_unlock(&huge_lock);
  uint8_t *moved = h->map_size == map ? h->block : huge_remap(h->block, h->map_size, map);
  if (moved != NULL) {
    if (moved != h->block) h->origin = moved;   /* a mapping of its own now */
    block_set(h, moved);
    h->map_size = map;
  }
  atomic_fetch_add_explicit(&huge_live_bytes, h->map_size - old, memory_order_relaxed);
  if (h->map_size != old) desc_describe(h);
  da_lock(&huge_lock);
  table_insert(h);   /* the slot it left keeps the load below one half */
  da_unlock(&huge_lock);
  return moved;
}

void *da_huge_realloc(da_page_t *page, void *p, size_t size) {
  const da_huge_t *h = (const da_huge_t *)page;
  if (size <= h->map_size && size >= h->map_size / 2) return p;   /* fits as it is */
  da_signals_block();
  void *q = huge_realloc(page, size);
  da_signals_restore();
  return q;
}
