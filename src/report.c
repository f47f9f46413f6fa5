/* report.c — the statistics report (malloc_stats, DYNALLOC_STATS at exit) in
 * text or JSON, and where the exit report goes.
 *
 * Every figure comes from one da_totals_t snapshot (stats.c), so the text, the
 * JSON object, mallinfo2 and malloc_info agree.  Output is formatted into a
 * buffer on the stack with da_format and written with write(2): no malloc, no
 * stdio, and no allocator lock is held while writing.
 *
 * The exit report goes, once per process (a fork child writes its own), to
 * DYNALLOC_STATS_FILE (%p: the pid; a relative path is taken from the working
 * directory at start-up), or else to a duplicate of stderr made at start-up
 * above descriptor 100 (close-on-exec), so that a program that closes stderr
 * before it exits still gets it.  It is written by the library's destructor at
 * exit(), and by _exit/_Exit of the preloaded library (exit.c).
 */
#define _GNU_SOURCE
#include "internal.h"
#include <malloc.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

typedef unsigned long long ull;

/* AnonHugePages of /proc/self/smaps_rollup (the whole process's, in KiB), or -1. */
static long anon_huge_kb(void) {
  int fd = open("/proc/self/smaps_rollup", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[2048];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  const char *key = "AnonHugePages:";
  for (const char *c = buf; *c; c++) {
    size_t k = 0;
    while (key[k] && c[k] == key[k]) k++;
    if (key[k] != 0) continue;
    long v = 0;
    for (c += k; *c == ' '; c++) {}
    for (; *c >= '0' && *c <= '9'; c++) v = v * 10 + (*c - '0');
    return v;
  }
  return -1;
}

static void report_text(da_sink_t *s, const da_totals_t *t, const struct mallinfo2 *mi) {
  da_sink_printf(s, "dynalloc: statistics for process %d\n", (int)getpid());
  da_sink_printf(s, "  pool classes (size: live blocks, live bytes)\n");
  uint64_t live_blocks = 0;
  for (size_t b = 0; b < DA_BIN_COUNT; b++) {
    live_blocks += t->live_blocks[b];
    if (t->live_blocks[b] == 0) continue;
    da_sink_printf(s, "    %s%zu: %llu, %llu\n", b == 0 ? "0 → " : "", da_bin_size(b), (ull)t->live_blocks[b],
        (ull)t->live_blocks[b] * da_bin_size(b));
  }
  da_sink_printf(s, "  tier  mallocs  frees  live bytes\n");
  da_sink_printf(s, "    pool  –  –  %zu  (%llu blocks in %zu pages of 64 KiB, %zu of them empty and kept; %zu free blocks, %zu bytes)\n",
      t->pool_in_use, (ull)live_blocks, t->pool_pages, t->pool_kept_pages, t->pool_free_blocks, t->pool_free_bytes);
  da_sink_printf(s, "    bulk  %llu  %llu  %zu  (%zu runs)\n", (ull)t->counters.bulk_mallocs,
      (ull)t->counters.bulk_frees + t->bulk_remote, t->bulk_in_use, t->bulk_runs);
  da_sink_printf(s, "    huge  %llu  %llu  %zu  (%zu blocks)\n", (ull)t->huge_mallocs, (ull)t->huge_frees,
      t->huge_in_use, t->huge_count);
  da_sink_printf(s, "  in use: %zu bytes (uordblks %zu + hblkhd %zu); freed by other threads, not yet collected: %zu bytes\n",
      mi->uordblks + mi->hblkhd, mi->uordblks, mi->hblkhd, t->remote_bytes);
  if (da_options.harden) da_sink_printf(s, "  hardened mode: %zu bytes freed, held in quarantine\n", t->quarantine_bytes);
  if (da_percpu_on) da_sink_printf(s, "  per-CPU caches: %zu bytes freed, held for reuse on their CPU\n", t->percpu_bytes);
  da_sink_printf(s, "  guarded samples: %llu since start, %zu live (%zu bytes), %zu bytes mapped\n",
      (ull)t->guard.sampled, t->guard.live_blocks, t->guard.live_bytes, t->guard.mapped);
  da_sink_printf(s, "  free runs: %zu bytes in %zu runs (%zu not yet purged)\n", t->free_runs_bytes, t->free_runs,
      t->dirty_bytes);
  da_sink_printf(s, "  caches: %zu segments (%zu bytes); huge cache: %zu mappings (%zu bytes)\n", t->cached_segments,
      t->cached_segments * DA_SEGMENT_SIZE, t->huge_cached, t->huge_cached_bytes);
  da_sink_printf(s, "  releasable now (keepcost): %zu bytes\n", (size_t)mi->keepcost);
  da_sink_printf(s, "  heaps: %zu live; segments: %zu in heaps or abandoned, %zu cached; %llu adopted\n", t->heaps,
      t->segments, t->cached_segments, (ull)t->counters.segments_adopted);
  da_sink_printf(s, "  OS: %zu bytes mapped now (arena %zu + hblkhd %zu; metadata %zu), peak %zu, %zu bytes purged\n",
      t->mapped, (size_t)mi->arena, (size_t)mi->hblkhd, t->meta_bytes, t->mapped_peak,
      atomic_load(&da_os_stats.purged));
  long huge_kb = anon_huge_kb();
  if (huge_kb >= 0)
    da_sink_printf(s, "  transparent huge pages: %ld KiB of the process's anonymous memory (DYNALLOC_THP=%ld)\n", huge_kb,
        da_options.thp);
  da_sink_printf(s, "  system calls: mmap %llu, munmap %llu, madvise %llu, mremap %llu, sbrk %llu\n",
      (ull)atomic_load(&da_os_stats.mmap_calls), (ull)atomic_load(&da_os_stats.munmap_calls),
      (ull)atomic_load(&da_os_stats.madvise_calls), (ull)atomic_load(&da_os_stats.mremap_calls),
      (ull)atomic_load(&da_os_stats.sbrk_calls));
}

static void report_json(da_sink_t *s, const da_totals_t *t, const struct mallinfo2 *mi) {
  da_sink_printf(s, "{\"dynalloc\": 1, \"pid\": %d, \"in_use\": %zu, \"remote_pending\": %zu, \"percpu_cached\": %zu,\n",
      (int)getpid(), mi->uordblks + mi->hblkhd, t->remote_bytes, t->percpu_bytes);
  da_sink_printf(s, " \"mallinfo2\": {\"arena\": %zu, \"ordblks\": %zu, \"smblks\": %zu, \"hblks\": %zu, \"hblkhd\": %zu, "
         "\"usmblks\": %zu, \"fsmblks\": %zu, \"uordblks\": %zu, \"fordblks\": %zu, \"keepcost\": %zu},\n",
      mi->arena, mi->ordblks, mi->smblks, mi->hblks, mi->hblkhd, mi->usmblks, mi->fsmblks, mi->uordblks,
      mi->fordblks, mi->keepcost);
  da_sink_printf(s, " \"pool\": {\"in_use\": %zu, \"pages\": %zu, \"kept_pages\": %zu, \"free_blocks\": %zu, \"free_bytes\": %zu, \"classes\": {",
      t->pool_in_use, t->pool_pages, t->pool_kept_pages, t->pool_free_blocks, t->pool_free_bytes);
  const char *sep = "";
  for (size_t b = 0; b < DA_BIN_COUNT; b++) {
    if (t->live_blocks[b] == 0) continue;
    da_sink_printf(s, "%s\"%zu\": %llu", sep, da_bin_size(b), (ull)t->live_blocks[b]);
    sep = ", ";
  }
  da_sink_printf(s, "}},\n \"bulk\": {\"mallocs\": %llu, \"frees\": %llu, \"in_use\": %zu, \"runs\": %zu},\n",
      (ull)t->counters.bulk_mallocs, (ull)t->counters.bulk_frees + t->bulk_remote, t->bulk_in_use,
      t->bulk_runs);
  da_sink_printf(s, " \"huge\": {\"mallocs\": %llu, \"frees\": %llu, \"in_use\": %zu, \"blocks\": %zu, "
         "\"cached\": %zu, \"cached_bytes\": %zu},\n",
      (ull)t->huge_mallocs, (ull)t->huge_frees, t->huge_in_use, t->huge_count, t->huge_cached,
      t->huge_cached_bytes);
  da_sink_printf(s, " \"guard\": {\"sampled\": %llu, \"live_blocks\": %zu, \"live_bytes\": %zu, \"mapped\": %zu},\n",
      (ull)t->guard.sampled, t->guard.live_blocks, t->guard.live_bytes, t->guard.mapped);
  da_sink_printf(s, " \"free_runs\": {\"count\": %zu, \"bytes\": %zu, \"dirty_bytes\": %zu},\n", t->free_runs,
      t->free_runs_bytes, t->dirty_bytes);
  da_sink_printf(s, " \"heaps\": %zu, \"segments\": %zu, \"cached_segments\": %zu, \"adopted\": %llu,\n", t->heaps,
      t->segments, t->cached_segments, (ull)t->counters.segments_adopted);
  da_sink_printf(s, " \"os\": {\"mapped\": %zu, \"peak\": %zu, \"metadata\": %zu, \"purged\": %zu, \"mmap\": %llu, "
         "\"munmap\": %llu, \"madvise\": %llu, \"mremap\": %llu, \"sbrk\": %llu, \"anon_huge_kb\": %ld}}\n",
      t->mapped, t->mapped_peak, t->meta_bytes, atomic_load(&da_os_stats.purged),
      (ull)atomic_load(&da_os_stats.mmap_calls), (ull)atomic_load(&da_os_stats.munmap_calls),
      (ull)atomic_load(&da_os_stats.madvise_calls), (ull)atomic_load(&da_os_stats.mremap_calls),
      (ull)atomic_load(&da_os_stats.sbrk_calls), anon_huge_kb());
}

static void report(int fd, bool json) {
  da_totals_t t;
  struct mallinfo2 mi;
  da_stats_totals(&t);   /* takes and releases the locks: none is held below */
  da_stats_mallinfo2(&t, &mi);
  da_sink_t s;
  da_sink_init(&s, fd);
  if (json) report_json(&s, &t, &mi);
  else report_text(&s, &t, &mi);
  da_sink_flush(&s);
}

void da_report_print(int fd) { report(fd, false); }

/* ---- the exit report ----------------------------------------------------------------------------- */
static int report_fd = -1;          /* the duplicate of stderr */
static char report_path[4096];      /* DYNALLOC_STATS_FILE, absolute, %p not yet expanded */
static _Atomic(int) reported_pid;   /* the process that wrote it (a fork child has another pid) */

static size_t append(char *dst, size_t at, size_t cap, const char *src) {
  while (*src && at + 1 < cap) dst[at++] = *src++;
  dst[at] = 0;
  return at;
}

/* file, made absolute from the working directory (now, at start-up). */
void da_path_absolute(char *dst, size_t cap, const char *file) {
  size_t n = 0;
  dst[0] = 0;
  if (file[0] != '/' && getcwd(dst, cap) != NULL) n = append(dst, strlen(dst), cap, "/");
  append(dst, n, cap, file);
}

void da_report_init(void) {
  const char *file = da_options.stats_file;
  if (file != NULL) {
    if (da_options.stats == 0) da_options.stats = 1;
    da_path_absolute(report_path, sizeof report_path, file);
    return;
  }
  if (da_options.stats) report_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 100);
}

/* pattern with every %p replaced by the pid. */
void da_path_expand(char *buf, size_t cap, const char *pattern) {
  size_t n = 0;
  buf[0] = 0;
  for (const char *c = pattern; *c; c++) {
    if (c[0] == '%' && c[1] == 'p') {
      char pid[24];
      da_snprintf(pid, sizeof pid, "%d", (int)getpid());
      n = append(buf, n, cap, pid);
      c++;
    } else {
      char one[2] = {*c, 0};
      n = append(buf, n, cap, one);
    }
  }
}

void da_report_at_exit(void) {
  if (da_options.stats == 0) return;
  int me = (int)getpid();
  if (atomic_exchange(&reported_pid, me) == me) return;
  int fd = report_fd >= 0 && fcntl(report_fd, F_GETFD) != -1 ? report_fd : STDERR_FILENO;
  bool opened = false;
  if (report_path[0] != 0) {
    char path[sizeof report_path + 32];
    da_path_expand(path, sizeof path, report_path);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      da_message("dynalloc: cannot write the statistics to %s\n", path);
      return;
    }
    opened = true;
  }
  report(fd, da_options.stats == 2);
  if (opened) close(fd);
}
