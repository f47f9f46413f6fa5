/* internal.h — prototypes grouped by the file that owns them, and the inline
 * helpers every layer shares (size classes, pointer → header, the segment map).
 *
 * Invariants kept here:
 *  - da_size_class(size) is O(1) bit arithmetic; da_bin_size(da_size_class(s)) ≥ s;
 *  - da_page_of(p) never reads memory that dynalloc does not own: the segment
 *    map is consulted first and a foreign pointer yields NULL.
 */
#ifndef DA_INTERNAL_H
#define DA_INTERNAL_H

#include "types.h"
#include <stdio.h>
#include <pthread.h>
#include <unwind.h>

#define DA_API       __attribute__((visibility("default")))
#define DA_NOINLINE  __attribute__((noinline))
#define DA_COLD      __attribute__((cold, noinline))
#define DA_INLINE    inline __attribute__((always_inline))
#define DA_NORETURN  __attribute__((noreturn))
#define likely(x)    __builtin_expect(!!(x), 1)
#if defined(__SANITIZE_THREAD__)        /* gcc */
#define DA_TSAN 1
#elif defined(__has_feature)            /* clang */
#if __has_feature(thread_sanitizer)
#define DA_TSAN 1
#endif
#endif
#ifndef DA_TSAN
#define DA_TSAN 0
#endif
/* An AddressSanitizer build (SANITIZE=address): the bytes of a free pool block
 * after its link and key are poisoned, so that a program built with ASan that
 * reads or writes them gets ASan's report (use-after-poison); a block is
 * unpoisoned when it is handed out, a run when it is taken for a new use, and
 * memory before it goes back to the OS. */
#if defined(__SANITIZE_ADDRESS__)
#define DA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DA_ASAN 1
#endif
#endif
#ifndef DA_ASAN
#define DA_ASAN 0
#endif
#if DA_ASAN
#include <sanitizer/asan_interface.h>
#define da_asan_poison(p, n)   ASAN_POISON_MEMORY_REGION(p, n)
#define da_asan_unpoison(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define da_asan_poison(p, n)   ((void)(p), (void)(n))
#define da_asan_unpoison(p, n) ((void)(p), (void)(n))
#endif
#define unlikely(x)  __builtin_expect(!!(x), 0)

/* Everything declared below is dynalloc's own: hidden, so that code reads a global
 * with one PC-relative load instead of going through the GOT (the exported
 * entry points say DA_API). */
#pragma GCC visibility push(hidden)

/* ---- message.c: output without allocation ---------------------------------------- */
void da_message(const char *fmt, ...);               /* to stderr; %s %d %u %zu %llu %p %x */
DA_NORETURN DA_COLD void da_fatal(const char *fmt, ...); /* message + abort() */
size_t da_format(char *buf, size_t cap, const char *fmt, __builtin_va_list ap);
size_t da_snprintf(char *buf, size_t cap, const char *fmt, ...);
bool da_write_fd(int fd, const char *buf, size_t len);  /* all of it, retrying EINTR; false on error */
/* Buffered output to a descriptor (the statistics report, the heap profile). */
typedef struct da_sink_s { int fd; bool failed; size_t len; char buf[2048]; } da_sink_t;
void da_sink_init(da_sink_t *s, int fd);
void da_sink_write(da_sink_t *s, const char *text, size_t n);
void da_sink_printf(da_sink_t *s, const char *fmt, ...);   /* one line of at most 320 bytes */
bool da_sink_flush(da_sink_t *s);                          /* false if any write failed */
DA_NORETURN DA_COLD void da_invalid(const char *func, const char *what, const void *p);

/* Validity walkers say which check failed (a line on stderr) and return false. */
#define DA_CHECK(c) do { if (!(c)) { da_message("dynalloc: check failed: %s (%s:%d)\n", #c, __FILE__, __LINE__); return false; } } while (0)

#if DA_DEBUG >= 2
#define da_assert(c) ((c) ? (void)0 : da_fatal("assertion failed: %s (%s:%d)", #c, __FILE__, __LINE__))
#else
#define da_assert(c) ((void)0)
#endif

/* ---- lock.c: mutexes held with signals blocked, the in-call mark ------------------ */
void da_lock(pthread_mutex_t *m);      /* every allocator mutex goes through these */
bool da_trylock(pthread_mutex_t *m);
void da_unlock(pthread_mutex_t *m);
void da_signals_block(void);           /* nests; the outermost call blocks, its pair restores */
void da_signals_restore(void);
void da_lock_fork_child(void);
extern __thread unsigned da_busy;      /* > 0: inside a slow path (the heap may be mid-change) */
/* Around every slow path: a compiler barrier on each side (a signal handler of
 * this thread sees the mark before the first change of the heap and after the last). */
static inline void da_busy_enter(void) {
  da_busy++;
  atomic_signal_fence(memory_order_seq_cst);
}
static inline void da_busy_leave(void) {
  atomic_signal_fence(memory_order_seq_cst);
  da_busy--;
}

