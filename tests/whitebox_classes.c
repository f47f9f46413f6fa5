/* whitebox_classes.c — internals: size → class round trip for every size 0–32768,
 * class spacing (pool classes: waste under 16 B or under 25 %; bulk classes:
 * at most 1/8 of the request; multiples of 16, strictly increasing), the exact
 * block-start division for every class and offset of a pool page, the class of
 * every aligned request up to 32 KiB, and pointer → page lookup for blocks of
 * every tier (pool, bulk class, bulk run, huge, aligned huge). */
#include "check.h"
#include "internal.h"
#include "dynalloc.h"

static void test_classes(void) {
  for (size_t bin = 1; bin < DA_BIN_COUNT; bin++) {
    CHECK(da_bin_size(bin) > da_bin_size(bin - 1) || bin == 1);
    CHECK(da_bin_size(bin) % 16 == 0);
    CHECK(da_size_class(da_bin_size(bin)) == bin);           /* round trip */
  }
  CHECK(da_bin_size(DA_BIN_POOL_COUNT - 1) == DA_POOL_MAX);
  CHECK(da_bin_size(DA_BIN_COUNT - 1) == DA_BULK_CLASS_MAX);
  for (size_t size = 0; size <= DA_POOL_MAX; size++) {
    size_t bin = da_block_index(size);
    CHECK(bin < DA_BIN_COUNT);
    CHECK(da_bin_size(bin) >= size);                           /* fits */
    if (bin > 1) CHECK(da_bin_size(bin - 1) < size);           /* smallest that fits */
    /* waste: below the 16-byte alignment granule, or under 25 % */
    CHECK(da_bin_size(bin) - size <= 16 || (da_bin_size(bin) - size) * 4 < da_bin_size(bin));
    CHECK(da_size_class(size) == bin);
  }
  for (size_t size = DA_POOL_MAX + 1; size <= DA_BULK_CLASS_MAX; size++) {
    size_t bin = da_size_class(size);
    CHECK(bin >= DA_BIN_POOL_COUNT && bin < DA_BIN_COUNT && bin == da_bulk_class_index(size));
    CHECK(da_bin_size(bin) >= size && da_bin_size(bin - 1) < size);   /* the smallest that fits */
    CHECK((da_bin_size(bin) - size) * 8 <= size);               /* waste at most 1/8 */
  }
}

/* An aligned request takes the smallest class that fits it and whose blocks
 * are all aligned enough (a page starts on 64 KiB: block i at i * size). */
static void test_aligned_classes(void) {
  for (size_t align = 2 * DA_ALIGN; align <= 2 * DA_BULK_CLASS_MAX; align *= 2) {
    for (size_t size = 1; size <= DA_BULK_CLASS_MAX; size += size < 8192 ? 1 : 7) {
      size_t bin = da_aligned_class(size, align);
      if (align > DA_BULK_CLASS_MAX) { CHECK(bin == DA_BIN_COUNT); continue; }
      CHECK(bin < DA_BIN_COUNT && da_bin_size(bin) >= size);
      size_t bsize = da_bin_size(bin);
      for (size_t off = 0; off + bsize <= DA_POOL_PAGE_SIZE; off += bsize) CHECK(off % align == 0);
      if (size > DA_POOL_MAX || align > DA_POOL_MAX)   /* above 4 KiB: the first such class */
        for (size_t b = da_size_class(size > DA_POOL_MAX ? size : DA_POOL_MAX + 1); b < bin; b++)
          CHECK(da_bin_size(b) % align != 0);
    }
  }
}

static void test_division(void) {
  for (size_t bin = 0; bin < DA_BIN_COUNT; bin++) {
    size_t bsize = da_bin_size(bin);
    da_page_t page = {0};
    unsigned shift;
    page.magic = da_pool_magic((uint32_t)bsize, &shift);
    page.shift = (uint16_t)shift;
    CHECK((uint32_t)((bsize >> shift) * page.magic) == 1 && (bsize >> shift) % 2 == 1);
    for (size_t off = 0; off < DA_POOL_PAGE_SIZE; off++) {
      uint32_t idx = da_pool_index(&page, (uint32_t)off);
      if (off % bsize == 0) CHECK(idx == off / bsize);
      else CHECK(idx > DA_POOL_PAGE_SIZE / DA_ALIGN);   /* never below any carved count */
    }
  }
}

static void test_lookup(void) {
  static const size_t sizes[] = {0, 1, 16, 100, 4096, 4097, 8192, 22000, 32768, 32769, 65536,
                                 1 << 20, (1 << 20) + 1, 5 << 20};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    uint8_t *p = da_malloc(sizes[i]);
    CHECK(p != NULL);
    da_page_t *page = da_page_of(p);
    if (sizes[i] > DA_HUGE_THRESHOLD) {
      /* a huge block is in no segment: its descriptor is found by its address,
       * and only by its start */
      CHECK(page == NULL && da_huge_find(p) != NULL && da_huge_find(p)->page.kind == DA_KIND_HUGE);
      CHECK(da_huge_find(p + 4096) == NULL && da_page_of(p + sizes[i] - 1) == NULL);
    } else {
      CHECK(page != NULL);
      CHECK(page->kind == (sizes[i] <= DA_BULK_CLASS_MAX ? DA_KIND_POOL : DA_KIND_BULK));
      if (sizes[i] > 0) CHECK(da_page_of(p + sizes[i] - 1) == page);
    }
    CHECK(da_malloc_usable_size(p) >= sizes[i]);
    da_free(p);
  }
  /* an aligned huge block starts its mapping too: no header below it */
  void *q = NULL;
  CHECK(da_posix_memalign(&q, DA_SEGMENT_SIZE, 3 << 20) == 0);
  CHECK(((uintptr_t)q & DA_SEGMENT_MASK) == 0);
  CHECK(da_page_of(q) == NULL && da_huge_find(q) != NULL);
  da_free(q);
  CHECK(da_huge_find(q) == NULL);
  /* no page of user data touches a segment's metadata: a gap of the largest OS
   * page below the header and one OS page above it, runs on OS pages */
  uint8_t *s = da_malloc(64);
  da_segment_t *seg = da_segment_of(s);
  CHECK(offsetof(da_segment_t, next) >= DA_PAGE_MAX);
  for (size_t p = 1; p <= DA_PAGE_MAX / DA_SLICE_SIZE; p *= 2) {
    size_t first = DA_SEGMENT_FIRST_RUN_FOR(p);
    CHECK(first % p == 0 && first * DA_SLICE_SIZE >= sizeof(da_segment_t) + p * DA_SLICE_SIZE);
    CHECK((first - p) * DA_SLICE_SIZE >= sizeof(da_segment_t));
  }
  CHECK(da_first_run == DA_SEGMENT_FIRST_RUN_FOR(da_page_slices));
  for (size_t i = 0; i < da_first_run; i++) CHECK(seg->pages[i].kind == DA_KIND_NONE);
  da_free(s);
  /* foreign memory is never looked up */
  int local = 0;
  CHECK(da_page_of(&local) == NULL);
  CHECK(da_page_of((void *)16) == NULL);
}

int main(void) {
  /* the layout of pool pages is under test: no block goes to the guarded area */
  da_process_init();
  da_options.guard_sample = 0;
  test_classes();
  test_division();
  test_aligned_classes();
  test_lookup();
  printf("whitebox_classes: ok\n");
  return 0;
}
