/* stats.c — the accounting every report is derived from: one snapshot
 * (da_totals_t) of every tier and cache, and the glibc-shaped figures of
 * mallinfo2 computed from it (README "Statistics" defines each field).
 *
 * Sources: a walk of every segment (owned by a heap, abandoned, cached) for
 * pool pages, bulk runs and free runs; the huge tier's counters and cache; the
 * blocks other threads freed that their owners have not collected yet (a pool
 * page's remote list carries its length, and free.c counts the blocks on the
 * heaps' delayed lists), which count as freed; per-heap counters; the
 * guarded area's counters (its live blocks are in use, its used pages mapped); the OS
 * layer's atomics (da_os_stats.mapped is every byte dynalloc holds from the OS).
 *
 * Invariants: arena + hblkhd = mapped; uordblks + fordblks = arena;
 * keepcost ≤ fordblks.  The walk holds the heap list and segment locks (no
 * segment disappears under it) but not the owners' span locks: under
 * concurrent use the figures are a snapshot, exact in a quiescent process.
 * Nothing here allocates or writes output.
 */
#include "internal.h"
#include <malloc.h>
#include <string.h>

_Atomic(size_t) da_delayed[3];

void da_counters_add(da_counters_t *to, const da_counters_t *from) {
  const uint64_t *src = (const uint64_t *)from;
  uint64_t *dst = (uint64_t *)to;
  for (size_t i = 0; i < sizeof *from / sizeof(uint64_t); i++)
    dst[i] += __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

static size_t slices_bytes(size_t n) { return n << DA_SLICE_SHIFT; }

/* A pool page: live blocks are those handed out minus those on its remote list. */
static void walk_pool(const da_page_t *run, da_totals_t *t) {
  uint32_t used = da_used(run);
  uint32_t remote = da_x_count(atomic_load_explicit(&run->xfree, memory_order_relaxed));
  uint32_t live = used > remote ? used - remote : 0;
  size_t bin = __atomic_load_n(&run->bin, __ATOMIC_RELAXED);
  size_t carved = __atomic_load_n(&run->capacity, __ATOMIC_RELAXED);
  t->pool_pages++;
  if (__atomic_load_n(&run->flags, __ATOMIC_RELAXED) & DA_PAGE_KEPT) t->pool_kept_pages++;
  if (bin >= DA_BIN_COUNT) return;
  size_t size = da_bin_size(bin);
  t->remote_bytes += (used - live) * size;
  t->pool_in_use += live * size;
  t->live_blocks[bin] += live;
  if (carved > live) {
    t->free_blocks[bin] += carved - live;
    t->pool_free_blocks += carved - live;
    t->pool_free_bytes += (carved - live) * size;
  }
  if (live == 0)   /* malloc_trim gives the touched part of an empty page back */
    t->empty_pool_bytes += da_page_round(carved * size);
}

static void walk_segment(const da_segment_t *seg, da_totals_t *t) {
  for (size_t i = da_first_run; i < DA_SLICES;) {
    const da_page_t *run = &seg->pages[i];
    size_t count = __atomic_load_n(&run->slice_count, __ATOMIC_RELAXED);
    uint8_t kind = __atomic_load_n(&run->kind, __ATOMIC_RELAXED);
    if (count == 0) break;   /* a run being split right now, or a purged cached segment */
    if (kind == DA_KIND_POOL) {
      walk_pool(run, t);
    } else if (kind == DA_KIND_BULK) {
      uint32_t remote = da_x_count(atomic_load_explicit(&run->xfree, memory_order_relaxed));
      if (da_used(run) > remote) {
        t->bulk_in_use += __atomic_load_n(&run->block_size, __ATOMIC_RELAXED);
        t->bulk_runs++;
      } else {
        t->bulk_remote++;
        t->remote_bytes += __atomic_load_n(&run->block_size, __ATOMIC_RELAXED);
      }
    } else if (kind == DA_KIND_FREE || kind == DA_KIND_CACHED) {
      t->free_runs++;
      t->free_runs_bytes += slices_bytes(count);
      /* a cached bulk run is as its block left it: resident, never purged */
      if (kind == DA_KIND_CACHED || __atomic_load_n(&run->dirty, __ATOMIC_RELAXED))
        t->dirty_bytes += slices_bytes(count);
    }
    i += count;
  }
}

static void walk_owned(const da_segment_t *seg, da_totals_t *t) {
  t->segments++;
  walk_segment(seg, t);
}

static void walk_heap(da_heap_t *heap, void *arg) {
  da_totals_t *t = arg;
  t->heaps++;
  da_counters_add(&t->counters, &heap->stats);
  for (size_t bin = 0; bin < DA_BIN_COUNT; bin++)
    t->quarantined[bin] += __atomic_load_n(&heap->quarantined[bin], __ATOMIC_RELAXED);
  for (const da_segment_t *seg = heap->segments; seg; seg = seg->next) walk_owned(seg, t);
}

/* A cached segment is one free chunk; its dirty runs are what trimming it returns. */
static void walk_cached(const da_segment_t *seg, da_totals_t *t) {
  da_totals_t runs;
  memset(&runs, 0, sizeof runs);
  if (seg->cache_dirty) walk_segment(seg, &runs);
  t->cached_segments++;
  t->dirty_bytes += runs.dirty_bytes;
}

void da_stats_totals(da_totals_t *t) {
  memset(t, 0, sizeof *t);
  da_heap_foreach(walk_heap, t);
  da_segment_foreach_abandoned(walk_owned, t);
  da_segment_foreach_cached(walk_cached, t);
  da_counters_t retired;
  da_heap_retired_counters(&retired);
  da_counters_add(&t->counters, &retired);
  da_huge_counts(&t->huge_mallocs, &t->huge_frees, &t->huge_in_use);
  da_huge_cache_counts(&t->huge_cached, &t->huge_cached_bytes);
  t->huge_count = (size_t)(t->huge_mallocs - t->huge_frees);
  /* blocks on the heaps' delayed lists: freed, not yet collected */
  size_t pool_delayed = atomic_load_explicit(&da_delayed[0], memory_order_relaxed);
  size_t bulk_delayed = atomic_load_explicit(&da_delayed[1], memory_order_relaxed);
  t->pool_in_use = t->pool_in_use > pool_delayed ? t->pool_in_use - pool_delayed : 0;
  t->bulk_in_use = t->bulk_in_use > bulk_delayed ? t->bulk_in_use - bulk_delayed : 0;
  t->remote_bytes += pool_delayed + bulk_delayed;
  for (size_t bin = 0; bin < DA_BIN_COUNT; bin++) {   /* hardened mode: freed, held back */
    size_t q = t->quarantined[bin];
    t->live_blocks[bin] = t->live_blocks[bin] > q ? t->live_blocks[bin] - q : 0;
    t->quarantine_bytes += q * da_bin_size(bin);
  }
  t->pool_in_use = t->pool_in_use > t->quarantine_bytes ? t->pool_in_use - t->quarantine_bytes : 0;
  da_percpu_counts(t->percpu);   /* freed, held in the per-CPU caches */
  for (size_t bin = 0; bin < DA_BIN_COUNT; bin++) {
    size_t n = t->percpu[bin];
    t->live_blocks[bin] = t->live_blocks[bin] > n ? t->live_blocks[bin] - n : 0;
    t->percpu_bytes += n * da_bin_size(bin);
  }
  t->pool_in_use = t->pool_in_use > t->percpu_bytes ? t->pool_in_use - t->percpu_bytes : 0;
  size_t bulk_count = atomic_load_explicit(&da_delayed[2], memory_order_relaxed);
  t->bulk_remote += bulk_count;
  t->bulk_runs = t->bulk_runs > bulk_count ? t->bulk_runs - bulk_count : 0;
  t->segment_in_use = t->pool_in_use + t->bulk_in_use;
  t->mapped = atomic_load(&da_os_stats.mapped);
  t->mapped_peak = atomic_load(&da_os_stats.mapped_peak);
  size_t guards = da_options.harden ? DA_PAGE_MAX + da_page_size : 0;   /* inaccessible: not counted as mapped */
  size_t segs = (t->segments + t->cached_segments) * (DA_SEGMENT_SIZE - guards);
  da_guard_stats(&t->guard);
  size_t other = segs + t->huge_in_use + t->huge_cached_bytes + t->guard.mapped;
  t->meta_bytes = t->mapped > other ? t->mapped - other : 0;
}

void da_stats_mallinfo2(const da_totals_t *t, struct mallinfo2 *mi) {
  memset(mi, 0, sizeof *mi);
  mi->hblks = t->huge_count;
  mi->hblkhd = t->huge_in_use;
  mi->arena = t->mapped - t->huge_in_use;
  mi->ordblks = t->free_runs + t->cached_segments + t->huge_cached;
  mi->smblks = t->pool_free_blocks;
  mi->fsmblks = t->pool_free_bytes;
  mi->usmblks = t->mapped_peak;
  mi->uordblks = t->segment_in_use + t->guard.live_bytes;
  mi->fordblks = mi->arena - mi->uordblks;
  mi->keepcost = t->dirty_bytes + t->empty_pool_bytes + t->huge_cached_bytes;
}
