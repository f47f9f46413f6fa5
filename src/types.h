/* types.h — every constant and structure of dynalloc, and the memory layout.
 *
 * Memory layout
 * -------------
 *   A segment is DA_SEGMENT_SIZE (4 MiB) of address space aligned to 4 MiB.  It is
 *   cut into 1024 slices of 4 KiB, the smallest OS page.  Its first 64 KiB are
 *   never used (a gap below the metadata, one OS page of any size served: 4, 16
 *   or 64 KiB), the next slices hold the segment header, which ends with one page
 *   header per slice; the header is rounded up to whole OS pages and the OS page
 *   after it is a gap too: no page that dynalloc trusts touches a page of user
 *   data, so no linear overflow or underflow of a block, and no page that a
 *   program maps over the neighbour of a block, reaches a header.  Runs start
 *   and end on OS pages (da_page_slices slices, chosen at start-up from the
 *   kernel's page size: os.c), so every purge and protection is in whole OS
 *   pages; with 4 KiB pages the first run is slice 34.
 *
 *   segment (4 MiB, aligned)                                         slice = 4 KiB
 *   +-----+--------------------+-----+--------------------+-----------+-----------+--
 *   | gap | da_segment_t       | gap | pool page          | bulk run  | free run  |
 *   |64KiB|  fields            | 1 OS| 16 slices = 64 KiB | n slices  | n slices  | …
 *   |     |  pages[0..1023] ---+-page+-> one header per   |           |           |
 *   |     |  (17 slices)       |     |   run, at its 1st  |           |           |
 *   +-----+--------------------+-----+--------------------+-----------+-----------+--
 *                                    | blk | blk | blk | … one size class, no per-block header
 *
 *   Glossary.  A 4 KiB unit of a segment is a "slice".  A "run" is a sequence of slices
 *   described by the page header of its first slice (the "head"); every other
 *   slice's header holds slice_offset, the distance back to the head.  A "pool
 *   page" is a run at a 64 KiB boundary cut into blocks of one size class: a pool
 *   class (≤ 4096 B; the run is 64 KiB) or a bulk class (4097–32768 B; the run is
 *   the shortest one holding as many blocks as 64 KiB holds, and the rest of its
 *   64 KiB stays free).  A "bulk run" is a run holding one block larger than
 *   32 KiB (or an over-aligned one).  A "huge" block
 *   (> DA_HUGE_THRESHOLD) is a mapping of its own holding nothing but the block;
 *   its descriptor (da_huge_t) lives in a metadata mapping of huge.c, found
 *   through a hash table keyed by the block's address.
 *
 *   Pointer → header (page_of_pointer in internal.h): segment = p rounded down to
 *   4 MiB, header = pages[(p - segment) >> 12] minus its slice_offset.  A global
 *   bitmap of segments (segmap) says whether an address belongs to a segment
 *   before anything is read from it; huge mappings are not in it, so a pointer
 *   into one never reads the block's bytes as a header.
 *
 * Free lists.  The first word of a free pool block is its link, stored encoded:
 *   link = next ^ address of the link ^ da_link_key (a per-process secret), and
 *   the second word is the free key, da_free_key ^ address.  Decoding checks that
 *   the next block lies in the same 64 KiB pool page on a 16-byte boundary, and
 *   popping a block checks its free key, so a block is handed out only when it is
 *   a free block start of that page (see da_link_next in internal.h).
 *
 * Threads.  A heap belongs to one thread and owns segments; pages and runs in them
 *   are touched only by the owner, except page->xfree (atomic list of blocks freed
 *   by other threads), heap->delayed (blocks freed by others into full pages), and
 *   what a reclaimer (the purger thread, or malloc_trim on another thread) takes
 *   back while holding the heap's span lock: pages the owner's fast paths cannot
 *   reach and the bulk cache (reclaim.c states the protocol).
 */
#ifndef DA_TYPES_H
#define DA_TYPES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef DA_DEBUG
#define DA_DEBUG 0
#endif
#if DA_DEBUG < 0 || DA_DEBUG > 3
#error "DA_DEBUG must be 0 (release), 1 (misuse), 2 (asserts) or 3 (validity walks)"
#endif