/* ---- options.c: DYNALLOC_* environment, read once ------------------------------- */
typedef struct da_options_s {
  long stats;          /* DYNALLOC_STATS: statistics at exit, 1 text, 2 JSON */
  const char *stats_file; /* DYNALLOC_STATS_FILE: where they go (%p: the pid), else stderr */
  long verbose;        /* DYNALLOC_VERBOSE: report OS-level events */
  long backend_sbrk;   /* DYNALLOC_BACKEND=sbrk */
  long purge_delay_ms; /* DYNALLOC_PURGE_DELAY: ms before free memory goes back to the OS */
  long segment_cache;  /* DYNALLOC_SEGMENT_CACHE: empty segments kept for reuse */
  long fault_every;    /* DYNALLOC_FAULT_EVERY (DA_DEBUG ≥ 1): fail every Nth OS request */
  long purge_thread;   /* DYNALLOC_PURGE_THREAD: purge idle heaps from a background thread */
  long harden;         /* DYNALLOC_HARDEN: the hardened mode (harden.c) */
  long guard_sample;   /* DYNALLOC_GUARD_SAMPLE: bytes per guarded sample, 0 off (guard.c) */
  long prof;           /* DYNALLOC_PROF: the heap profiler (prof.c) */
  long prof_rate;      /* DYNALLOC_PROF_RATE: bytes per profile sample, on average */
  const char *prof_file;  /* DYNALLOC_PROF_FILE: the profile written at exit (%p: the pid) */
  long valgrind;       /* DYNALLOC_VALGRIND: 0: no client requests under memcheck (vg.c) */
  long thp;            /* DYNALLOC_THP: 1: segments in transparent huge pages (os.c, segment.c) */
  long page_size;      /* DYNALLOC_PAGE_SIZE: work in pages of this size, ≥ the kernel's (os.c) */
  long percpu;         /* DYNALLOC_PERCPU: 1: per-CPU caches of cross-thread frees (percpu.c) */
} da_options_t;
extern da_options_t da_options;
void da_options_init(void);

/* ---- os.c, os_mmap.c, os_sbrk.c: the OS contract ------------------------------------ */
typedef struct da_os_stats_s {
  _Atomic(size_t) mapped, mapped_peak, purged;
  _Atomic(uint64_t) mmap_calls, munmap_calls, madvise_calls, mremap_calls, sbrk_calls;
} da_os_stats_t;
extern da_os_stats_t da_os_stats;

/* The OS page dynalloc works in (the kernel's, or DYNALLOC_PAGE_SIZE), set once
 * by da_os_page_init before anything is mapped: every length and address that
 * os.c hands the kernel is a multiple of it (checked there), every run of a
 * segment starts and ends on one. */
extern size_t da_page_size;     /* bytes: 4, 16 or 64 KiB */
extern size_t da_page_slices;   /* … in slices */
extern size_t da_first_run;     /* the first slice of a segment's runs: DA_SEGMENT_FIRST_RUN_FOR(da_page_slices) */
extern size_t da_kernel_page;   /* the kernel's own page (smaller than da_page_size only when emulating) */
void da_os_page_init(void);
extern size_t da_page_mask;     /* da_page_size - 1 */
extern size_t da_slices_mask;   /* ~(da_page_slices - 1) */
static inline size_t da_page_round(size_t bytes) { return (bytes + da_page_mask) & ~da_page_mask; }
/* Slices of a run holding bytes: whole OS pages. */
static inline size_t da_run_slices(size_t bytes) { return ((bytes + da_page_mask) >> DA_SLICE_SHIFT) & da_slices_mask; }

void *da_os_alloc_segment(bool *from_sbrk);
void *da_os_alloc_huge(size_t size, size_t align, size_t offset);
void *da_os_alloc_meta(size_t size);
void  da_os_free_meta(void *p, size_t size);
bool  da_os_protect(void *p, size_t size, bool accessible);
void  da_os_free(void *p, size_t size, bool from_sbrk);
void  da_os_purge(void *p, size_t size);
void *da_os_remap(void *p, size_t old_size, size_t new_size, size_t align);
uint64_t da_clock_ms(void);
void  da_os_membarrier_register(void);
bool  da_os_membarrier(void);
void  da_os_membarrier_fork_child(void);

void *da_mmap_reserve(size_t size, size_t align, size_t offset);   /* os_mmap.c */
void  da_mmap_release(void *p, size_t size);
void *da_mmap_guarded(size_t size);
void  da_mmap_purge(void *p, size_t size);
void *da_mmap_remap(void *p, size_t old_size, size_t new_size, size_t align);
bool  da_mmap_protect(void *p, size_t size, int prot);
void  da_mmap_advise_huge(void *p, size_t size);
void *da_mmap_inaccessible(size_t size);
bool  da_mmap_fixed_inaccessible(void *p, size_t size);
void  da_os_check(const char *call, const void *p, size_t size);   /* whole OS pages, or da_fatal */
void *da_sbrk_reserve(size_t size, size_t align);   /* os_sbrk.c */
void  da_sbrk_release(void *p, size_t size);
void  da_sbrk_lock(bool lock);
void  da_sbrk_fork_child(void);

/* The free fast path's reads of what it may not own (the segment map, a header's
 * kind, flags and owner): a plain load, which the compiler folds into the compare;
 * a stale value only sends the free to the checked path.  TSan builds keep the
 * relaxed atomic load. */
#if DA_TSAN
#define DA_PEEK(type, field) __atomic_load_n((type *)&(field), __ATOMIC_RELAXED)
#else
#define DA_PEEK(type, field) (*(const type *)&(field))
#endif

