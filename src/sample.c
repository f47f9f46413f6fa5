/* sample.c — the heap's sampling countdown, shared by guarded sampling (guard.c)
 * and the heap profiler (prof.c).
 *
 * Every allocation's request counts down heap->sample_left: the pool fast path
 * (da_pool_pop) and the large paths (alloc.c).  It holds the bytes until the
 * nearer of the two samplers' next samples; when it goes below zero the slow
 * path calls da_sample_try, which charges both samplers with the bytes counted
 * since it was set (sample_set - sample_left) and serves the allocation from
 * the sampler that is due, the profiler first.  A guarded sample that is due
 * while the profiler takes the allocation waits for the next one.
 *
 * Invariants:
 *  - sample_left and sample_set are equal when the countdown is set, and
 *    sample_set = min(guard_left, prof_left) then;
 *  - a sampler that is off has an interval of INTPTR_MAX, so with both off the
 *    countdown never runs out in practice (2^63 bytes);
 *  - da_heap_empty's countdown is never written (its callers test for it).
 */
#include "internal.h"

static _Atomic(uint64_t) random_state;

/* splitmix64 on a shared counter, seeded from the link secret. */
uint64_t da_random(void) {
  if (atomic_load_explicit(&random_state, memory_order_relaxed) == 0)
    atomic_store_explicit(&random_state, da_link_key ^ 0x5851f42d4c957f2du, memory_order_relaxed);
  uint64_t z = atomic_fetch_add_explicit(&random_state, 0x9e3779b97f4a7c15u, memory_order_relaxed);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static void rearm(da_heap_t *heap) {
  intptr_t next = heap->guard_left < heap->prof_left ? heap->guard_left : heap->prof_left;
  heap->sample_left = heap->sample_set = next;
}

void da_sample_start(da_heap_t *heap) {
  heap->guard_left = da_guard_interval();
  heap->prof_left = da_prof_interval();
  rearm(heap);
}

/* The countdown went below zero on an allocation of size bytes (align 0: a
 * pool class request, whose class decides the alignment).  A block from the
 * sampler that is due, or NULL (the pool or the bulk tier serves it). */
void *da_sample_try(da_heap_t *heap, size_t size, size_t align, bool zero) {
  intptr_t counted = heap->sample_set - heap->sample_left;
  heap->guard_left -= counted;
  heap->prof_left -= counted;
  void *p = NULL;
  if (heap->prof_left < 0) {
    heap->prof_left = da_prof_interval();
    if (align == 0) {   /* the class's alignment: the largest power of two dividing its size */
      size_t cls = da_bin_size(da_size_class(size));
      align = cls & -cls;
      if (align < DA_ALIGN) align = DA_ALIGN;
    }
    uintptr_t pcs[DA_PROF_FRAMES];   /* taken here: one frame fewer for the unwinder */
    da_stack_init();
    int n = da_stack_capture(pcs, DA_PROF_FRAMES);
    p = da_prof_sample(size, align, zero, pcs, n);
  } else if (heap->guard_left < 0) {
    heap->guard_left = da_guard_interval();
    if (align == 0 && size <= DA_POOL_MAX) p = da_guard_malloc(size);
  }
  rearm(heap);
  return p;
}
