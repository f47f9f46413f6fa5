/* harden.c — the hardened mode (DYNALLOC_HARDEN=1, read once at start-up).
 *
 * The default mode's fast paths are not touched: in hardened mode every heap's
 * free_key differs from the key free blocks carry, so each malloc's pop fails
 * its key check and da_pool_pop_slow sends it here; every pool page made in
 * hardened mode carries DA_PAGE_HARDENED, so free's 16-bit kind test fails and
 * free_other sends the block here.  What this mode adds to pool and bulk-class
 * blocks (up to 32 KiB):
 *  - the request size n in the segment's size table (metadata mapping, never
 *    beside user data) and up to DA_CANARY_MAX canary bytes from n on, derived
 *    from a secret and the block's address; checked by free, realloc and
 *    malloc_usable_size ("heap overflow past");
 *  - freed blocks filled with DA_FILL_BYTE after their two list words (up to
 *    DA_FILL_MAX bytes) and checked when handed out again ("use after free");
 *  - a per-thread quarantine (DA_QUARANTINE_BLOCKS blocks or DA_QUARANTINE_BYTES
 *    bytes, whichever is reached first) of the blocks the owner frees: a freed
 *    block carries the free key and is on no free list until it leaves, so a
 *    second free is reported;
 *  - blocks carved in random order (page.c), and the guard slices around each
 *    segment's metadata made inaccessible (segment.c).
 * Invariants: a live block of a hardened page has n < block_size (a request
 * takes the class of n + 1) and its canary intact until the program writes past
 * n; a block in the quarantine is counted in its page's used count.
 */
#include "internal.h"
#include <errno.h>
#include <string.h>

#define DA_FILL_BYTE         0xdf
#define DA_FILL_MAX          4096
#define DA_CANARY_MAX        16
#define DA_QUARANTINE_BLOCKS 1024
#define DA_QUARANTINE_BYTES  ((size_t)1 << 20)
#define DA_SIZE_TABLE_BYTES  (DA_SEGMENT_SIZE / DA_POOL_PAGE_SIZE * (DA_POOL_PAGE_SIZE / DA_ALIGN) * sizeof(uint16_t))

_Atomic(size_t) da_quarantined[DA_BIN_COUNT];

/* ---- the size table ----------------------------------------------------------------------- */
bool da_harden_segment_init(da_segment_t *seg) {
  if (seg->sizes == NULL) seg->sizes = da_os_alloc_meta(DA_SIZE_TABLE_BYTES);
  return seg->sizes != NULL;
}

void da_harden_segment_release(da_segment_t *seg) {
  if (seg->sizes != NULL) da_os_free_meta(seg->sizes, DA_SIZE_TABLE_BYTES);
  seg->sizes = NULL;
}

/* The slot of block idx of the segment's 64 KiB window w is idx * 64 + w: the
 * slots of a page's blocks interleave with the other pages', so the table's
 * resident part is about 2 bytes per block of the segment's busiest pages, not a
 * table page per pool page.  p is a block start of the hardened pool page page. */
static uint16_t *size_slot(const da_page_t *page, const void *p) {
  const da_segment_t *seg = da_segment_of(p);
  size_t window = ((uintptr_t)p - (uintptr_t)seg) >> DA_POOL_PAGE_SHIFT;
  uint32_t idx = da_pool_index(page, (uint32_t)((uintptr_t)p & (DA_POOL_PAGE_SIZE - 1)));
  return &seg->sizes[(size_t)idx * (DA_SEGMENT_SIZE / DA_POOL_PAGE_SIZE) + window];
}

/* The segment's blocks are all free: the table's pages go back to the OS. */
void da_harden_segment_purge(da_segment_t *seg) {
  if (seg->sizes != NULL) da_os_purge(seg->sizes, DA_SIZE_TABLE_BYTES);
}

/* ---- canary and fill ---------------------------------------------------------------------- */
static uint64_t canary_word(const void *p) {
  return ((uintptr_t)p ^ da_free_key) * 0x9e3779b97f4a7c15u;
}