/* ---- segmap.c: which 4 MiB frames belong to dynalloc ------------------------------- */
#define DA_SEGMAP_BITS   47
#define DA_SEGMAP_FRAMES ((size_t)1 << (DA_SEGMAP_BITS - DA_SEGMENT_SHIFT))
extern _Atomic(uint8_t) da_segmap[DA_SEGMAP_FRAMES];
void da_segmap_set(const da_segment_t *seg, bool present);

static inline bool da_segmap_contains(uintptr_t seg) {
  uintptr_t frame = seg >> DA_SEGMENT_SHIFT;
  if (unlikely(frame >= DA_SEGMAP_FRAMES)) return false;
  return DA_PEEK(uint8_t, da_segmap[frame]) != 0;
}

/* ---- size classes -------------------------------------------------------------------- */
/* Pool classes (size ≤ 4096).  Bins 0–8: (size + 15) / 16.  Above 128 B: four
 * classes per power of two; w = size - 1 has its top bit at b ≥ 7, the next two
 * bits pick the quarter. */
static inline size_t da_block_index(size_t size) {
  if (size <= DA_BIN_SMALL_MAX) return (size + 15) >> 4;
  size_t w = size - 1;
  unsigned b = 63 ^ (unsigned)__builtin_clzl(w);   /* top bit: one bsr */
  return ((size_t)b << 2) + ((w >> (b - 2)) & 3) - 19;   /* ((b - 7) << 2) + quarter + 9 */
}
/* Bulk classes (4096 < size ≤ DA_BULK_CLASS_MAX): eight per power of two; the top
 * bit b of w = size - 1 is 12–14, the next three bits pick the eighth. */
static inline size_t da_bulk_class_index(size_t size) {
  size_t w = size - 1;
  unsigned b = 63 ^ (unsigned)__builtin_clzl(w);
  return ((size_t)b << 3) + ((w >> (b - 3)) & 7) - 67;   /* ((b - 12) << 3) + eighth + 29 */
}
/* The class of any size up to DA_BULK_CLASS_MAX. */
static inline size_t da_size_class(size_t size) {
  return size <= DA_POOL_MAX ? da_block_index(size) : da_bulk_class_index(size);
}
static inline size_t da_bin_size(size_t bin) {
  if (bin <= 8) return bin == 0 ? 16 : bin << 4;
  if (bin >= DA_BIN_POOL_COUNT) {
    size_t j = bin - DA_BIN_POOL_COUNT;
    return (9 + (j & 7)) << (9 + (j >> 3));
  }
  size_t j = bin - 9;
  return (5 + (j & 3)) << (5 + (j >> 2));
}
/* The class that serves size at alignment align > DA_ALIGN, or DA_BIN_COUNT when
 * the bulk tier's runs serve it.  A class block's address is a multiple of the
 * largest power of two dividing its class size (its page starts on a 64 KiB
 * boundary), so: the first class that fits size and whose blocks are all
 * aligned to align.  Up to 4096 B, the power-of-two class covering both. */
static inline size_t da_aligned_class(size_t size, size_t align) {
  if (size <= DA_POOL_MAX && align <= DA_POOL_MAX) {
    size_t n = size > align ? size : align;
    return da_block_index((size_t)1 << (64 - __builtin_clzl(n - 1)));
  }
  if (size > DA_BULK_CLASS_MAX || align > DA_BULK_CLASS_MAX) return DA_BIN_COUNT;
  size_t bin = da_bulk_class_index(size > DA_POOL_MAX ? size : DA_POOL_MAX + 1);
  while (bin < DA_BIN_COUNT && (da_bin_size(bin) & -da_bin_size(bin)) < align) bin++;
  return bin;
}

/* ---- pointer → header ------------------------------------------------------------------ */
static inline da_segment_t *da_segment_of(const void *p) {
  return (da_segment_t *)((uintptr_t)p & ~(uintptr_t)DA_SEGMENT_MASK);
}
static inline uint8_t *da_page_start(const da_segment_t *seg, const da_page_t *page) {
  return (uint8_t *)seg + ((size_t)(page - seg->pages) << DA_SLICE_SHIFT);
}
/* The header at p's 64 KiB boundary of segment seg (da_segment_of(p)): p's page
 * when p is in a pool page, which starts on such a boundary; the header of
 * &seg->pages[((p - seg) >> 16) * 16], found with one shift and one mask. */
static inline da_page_t *da_pool_page_at(const da_segment_t *seg, const void *p) {
  _Static_assert(DA_POOL_PAGE_SLICES * sizeof(da_page_t) == 1024, "a pool page's headers span 1 KiB");
  return (da_page_t *)((uintptr_t)seg->pages + (((uintptr_t)p >> (DA_POOL_PAGE_SHIFT - 10)) &
                                                ((DA_SEGMENT_SIZE / DA_POOL_PAGE_SIZE - 1) << 10)));
}
/* The header of the run holding p, a pointer of segment seg (da_segment_of(p),
 * known to be in the segment map).  A pointer into the metadata slices yields a
 * header of kind NONE. */
static inline da_page_t *da_page_in(const da_segment_t *seg, const void *p) {
  const da_page_t *slice = &seg->pages[((uintptr_t)p - (uintptr_t)seg) >> DA_SLICE_SHIFT];
  return (da_page_t *)(slice - slice->slice_offset);
}
/* The header of the run holding p, or NULL when p is not in a dynalloc segment
 * (huge blocks are not: da_huge_find looks them up). */
static inline da_page_t *da_page_of(const void *p) {
  da_segment_t *seg = da_segment_of(p);
  if (unlikely(!da_segmap_contains((uintptr_t)seg))) return NULL;
  return da_page_in(seg, p);
}

