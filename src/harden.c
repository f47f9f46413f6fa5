/* harden.c — the hardened mode (DYNALLOC_HARDEN=1, read once at start-up).
 *
 * The default mode's fast paths are not touched: in hardened mode every heap's
 * link_key and free_key differ from the process's keys, with which blocks are
 * linked and marked free, so each malloc's pop fails its first check and
 * da_pool_pop_slow sends it here (heap.c); every pool page made in
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
#define DA_FILL_MAX          256
#define DA_CANARY_MAX        16
#define DA_QUARANTINE_BLOCKS 1024
#define DA_QUARANTINE_BYTES  ((size_t)256 << 10)
#define DA_SIZE_TABLE_BYTES  (DA_SEGMENT_SIZE / DA_POOL_PAGE_SIZE * (DA_POOL_PAGE_SIZE / DA_ALIGN) * sizeof(uint16_t))

/* ---- the size table ----------------------------------------------------------------------- */
bool da_harden_segment_init(da_segment_t *seg) {
  if (seg->sizes == NULL) seg->sizes = da_os_alloc_meta(DA_SIZE_TABLE_BYTES);
  return seg->sizes != NULL;
}

void da_harden_segment_release(da_segment_t *seg) {
  if (seg->sizes != NULL) da_os_free_meta(seg->sizes, DA_SIZE_TABLE_BYTES);
  seg->sizes = NULL;
}

/* The slots of a page's blocks come in groups of DA_SIZE_GROUP (one cache line
 * of 2-byte slots), and a row of the table holds one group of every 64 KiB
 * window of the segment (64 windows x 64 B = one 4 KiB OS page): block idx of
 * window w is at (idx / G) * 64 G + w G + idx % G.  So consecutive blocks of a
 * page share a cache line, and the table's resident part is still about 2 bytes
 * per block of the segment's busiest pages, not a table page per pool page.
 * p is a block start of the hardened pool page page. */
#define DA_SIZE_GROUP 32
static DA_INLINE uint16_t *slot_at(const void *p, size_t idx) {   /* idx: p's block index */
  const da_segment_t *seg = da_segment_of(p);
  size_t window = ((uintptr_t)p - (uintptr_t)seg) >> DA_POOL_PAGE_SHIFT;
  size_t row = idx / DA_SIZE_GROUP, col = idx % DA_SIZE_GROUP;
  return &seg->sizes[(row * (DA_SEGMENT_SIZE / DA_POOL_PAGE_SIZE) + window) * DA_SIZE_GROUP + col];
}

/* p's block index in its pool page (page starts at p's 64 KiB boundary). */
static DA_INLINE size_t block_index(const da_page_t *page, const void *p) {
  return da_pool_index(page, (uint32_t)((uintptr_t)p & (DA_POOL_PAGE_SIZE - 1)));
}

static DA_INLINE uint16_t *size_slot(const da_page_t *page, const void *p) {
  return slot_at(p, block_index(page, p));
}

/* The segment's blocks are all free: the table's pages go back to the OS. */
void da_harden_segment_purge(da_segment_t *seg) {
  if (seg->sizes != NULL) da_os_purge(seg->sizes, DA_SIZE_TABLE_BYTES);
}

/* ---- canary and fill ---------------------------------------------------------------------- */
/* One byte per block, repeated: derived from the secret and the block's address,
 * with its top bit set, so a write of text past the request (ASCII, the
 * terminating NUL) always differs from it; another byte value is missed only
 * where it equals the canary's byte (1 in 128 for each byte written).  The same
 * byte at every offset makes the canary two plain 8-byte stores and compares. */
static DA_INLINE uint64_t canary_word(const void *p) {
  uint64_t byte = ((((uintptr_t)p ^ da_free_key) * 0x9e3779b97f4a7c15u) >> 56) | 0x80;
  return byte * 0x0101010101010101u;
}

static uint64_t load64(const uint8_t *q) { uint64_t v; memcpy(&v, q, 8); return v; }
static void store64(uint8_t *q, uint64_t v) { memcpy(q, &v, 8); }

/* The canary of block p runs from byte n to end (n + DA_CANARY_MAX or the
 * block's end).  Eight bytes or more: two words (overlapping when fewer than
 * 16); fewer (the request ends in the block's last word, which starts at a
 * multiple of 8): the last word's bytes from n on, the program's bytes below n
 * kept. */
static DA_INLINE void canary_write(uint8_t *p, size_t n, size_t end) {
  uint64_t w = canary_word(p);
  if (likely(end - n >= 8)) {
    store64(p + n, w);
    store64(p + end - 8, w);
  } else {
    uint64_t mask = ~(uint64_t)0 << (8 * (n & 7));
    store64(p + end - 8, (load64(p + end - 8) & ~mask) | (w & mask));
  }
}

