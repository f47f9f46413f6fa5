/* whitebox_harden.c — internals: the hardened mode's pages under a malloc/free loop.
 *
 * Covers: with DYNALLOC_HARDEN=1, a loop of malloc+free pairs of one size (64,
 * 512, 4000 and 8000 B: the quarantine empties the loop's pages one after
 * another) makes no new page once warm: the page the quarantine empties is kept
 * for its bin (DA_PAGE_KEPT, on heap->kept[bin]) and serves the bin's next
 * page, instead of being retired and another carved and filled; no empty page
 * but the allocation page stays in the bin's queue, and at most one is kept;
 * malloc_trim gives them back. */
#include "check.h"
#include "internal.h"
#include "dynalloc.h"
#include <stdlib.h>

static size_t kept_pages(const da_heap_t *heap, size_t bin) {
  size_t n = 0;
  for (const da_page_t *page = heap->kept[bin].first; page; page = page->next) n++;
  return n;
}

/* Empty pages of bin's queue that are not its allocation page. */
static size_t empty_pages(const da_heap_t *heap, size_t bin) {
  size_t n = 0;
  for (const da_page_t *page = heap->bins[bin].first; page; page = page->next)
    if (da_used(page) == 0 && heap->direct[bin] != page) n++;
  return n;
}

static void loop(size_t size, size_t pairs) {
  for (size_t i = 0; i < pairs; i++) {
    volatile char *p = da_malloc(size);
    CHECK(p != NULL);
    p[0] = 1;
    da_free((void *)p);
  }
}

static void test_loop(size_t size) {
  size_t bin = da_size_class(size + 1);   /* the hardened mode's class: room for the canary */
  loop(size, 5000);                       /* the quarantine full, its pages cycling */
  da_heap_t *heap = da_heap_tls;
  uint64_t made = heap->stats.pages_made;
  loop(size, 20000);
  CHECKF(heap->stats.pages_made == made, "%zu B: %llu pages made in 20000 warm pairs", size,
         (unsigned long long)(heap->stats.pages_made - made));
  CHECKF(empty_pages(heap, bin) == 0, "%zu B: %zu empty pages in the bin's queue", size, empty_pages(heap, bin));
  CHECKF(kept_pages(heap, bin) <= 1, "%zu B: %zu empty pages kept", size, kept_pages(heap, bin));
  da_malloc_trim(0);
  CHECKF(empty_pages(heap, bin) == 0 && kept_pages(heap, bin) == 0 && heap->kept_pages == 0,
         "%zu B: %zu empty pages kept after malloc_trim", size, kept_pages(heap, bin));
  printf("whitebox_harden: %zu B: no page made in 20000 warm pairs\n", size);
}

int main(int argc, char **argv) {
  (void)argc;
  if (getenv("DYNALLOC_HARDEN") == NULL) {   /* the options are read at load: run again with them */
    setenv("DYNALLOC_HARDEN", "1", 1);
    setenv("DYNALLOC_GUARD_SAMPLE", "0", 1);
    execv("/proc/self/exe", argv);
    return 1;
  }
  da_process_init();
  test_name = "whitebox_harden";
  CHECK(da_options.harden == 1);
  static const size_t sizes[] = {64, 512, 4000, 8000};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) test_loop(sizes[i]);
  printf("whitebox_harden: ok\n");
  return 0;
}