/* Fields that another thread may read while the owner changes them (kind, flags,
 * capacity: read by a remote free) are written and read with relaxed atomics —
 * plain moves on x86, and no data race for the C memory model or TSan. */
#define DA_SET(field, value) __atomic_store_n(&(field), (value), __ATOMIC_RELAXED)
#define DA_GET(field)        __atomic_load_n(&(field), __ATOMIC_RELAXED)

/* ---- pool block grid -------------------------------------------------------------------- */
/* A pool page's block size d = 2^shift * m with m odd, and magic = m^-1 mod 2^32.  For
 * an offset off < 2^16 from the page's start, ror32(off * magic, shift) is off / d
 * when d divides off and at least 2^32 / d (> 65535 blocks) when it does not
 * (Granlund and Montgomery's exact-division test), so one compare with the carved
 * block count checks "start of a carved block" (whitebox_classes checks every class
 * and offset). */
static inline uint32_t da_pool_index(const da_page_t *page, uint32_t off) {
  uint32_t x = off * page->magic;
  unsigned s = page->shift;
  return (x >> s) | (x << ((32 - s) & 31));
}
static inline uint32_t da_pool_magic(uint32_t d, unsigned *shift) {
  *shift = (unsigned)__builtin_ctz(d);
  uint32_t m = d >> *shift, x = m;   /* x = m^-1 mod 2^3; each step doubles the bits */
  for (int i = 0; i < 4; i++) x *= 2 - m * x;
  return x;
}

/* ---- page header field access ----------------------------------------------------------- */
/* used is written only by the owner; relaxed atomics (plain moves on x86) let the
 * statistics walk read it from another thread without a data race.  The bin's
 * allocation page (heap->direct[bin]) carries DA_USED_DIRECT on top of its count,
 * so that the free fast path's decrement reaches zero only on a page it may retire
 * (da_set_direct moves the bit; da_used and da_used_set see the count alone). */
#define DA_USED_DIRECT (1u << 24)
_Static_assert(DA_POOL_PAGE_SIZE / DA_ALIGN < DA_USED_DIRECT, "the count stays below the bit");
static inline uint32_t da_used(const da_page_t *page) {
  return atomic_load_explicit(&page->used, memory_order_relaxed) & (DA_USED_DIRECT - 1);
}
static inline void da_used_set(da_page_t *page, uint32_t used) {
  uint32_t mark = atomic_load_explicit(&page->used, memory_order_relaxed) & DA_USED_DIRECT;
  atomic_store_explicit(&page->used, mark | used, memory_order_relaxed);
}
/* A header that becomes a page or a run: the count, and no allocation-page bit. */
static inline void da_used_init(da_page_t *page, uint32_t used) {
  atomic_store_explicit(&page->used, used, memory_order_relaxed);
}
/* The owner's used += delta, as one instruction: the field is only ever written
 * by the owner, and readers use relaxed loads (under TSan, a relaxed atomic
 * store, which it understands).  Returns true when the count reaches zero. */
static inline bool da_used_add(da_page_t *page, int32_t delta) {
#if defined(__x86_64__) && !DA_TSAN
  bool zero;
  __asm__("addl %2, %0" : "+m"(*(uint32_t *)&page->used), "=@ccz"(zero) : "ri"(delta));
  return zero;
#else
  uint32_t used = atomic_load_explicit(&page->used, memory_order_relaxed) + (uint32_t)delta;
  da_used_init(page, used);   /* the whole word, DA_USED_DIRECT included */
  return used == 0;
#endif
}
static inline da_heap_t *da_owner(const da_page_t *page) {
  return atomic_load_explicit(&page->heap, memory_order_relaxed);
}
static inline size_t da_segment_index(const da_segment_t *seg, const da_page_t *page) {
  return (size_t)(page - seg->pages);
}
static inline da_segment_t *da_segment_of_page(const da_page_t *page) {
  return (da_segment_t *)((uintptr_t)page & ~(uintptr_t)DA_SEGMENT_MASK);
}

/* ---- segment.c: runs of slices inside owned segments ----------------------------------- */
da_page_t *da_segment_run_alloc(da_heap_t *heap, size_t slices, size_t align);
void       da_segment_run_free(da_heap_t *heap, da_page_t *run);
void       da_segment_run_free_locked(da_heap_t *heap, da_page_t *run);
void       da_segment_run_free_at_locked(da_heap_t *heap, da_page_t *run, uint32_t freed_ms);
bool       da_segment_run_grow(da_heap_t *heap, da_page_t *run, size_t slices);
void       da_segment_purge(da_heap_t *heap, bool force);
void       da_segment_purge_locked(da_heap_t *heap, bool force);
bool       da_segment_purge_abandoned(uint32_t now, uint32_t delay);
void       da_span_lock(da_heap_t *heap);
void       da_span_unlock(da_heap_t *heap);
bool       da_span_lock_other(da_heap_t *heap, bool wait);
void       da_span_unlock_other(da_heap_t *heap);
void       da_segment_abandon_all(da_heap_t *heap);
bool       da_segment_try_adopt(da_heap_t *heap);
void       da_segment_trim_cache(void);
bool       da_segment_cache_maintain(bool force);
size_t     da_segment_cache_bytes(void);
void       da_segment_lock_all(void);
void       da_segment_unlock_all(bool child);
bool       da_segment_is_valid(const da_segment_t *seg);