/* ---- sizes (every size derives from a shift) ---------------------------------- */
#define DA_SLICE_SHIFT      12                        /* the finest bulk unit: the smallest OS page */
#define DA_SLICE_SIZE       ((size_t)1 << DA_SLICE_SHIFT)
#define DA_PAGE_MAX_SHIFT   16                        /* the largest OS page served (arm64's 64 KiB) */
#define DA_PAGE_MAX         ((size_t)1 << DA_PAGE_MAX_SHIFT)
#define DA_SEGMENT_SHIFT    22                        /* 4 MiB: 1024 slices, 64 pool pages */
#define DA_SEGMENT_SIZE     ((size_t)1 << DA_SEGMENT_SHIFT)
#define DA_SEGMENT_MASK     (DA_SEGMENT_SIZE - 1)
#define DA_SLICES           (DA_SEGMENT_SIZE >> DA_SLICE_SHIFT)
#define DA_POOL_PAGE_SHIFT  16                        /* 64 KiB pool pages: ≥ 16 blocks of 4 KiB */
#define DA_POOL_PAGE_SIZE   ((size_t)1 << DA_POOL_PAGE_SHIFT)
#define DA_POOL_PAGE_SLICES (DA_POOL_PAGE_SIZE >> DA_SLICE_SHIFT)
#define DA_POOL_MAX         4096                      /* largest pool request */
#define DA_BULK_CLASS_MAX   ((size_t)32768)           /* largest request of a bulk class */
#define DA_HUGE_THRESHOLD   ((size_t)1 << 20)         /* larger: a mapping of its own */
#define DA_REALLOC_MAP_MIN  ((size_t)256 << 10)       /* a block realloc moves at this size or more: a mapping */
#define DA_EXTEND_BYTES     4096                      /* carve a page's blocks ~4 KiB at a time */
#define DA_HUGE_CACHE_MAX   ((size_t)1 << 30)         /* freed huge mappings kept, in bytes, … */
#define DA_HUGE_CACHE_KEEP  ((size_t)32 << 20)        /* … and without the purger thread */
#define DA_ALIGN            16                        /* minimum alignment of every block */
#define DA_PURGER_START_BYTES ((size_t)1 << 20)       /* runs in use that start the purger thread */

/* Size classes: 16-byte steps to 128 B (bins 1–8), then four classes per power of
 * two up to 4096 B (bins 9–28): the pool classes.  Above, the bulk classes: eight
 * per power of two from 4608 to 32768 B (bins 29–52), so that no request of
 * 4097 B – 1 MiB wastes more than 1/8 of its size (from 32 KiB + 1 on, whole
 * pages do that).  Bin 0 serves malloc(0) with a 16-byte block. */
#define DA_BIN_SMALL_MAX    128
#define DA_BIN_POOL_COUNT   29                        /* bins of the pool classes */
#define DA_BIN_COUNT        53                        /* … and of the bulk classes */
#define DA_SPAN_BINS        11                        /* free runs by floor(log2(slices)) */
#define DA_BULK_CACHE_SLICES 16                       /* freed runs up to 64 KiB are cached … */
#define DA_BULK_CACHE_DEPTH  2                        /* … up to 2 of each length per heap */

_Static_assert(DA_SLICES == 1024, "slice_offset and slice_count are 16-bit");
_Static_assert(DA_POOL_PAGE_SIZE / DA_ALIGN <= 65535, "capacity is 16-bit");
_Static_assert(DA_BULK_CLASS_MAX * 2 <= DA_POOL_PAGE_SIZE, "a bulk class page holds two blocks or more");
_Static_assert(DA_BULK_CLASS_MAX < ((size_t)1 << 16),
               "the free fast path's divisibility test holds for 16-bit offsets and classes below 2^16");
_Static_assert(DA_HUGE_THRESHOLD <= DA_SEGMENT_SIZE / 2, "a bulk run must fit a segment");
_Static_assert(((size_t)1 << (DA_SPAN_BINS - 1)) >= DA_SLICES, "span bins cover a segment");

