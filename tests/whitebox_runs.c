/* whitebox_runs.c — internals: where pool pages are placed and which free runs
 * are reused.
 *
 * Covers: every pool page (pool and bulk classes) starts on a 64 KiB boundary
 * of its segment, so the header at a block's 64 KiB boundary is its page (the
 * lookup free() makes without a load); a page is the shortest run holding the
 * blocks 64 KiB holds (less than a slice of it unused) and the rest of its
 * 64 KiB is free for other runs; pages and bulk runs made after a round of frees reuse dirty
 * runs (pages already resident), never clean ones, while dirty runs are left;
 * rounds of small-block batches keep the resident set of the first round; the
 * segment invariants (adjacent free runs differ in dirty state) hold after
 * each round. */
#include "check.h"
#include "internal.h"
#include "dynalloc.h"
#include <stdlib.h>

#define N_POOL 2000          /* 2000 blocks of 1000 B: about 32 pool pages */
#define N_BULK 40            /* 40 runs of 10 slices */

static da_page_t *pool_page_by_arithmetic(const void *p) {
  da_segment_t *seg = da_segment_of(p);
  size_t rel = (uintptr_t)p - (uintptr_t)seg;
  return &seg->pages[(rel >> DA_POOL_PAGE_SHIFT) * DA_POOL_PAGE_SLICES];
}

static void test_placement(void) {
  void *p[DA_BIN_COUNT][40];
  for (size_t bin = 0; bin < DA_BIN_COUNT; bin++) {
    for (int i = 0; i < 40; i++) {
      p[bin][i] = da_malloc(bin == 0 ? 0 : da_bin_size(bin));   /* bin 0 serves malloc(0) */
      CHECK(p[bin][i] != NULL);
      da_page_t *page = da_page_of(p[bin][i]);
      CHECK(page != NULL && page->kind == DA_KIND_POOL && page->bin == bin);
      CHECK(da_segment_index(da_segment_of_page(page), page) % DA_POOL_PAGE_SLICES == 0);
      CHECK(pool_page_by_arithmetic(p[bin][i]) == page);
      /* the run: as many blocks as 64 KiB holds, less than a slice left over */
      size_t blocks = DA_POOL_PAGE_SIZE / page->block_size, run = (size_t)page->slice_count << DA_SLICE_SHIFT;
      CHECK(run <= DA_POOL_PAGE_SIZE && run >= blocks * page->block_size &&
            run - blocks * page->block_size < DA_SLICE_SIZE);
      if (bin < DA_BIN_POOL_COUNT) CHECK(page->slice_count == DA_POOL_PAGE_SLICES);
      /* … and the slices after it in its 64 KiB are another run */
      uint8_t *end = da_page_start(da_segment_of_page(page), page) + run;
      if (run < DA_POOL_PAGE_SIZE) CHECK(da_page_of(end) != page && da_page_of(end)->kind != DA_KIND_POOL);
    }
    /* a bulk run between pool pages shifts nothing */
    void *bulk = da_malloc(8 * DA_SLICE_SIZE + 1);
    CHECK(bulk != NULL && da_page_of(bulk)->kind == DA_KIND_BULK);
    CHECK(pool_page_by_arithmetic(bulk)->kind != DA_KIND_POOL || pool_page_by_arithmetic(bulk) != da_page_of(bulk));
    da_free(bulk);
  }
  for (size_t bin = 0; bin < DA_BIN_COUNT; bin++)
    for (int i = 0; i < 40; i++) da_free(p[bin][i]);
}

static void check_heap_segments(void) {
  for (da_segment_t *seg = da_heap_tls->segments; seg; seg = seg->next) CHECK(da_segment_is_valid(seg));
}

static bool seen_before(da_page_t *page, da_page_t **before, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (before[i] == page) return true;
  return false;
}

/* How many runs holding the blocks were taken clean in this round (a page kept
 * from the last round, such as a bin's allocation page, was not taken now);
 * the runs are recorded in *now for the next round. */
