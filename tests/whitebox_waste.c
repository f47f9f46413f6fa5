/* whitebox_waste.c — internals: what a request above 4096 B costs.
 *
 * Covers: for every request size from 4097 B to 1 MiB (DA_HUGE_THRESHOLD), the
 * size the allocator serves (a bulk class up to 32 KiB, whole pages above)
 * wastes at most 1/8 of the request; a real malloc of every one of these sizes
 * has exactly that usable size, every usable byte writable, and lies in one
 * run; calloc and posix_memalign (alignments up to 512) of sizes sampled every
 * 61 bytes serve the same sizes, calloc zeroed also when the block is reused;
 * 20,000 live blocks of 4096–4608 B (a page cache's requests) take at most 1/8
 * more than the requests, counted by blocks and by the runs of their pages. */
#include "check.h"
#include "internal.h"
#include "dynalloc.h"
#include <stdlib.h>

/* The usable size that a request of size bytes is promised. */
static size_t served(size_t size) {
  if (size <= DA_BULK_CLASS_MAX) return da_bin_size(da_size_class(size));
  return (size + DA_SLICE_SIZE - 1) & ~(DA_SLICE_SIZE - 1);
}

static void test_every_size(void) {
  size_t worst = 0, worst_size = 1;
  for (size_t size = DA_POOL_MAX + 1; size <= DA_HUGE_THRESHOLD; size++) {
    size_t want = served(size);
    CHECKF(want >= size && (want - size) * 8 <= size, "%zu B served as %zu B", size, want);
    if ((want - size) * worst_size > worst * size) { worst = want - size; worst_size = size; }
    uint8_t *p = da_malloc(size);
    CHECK(p != NULL);
    size_t usable = da_malloc_usable_size(p);
    CHECKF(usable == want, "malloc(%zu): usable %zu, expected %zu", size, usable, want);
    da_page_t *page = da_page_of(p);
    CHECK(page != NULL && da_page_of(p + usable - 1) == page);
    CHECK(page->kind == (size <= DA_BULK_CLASS_MAX ? DA_KIND_POOL : DA_KIND_BULK));
    p[0] = 1;
    p[usable - 1] = 2;
    da_free(p);
  }
  printf("whitebox_waste: every size 4097 B – 1 MiB, worst waste %zu B for %zu B (%.2f %%)\n", worst,
         worst_size, 100.0 * (double)worst / (double)worst_size);
}

static void test_calloc_aligned(void) {
  for (size_t size = DA_POOL_MAX + 1; size <= DA_HUGE_THRESHOLD; size += 61) {
    uint8_t *p = da_malloc(size);
    CHECK(p != NULL);
    memset(p, 0xa5, size);
    da_free(p);                                     /* the next block of the class is this one */
    uint8_t *z = da_calloc(1, size);
    CHECK(z != NULL && da_malloc_usable_size(z) == served(size));
    for (size_t i = 0; i < size; i += 509) CHECK(z[i] == 0);
    CHECK(z[size - 1] == 0);
    da_free(z);
    for (size_t align = 32; align <= 512; align *= 4) {
      void *a = NULL;
      CHECK(da_posix_memalign(&a, align, size) == 0 && ((uintptr_t)a & (align - 1)) == 0);
      CHECKF(da_malloc_usable_size(a) == served(size), "posix_memalign(%zu, %zu): usable %zu", align, size,
             da_malloc_usable_size(a));
      da_free(a);
    }
  }
}

/* 20,000 live blocks of 4096–4608 B (bulk class 4608: 14 blocks in 64 KiB):
 * their blocks, and the runs of the pages that hold them, are at most 1/8
 * larger than the requests (plus the last page of each class). */
static int cmp_ptr(const void *a, const void *b) {
  uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;
  return x < y ? -1 : x > y;
}

static void test_page_cache(void) {
  enum { N = 20000 };
  static void *blk[N];
  static da_page_t *pages[N];
  uint64_t rng = 4242;
  size_t requested = 0, held = 0;
  for (size_t i = 0; i < N; i++) {
    size_t n = 4096 + test_rand(&rng) % 513;
    CHECK((blk[i] = da_malloc(n)) != NULL);
    memset(blk[i], 0x5a, n);
    requested += n;
    held += da_malloc_usable_size(blk[i]);
    pages[i] = da_page_of(blk[i]);
  }
  qsort(pages, N, sizeof pages[0], cmp_ptr);
  size_t npages = 0, run_bytes = 0;
  for (size_t i = 0; i < N; i++) {
    if (i > 0 && pages[i] == pages[i - 1]) continue;
    npages++;
    run_bytes += (size_t)pages[i]->slice_count << DA_SLICE_SHIFT;
  }
  printf("whitebox_waste: %d blocks of 4096–4608 B: %zu B requested, %zu B in blocks (+%.2f %%), "
         "%zu B in %zu pages (+%.2f %%)\n", N, requested, held, 100.0 * (double)(held - requested) / (double)requested,
         run_bytes, npages, 100.0 * (double)(run_bytes - requested) / (double)requested);
  CHECKF(held * 8 <= requested * 9, "%zu B in blocks for %zu B requested", held, requested);
  CHECKF(run_bytes * 8 <= (requested + 2 * DA_POOL_PAGE_SIZE) * 9, "%zu B in pages for %zu B requested",
         run_bytes, requested);
  for (size_t i = 0; i < N; i++) da_free(blk[i]);
}

int main(void) {
  setenv("DYNALLOC_PURGE_DELAY", "100000", 1);
  /* the layout of pool pages is under test: no block goes to the guarded area */
  da_process_init();
  da_options.guard_sample = 0;
  test_name = "whitebox_waste";
  test_every_size();
  test_calloc_aligned();
  test_page_cache();
  printf("whitebox_waste: ok\n");
  return 0;
}
