/* whitebox_kept.c — internals: emptied pool pages kept for their bin (page.c).
 *
 * Covers: a batch of small blocks freed whole leaves its emptied pages kept
 * (DA_PAGE_KEPT, on heap->kept[bin], counted in kept_pages), out of the bin's
 * queue, and counted in the statistics; the next batch of the class takes them back and makes no new page,
 * and their blocks come in address order (carved again);
 * a kept page stays at least the purge delay and goes back to its segment once
 * it has aged (three generations), its run then purged by the next purge; a
 * run wanted when no dirty free run fits takes one kept page back to its
 * segment (the oldest, whatever its class) rather than a clean run, and a
 * larger run no more kept pages than it has pool pages;
 * malloc_trim and the purger's reclaim of an idle heap give them all back; with DYNALLOC_PURGE_DELAY=0 an emptied page
 * is retired at once; a block of a kept page freed again is a double free. */
#include "check.h"
#include "internal.h"
#include "dynalloc.h"
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

#define N     2000   /* blocks of SIZE: about 31 pool pages */
#define SIZE  1000

static void *blk[N];

static size_t queue_length(const da_queue_t *q) {
  size_t n = 0;
  for (const da_page_t *page = q->first; page; page = page->next) n++;
  return n;
}

static size_t kept_total(const da_heap_t *heap) {
  size_t n = 0;
  for (size_t b = 0; b < DA_BIN_COUNT; b++) n += queue_length(&heap->kept[b]);
  return n;
}

static void batch_alloc(void) {
  for (size_t i = 0; i < N; i++) {
    blk[i] = da_malloc(SIZE);
    CHECK(blk[i] != NULL);
    memset(blk[i], 0x5a, SIZE);
  }
}