static size_t canary_end(const da_page_t *page, size_t n) {
  return n + DA_CANARY_MAX < page->block_size ? n + DA_CANARY_MAX : page->block_size;
}

/* The canary of block p from byte n on: byte i of the block is byte i mod 8 of
 * canary_word(p), so the 16 bytes from n are that word rotated, twice. */
static void canary_bytes(const void *p, size_t n, uint8_t out[DA_CANARY_MAX]) {
  uint64_t w = canary_word(p);
  unsigned r = (unsigned)(n & 7) * 8;
  w = r ? (w >> r) | (w << (64 - r)) : w;
  memcpy(out, &w, 8);
  memcpy(out + 8, &w, 8);
}

static void canary_set(const da_page_t *page, void *p, size_t n) {
  uint8_t canary[DA_CANARY_MAX];
  canary_bytes(p, n, canary);
  memcpy((uint8_t *)p + n, canary, canary_end(page, n) - n);
  *size_slot(page, p) = (uint16_t)n;
}

/* The request size of live block p, its canary checked for func. */
size_t da_harden_size(const da_page_t *page, const void *p, const char *func) {
  size_t n = *size_slot(page, p);
  uint8_t canary[DA_CANARY_MAX];
  canary_bytes(p, n, canary);
  if (n >= page->block_size || memcmp((const uint8_t *)p + n, canary, canary_end(page, n) - n) != 0)
    da_fatal("%s(): heap overflow past %p (%zu bytes requested)", func, p, n);
  return n;
}

/* realloc kept the block: the request size is now n (< block_size). */
void da_harden_resize(const da_page_t *page, void *p, size_t n) { canary_set(page, p, n); }

/* ---- blocks above 32 KiB: bulk runs and huge blocks ------------------------------------------ */
/* The request of a bulk run is kept in its header's magic (unused while the run
 * is live), of a huge block in its descriptor: both are metadata, where no
 * write past the block reaches.  The canary follows the request up to the end
 * of the block's pages (a huge block's pages end in a guard page). */
static size_t large_room(const da_page_t *page, const void *p) { return da_bulk_usable(page, p); }

void da_harden_large_set(da_page_t *page, void *p, size_t n) {
  if (page->kind == DA_KIND_HUGE) ((da_huge_t *)page)->request = n;
  else page->magic = (uint32_t)n;
  size_t room = large_room(page, p) - n;
  uint8_t canary[DA_CANARY_MAX];
  canary_bytes(p, n, canary);
  memcpy((uint8_t *)p + n, canary, room < DA_CANARY_MAX ? room : DA_CANARY_MAX);
}

size_t da_harden_large_size(const da_page_t *page, const void *p, const char *func) {
  size_t n = page->kind == DA_KIND_HUGE ? ((const da_huge_t *)page)->request : page->magic;
  size_t room = large_room(page, p);
  uint8_t canary[DA_CANARY_MAX];
  canary_bytes(p, n, canary);
  if (n > room || memcmp((const uint8_t *)p + n, canary, room - n < DA_CANARY_MAX ? room - n : DA_CANARY_MAX) != 0)
    da_fatal("%s(): heap overflow past %p (%zu bytes requested)", func, p, n);
  return n;
}

static size_t fill_end(const da_page_t *page) {
  return page->block_size < DA_FILL_MAX ? page->block_size : DA_FILL_MAX;
}

/* The bytes of a free block after its link and key (block sizes are multiples of 16). */
void da_harden_fill(const da_page_t *page, void *p) {
  memset((uint8_t *)p + sizeof(da_block_t), DA_FILL_BYTE, fill_end(page) - sizeof(da_block_t));
}

static void fill_check(const da_page_t *page, const void *p) {
  static const uint8_t filled[DA_FILL_MAX] = { [0 ... DA_FILL_MAX - 1] = DA_FILL_BYTE };
  size_t len = fill_end(page) - sizeof(da_block_t);
  if (memcmp((const uint8_t *)p + sizeof(da_block_t), filled, len) != 0)
    da_fatal("malloc(): use after free of %p", p);
}