/* ---- blocks ------------------------------------------------------------------- */
/* A free pool block: the list link, and a key marking it free (double-free check). */
typedef struct da_block_s {
  struct da_block_s *next;      /* encoded: next ^ (uintptr_t)this ^ da_link_key */
  uintptr_t          key;       /* da_free_key ^ address while free; cleared by malloc */
} da_block_t;

/* ---- page headers (one per slice) ---------------------------------------------- */
enum da_kind {
  DA_KIND_NONE = 0,             /* metadata slice, or a non-head slice of a run */
  DA_KIND_POOL,                 /* pool page: blocks of one size class */
  DA_KIND_BULK,                 /* bulk run in use: one block */
  DA_KIND_HUGE,                 /* a huge block (the da_huge_t's header, never in a segment) */
  DA_KIND_FREE,                 /* free run inside a segment */
  DA_KIND_CACHED,               /* freed bulk run kept whole in its heap's bulk cache */
};

#define DA_THP_SLICES ((size_t)(2u << 20) >> DA_SLICE_SHIFT)   /* slices in one 2 MiB huge page */

enum da_page_flag {             /* zero for an owner's ordinary free: one test */
  DA_PAGE_IN_FULL     = 1,      /* on the heap's full queue */
  DA_PAGE_HAS_ALIGNED = 2,      /* holds interior (aligned) pointers */
  DA_PAGE_HARDENED    = 4,      /* pool page of the hardened mode (harden.c) */
  DA_PAGE_SAMPLED     = 8,      /* bulk run or huge block of a heap-profile sample (prof.c) */
  DA_PAGE_KEPT        = 16,     /* an emptied pool page kept for its bin, on heap->kept[] (page.c) */
};

/* page->xfree holds the state in its low 2 bits, the head of a block list in bits
 * 4–47 (blocks are 16-byte aligned; user-space addresses are below 2^47: see
 * DA_SEGMAP_BITS) and the list's length in bits 48–63 (a page has at most 4096
 * blocks), so that the owner takes the list without walking it to count. */
enum da_xstate {
  DA_X_NORMAL  = 0,             /* remote frees push onto xfree */
  DA_X_NOTIFY  = 1,             /* page is full: the next remote free goes to heap->delayed */
  DA_X_FREEING = 2,             /* a remote thread is pushing onto heap->delayed right now */
};
#define DA_X_MASK       ((uintptr_t)3)
#define DA_X_COUNT_SHIFT 48
#define DA_X_ONE        ((uintptr_t)1 << DA_X_COUNT_SHIFT)      /* one more block on the list */
#define DA_X_LIST_MASK  ((DA_X_ONE - 1) & ~DA_X_MASK)
static inline struct da_block_s *da_x_list(uintptr_t tf) { return (struct da_block_s *)(tf & DA_X_LIST_MASK); }
static inline uint32_t da_x_count(uintptr_t tf) { return (uint32_t)(tf >> DA_X_COUNT_SHIFT); }
_Static_assert(DA_POOL_PAGE_SIZE / DA_ALIGN < 65536, "the xfree count has 16 bits");

typedef struct da_page_s {
  da_block_t          *free;        /* blocks ready for malloc (owner only) */
  _Atomic(uintptr_t)   xfree;       /* remote frees: list | da_xstate */
  _Atomic(struct da_heap_s *) heap; /* owner; NULL while abandoned */
  struct da_page_s    *next;        /* queue links: bin queue, full queue or span queue */
  struct da_page_s    *prev;
  uint32_t             block_size;  /* pool: class size; bulk/huge: usable bytes (≤ 4 GiB) */
  uint32_t             magic;       /* pool: inverse of block_size's odd part mod 2^32; free run: time freed (ms) */
  _Atomic(uint32_t)    used;        /* blocks handed out, counting those in xfree */
  uint16_t             capacity;    /* blocks carved so far */
  uint16_t             shift;       /* pool: trailing zero bits of block_size (da_pool_index) */
  uint16_t             slice_count; /* slices in the run (head only) */
  uint16_t             slice_offset;/* entries back to the head (0 at the head) */
  union {
    struct {
      uint8_t          kind;        /* da_kind */
      uint8_t          flags;       /* da_page_flag */
    };
    uint16_t           kind_flags;  /* both: the free fast path's one 16-bit test */
  };
  uint8_t              bin;         /* pool: size class; free run: span bin */
  uint8_t              dirty;       /* free run: holds pages not yet purged */
} da_page_t;
_Static_assert(sizeof(da_page_t) == 64, "one cache line per page header");

