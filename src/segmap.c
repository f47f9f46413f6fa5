/* segmap.c — one bit per 4 MiB frame of the 47-bit address space (8 MiB of
 * zero-initialised, lazily backed .bss): set while the frame holds the header of
 * a dynalloc segment.  free() tests it before reading any header, so a pointer
 * that dynalloc did not return is reported instead of dereferenced.
 * Updates are atomic; a bit is set before the segment is handed out and cleared
 * before its memory is given back.
 */
#include "internal.h"

_Atomic(uint64_t) da_segmap[DA_SEGMAP_WORDS];

void da_segmap_set(const da_segment_t *seg, bool present) {
  uintptr_t frame = (uintptr_t)seg >> DA_SEGMENT_SHIFT;
  if (frame >= DA_SEGMAP_WORDS * 64) da_fatal("segment %p outside the 47-bit address space", seg);
  uint64_t bit = (uint64_t)1 << (frame % 64);
  if (present) atomic_fetch_or_explicit(&da_segmap[frame / 64], bit, memory_order_release);
  else atomic_fetch_and_explicit(&da_segmap[frame / 64], ~bit, memory_order_release);
}
