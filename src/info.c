/* info.c — malloc_info(0, fp): the statistics in the XML shape of glibc's
 * malloc_info, so that tools written for glibc's output read dynalloc's.
 *
 * Shape: <malloc version="1">, one <heap nr="0"> for the whole process (every
 * thread heap and cache together: the figures are process-wide), its <sizes>
 * (one <size> line per pool class that has free blocks), <total type="fast">
 * (free pool blocks: smblks, fsmblks), <total type="rest"> (free runs, cached
 * segments, cached huge mappings: ordblks and their bytes), <system> (arena,
 * and usmblks as the maximum) and
 * <aspace>, then the same process-wide totals with <total type="mmap"> (live
 * huge blocks).  The figures are mallinfo2's (stats.c).
 *
 * malloc_info writes to the caller's FILE with stdio: it is never called from
 * inside the allocator, and the snapshot is taken (and every allocator lock
 * released) before the first byte is written, so stdio may allocate freely.
 * Each line is formatted on the stack with da_format, then written with fputs.
 */
#include "internal.h"
#include "dynalloc.h"
#include <errno.h>
#include <stdarg.h>

static int put(FILE *fp, const char *fmt, ...) {
  char line[256];
  va_list ap;
  va_start(ap, fmt);
  da_format(line, sizeof line, fmt, ap);
  va_end(ap);
  return fputs(line, fp) < 0 ? -1 : 0;
}

DA_API int da_malloc_info(int options, FILE *fp) {
  if (options != 0 || fp == NULL) { errno = EINVAL; return -1; }
  da_totals_t t;
  struct mallinfo2 mi;
  da_stats_totals(&t);
  da_stats_mallinfo2(&t, &mi);
  size_t rest_count = mi.ordblks;
  size_t rest_bytes = t.free_runs_bytes + t.cached_segments * DA_SEGMENT_SIZE + t.huge_cached_bytes;
  int rc = put(fp, "<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n");
  for (size_t b = 1; b < DA_BIN_COUNT; b++) {   /* bin 0 (malloc(0)) has 16-byte blocks too */
    size_t count = (size_t)t.free_blocks[b] + (b == 1 ? (size_t)t.free_blocks[0] : 0);
    if (count == 0) continue;
    size_t from = b == 1 ? 0 : da_bin_size(b - 1) + 1, to = da_bin_size(b);
    rc |= put(fp, "  <size from=\"%zu\" to=\"%zu\" total=\"%zu\" count=\"%zu\"/>\n", from, to, count * to,
              count);
  }
  rc |= put(fp, "</sizes>\n<total type=\"fast\" count=\"%zu\" size=\"%zu\"/>\n", (size_t)mi.smblks, (size_t)mi.fsmblks);
  rc |= put(fp, "<total type=\"rest\" count=\"%zu\" size=\"%zu\"/>\n", rest_count, rest_bytes);
  rc |= put(fp, "<system type=\"current\" size=\"%zu\"/>\n<system type=\"max\" size=\"%zu\"/>\n",
            (size_t)mi.arena, (size_t)mi.usmblks);
  rc |= put(fp, "<aspace type=\"total\" size=\"%zu\"/>\n<aspace type=\"mprotect\" size=\"%zu\"/>\n</heap>\n",
            (size_t)mi.arena, (size_t)mi.arena);
  rc |= put(fp, "<total type=\"fast\" count=\"%zu\" size=\"%zu\"/>\n", (size_t)mi.smblks, (size_t)mi.fsmblks);
  rc |= put(fp, "<total type=\"rest\" count=\"%zu\" size=\"%zu\"/>\n", rest_count, rest_bytes);
  rc |= put(fp, "<total type=\"mmap\" count=\"%zu\" size=\"%zu\"/>\n", (size_t)mi.hblks, (size_t)mi.hblkhd);
  rc |= put(fp, "<system type=\"current\" size=\"%zu\"/>\n<system type=\"max\" size=\"%zu\"/>\n",
            (size_t)mi.arena, (size_t)mi.usmblks);
  rc |= put(fp, "<aspace type=\"total\" size=\"%zu\"/>\n<aspace type=\"mprotect\" size=\"%zu\"/>\n</malloc>\n",
            (size_t)mi.arena, (size_t)mi.arena);
  return rc == 0 ? 0 : -1;
}