/* ---- page.c: pool pages and their queues --------------------------------------------------- */
extern da_page_t da_page_empty;
void  da_queue_push_front(da_queue_t *q, da_page_t *page);
void  da_queue_push_back(da_queue_t *q, da_page_t *page);
void  da_queue_remove(da_queue_t *q, da_page_t *page);
void *da_page_malloc_slow(da_heap_t *heap, size_t bin);
void *da_pool_refill(da_heap_t *heap, size_t bin);
void *da_alloc_large(size_t size, size_t align, bool zero);   /* alloc.c: bulk runs, huge blocks */
void *da_large_block(size_t size, size_t align, bool zero);   /* alloc.c: the same, never sampled */
da_block_t *da_pool_take(da_page_t *page, da_block_t *b);      /* free.c: b = page->free, checked */
da_page_t *da_checked_page(const void *p, const char *func, const char *freed_word);   /* free.c */

/* ---- guard.c: guarded sampling (DYNALLOC_GUARD_SAMPLE) ------------------------------------------- */
#define DA_GUARD_SLOTS  128                    /* sampled blocks live at once */
#define DA_GUARD_FRAMES 16                     /* return addresses kept per stack */
#define DA_GUARD_SAMPLE_DEFAULT (64L << 20)    /* bytes allocated per sample, on average */
extern uintptr_t da_guard_area;                /* its first (guard) page */
extern size_t da_guard_span;                   /* (2 * DA_GUARD_SLOTS + 1) OS pages: the area with its outer guards */
void da_guard_span_init(void);                 /* after da_page_size is known */
static inline bool da_guard_contains(const void *p) {
  return (uintptr_t)p - __atomic_load_n(&da_guard_area, __ATOMIC_RELAXED) < da_guard_span;
}
typedef struct da_guard_stats_s {
  size_t live_blocks, live_bytes;            /* sampled blocks not freed, their requests */
  size_t mapped;                             /* their pages (the rest of the area is inaccessible) */
  uint64_t sampled;                          /* blocks served since start */
} da_guard_stats_t;
intptr_t da_guard_interval(void);
void  *da_guard_malloc(size_t size);
void   da_guard_free(void *p, const char *func);
size_t da_guard_size(const void *p, const char *func);
void  *da_guard_realloc(void *p, size_t size);
void   da_guard_stats(da_guard_stats_t *out);
void   da_guard_fork_prepare(void);
void   da_guard_fork_parent(void);
void   da_guard_fork_child(void);

/* ---- stack.c: call stacks without allocation ------------------------------------------------------ */
void da_stack_init(void);
/* The return addresses of the caller's stack, innermost first, at most max.
 * Inline: every frame of dynalloc's the unwinder has to step over costs it an
 * FDE lookup and a CFA program (most of a profile sample's cost). */
typedef struct da_trace_s { uintptr_t *pcs; int n, max; bool top; } da_trace_t;
_Unwind_Reason_Code da_stack_step(struct _Unwind_Context *ctx, void *arg);
static DA_INLINE int da_stack_capture(uintptr_t *pcs, int max) {
  da_trace_t t = {pcs, 0, max, true};
  _Unwind_Backtrace(da_stack_step, &t);
  return t.n;
}
void da_stack_print(const char *what, const uintptr_t *pcs, int n);   /* one line on stderr */
bool da_stack_self_shared(void);       /* dynalloc is a shared object (not linked into the program) */

/* ---- sample.c: the sampling countdown; prof.c: the heap profiler (DYNALLOC_PROF) --------------------- */
#define DA_PROF_RATE_DEFAULT (512L << 10)   /* bytes allocated per profile sample, on average */
#define DA_PROF_FRAMES 32                   /* return addresses kept per stack */
uint64_t da_random(void);
void   da_sample_start(da_heap_t *heap);
void  *da_sample_try(da_heap_t *heap, size_t size, size_t align, bool zero);
intptr_t da_prof_interval(void);
void  *da_prof_sample(size_t size, size_t align, bool zero, const uintptr_t *pcs, int frames);
void   da_prof_free(da_page_t *page, const void *p);
void   da_prof_init(void);
void   da_prof_at_exit(void);
void   da_prof_fork_prepare(void);
void   da_prof_fork_parent(void);
void   da_prof_fork_child(void);
static inline bool da_page_sampled(const da_page_t *page) {
  return (DA_GET(page->flags) & DA_PAGE_SAMPLED) != 0;
}

/* ---- vg.c: memcheck's client requests (DYNALLOC_VALGRIND) ------------------------------------------ */
extern bool da_vg;                     /* memcheck runs this process: every hook below is on */
void da_vg_init(void);
void da_vg_alloc(void *p, size_t n, size_t room, bool zeroed);
void da_vg_free(const void *p);
void da_vg_resized(void *p, void *q, size_t old, size_t n, size_t room);
void da_vg_noaccess(void *p, size_t n);
void da_vg_listed(void *b);            /* a pool block on a free list: its link and key readable */
void da_vg_quiet(void);                /* dynalloc's own accesses: not reported (nests) */
void da_vg_loud(void);