static DA_INLINE bool canary_intact(const uint8_t *p, size_t n, size_t end) {
  uint64_t w = canary_word(p);
  if (likely(end - n >= 8)) return ((load64(p + n) ^ w) | (load64(p + end - 8) ^ w)) == 0;
  uint64_t mask = ~(uint64_t)0 << (8 * (n & 7));
  return ((load64(p + end - 8) ^ w) & mask) == 0;
}

static DA_INLINE size_t canary_end(const da_page_t *page, size_t n) {
  return n + DA_CANARY_MAX < page->block_size ? n + DA_CANARY_MAX : page->block_size;
}

static DA_INLINE void canary_set(const da_page_t *page, void *p, size_t n) {
  canary_write(p, n, canary_end(page, n));
  *size_slot(page, p) = (uint16_t)n;
}

/* The request size of live block p, its canary checked for func. */
size_t da_harden_size(const da_page_t *page, const void *p, const char *func) {
  size_t n = *size_slot(page, p);
  if (n >= page->block_size || !canary_intact(p, n, canary_end(page, n)))
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
  canary_write(p, n, n + (room < DA_CANARY_MAX ? room : DA_CANARY_MAX));
}

size_t da_harden_large_size(const da_page_t *page, const void *p, const char *func) {
  size_t n = page->kind == DA_KIND_HUGE ? ((const da_huge_t *)page)->request : page->magic;
  size_t room = large_room(page, p);
  if (n >= room || !canary_intact(p, n, n + (room - n < DA_CANARY_MAX ? room - n : DA_CANARY_MAX)))
    da_fatal("%s(): heap overflow past %p (%zu bytes requested)", func, p, n);
  return n;
}

#define DA_FILL_WORD (DA_FILL_BYTE * 0x0101010101010101u)

/* Blocks are 16-byte aligned and their sizes multiples of 16: the fill and its
 * check go 16 bytes at a time. */
typedef uint64_t fill_t __attribute__((vector_size(16)));
static const fill_t fill_pattern = { DA_FILL_WORD, DA_FILL_WORD };

/* The bytes of a free block after its link and key, up to DA_FILL_MAX: none in a
 * 16-byte block, else 1 to 15 chunks of 16 bytes, four a step and the last four
 * (overlapping the step before) at once; one to three with no loop.  The empty
 * asm hides the loop from the compiler's memset idiom: a call to the C
 * library's memset costs more than the stores it would replace. */
static DA_INLINE size_t fill_end(size_t bsize) { return bsize < DA_FILL_MAX ? bsize : DA_FILL_MAX; }

static DA_INLINE void fill(void *p, size_t bsize) {
  fill_t *v = (fill_t *)p + 1, *end = (fill_t *)((uint8_t *)p + fill_end(bsize));
  ptrdiff_t chunks = end - v;
  if (chunks >= 4) {
    for (; end - v > 4; v += 4) {
      v[0] = v[1] = v[2] = v[3] = fill_pattern;
      __asm__("" : "+r"(v));
    }
    end[-4] = end[-3] = end[-2] = end[-1] = fill_pattern;
  } else if (chunks > 0) {
    v[0] = end[-1] = fill_pattern;
    if (chunks == 3) v[1] = fill_pattern;
  }
}

void da_harden_fill(const da_page_t *page, void *p) { fill(p, page->block_size); }

static DA_INLINE fill_t fill_diff4(const fill_t *v) {
  return (v[0] ^ fill_pattern) | (v[1] ^ fill_pattern) | (v[2] ^ fill_pattern) | (v[3] ^ fill_pattern);
}

/* The fill checked, chunk by chunk as fill wrote it. */
static DA_INLINE void fill_check(const void *p, size_t bsize) {
  const fill_t *v = (const fill_t *)p + 1;
  const fill_t *end = (const fill_t *)((const uint8_t *)p + fill_end(bsize));
  ptrdiff_t chunks = end - v;
  fill_t diff = { 0, 0 };
  if (chunks >= 4) {
    for (; end - v > 4; v += 4) diff |= fill_diff4(v);
    diff |= fill_diff4(end - 4);
  } else if (chunks > 0) {
    diff = (v[0] ^ fill_pattern) | (end[-1] ^ fill_pattern) | (v[chunks == 3] ^ fill_pattern);
  }
  if (unlikely((diff[0] | diff[1]) != 0)) da_fatal("malloc(): use after free of %p", p);
}