/* ---- segments ----------------------------------------------------------------- */
enum da_segment_kind { DA_SEGMENT_NORMAL = 1 };

typedef struct da_segment_s {
  uint8_t              gap[DA_PAGE_MAX];  /* never touched: no user page below the header, whatever the OS page */
  struct da_segment_s *next;        /* heap's segment list, cache, or abandoned list */
  struct da_segment_s *prev;
  struct da_heap_s    *heap;        /* owner (NULL when abandoned or cached) */
  size_t               map_size;    /* bytes obtained from the OS */
  uint32_t             used_slices; /* slices in allocated runs */
  uint8_t              kind;        /* da_segment_kind */
  uint8_t              from_sbrk;   /* which back-end to release to */
  uint8_t              abandoned;   /* on the abandoned list (guarded by the segment lock) */
  uint8_t              cache_dirty; /* in the cache, pages not yet purged */
  uint64_t             cached_at;   /* ms when it entered the cache */
  uint8_t              purged;      /* a purge pass turned some free run clean: coalesce */
  uint8_t              pad[7];
  uint16_t            *sizes;       /* hardened mode: request size per pool block (harden.c) */
  da_page_t            pages[DA_SLICES];
} da_segment_t;
_Static_assert(offsetof(da_segment_t, pages) == DA_PAGE_MAX + 64, "pages start on a cache line");

/* The first slice of a segment's runs when the OS page is p slices: the header
 * rounded up to whole OS pages, then one OS page of gap above it (runs start on
 * OS pages: every purge and protection is in whole OS pages). */
#define DA_SEGMENT_META_SLICES ((sizeof(da_segment_t) + DA_SLICE_SIZE - 1) >> DA_SLICE_SHIFT)
#define DA_SEGMENT_FIRST_RUN_FOR(p) (((DA_SEGMENT_META_SLICES + (p) - 1) & ~((size_t)(p) - 1)) + (p))
_Static_assert(DA_HUGE_THRESHOLD <= (DA_SLICES - DA_SEGMENT_FIRST_RUN_FOR(DA_PAGE_MAX >> DA_SLICE_SHIFT)) * DA_SLICE_SIZE,
               "bulk fits");
_Static_assert(DA_PAGE_MAX <= DA_POOL_PAGE_SIZE, "a pool page is whole OS pages");

/* ---- huge blocks ---------------------------------------------------------------- */
/* The descriptor of a huge block, in huge.c's metadata mappings, never beside the
 * block.  page is what a lookup returns (kind HUGE), so that the paths shared
 * with the other tiers see one header type. */
typedef struct da_huge_s {
  da_page_t          page;          /* kind HUGE; block_size = min(usable, UINT32_MAX) */
  uint8_t           *block;         /* the block: the start of its mapping */
  size_t             map_size;      /* bytes mapped = the block's usable size */
  uint8_t           *origin;        /* where the kernel's mapping it lies in began: the
                                       pieces of a split mapping share it (huge.c) */
  uint64_t           cached_at;     /* ms when it entered the huge cache */
  size_t             request;       /* hardened mode: the request (harden.c) */
  struct da_huge_s  *next;          /* list of unused descriptors */
} da_huge_t;

/* ---- heaps (one per thread) ------------------------------------------------------ */
typedef struct da_queue_s {
  da_page_t *first;
  da_page_t *last;
} da_queue_t;

