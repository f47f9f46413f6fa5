/* segmap.c — one byte per 4 MiB frame of the 47-bit address space (32 MiB of
 * zero-initialised, lazily backed .bss: a page of it is touched only for the
 * 16 GiB of address space it covers, so a process touches a few): non-zero
 * while the frame is a dynalloc segment.  free() tests it before reading any
 * header, so a pointer that dynalloc did not return is reported instead of
 * dereferenced.  A byte rather than a bit: the test is one load and one compare.
 * Updates are atomic; a byte is set before the segment is handed out and
 * cleared before its memory is given back.
 */
#include "internal.h"

_Atomic(uint8_t) da_segmap[DA_SEGMAP_FRAMES];

void da_segmap_set(const da_segment_t *seg, bool present) {
  uintptr_t frame = (uintptr_t)seg >> DA_SEGMENT_SHIFT;
  if (frame >= DA_SEGMAP_FRAMES) da_fatal("segment %p outside the 47-bit address space", seg);
  atomic_store_explicit(&da_segmap[frame], present ? 1 : 0, memory_order_release);
}