/* ---- harden.c: DYNALLOC_HARDEN=1 ------------------------------------------------------------ */
void  *da_harden_malloc(da_heap_t *heap, size_t size, size_t align);
void  *da_harden_pop(da_heap_t *heap, size_t size);   /* malloc's pool path, counted down */
void   da_harden_free(da_heap_t *heap, da_page_t *page, void *p, const char *func);
void   da_harden_free_pool(da_heap_t *heap, da_page_t *page, void *p);   /* misuse: da_free_checked */
size_t da_harden_size(const da_page_t *page, const void *p, const char *func);
void   da_harden_resize(const da_page_t *page, void *p, size_t n);
void   da_harden_fill(const da_page_t *page, void *p);
void   da_harden_large_set(da_page_t *page, void *p, size_t n);     /* bulk runs, huge blocks */
size_t da_harden_large_size(const da_page_t *page, const void *p, const char *func);
void   da_harden_flush(da_heap_t *heap);
bool   da_harden_segment_init(da_segment_t *seg);
void   da_harden_segment_release(da_segment_t *seg);
void   da_harden_segment_purge(da_segment_t *seg);
static inline bool da_page_hardened(const da_page_t *page) {
  return (DA_GET(page->flags) & DA_PAGE_HARDENED) != 0;
}            /* alloc.c: da_page_malloc_slow, marked busy */
void  da_page_collect(da_page_t *page);
void  da_page_keep(da_heap_t *heap, da_page_t *page);
bool  da_page_release_kept_locked(da_heap_t *heap, bool all);
bool  da_page_release_one_kept_locked(da_heap_t *heap);
void  da_set_direct(da_heap_t *heap, size_t bin, da_page_t *page);
/* A pool page's last block came back: it is kept for its bin (page.c, "emptied
 * pages") unless it is its bin's allocation page, which stays as it is (a loop
 * that allocates and frees one block touches no queue).  Inline: no call in
 * that loop. */
static inline void da_page_emptied(da_heap_t *heap, da_page_t *page) {
  if (heap->direct[page->bin] != page) da_page_keep(heap, page);
}
void  da_page_set_owner(da_page_t *page, da_heap_t *heap);
void  da_page_make_full(da_heap_t *heap, da_page_t *page);
void  da_page_unfull(da_heap_t *heap, da_page_t *page);
void  da_page_adopt(da_heap_t *heap, da_page_t *page);
bool  da_page_is_valid(const da_page_t *page);

/* ---- purge.c: the purger thread ------------------------------------------------------------------ */
void  da_purger_want(void);
void  da_purger_wake(void);
void  da_purger_start_if_needed(void);
void  da_purger_mapped(size_t mapped);
void  da_purger_no_heaps(void);
extern _Atomic(int) da_purger_wanted;   /* 1: start it at the next safe point */
extern _Atomic(int) da_purger_running;  /* 1 while the thread runs */
extern _Atomic(int) da_purger_armed;    /* 1 while it will make another pass */
/* Something waits to be purged or taken back: wake the purger if it runs.
 * Never starts it (free paths call this, and starting allocates) and takes no
 * lock (sem_post); two loads while the purger is armed. */
static inline void da_purger_notify(void) {
  if (atomic_load_explicit(&da_purger_running, memory_order_relaxed) != 0 &&
      atomic_load_explicit(&da_purger_armed, memory_order_relaxed) == 0)
    da_purger_wake();
}
static inline void da_purger_check(void) {   /* end of malloc slow paths */
  if (unlikely(atomic_load_explicit(&da_purger_wanted, memory_order_relaxed) == 1)) da_purger_start_if_needed();
}
void  da_purger_fork(int phase, bool threaded);   /* 0 prepare, 1 parent, 2 child */
bool  da_purger_pass(void);

/* ---- heap.c: per-thread heaps ---------------------------------------------------------------- */
extern __thread da_heap_t *da_heap_tls;
extern da_heap_t da_heap_empty;
da_heap_t *da_heap_get_slow(void);
void  da_heap_key_init(void);
bool  da_heap_trim(void);
void  da_heap_release_free(da_heap_t *heap);
void  da_heap_retired_counters(da_counters_t *out);
void  da_heap_collect_delayed(da_heap_t *heap);
da_block_t *da_delayed_next(const da_block_t *b);
bool  da_heap_reclaim(da_heap_t *heap, bool force);   /* reclaim.c */
void  da_heap_maintain(da_heap_t *heap);
bool  da_heap_is_valid(const da_heap_t *heap);
void  da_heap_foreach(void (*fn)(da_heap_t *, void *), void *arg);
void  da_heap_foreach_live(void (*fn)(da_heap_t *, void *), void *arg);
size_t da_heap_live_count(void);
void  da_heap_fork_prepare(void);
void  da_heap_fork_parent(void);
void  da_heap_fork_child(void);
extern da_counters_t da_retired_stats;   /* counters of heaps that ended */

static inline da_heap_t *da_heap_get(void) {
  da_heap_t *heap = da_heap_tls;
  if (unlikely(heap == &da_heap_empty)) heap = da_heap_get_slow();
  return heap;
}

/* ---- bulk.c: runs of whole pages, for blocks above 32 KiB and over-aligned ones ---------------- */
void  *da_bulk_alloc(da_heap_t *heap, size_t size, size_t align, bool zero);
void   da_bulk_free(da_heap_t *heap, da_page_t *page);
void   da_bulk_cache_flush(da_heap_t *heap, bool force);
void   da_bulk_cache_flush_locked(da_heap_t *heap);
bool   da_bulk_grow(da_page_t *page, size_t size);

