/* whitebox_huge.c — internals: the cache of freed huge mappings.
 *
 * Covers: a freed huge block's mapping serves the next huge request — as it is
 * when the size fits (up to 25 % larger), cut down when it is larger, grown by
 * mremap when it is smaller (mapped bytes change by the difference only);
 * memory from any of these is zero for calloc; a huge block that grows while
 * the cache holds more than 32 MiB empties the cache first; the purger sheds
 * the cache as it ends, and without a running purger the cache keeps at most
 * 32 MiB; malloc_trim empties it; a block that realloc moves at 256 KiB or
 * more becomes a mapping, and its contents follow it; such a block that takes a
 * larger cached mapping leaves the rest cached and grows over it without a
 * system call, and the pieces join again when it is freed, but pieces of two
 * kernel mappings side by side never join; a huge realloc that
 * must move its pages keeps errno on success. */
#include "check.h"
#include "internal.h"
#include "dynalloc.h"
#include <sys/mman.h>

#define MIB ((size_t)1 << 20)

static uint64_t mmaps(void) { return atomic_load(&da_os_stats.mmap_calls); }

static void fill(void *p, size_t n) { memset(p, 0xa5, n); }

static bool all_zero(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i += 4096)
    if (p[i] != 0 || p[i + 4095 < n ? i + 4095 : n - 1] != 0) return false;
  return true;
}

/* Frees a written block of `had` bytes, then asks for `want` bytes (zeroed with
 * calloc when zero): no new mapping, and the block is usable in full. */
static void check_reuse(size_t had, size_t want, bool zero) {
  void *a = da_malloc(had);
  CHECK(a != NULL);
  fill(a, had);
  da_free(a);
  CHECK(da_huge_cache_bytes() >= had);
  uint64_t before = mmaps(), remaps = atomic_load(&da_os_stats.mremap_calls);
  size_t mapped = atomic_load(&da_os_stats.mapped);
  unsigned char *b = zero ? da_calloc(1, want) : da_malloc(want);
  CHECK(b != NULL);
  CHECK(da_huge_cache_bytes() == 0);
  /* the mapping grew, shrank or stayed: mapped bytes changed by the difference */
  CHECK(atomic_load(&da_os_stats.mapped) <= mapped + (want > had ? want - had : 0));
  if (want <= had) CHECK(mmaps() == before);   /* growing may move it: a reservation */
  if (want > had || had - want > want / 4) CHECK(atomic_load(&da_os_stats.mremap_calls) > remaps);
  CHECK(da_malloc_usable_size(b) >= want);
  if (zero) CHECK(all_zero(b, want));
  fill(b, want);
  da_free(b);
  CHECK(da_malloc_trim(0) == 1);
  CHECK(da_huge_cache_bytes() == 0);
}