typedef struct da_counters_s {      /* statistics a heap keeps without atomics (slow paths) */
  uint64_t bulk_mallocs, bulk_frees;
  uint64_t huge_mallocs, huge_frees;
  uint64_t pages_made, pages_retired, pages_kept;   /* kept: emptied pages kept for their bin */
  uint64_t segments_adopted;
  uint64_t pages_reclaimed, bulk_reclaimed;   /* taken back by another thread (reclaim.c) */
} da_counters_t;

/* malloc up to 1 KiB finds its allocation page with no class computation. */
#define DA_DIRECT_SMALL_MAX   1024
#define DA_DIRECT_SMALL_COUNT (DA_DIRECT_SMALL_MAX / 16 + 1)

typedef struct da_heap_s {
  uintptr_t        link_key;             /* da_link_key and da_free_key, copied here so that */
  uintptr_t        free_key;             /* the fast paths find them beside direct[] */
  intptr_t         sample_left;          /* bytes until the next sample (sample.c) */
  da_page_t       *direct_small[DA_DIRECT_SMALL_COUNT]; /* direct[] by (size + 15) / 16, to 1 KiB */
  da_page_t       *direct[DA_BIN_COUNT]; /* allocation page per bin; never NULL */
  da_queue_t       bins[DA_BIN_COUNT];   /* pool pages that may have free blocks */
  da_queue_t       full;                 /* full pool pages and bulk runs */
  da_queue_t       spans[DA_SPAN_BINS];  /* free runs of owned segments */
  da_page_t       *bulk_cache[DA_BULK_CACHE_SLICES + 1]; /* freed bulk runs by length */
  uint8_t          bulk_cached[DA_BULK_CACHE_SLICES + 1];
  uint64_t         bulk_cache_used_ms;   /* last time the bulk cache served or grew */
  da_segment_t    *segments;             /* owned segments (doubly linked) */
  _Atomic(uintptr_t) delayed;            /* blocks freed remotely into full pages */
  struct da_heap_s *all_next;            /* global heap list (stats, fork) */
  struct da_heap_s *all_prev;
  uint64_t         purge_check_ms;       /* next time a purge pass is due */
  _Atomic(uint32_t) dirty_runs;          /* free runs not yet purged (written under span_lock) */
  size_t           dirty_bytes;          /* their size */
  _Atomic(int)     span_lock;            /* 0 free, 1 owner, 2 purger thread (see purge.c) */
  int              span_depth;           /* owner's nesting of span_lock */
  uint32_t         maintain_tick;        /* slow-path calls; the clock is read every 16th */
  uint32_t         cache_ops;            /* bulk cache frees; the clock is read every 64th */
  uint32_t         lock_epoch;           /* owner's span-lock acquisitions (under the lock) */
  uint32_t         seen_epoch;           /* a reclaimer's last view of lock_epoch (under the lock) */
  uint32_t         seen_cache_ops;       /* … and of cache_ops */
  uint8_t          cache_busy;           /* owner inside a lock-free bulk cache operation */
  uint8_t          cache_frozen;         /* a reclaimer is taking the bulk cache (reclaim.c) */
  uint8_t          live;                 /* 1 while a thread uses it */
  da_counters_t    stats;
  intptr_t         sample_set;           /* sample_left when it was set (sample.c) */
  intptr_t         guard_left, prof_left;   /* bytes until each sampler's next sample, then */
  void           **quarantine;           /* hardened mode: freed blocks held back (harden.c) */
  uint32_t         quarantine_head;      /* oldest entry */
  uint32_t         quarantine_len;
  size_t           quarantine_bytes;     /* their block sizes */
  uint32_t         quarantined[DA_BIN_COUNT];   /* … by bin: owner stores, statistics load (relaxed) */
  da_queue_t       kept[DA_BIN_COUNT];   /* emptied pool pages kept for their bin, oldest first (page.c) */
  uint32_t         kept_pages;           /* their number (under the span lock) */
  uint8_t          kept_gen;             /* their generation, moved every half purge delay */
  uint64_t         kept_tick_ms;         /* when it may move next */
} da_heap_t;

#endif