/* ---- malloc -------------------------------------------------------------------------------- */
/* malloc, or an aligned request (align > DA_ALIGN), in hardened mode.  Requests
 * with no class of n + 1 bytes take bulk runs and huge blocks as in the default
 * mode. */
void *da_harden_malloc(da_heap_t *heap, size_t size, size_t align) {
  size_t bin = DA_BIN_COUNT;
  if (size < DA_BULK_CLASS_MAX)
    bin = align <= DA_ALIGN ? da_size_class(size + 1) : da_aligned_class(size + 1, align);
  if (bin >= DA_BIN_COUNT) return da_alloc_large(size, align, false);
  da_page_t *page = heap->direct[bin];
  da_block_t *b;
  if (page->free != DA_LIST_END) {
    b = da_pool_take(page, page->free);
  } else {
    b = da_pool_refill(heap, bin);
    if (b == NULL) return NULL;
    page = da_page_of(b);
  }
  fill_check(page, b);
  canary_set(page, b, size);
  return b;
}

/* ---- free and the quarantine ------------------------------------------------------------- */
/* The block leaves the quarantine: freed as the default mode frees it (the
 * owner's block of a page that is not full as free's fast path frees it). */
static void release(da_heap_t *heap, da_block_t *b) {
  da_page_t *page = da_page_of(b);
  if (da_owner(page) == heap && !(DA_GET(page->flags) & DA_PAGE_IN_FULL)) {
    da_link_set(b, page->free, da_link_key);
    page->free = b;
    if (da_used_add(page, -1)) da_page_retire(heap, page);   /* not the allocation page */
  } else if (da_owner(page) == heap) {
    da_span_lock(heap);
    da_free_local(heap, page, b);
    da_span_unlock(heap);
  } else {
    da_free_remote(page, b);
  }
}

static void quarantine_evict(da_heap_t *heap) {
  da_block_t *b = heap->quarantine[heap->quarantine_head];
  heap->quarantine_head = (heap->quarantine_head + 1) % DA_QUARANTINE_BLOCKS;
  heap->quarantine_len--;
  da_page_t *page = da_page_of(b);
  heap->quarantine_bytes -= page->block_size;
  atomic_fetch_sub_explicit(&da_quarantined[page->bin], 1, memory_order_relaxed);
  release(heap, b);
}

void da_harden_flush(da_heap_t *heap) {
  while (heap->quarantine_len > 0) quarantine_evict(heap);
}

/* free of p, a block start of the hardened pool page page that carries no free key
 * (free.c checked both); marked busy. */
void da_harden_free(da_heap_t *heap, da_page_t *page, void *p, const char *func) {
  da_harden_size(page, p, func);
  da_block_t *b = p;
  da_harden_fill(page, b);
  b->key = da_free_mark(b);
  /* Only the owner's frees wait here: another thread's free goes to the page's
   * remote list, where it waits for the owner to collect it anyway, and would
   * otherwise keep a page (and its segment) of a thread that may have exited. */
  if (heap == &da_heap_empty || da_owner(page) != heap) { release(heap, b); return; }
  if (heap->quarantine == NULL) {
    int saved = errno;   /* free never changes errno, and a failed mmap sets it */
    heap->quarantine = da_os_alloc_meta(DA_QUARANTINE_BLOCKS * sizeof(void *));
    errno = saved;
    if (heap->quarantine == NULL) { release(heap, b); return; }
  }
  size_t bytes = page->block_size;
  while (heap->quarantine_len > 0 &&
         (heap->quarantine_len == DA_QUARANTINE_BLOCKS || heap->quarantine_bytes + bytes > DA_QUARANTINE_BYTES))
    quarantine_evict(heap);
  heap->quarantine[(heap->quarantine_head + heap->quarantine_len) % DA_QUARANTINE_BLOCKS] = b;
  heap->quarantine_len++;
  heap->quarantine_bytes += bytes;
  atomic_fetch_add_explicit(&da_quarantined[page->bin], 1, memory_order_relaxed);
}