int main(void) {
  /* no expiry during the test: the checks look at what the cache holds */
  setenv("DYNALLOC_PURGE_DELAY", "600000", 1);
  /* the layout of pool pages is under test: no block goes to the guarded area */
  da_process_init();
  da_options.guard_sample = 0;
  test_name = "whitebox_huge";
  /* past 8 MiB mapped the purger thread starts (its stack is an mmap): first */
  void *start = da_malloc(16 * MIB);
  CHECK(start != NULL);
  da_free(da_malloc(16));
  da_free(start);
  da_malloc_trim(0);

  check_reuse(8 * MIB, 8 * MIB, false);   /* the same size */
  check_reuse(8 * MIB, 7 * MIB, true);    /* fits within 25 % */
  check_reuse(32 * MIB, 5 * MIB, true);   /* cut down */
  check_reuse(4 * MIB, 16 * MIB, true);   /* grown: the old part is cleared, the new part is fresh */
  check_reuse(4 * MIB, 16 * MIB, false);

  /* a cut-down mapping gives its tail back */
  void *big = da_malloc(64 * MIB);
  CHECK(big != NULL);
  da_free(big);
  size_t mapped = atomic_load(&da_os_stats.mapped);
  void *small = da_malloc(2 * MIB);
  CHECK(small != NULL && atomic_load(&da_os_stats.mapped) <= mapped - 60 * MIB);
  da_free(small);
  da_malloc_trim(0);

  /* a block growing by realloc first empties a cache above 32 MiB */
  void *grow = da_malloc(2 * MIB);
  void *cached = da_malloc(48 * MIB);
  CHECK(grow != NULL && cached != NULL);
  da_free(cached);
  CHECK(da_huge_cache_bytes() >= 48 * MIB);
  grow = da_realloc(grow, 8 * MIB);
  CHECK(grow != NULL && da_huge_cache_bytes() == 0);
  da_free(grow);
  da_malloc_trim(0);

  /* a block that realloc moves at 256 KiB or more becomes a mapping of its own,
   * which then grows by mremap; the contents follow */
  size_t len = 128 << 10;
  unsigned char *str = da_malloc(len);
  CHECK(str != NULL);
  memset(str, 0x5a, len);
  int moved_to_mapping = 0;
  void *blockers[64];
  for (int i = 0; i < 64; i++) {
    blockers[i] = da_malloc(8192);   /* keeps a bulk block from growing in place */
    size_t next = len + (32 << 10);
    unsigned char *q = da_realloc(str, next);
    CHECK(q != NULL);
    CHECK(q[0] == 0x5a && q[len / 2] == 0x5a && q[len - 1] == 0x5a);
    if (q != str && next >= DA_REALLOC_MAP_MIN) {
      CHECK(da_huge_find(q) != NULL);
      moved_to_mapping++;
    }
    memset(q + len, 0x5a, next - len);
    str = q;
    len = next;
  }
  CHECK(moved_to_mapping > 0 && da_huge_find(str) != NULL);
  da_free(str);
  for (int i = 0; i < 64; i++) da_free(blockers[i]);
  da_malloc_trim(0);

  /* freed blocks of two kernel mappings that lie side by side never join (an
   * mremap across both would fail), whichever is freed first */
  for (int order = 0; order < 2; order++) {
    enum { TRIES = 8 };
    unsigned char *m[TRIES];
    int lo = -1, hi = -1;
    for (int i = 0; i < TRIES; i++) {
      m[i] = da_malloc(4 * MIB);
      CHECK(m[i] != NULL && da_huge_find(m[i]) != NULL);
    }
    for (int i = 0; i < TRIES && lo < 0; i++)
      for (int j = 0; j < TRIES && lo < 0; j++)
        if (m[i] + da_huge_find(m[i])->map_size == m[j]) { lo = i; hi = j; }
    CHECKF(lo >= 0, "no two of %d fresh 4 MiB mappings side by side", TRIES);
    da_free(m[order == 0 ? lo : hi]);
    da_free(m[order == 0 ? hi : lo]);
    size_t n_pieces, n_bytes;
    da_huge_cache_counts(&n_pieces, &n_bytes);
    CHECKF(n_pieces == 2, "freed side by side: %zu cached pieces", n_pieces);
    for (int i = 0; i < TRIES; i++)
      if (i != lo && i != hi) da_free(m[i]);
    da_malloc_trim(0);
  }

  /* a block that realloc moves into a larger cached mapping takes only what it
   * asks for; the rest stays cached right after it, and the block grows over
   * those resident pages with no system call; other blocks moving meanwhile
   * take other cached mappings, not that rest; freed, the pieces join again */
  enum { GROWERS = 3 };
  unsigned char *old_maps[GROWERS], *grower[GROWERS];
  /* the first block to move takes the 4 MiB one (the largest), whose rest is
   * then the largest: the others must leave it */
  const size_t old_size[GROWERS] = {4 * MIB, 2 * MIB, 2 * MIB}, old_total = 8 * MIB;
  for (int i = 0; i < GROWERS; i++) {
    old_maps[i] = da_malloc(old_size[i]);
    CHECK(old_maps[i] != NULL);
    memset(old_maps[i], 0x11, old_size[i]);
  }
  for (int i = 0; i < GROWERS; i++) da_free(old_maps[i]);
  CHECK(da_huge_cache_bytes() == old_total);
  size_t glen = (200 << 10) + 37;   /* odd sizes, as a program's appends give */
  for (int i = 0; i < GROWERS; i++) {
    grower[i] = da_malloc(glen);
    CHECK(grower[i] != NULL);
    memset(grower[i], 0x40 + i, glen);
  }
  uint64_t calls = mmaps() + atomic_load(&da_os_stats.mremap_calls) + atomic_load(&da_os_stats.munmap_calls);
  size_t gmapped = atomic_load(&da_os_stats.mapped);
  const size_t step = 4093;
  while (glen + step <= 3 * MIB / 2) {   /* to 1.5 MiB, in steps; moved at 256 KiB */
    for (int i = 0; i < GROWERS; i++) {
      unsigned char *q = da_realloc(grower[i], glen + step);
      CHECK(q != NULL && q[0] == 0x40 + i && q[glen - 1] == 0x40 + i);
      memset(q + glen, 0x40 + i, step);
      grower[i] = q;
    }
    glen += step;
  }
  for (int i = 0; i < GROWERS; i++)   /* every byte followed its block */
    for (size_t k = 0; k < glen; k++)
      if (grower[i][k] != 0x40 + i) CHECK(!"a grown block lost its contents");
  for (int i = 0; i < GROWERS; i++) {
    CHECK(da_huge_find(grower[i]) != NULL);
    CHECK(da_malloc_usable_size(grower[i]) < 2 * MIB);   /* not the whole 2 MiB taken */
  }
  CHECK(mmaps() + atomic_load(&da_os_stats.mremap_calls) + atomic_load(&da_os_stats.munmap_calls) == calls);
  CHECK(atomic_load(&da_os_stats.mapped) == gmapped);
  CHECK(da_huge_cache_bytes() > 0 && da_huge_cache_bytes() < old_total - GROWERS * MIB);
  for (int i = 0; i < GROWERS; i++) da_free(grower[i]);
  size_t pieces = 0, piece_bytes = 0;
  da_huge_cache_counts(&pieces, &piece_bytes);
  CHECK(pieces == GROWERS && piece_bytes == old_total);
  da_malloc_trim(0);

  /* a huge realloc that cannot grow in place moves its pages, and a success
   * leaves errno as it was (the refusal in place is no error) */
  unsigned char *h = da_malloc(8 * MIB);
  CHECK(h != NULL);
  memset(h, 0x33, 8 * MIB);
  void *wall = mmap(h + da_malloc_usable_size(h), 4096, PROT_NONE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (wall != MAP_FAILED) {
    errno = 12345;
    unsigned char *h2 = da_realloc(h, 16 * MIB);
    CHECK(h2 != NULL && h2 != h && errno == 12345);
    CHECK(h2[0] == 0x33 && h2[8 * MIB - 1] == 0x33);
    h = h2;
    munmap(wall, 4096);
  }
  da_free(h);
  da_malloc_trim(0);

  /* while the purger thread runs, the cache may hold more than 32 MiB; the purger
   * sheds it as it ends (with the last heap) */
  void *x = da_malloc(48 * MIB);
  CHECK(x != NULL);
  da_free(x);
  CHECK(da_huge_cache_bytes() >= 48 * MIB);
  da_huge_cache_shed();
  CHECK(da_huge_cache_bytes() == 0);
  /* without a running purger nothing would return an idle cache: 32 MiB at most */
  int running = atomic_exchange(&da_purger_running, 0);   /* as if off or ended */
  x = da_malloc(48 * MIB);
  CHECK(x != NULL);
  da_free(x);
  CHECK(da_huge_cache_bytes() == 0);
  x = da_malloc(8 * MIB);
  CHECK(x != NULL);
  da_free(x);
  CHECK(da_huge_cache_bytes() >= 8 * MIB && da_huge_cache_bytes() <= DA_HUGE_CACHE_KEEP);
  da_malloc_trim(0);
  CHECK(da_huge_cache_bytes() == 0);
  atomic_store(&da_purger_running, running);
  printf("whitebox_huge: ok\n");
  return 0;
}
