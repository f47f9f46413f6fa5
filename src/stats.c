/* stats.c — statistics: totals for mallinfo2, the report of malloc_stats and of
 * DYNALLOC_STATS=1 at exit.
 *
 * Sources: per-heap counters (kept without atomics by their owner on slow paths:
 * bulk and page events; the pool fast paths count nothing), counters of heaps that ended, a walk of all
 * segments for live blocks (page->used; blocks freed by another thread count
 * as live until their owner collects them), and the OS layer's atomics.  The
 * walk holds the heap and segment locks, so no segment disappears under it.
 */
#include "internal.h"
#include <string.h>
#include <unistd.h>

void da_counters_add(da_counters_t *to, const da_counters_t *from) {
  const uint64_t *src = (const uint64_t *)from;
  uint64_t *dst = (uint64_t *)to;
  for (size_t i = 0; i < sizeof *from / sizeof(uint64_t); i++)
    dst[i] += __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

static void walk_heap(da_heap_t *heap, void *arg) {
  da_totals_t *t = arg;
  t->heaps++;
  da_counters_add(&t->counters, &heap->stats);
  for (const da_segment_t *seg = heap->segments; seg; seg = seg->next) da_segment_walk(seg, t);
}

void da_stats_totals(da_totals_t *t) {
  memset(t, 0, sizeof *t);
  da_heap_foreach(walk_heap, t);
  da_segment_foreach_abandoned(da_segment_walk, t);
  da_counters_t retired;
  da_heap_retired_counters(&retired);
  da_counters_add(&t->counters, &retired);
  da_huge_counts(&t->huge_mallocs, &t->huge_frees, &t->huge_in_use);
  t->huge_count = (size_t)(t->huge_mallocs - t->huge_frees);
  t->huge_mapped = t->huge_in_use;   /* a huge mapping is its block */
  t->in_use = t->pool_in_use + t->bulk_in_use + t->huge_in_use;
}

/* Print with a fixed-size buffer: no stdio. */
#define P(...) da_message(__VA_ARGS__)

void da_stats_print(void) {
  da_totals_t t;
  da_stats_totals(&t);
  P("dynalloc: statistics for process %d\n", (int)getpid());
  P("  pool classes (size: live blocks, live bytes)\n");
  uint64_t live_blocks = 0;
  for (size_t b = 0; b < DA_BIN_COUNT; b++) {
    live_blocks += t.live_blocks[b];
    if (t.live_blocks[b] == 0) continue;
    P("    %s%zu: %llu, %llu\n", b == 0 ? "0 → " : "", da_bin_size(b),
      (unsigned long long)t.live_blocks[b], (unsigned long long)(t.live_blocks[b] * da_bin_size(b)));
  }
  P("  tier  mallocs  frees  live bytes\n");
  P("    pool  –  –  %zu  (%llu blocks in %zu pages of 64 KiB)\n", t.pool_in_use,
    (unsigned long long)live_blocks, t.pool_pages);
  P("    bulk  %llu  %llu  %zu  (%zu runs)\n", (unsigned long long)t.counters.bulk_mallocs,
    (unsigned long long)t.counters.bulk_frees, t.bulk_in_use, t.bulk_runs);
  P("    huge  %llu  %llu  %zu\n", (unsigned long long)t.huge_mallocs,
    (unsigned long long)t.huge_frees, t.huge_in_use);
  P("  in use: %zu bytes; free runs: %zu bytes (%zu not yet purged)\n", t.in_use,
    t.free_runs_bytes, t.dirty_bytes);
  P("  heaps: %zu live; segments: %zu in heaps or abandoned, %zu bytes cached; %llu adopted\n",
    t.heaps, t.segments, da_segment_cache_bytes(), (unsigned long long)t.counters.segments_adopted);
  P("  OS: %zu bytes mapped now, peak %zu, %zu bytes purged\n", atomic_load(&da_os_stats.mapped),
    atomic_load(&da_os_stats.mapped_peak), atomic_load(&da_os_stats.purged));
  P("  system calls: mmap %llu, munmap %llu, madvise %llu, mremap %llu, sbrk %llu\n",
    (unsigned long long)atomic_load(&da_os_stats.mmap_calls),
    (unsigned long long)atomic_load(&da_os_stats.munmap_calls),
    (unsigned long long)atomic_load(&da_os_stats.madvise_calls),
    (unsigned long long)atomic_load(&da_os_stats.mremap_calls),
    (unsigned long long)atomic_load(&da_os_stats.sbrk_calls));
}