/* ---- malloc -------------------------------------------------------------------------------- */
/* malloc, or an aligned request (align > DA_ALIGN), in hardened mode.  Requests
 * with no class of n + 1 bytes take bulk runs and huge blocks as in the default
 * mode. */
static DA_INLINE da_block_t *pool_malloc(da_heap_t *heap, size_t bin, size_t size) {
  da_page_t *page = heap->direct[bin];
  da_block_t *b = page->free;
  if (likely(b != DA_LIST_END)) {   /* da_pool_take's checks, inline */
    if (unlikely(b->key != da_free_mark(b))) da_corrupt_list(b);
    da_block_t *next = da_link_next(b, da_link_key);
    da_pool_hand_out(page, b, next != NULL ? next : DA_LIST_END);
  } else {
    b = da_pool_refill(heap, bin);
    if (b == NULL) return NULL;
    page = da_page_of(b);
  }
  fill_check(b, page->block_size);
  canary_set(page, b, size);
  return b;
}

/* Under memcheck (vg.c): the free block's words, its fill and canary read and
 * written unreported, then the block announced. */
static DA_NOINLINE DA_COLD void *pool_malloc_memcheck(da_heap_t *heap, size_t bin, size_t size) {
  da_vg_quiet();
  da_block_t *b = pool_malloc(heap, bin, size);
  da_vg_loud();
  if (b != NULL) da_vg_alloc(b, size, da_page_of(b)->block_size, false);
  return b;
}

void *da_harden_malloc(da_heap_t *heap, size_t size, size_t align) {
  size_t bin = DA_BIN_COUNT;
  if (size < DA_BULK_CLASS_MAX)
    bin = align <= DA_ALIGN ? da_size_class(size + 1) : da_aligned_class(size + 1, align);
  if (bin >= DA_BIN_COUNT) return da_alloc_large(size, align, false);
  if (unlikely(da_vg)) return pool_malloc_memcheck(heap, bin, size);
  return pool_malloc(heap, bin, size);
}

/* malloc of size (at most DA_BULK_CLASS_MAX: malloc's class paths) in hardened
 * mode, counted down by the sampling countdown (da_pool_pop_slow's first case). */
void *da_harden_pop(da_heap_t *heap, size_t size) {
  if (heap != &da_heap_empty && (heap->sample_left -= (intptr_t)size) < 0) {
    void *p = da_sample_try(heap, size, 0, false);
    if (p != NULL) return p;
  }
  size_t bin = da_size_class(size + 1);
  if (unlikely(da_vg) || bin >= DA_BIN_COUNT) return da_harden_malloc(heap, size, DA_ALIGN);
  return pool_malloc(heap, bin, size);
}

/* ---- free and the quarantine ------------------------------------------------------------- */
/* The page of b, a block of a pool page: pool pages start on 64 KiB boundaries
 * of their segment, so the header is the one of b's 64 KiB window. */
static da_page_t *pool_page_of(const da_block_t *b) { return da_pool_page_at(da_segment_of(b), b); }

/* The block leaves the quarantine: freed as the default mode frees it (the
 * owner's block of a page that is not full as free's fast path frees it). */
static DA_INLINE void release(da_heap_t *heap, da_block_t *b, da_page_t *page) {
  if (unlikely(da_vg)) da_vg_listed(b);
  if (da_owner(page) == heap && !(DA_GET(page->flags) & DA_PAGE_IN_FULL)) {
    da_link_set(b, page->free, da_link_key);
    page->free = b;
    if (da_used_add(page, -1)) da_page_emptied(heap, page);   /* kept, filled and linked */
  } else if (da_owner(page) == heap) {
    da_span_lock(heap);
    da_free_local(heap, page, b);
    da_span_unlock(heap);
  } else {
    da_free_remote(page, b);
  }
}

/* Only the owner writes its counts; the statistics read them (no read-modify-write). */
static void quarantined_add(da_heap_t *heap, size_t bin, int d) {
  __atomic_store_n(&heap->quarantined[bin], heap->quarantined[bin] + (uint32_t)d, __ATOMIC_RELAXED);
}

/* The oldest block leaves the quarantine (it holds one at least). */
static DA_INLINE void quarantine_evict(da_heap_t *heap) {
  da_block_t *b = heap->quarantine[heap->quarantine_head];
  heap->quarantine_head = (heap->quarantine_head + 1) % DA_QUARANTINE_BLOCKS;
  heap->quarantine_len--;
  da_page_t *page = pool_page_of(b);
  heap->quarantine_bytes -= page->block_size;
  quarantined_add(heap, page->bin, -1);
  release(heap, b, page);
}