/* ---- huge.c: blocks above 1 MiB, a mapping each ------------------------------------------------ */
void  *da_huge_alloc_aligned(size_t size, size_t align, bool zero);
void  *da_huge_alloc(size_t size);
da_huge_t *da_huge_find(const void *p);
void   da_huge_free(da_page_t *page, const char *func);
void  *da_huge_realloc(da_page_t *page, void *p, size_t size);
void   da_huge_cache_trim(bool all);
void   da_huge_cache_shed(void);
size_t da_huge_cache_bytes(void);
void   da_huge_lock(bool lock, bool child);
void   da_huge_counts(uint64_t *mallocs, uint64_t *frees, size_t *live_bytes);

/* ---- alloc.c and free.c: the entry points' cores -------------------------------------------------- */
DA_API void *da_malloc(size_t size);       /* the API names are the cores (exported) */
void  *da_alloc_aligned(size_t size, size_t align);
void  *da_alloc_zeroed(size_t size);
void  *da_realloc_core(void *p, size_t size);
DA_API void da_free(void *p);
void   da_free_sized_core(void *p, size_t align, size_t size, const char *func);
void   da_free_local(da_heap_t *heap, da_page_t *page, da_block_t *block);
void   da_free_remote(da_page_t *page, da_block_t *block);
void   da_free_foreign(da_page_t *page, da_block_t *block);   /* a per-CPU cache, else da_free_remote */
void   da_free_checked(void *p);   /* free() checked in full: every misuse reported */
size_t da_usable_size(const void *p, const char *func);
size_t da_usable_page(const void *p, const char *func, da_page_t **page);

/* ---- percpu.c: per-CPU caches of blocks freed by other threads than their owner ----------------------- */
extern int da_percpu_on;                     /* 0 off, 1 on glibc's rseq area, 2 on dynalloc's own */
void        da_percpu_init(void);            /* at start-up: DYNALLOC_PERCPU and what the kernel offers */
const char *da_percpu_design(void);          /* the design that runs, in words (DYNALLOC_VERBOSE) */
bool        da_percpu_push(da_block_t *b, size_t bin);   /* a foreign pool block; false: full or none */
da_block_t *da_percpu_pop(size_t bin);       /* a block of class bin from this CPU's cache, or NULL */
bool        da_percpu_drain(bool all);       /* give cached blocks back (all, or quiet CPUs'); true: left */
void        da_percpu_counts(uint64_t by_bin[DA_BIN_COUNT]);   /* cached blocks, added by class */
void        da_percpu_fork_child(void);

/* ---- stats.c: the one snapshot every report is derived from ------------------------------------------ */
typedef struct da_totals_s {
  size_t segment_in_use;                 /* pool + bulk live bytes */
  size_t pool_in_use, bulk_in_use, huge_in_use, huge_count;   /* remote frees taken off */
  size_t pool_pages, pool_free_blocks, pool_free_bytes, empty_pool_bytes;
  size_t pool_kept_pages;                /* of pool_pages: emptied, kept for their bin (page.c) */
  size_t bulk_runs, bulk_remote;         /* live bulk runs; bulk blocks freed remotely, not collected */
  size_t remote_bytes;                   /* freed by other threads, not yet collected */
  size_t quarantine_bytes;               /* hardened mode: freed, held in the quarantines */
  size_t percpu_bytes;                   /* freed, held in the per-CPU caches (percpu.c) */
  size_t free_runs, free_runs_bytes, dirty_bytes;
  size_t heaps, segments, cached_segments, huge_cached, huge_cached_bytes;
  size_t mapped, mapped_peak, meta_bytes;
  uint64_t huge_mallocs, huge_frees;
  da_counters_t counters;
  uint64_t live_blocks[DA_BIN_COUNT], free_blocks[DA_BIN_COUNT];   /* pool, by class */
  uint64_t quarantined[DA_BIN_COUNT];    /* hardened mode: blocks in the quarantines, by class */
  uint64_t percpu[DA_BIN_COUNT];         /* blocks in the per-CPU caches, by class */
  da_guard_stats_t guard;                /* guarded samples (not in the pool figures) */
} da_totals_t;
struct mallinfo2;
/* Blocks on the heaps' delayed lists (pushed by free.c, collected in heap.c):
 * pool bytes, bulk bytes, bulk blocks. */
extern _Atomic(size_t) da_delayed[3];
void da_stats_totals(da_totals_t *t);
void da_stats_mallinfo2(const da_totals_t *t, struct mallinfo2 *mi);
void da_counters_add(da_counters_t *to, const da_counters_t *from);
void da_segment_foreach_abandoned(void (*fn)(const da_segment_t *, da_totals_t *), da_totals_t *t);
void da_segment_foreach_cached(void (*fn)(const da_segment_t *, da_totals_t *), da_totals_t *t);
void da_huge_cache_counts(size_t *count, size_t *bytes);
/* A block joins (sign 1) or leaves (-1) a heap's delayed list. */
static inline void da_delayed_count(const da_page_t *page, int sign) {
  size_t bytes = page->block_size, bulk = page->kind == DA_KIND_BULK;
  if (sign > 0) {
    atomic_fetch_add_explicit(&da_delayed[bulk], bytes, memory_order_relaxed);
    if (bulk) atomic_fetch_add_explicit(&da_delayed[2], 1, memory_order_relaxed);
  } else {
    atomic_fetch_sub_explicit(&da_delayed[bulk], bytes, memory_order_relaxed);
    if (bulk) atomic_fetch_sub_explicit(&da_delayed[2], 1, memory_order_relaxed);
  }
}