static size_t clean_runs(void **blk, size_t n, da_page_t **before, size_t *n_before) {
  static da_page_t *now[N_POOL];
  size_t clean = 0, n_now = 0;
  for (size_t i = 0; i < n; i++) {
    da_page_t *page = da_page_of(blk[i]);
    if (n_now > 0 && now[n_now - 1] == page) continue;
    if (!seen_before(page, now, n_now)) now[n_now++] = page;
    if (!page->dirty && !seen_before(page, before, *n_before)) clean++;
  }
  for (size_t i = 0; i < n_now; i++) before[i] = now[i];
  *n_before = n_now;
  return clean;
}

static void test_dirty_reuse(void) {
  static void *pool[N_POOL], *bulk[N_BULK];
  static da_page_t *pool_before[N_POOL], *bulk_before[N_BULK];
  size_t n_pool_before = 0, n_bulk_before = 0;
  for (int round = 0; round < 3; round++) {
    for (size_t i = 0; i < N_POOL; i++) CHECK((pool[i] = da_malloc(1000)) != NULL);
    for (size_t i = 0; i < N_BULK; i++) CHECK((bulk[i] = da_malloc(10 * DA_SLICE_SIZE - 100)) != NULL);
    size_t clean_pool = clean_runs(pool, N_POOL, pool_before, &n_pool_before);
    size_t clean_bulk = clean_runs(bulk, N_BULK, bulk_before, &n_bulk_before);
    if (round > 0) {
      CHECKF(clean_pool <= 1, "round %d: %zu pool pages in clean runs", round, clean_pool);
      CHECKF(clean_bulk <= N_BULK / 20, "round %d: %zu bulk runs clean", round, clean_bulk);
    }
    check_heap_segments();
    for (size_t i = 0; i < N_POOL; i++) da_free(pool[(i * 7919) % N_POOL]);   /* scattered order */
    for (size_t i = 0; i < N_BULK; i++) da_free(bulk[i]);
    check_heap_segments();
  }
  /* after a trim every free run is clean again, and the segments still valid */
  da_malloc_trim(0);
  check_heap_segments();
}

/* Rounds of 100,000 small blocks (8–128 B) allocated, then freed newest first,
 * oldest first or scattered: after the first round the resident set must not
 * grow, since every round fits in the pages the first one touched. */
static void test_resident_set(void) {
  enum { N = 100000, ROUNDS = 12 };
  static void *blk[N];
  static size_t size[N];
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i < N; i++) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    size[i] = 8 + x % 121;
  }
  size_t rss_first = 0;
  for (int round = 0; round < ROUNDS; round++) {
    for (size_t i = 0; i < N; i++) {
      CHECK((blk[i] = da_malloc(size[i])) != NULL);
      ((char *)blk[i])[0] = 1;
      ((char *)blk[i])[size[i] - 1] = 1;
    }
    for (size_t i = 0; i < N; i++) {
      size_t k = round % 3 == 0 ? N - 1 - i : round % 3 == 1 ? i : (i * 7919) % N;
      da_free(blk[k]);
    }
    check_heap_segments();
    size_t rss = test_rss();
    if (round == 0) rss_first = rss;
    CHECKF(rss <= rss_first + 512 * 1024, "round %d: resident %zu KiB, after the first round %zu KiB",
           round, rss >> 10, rss_first >> 10);
  }
}

int main(void) {
  /* no purge between the rounds: the reuse checks look at dirty runs */
  setenv("DYNALLOC_PURGE_DELAY", "100000", 1);
  /* the layout of pool pages is under test: no block goes to the guarded area */
  da_process_init();
  da_options.guard_sample = 0;
  test_name = "whitebox_runs";
  test_placement();
  test_dirty_reuse();
  test_resident_set();
  printf("whitebox_runs: ok\n");
  return 0;
}