static void batch_free(void) {
  for (size_t i = 0; i < N; i++) da_free(blk[i]);
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* Pages of the batch; bin's allocation page excepted. */
static size_t batch_pages(const da_heap_t *heap, size_t bin) {
  size_t n = 0;
  const da_page_t *last = NULL;
  for (size_t i = 0; i < N; i++) {
    const da_page_t *page = da_page_of(blk[i]);
    if (page != last && page != heap->direct[bin]) n++;
    last = page;
  }
  return n;
}

static void test_reuse(da_heap_t *heap, size_t bin) {
  batch_alloc();
  size_t pages = batch_pages(heap, bin);
  CHECK(pages >= 20);
  uint64_t kept0 = heap->stats.pages_kept, retired0 = heap->stats.pages_retired;
  batch_free();
  CHECKF(heap->kept_pages == pages && kept_total(heap) == pages, "%u pages kept of %zu emptied",
         heap->kept_pages, pages);
  CHECK(heap->stats.pages_kept - kept0 == pages && heap->stats.pages_retired == retired0);
  static da_totals_t totals;   /* the statistics report's figure */
  da_stats_totals(&totals);
  CHECKF(totals.pool_kept_pages == pages, "the statistics count %zu kept pages of %zu", totals.pool_kept_pages, pages);
  for (const da_page_t *page = heap->bins[bin].first; page; page = page->next)
    CHECK(da_used(page) != 0 || page == heap->direct[bin]);   /* out of the bin's queue */
  for (const da_page_t *page = heap->kept[bin].first; page; page = page->next)
    CHECK((page->flags & DA_PAGE_KEPT) && da_used(page) == 0 && page->kind == DA_KIND_POOL);
  CHECK(da_heap_is_valid(heap));
  static const da_page_t *kept[N];
  size_t n_kept = 0;
  for (const da_page_t *page = heap->kept[bin].first; page; page = page->next) kept[n_kept++] = page;
  uint64_t made = heap->stats.pages_made;
  batch_alloc();
  CHECKF(heap->stats.pages_made == made, "%llu pages made by the second batch",
         (unsigned long long)(heap->stats.pages_made - made));
  CHECK(heap->kept_pages == 0 && da_heap_is_valid(heap));
  /* a kept page is carved again: its blocks come in address order, not in the
   * order the first batch freed them */
  size_t in_order = 0;
  for (size_t i = 0; i + 1 < N; i++) {
    const da_page_t *page = da_page_of(blk[i]);
    if (page != da_page_of(blk[i + 1])) continue;
    bool was_kept = false;
    for (size_t k = 0; k < n_kept && !was_kept; k++) was_kept = kept[k] == page;
    if (!was_kept) continue;
    CHECKF((uint8_t *)blk[i + 1] == (uint8_t *)blk[i] + page->block_size, "blocks %p then %p of a kept page",
           blk[i], blk[i + 1]);
    in_order++;
  }
  CHECK(in_order >= N / 2);
  batch_free();
  printf("whitebox_kept: %zu pages kept and reused by the next batch\n", pages);
}

/* Aged out by the purger's calls: never before the delay, all at the third
 * generation step after they were kept (a bound in steps, not in time: a loaded
 * machine may run the loop late). */
static void test_aging(da_heap_t *heap) {
  const long delay = 40;
  da_options.purge_delay_ms = delay;
  heap->kept_tick_ms = 0;   /* the generation free to move at the first call */
  batch_alloc();
  batch_free();
  uint32_t kept = heap->kept_pages;
  CHECK(kept >= 20);
  uint8_t gen0 = heap->kept_gen;   /* the generation they were kept in */
  for (size_t b = 0; b < DA_BIN_COUNT; b++)
    for (const da_page_t *page = heap->kept[b].first; page; page = page->next) CHECK(page->dirty == gen0);
  uint64_t start = da_clock_ms(), now;
  size_t dirty0 = heap->dirty_bytes;
  do {
    da_span_lock(heap);
    now = da_clock_ms();
    da_page_release_kept_locked(heap, false);
    da_span_unlock(heap);
    if (now - start < (uint64_t)delay)
      CHECKF(heap->kept_pages == kept, "%u of %u kept pages released %llu ms after the free", kept - heap->kept_pages,
             kept, (unsigned long long)(now - start));
    sleep_ms(5);
  } while (heap->kept_pages != 0 && (uint8_t)(heap->kept_gen - gen0) < 3 && now - start < 10000);
  CHECKF(heap->kept_pages == 0, "%u kept pages left %u generation steps, %llu ms after the free", heap->kept_pages,
         (unsigned)(uint8_t)(heap->kept_gen - gen0), (unsigned long long)(now - start));
  CHECKF(heap->dirty_bytes >= dirty0 + (size_t)kept * DA_POOL_PAGE_SIZE / 2, "%zu B dirty, %zu B before",
         heap->dirty_bytes, dirty0);   /* their runs dirty… */
  da_span_lock(heap);
  da_segment_purge_locked(heap, false);
  da_span_unlock(heap);
  CHECKF(heap->dirty_bytes <= dirty0, "%zu B dirty after the purge, %zu B before the batch", heap->dirty_bytes,
         dirty0);   /* …and already due: the next purge takes them */
  CHECK(da_heap_is_valid(heap));
  printf("whitebox_kept: %u kept pages aged out after %llu ms (delay %ld ms)\n", kept,
         (unsigned long long)(now - start), delay);
}

static size_t segment_count(const da_heap_t *heap) {
  size_t n = 0;
  for (const da_segment_t *seg = heap->segments; seg; seg = seg->next) n++;
  return n;
}

/* A bulk run of one pool page's size, wanted with only kept pages dirty: the
 * oldest kept page goes, though a bin looked at first keeps younger ones. */
static void test_run_wanted(da_heap_t *heap, size_t bin) {
  da_options.purge_delay_ms = 10000;
  da_malloc_trim(0);   /* no dirty free run left */
  CHECK(heap->dirty_bytes == 0);
  enum { N_SMALL = 400, SMALL = 500 };
  static void *small[N_SMALL];
  size_t small_bin = da_size_class(SMALL);
  CHECK(small_bin < bin);
  batch_alloc();
  for (size_t i = 0; i < N_SMALL; i++) CHECK((small[i] = da_malloc(SMALL)) != NULL);
  batch_free();
  static da_page_t *kept[N];
  size_t n = 0;
  for (da_page_t *page = heap->kept[bin].first; page; page = page->next) kept[n++] = page;
  CHECK(n == heap->kept_pages && n >= 20);
  heap->kept_gen++;   /* the smaller class's pages are kept a generation later */
  for (size_t i = 0; i < N_SMALL; i++) da_free(small[i]);
  size_t n_small = heap->kept_pages - n;
  CHECK(n_small >= 1 && queue_length(&heap->kept[small_bin]) == n_small);
  size_t segments = segment_count(heap);
  void *bulk = da_malloc(DA_POOL_PAGE_SIZE - DA_SLICE_SIZE);
  CHECK(bulk != NULL);
  CHECKF(heap->kept_pages == n + n_small - 1, "%zu kept pages released for one run", n + n_small - heap->kept_pages);
  CHECK(queue_length(&heap->kept[small_bin]) == n_small);
  CHECK(heap->kept[bin].first == kept[1]);   /* the oldest went */
  CHECKF(da_page_of(bulk) == kept[0], "the run of %p is not the released page's", bulk);
  CHECK(segment_count(heap) == segments);
  da_free(bulk);
  da_malloc_trim(0);
  CHECKF(heap->kept_pages == 0 && kept_total(heap) == 0 && heap->dirty_bytes == 0,
         "malloc_trim left %u kept pages, %zu B dirty", heap->kept_pages, heap->dirty_bytes);
  CHECK(da_heap_is_valid(heap));
  printf("whitebox_kept: a wanted run took the oldest kept page; malloc_trim took the rest\n");
}

/* A run of 8 pool pages, wanted when the only dirty memory is kept pages with
 * live pages between them (so none joins another into a fit): 8 kept pages go
 * back for it (each one tried), the others stay kept for their bin. */
static void test_run_large(da_heap_t *heap) {
  da_options.purge_delay_ms = 10000;
  da_malloc_trim(0);
  CHECK(heap->dirty_bytes == 0 && heap->kept_pages == 0);
  batch_alloc();
  size_t ordinal = 0;
  const da_page_t *last = da_page_of(blk[0]);
  for (size_t i = 0; i < N; i++) {   /* the blocks of every other page freed */
    if (da_page_of(blk[i]) != last) { ordinal++; last = da_page_of(blk[i]); }
    if (ordinal % 2 == 0) { da_free(blk[i]); blk[i] = NULL; }
  }
  size_t kept = heap->kept_pages;
  CHECKF(kept >= 12, "%zu pages kept", kept);
  void *run = da_malloc(8 * DA_POOL_PAGE_SIZE);
  CHECK(run != NULL && da_page_of(run)->kind == DA_KIND_BULK);
  size_t released = kept - heap->kept_pages;
  CHECKF(released == 8, "%zu kept pages released for a run of 8 pool pages", released);   /* none fits */
  da_free(run);
  for (size_t i = 0; i < N; i++) da_free(blk[i]);
  da_malloc_trim(0);
  CHECK(heap->kept_pages == 0 && da_heap_is_valid(heap));
  printf("whitebox_kept: a run of 8 pool pages took %zu of %zu kept pages\n", released, kept);
}

static void test_no_delay(da_heap_t *heap) {
  da_options.purge_delay_ms = 0;
  batch_alloc();
  uint64_t kept0 = heap->stats.pages_kept, retired0 = heap->stats.pages_retired;
  batch_free();
  CHECK(heap->kept_pages == 0 && heap->stats.pages_kept == kept0);
  CHECK(heap->stats.pages_retired - retired0 >= 20);
  printf("whitebox_kept: purge delay 0: %llu emptied pages retired at once\n",
         (unsigned long long)(heap->stats.pages_retired - retired0));
}

/* An idle heap's kept pages go at the purger's second look (reclaim.c). */
static void test_idle(da_heap_t *heap) {
  da_options.purge_delay_ms = 10000;
  batch_alloc();
  batch_free();
  CHECK(heap->kept_pages >= 20);
  da_purger_pass();   /* the first look: the heap's epoch noted */
  CHECK(heap->kept_pages >= 20);
  da_purger_pass();
  CHECKF(heap->kept_pages == 0, "%u pages still kept by an idle heap", heap->kept_pages);
  printf("whitebox_kept: an idle heap's kept pages released\n");
}

/* In a child: its abort is the outcome. */
static void test_double_free(void) {
  da_options.purge_delay_ms = 10000;
  fflush(stdout);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    close(2);   /* the report is misuse_double's to check; here, that it aborts */
    batch_alloc();
    batch_free();
    CHECK(da_page_of(blk[5])->flags & DA_PAGE_KEPT);
    da_free(blk[5]);
    _exit(0);
  }
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "double free into a kept page: status %#x", status);
  printf("whitebox_kept: a double free into a kept page aborts\n");
}

int main(int argc, char **argv) {
  (void)argc;
  if (getenv("DYNALLOC_PURGE_THREAD") == NULL) {   /* read at load: the test makes the passes itself */
    setenv("DYNALLOC_PURGE_THREAD", "0", 1);
    execv("/proc/self/exe", argv);
    return 1;
  }
  da_process_init();
  da_options.guard_sample = 0;   /* every block of a batch from its pool pages */
  test_name = "whitebox_kept";
  da_free(da_malloc(1));   /* the thread's heap */
  da_heap_t *heap = da_heap_tls;
  size_t bin = da_size_class(SIZE);
  CHECK(heap != NULL && da_options.purge_delay_ms > 0 && da_options.purge_thread == 0);
  test_reuse(heap, bin);
  test_aging(heap);
  test_run_wanted(heap, bin);
  test_run_large(heap);
  test_idle(heap);
  test_double_free();
  test_no_delay(heap);
  printf("whitebox_kept: ok\n");
  return 0;
}