void da_harden_flush(da_heap_t *heap) {
  while (heap->quarantine_len > 0) quarantine_evict(heap);
}

/* b (of page, bytes long, freed by its owner) joins the quarantine, which is
 * mapped.  Once it is full (the steady state of a program that frees as much as
 * it allocates), the oldest block leaves as b comes, and b takes the slot after
 * the newest (the oldest's own slot when all 1024 are taken). */
static DA_INLINE void quarantine_push(da_heap_t *heap, da_page_t *page, da_block_t *b, size_t bytes) {
  uint32_t head = heap->quarantine_head, len = heap->quarantine_len;
  if (likely(len == DA_QUARANTINE_BLOCKS || heap->quarantine_bytes + bytes > DA_QUARANTINE_BYTES)) {
    da_block_t *old = heap->quarantine[head];   /* len >= 1: one block is at most DA_QUARANTINE_BYTES */
    da_page_t *old_page = pool_page_of(old);
    size_t held = heap->quarantine_bytes - old_page->block_size + bytes;
    if (likely(held <= DA_QUARANTINE_BYTES)) {
      heap->quarantine[(head + len) % DA_QUARANTINE_BLOCKS] = b;
      heap->quarantine_head = (head + 1) % DA_QUARANTINE_BLOCKS;
      heap->quarantine_bytes = held;
      if (old_page->bin != page->bin) {
        quarantined_add(heap, old_page->bin, -1);
        quarantined_add(heap, page->bin, 1);
      }
      release(heap, old, old_page);
      return;
    }
  }
  while (heap->quarantine_len == DA_QUARANTINE_BLOCKS || heap->quarantine_bytes + bytes > DA_QUARANTINE_BYTES)
    quarantine_evict(heap);   /* it holds one at least: one block is at most DA_QUARANTINE_BYTES */
  heap->quarantine[(heap->quarantine_head + heap->quarantine_len) % DA_QUARANTINE_BLOCKS] = b;
  heap->quarantine_len++;
  heap->quarantine_bytes += bytes;
  quarantined_add(heap, page->bin, 1);
}

/* A freed block that waits in no quarantine (another thread's; one freed by a
 * thread with no heap) or the thread's first, which maps its quarantine. */
static DA_NOINLINE void free_unquarantined(da_heap_t *heap, da_page_t *page, da_block_t *b) {
  if (da_owner(page) == heap && heap->quarantine == NULL) {   /* da_heap_empty owns no page */
    int saved = errno;   /* free never changes errno, and a failed mmap sets it */
    heap->quarantine = da_os_alloc_meta(DA_QUARANTINE_BLOCKS * sizeof(void *));
    errno = saved;
    if (heap->quarantine != NULL) { quarantine_push(heap, page, b, page->block_size); return; }
  }
  release(heap, b, page);
}

/* free of p, block idx of the hardened pool page page, a live block (it carries
 * no free key). */
static DA_INLINE void harden_free(da_heap_t *heap, da_page_t *page, void *p, size_t idx, const char *func) {
  size_t bytes = page->block_size;
  size_t n = *slot_at(p, idx);
  if (n >= bytes || !canary_intact(p, n, canary_end(page, n)))
    da_fatal("%s(): heap overflow past %p (%zu bytes requested)", func, p, n);
  da_block_t *b = p;
  fill(b, bytes);
  b->key = da_free_mark(b);
  da_asan_freed(b, bytes);
  /* Only the owner's frees wait here: another thread's free goes to the page's
   * remote list, where it waits for the owner to collect it anyway, and would
   * otherwise keep a page (and its segment) of a thread that may have exited. */
  if (unlikely(da_owner(page) != heap || heap->quarantine == NULL)) free_unquarantined(heap, page, b);
  else quarantine_push(heap, page, b, bytes);
}

/* free of p, a block start of the hardened pool page page that carries no free key
 * (free.c checked both); marked busy. */
void da_harden_free(da_heap_t *heap, da_page_t *page, void *p, const char *func) {
  harden_free(heap, page, p, block_index(page, p), func);
}

/* free() of p, a pointer of the hardened pool page at p's 64 KiB boundary; one
 * that is not a live block's start goes to da_free_checked for its report.
 * Marked busy. */
void da_harden_free_pool(da_heap_t *heap, da_page_t *page, void *p) {
  size_t idx = block_index(page, p);
  if (idx >= DA_GET(page->capacity) || ((da_block_t *)p)->key == da_free_mark(p)) {
    da_free_checked(p);
    return;
  }
  harden_free(heap, page, p, idx, "free");
}