/* ---- report.c: the text and JSON reports, the exit report's destination ------------------------------- */
void da_report_init(void);
void da_report_print(int fd);          /* the text report (malloc_stats: fd 2) */
void da_report_at_exit(void);          /* once per process, where DYNALLOC_STATS* say */
void da_path_absolute(char *dst, size_t cap, const char *file);   /* from the working directory */
void da_path_expand(char *dst, size_t cap, const char *pattern);  /* every %p: the pid */

/* ---- init.c ------------------------------------------------------------------------------------------- */
extern _Atomic(int) da_initialized;
void da_process_init(void);
extern uintptr_t da_free_key, da_link_key;

/* The word a free block carries in its second slot (the double-free check). */
static inline uintptr_t da_free_mark(const void *block) { return da_free_key ^ (uintptr_t)block; }

/* ---- free-list links (types.h, "Free lists") ------------------------------------------------------ */
/* The end of a pool page's free list: page->free is never NULL.  The sentinel is
 * a read-only block whose link word is 1, and the link secret's low 4 bits are
 * 0, so its link never decodes: malloc's one link check sends it to
 * da_pool_pop_slow with no NULL test.  A page's list may also end in NULL where
 * a list of remote frees was appended (those lists end in NULL), so walkers stop
 * at either (da_list_more). */
extern const da_block_t da_list_end;
#define DA_LIST_END ((da_block_t *)&da_list_end)
static inline bool da_list_more(const da_block_t *b) { return b != NULL && b != DA_LIST_END; }
/* b's link to next (NULL or DA_LIST_END: the end), encoded with the secret and b's address. */
/* Block b of size bytes became free: what follows its link and key is the
 * program's no longer (ASan builds; nothing otherwise). */
static inline void da_asan_freed(void *b, size_t size) {
  da_asan_poison((uint8_t *)b + 2 * sizeof(void *), size - 2 * sizeof(void *));
}

static inline void da_link_set(da_block_t *b, const da_block_t *next, uintptr_t link_key) {
  b->next = (da_block_t *)((uintptr_t)next ^ (uintptr_t)b ^ link_key);
}
DA_NORETURN DA_COLD void da_corrupt_list(const void *block);   /* free.c: the one-line report */
da_block_t *da_link_end(const da_block_t *b, uintptr_t t);      /* free.c: the end, or the report */
/* The block after b in a pool page's list (free list or remote list): it must
 * lie in b's 64 KiB pool page on a 16-byte boundary, or the list ends there
 * (NULL or DA_LIST_END returned).
 * t = next ^ b, so one test of t checks both. */
static inline da_block_t *da_link_next(const da_block_t *b, uintptr_t link_key) {
  uintptr_t t = (uintptr_t)b->next ^ link_key;
  if (unlikely(t & ~(uintptr_t)(DA_POOL_PAGE_SIZE - DA_ALIGN))) return da_link_end(b, t);
  return (da_block_t *)(t ^ (uintptr_t)b);
}
/* Take the first block b of page's free list for malloc: its link is decoded
 * and checked, and b must carry the free key (so it is a free block start of
 * this page).  The heap's sampling countdown (sample.c) goes down by the
 * request.  The end of the list, every failed check and a countdown that went
 * below zero go to da_pool_pop_slow, as a tail call, so the common case needs
 * no stack frame. */
da_block_t *da_pool_pop_slow(da_heap_t *heap, da_page_t *page, da_block_t *b, size_t size);   /* free.c */
/* Hand out b, the first block of page's free list, whose successor is next
 * (checked by the caller; DA_LIST_END at the end). */
static inline da_block_t *da_pool_hand_out(da_page_t *page, da_block_t *b, da_block_t *next) {
  page->free = next;
  da_used_add(page, 1);
  b->key = 0;
  da_asan_unpoison(b, page->block_size);
  return b;
}
static inline da_block_t *da_pool_pop(da_heap_t *heap, da_page_t *page, da_block_t *b, size_t size) {
  uintptr_t t = (uintptr_t)b->next ^ heap->link_key;   /* next ^ b */
  if (unlikely((t & ~(uintptr_t)(DA_POOL_PAGE_SIZE - DA_ALIGN)) != 0 || b->key != (heap->free_key ^ (uintptr_t)b)))
    return da_pool_pop_slow(heap, page, b, size);
  intptr_t left = heap->sample_left - (intptr_t)size;   /* after the checks: da_heap_empty is never written */
  heap->sample_left = left;
  if (unlikely(left < 0)) return da_pool_pop_slow(heap, page, b, size);
  return da_pool_hand_out(page, b, (da_block_t *)(t ^ (uintptr_t)b));
}

/* The usable bytes of a huge block: its mapping. */
static inline size_t da_huge_usable(const da_page_t *page) { return ((const da_huge_t *)page)->map_size; }

/* The usable bytes at p of a bulk run or a huge block (inline: realloc asks on
 * every call). */
static inline size_t da_bulk_usable(const da_page_t *page, const void *p) {
  if (page->kind == DA_KIND_HUGE) return da_huge_usable(page);
  return (size_t)(da_page_start(da_segment_of_page(page), page) + page->block_size - (const uint8_t *)p);
}

#pragma GCC visibility pop

#endif
