/* guard.c — guarded sampling (DYNALLOC_GUARD_SAMPLE=N bytes, on by default):
 * about one pool allocation (≤ 4096 B) per N bytes allocated is served from the
 * guarded area instead of a pool page, so that a bad access to it faults and
 * the fault is reported with the block's history.
 *
 * The area: DA_GUARD_SLOTS slot pages, each between two inaccessible pages.  A
 * sampled block sits at the end of its slot page (right-aligned: the first byte
 * past it, or past its alignment slack of at most 15 bytes, lies in the guard
 * page) or, one time in two, at its start (left-aligned: a byte before it is
 * the guard page).  The rest of the slot page carries a pattern that free
 * checks.  A freed slot's page is made inaccessible and empty, and freed
 * slots are reused oldest first, so a later access faults for as long as possible.
 * A fault in the area is reported by a SIGSEGV handler installed with the area
 * (at the first sample); any other fault goes to the handler that was there
 * before, or to the default action.
 *
 * Invariants:
 *  - a slot is EMPTY (never used), LIVE (page read-write, block handed out) or
 *    FREED (page inaccessible, its bytes given back); LIVE pages alone count
 *    as mapped (da_os_stats and the area's own figure);
 *  - slots, the freed queue and the counters change only under guard_lock (a
 *    leaf lock, taken with signals blocked); the fault handler only reads them;
 *  - free accepts a pointer in the area only if it is a LIVE slot's block;
 *    every other pointer into the area is reported;
 *  - the heap's countdown (sample.c) decides which allocation is sampled; a
 *    malloc that finds the area busy or full is served by its pool as usual;
 *  - nothing here allocates (stacks: stack.c).
 */
#define _GNU_SOURCE
#include "internal.h"
#include <errno.h>
#include <sys/mman.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#define GUARD_PAGE  da_page_size   /* slots and guards are OS pages */
#define GUARD_FILL  0xd5

enum { SLOT_EMPTY, SLOT_LIVE, SLOT_FREED };

typedef struct guard_slot_s {
  uintptr_t block;                           /* the pointer handed out */
  uint32_t  size;                            /* the request */
  uint8_t   state;
  uint8_t   alloc_frames, free_frames;
  uintptr_t alloc_stack[DA_GUARD_FRAMES];    /* return addresses, innermost first */
  uintptr_t free_stack[DA_GUARD_FRAMES];
} guard_slot_t;

/* The area and its guard pages below and above: nothing of a process's until the area exists. */
size_t da_guard_span = (2 * DA_GUARD_SLOTS + 1) * DA_SLICE_SIZE;
uintptr_t da_guard_area = UINTPTR_MAX - (2 * DA_GUARD_SLOTS + 1) * DA_SLICE_SIZE + 1;

void da_guard_span_init(void) {
  da_guard_span = (2 * DA_GUARD_SLOTS + 1) * GUARD_PAGE;
  da_guard_area = UINTPTR_MAX - da_guard_span + 1;
}
static uint8_t *slot_pages;                  /* slot i's page: slot_pages + 2 i pages */
static guard_slot_t *slots;
static uint16_t freed[DA_GUARD_SLOTS];       /* FREED slots, oldest first (a ring) */
static uint32_t freed_head, freed_len, next_empty;
static bool area_failed;
static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;
static da_guard_stats_t counts;
static struct sigaction prev_segv;

/* ---- the countdown (sample.c) ------------------------------------------------------------------ */
/* Bytes until the next sample: uniform in [1, 2N], so N on average; with N = 1
 * every allocation, with N ≤ 0 never. */
intptr_t da_guard_interval(void) {
  long n = da_options.guard_sample;
  if (n <= 0) return INTPTR_MAX;
  if (n == 1) return -1;
  return (intptr_t)(1 + da_random() % (2 * (uint64_t)n));
}

/* ---- the area ------------------------------------------------------------------------------------ */
static void on_fault(int sig, siginfo_t *info, void *context);

/* The area, inaccessible: each slot page a mapping of its own between guard
 * pages that differ from it (no swap reserved for the slots, as for every
 * mapping of dynalloc's that holds blocks), so that the kernel never merges
 * or splits mappings when a slot's access changes: mprotect then only changes
 * one mapping's flags.  Nothing is counted as mapped until a slot is used. */
static uint8_t *area_map(void) {
  int saved = errno;   /* a failed area leaves the malloc that tried it to the pools */
  uint8_t *raw = da_mmap_inaccessible(da_guard_span);
  errno = saved;
  if (raw == NULL) return NULL;
  uint8_t *area = raw + GUARD_PAGE;
  for (size_t i = 0; i < DA_GUARD_SLOTS; i++) {
    if (!da_mmap_fixed_inaccessible(area + 2 * i * GUARD_PAGE, GUARD_PAGE)) {
      da_mmap_release(raw, da_guard_span);
      return NULL;
    }
  }
  return area;
}

/* Under guard_lock: map the area and the slot table, take SIGSEGV.  Fails for good. */
static bool area_ready(void) {
  if (slots != NULL) return true;
  if (area_failed) return false;
  area_failed = true;
  guard_slot_t *table = da_os_alloc_meta(DA_GUARD_SLOTS * sizeof(guard_slot_t));
  if (table == NULL) return false;
  uint8_t *area = area_map();
  if (area == NULL) { da_os_free_meta(table, DA_GUARD_SLOTS * sizeof(guard_slot_t)); return false; }
  da_stack_init();
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGSEGV, &sa, &prev_segv) != 0) {
    da_mmap_release(area - GUARD_PAGE, da_guard_span);
    da_os_free_meta(table, DA_GUARD_SLOTS * sizeof(guard_slot_t));
    return false;
  }
  slot_pages = area;
  __atomic_store_n(&slots, table, __ATOMIC_RELEASE);
  __atomic_store_n(&da_guard_area, (uintptr_t)area - GUARD_PAGE, __ATOMIC_RELEASE);
  area_failed = false;
  return true;
}

/* A slot's page becomes accessible (counted as mapped), or inaccessible and
 * purged (its bytes given back). */
static bool page_access(uint8_t *page, bool accessible) {
  if (accessible) return da_os_protect(page, GUARD_PAGE, true);
  if (!da_os_protect(page, GUARD_PAGE, false)) return false;
  da_os_purge(page, GUARD_PAGE);
  return true;
}

static uint8_t *slot_page(size_t i) { return slot_pages + 2 * i * GUARD_PAGE; }

/* The slot whose page holds p, or -1 (a guard page or outside). */
static int slot_of(uintptr_t p) {
  uintptr_t k = (p - da_guard_area) / GUARD_PAGE;   /* page index in the area with its outer guards */
  if (p - da_guard_area >= da_guard_span || (k & 1) == 0) return -1;
  return (int)(k / 2);
}

/* The slot for a new block: never used first, then the oldest freed; -1 if every slot is live. */
static int slot_take(void) {
  if (next_empty < DA_GUARD_SLOTS) return (int)next_empty++;
  if (freed_len == 0) return -1;
  int i = freed[freed_head];
  freed_head = (freed_head + 1) % DA_GUARD_SLOTS;
  freed_len--;
  return i;
}

static void slot_put_freed(int i) {
  freed[(freed_head + freed_len) % DA_GUARD_SLOTS] = (uint16_t)i;
  freed_len++;
}

/* Where a block of n bytes starts in its page: at the start, or as far right as
 * its alignment allows (16 B from 16 B up, else 8: what C requires for objects
 * of that size, and what compilers assume of malloc; 16 for 0 B, which
 * aligned_alloc(16, 0) asks for). */
static size_t block_offset(size_t n, bool left) {
  if (left) return 0;
  size_t align = n >= 16 || n == 0 ? 16 : 8;
  return (GUARD_PAGE - (n ? n : 1)) & ~(align - 1);
}

/* A block of size ≤ 4096 bytes from the area, or NULL (the area busy or full). */
void *da_guard_malloc(size_t size) {
  if (__atomic_load_n(&slots, __ATOMIC_ACQUIRE) == NULL) {   /* the first sample: the area, and where dynalloc's code is, before the stack */
    if (!da_trylock(&guard_lock)) return NULL;
    bool ready = area_ready();
    da_unlock(&guard_lock);
    if (!ready) return NULL;
  }
  uintptr_t stack[DA_GUARD_FRAMES];
  uint8_t frames = (uint8_t)da_stack_capture(stack, DA_GUARD_FRAMES);
  if (!da_trylock(&guard_lock)) return NULL;   /* another thread samples: this one need not wait */
  void *p = NULL;
  int i = area_ready() ? slot_take() : -1;
  if (i >= 0) {
    uint8_t *page = slot_page((size_t)i);
    guard_slot_t *s = &slots[i];
    if (page_access(page, true)) {
      counts.mapped += GUARD_PAGE;
      memset(page, GUARD_FILL, GUARD_PAGE);
      s->block = (uintptr_t)page + block_offset(size, da_random() & 1);
      s->size = (uint32_t)size;
      s->state = SLOT_LIVE;
      s->alloc_frames = frames;
      memcpy(s->alloc_stack, stack, frames * sizeof *stack);
      s->free_frames = 0;
      counts.live_blocks++;
      counts.live_bytes += size;
      counts.sampled++;
      p = (void *)s->block;
    } else {
      slot_put_freed(i);   /* tried again later */
    }
  }
  da_unlock(&guard_lock);
  return p;
}

/* ---- free ---------------------------------------------------------------------------------------- */
DA_NORETURN static void report_double_free(const guard_slot_t *s, const uintptr_t *stack, int frames) {
  da_message("dynalloc: double free of %p (%u bytes, guarded sample)\n", (void *)s->block, s->size);
  da_stack_print("this free:", stack, frames);
  da_stack_print("allocated:", s->alloc_stack, s->alloc_frames);
  da_stack_print("freed:    ", s->free_stack, s->free_frames);
  abort();
}

/* The slot of a block the area handed out, or a report naming func. */
static guard_slot_t *live_slot(const void *p, const char *func) {
  int i = slot_of((uintptr_t)p);
  guard_slot_t *s = i >= 0 && slots != NULL ? &slots[i] : NULL;
  if (s == NULL || s->state == SLOT_EMPTY || (uintptr_t)p != s->block) da_invalid(func, "invalid pointer", p);
  if (s->state == SLOT_FREED) da_invalid(func, "freed pointer", p);
  return s;
}

/* Whether [from, to) holds nothing but the pattern: eight bytes at a time. */
static bool fill_intact(const uint8_t *from, const uint8_t *to) {
  const uint64_t pattern = 0x0101010101010101u * GUARD_FILL;
  for (; from < to && ((uintptr_t)from & 7) != 0; from++)
    if (*from != GUARD_FILL) return false;
  for (; from + 8 <= to; from += 8) {
    uint64_t w;
    memcpy(&w, from, 8);
    if (w != pattern) return false;
  }
  for (; from < to; from++)
    if (*from != GUARD_FILL) return false;
  return true;
}

/* The pattern around s's block is intact, or the report. */
static void check_fill(const guard_slot_t *s, const char *func) {
  const uint8_t *page = (const uint8_t *)(s->block & ~(uintptr_t)(GUARD_PAGE - 1));
  const uint8_t *block = (const uint8_t *)s->block;
  if (!fill_intact(page, block))
    da_fatal("%s(): heap underflow before %p (%u bytes requested)", func, (void *)s->block, s->size);
  if (!fill_intact(block + s->size, page + GUARD_PAGE))
    da_fatal("%s(): heap overflow past %p (%u bytes requested)", func, (void *)s->block, s->size);
}

void da_guard_free(void *p, const char *func) {
  uintptr_t stack[DA_GUARD_FRAMES];
  uint8_t frames = (uint8_t)da_stack_capture(stack, DA_GUARD_FRAMES);
  da_lock(&guard_lock);
  int i = slot_of((uintptr_t)p);
  if (i >= 0 && slots != NULL && slots[i].state == SLOT_FREED && slots[i].block == (uintptr_t)p)
    report_double_free(&slots[i], stack, frames);
  guard_slot_t *s = live_slot(p, func);
  check_fill(s, func);
  uint8_t *page = slot_page((size_t)i);
  s->state = SLOT_FREED;
  s->free_frames = frames;
  memcpy(s->free_stack, stack, frames * sizeof *stack);
  if (page_access(page, false)) counts.mapped -= GUARD_PAGE;
  slot_put_freed(i);
  counts.live_blocks--;
  counts.live_bytes -= s->size;
  da_unlock(&guard_lock);
}

size_t da_guard_size(const void *p, const char *func) {
  da_lock(&guard_lock);
  guard_slot_t *s = live_slot(p, func);
  check_fill(s, func);
  size_t n = s->size;
  da_unlock(&guard_lock);
  return n;
}

/* realloc of a sampled block: it moves (the new block may be sampled again). */
void *da_guard_realloc(void *p, size_t size) {
  size_t old = da_guard_size(p, "realloc");
  void *q = da_malloc(size);
  if (q == NULL) return NULL;
  memcpy(q, p, old < size ? old : size);
  da_guard_free(p, "realloc");
  return q;
}

void da_guard_stats(da_guard_stats_t *out) {
  da_lock(&guard_lock);
  *out = counts;
  da_unlock(&guard_lock);
}

/* ---- the fault ----------------------------------------------------------------------------------- */
/* The block a fault at a belongs to: its slot page's, or in a guard page the
 * nearer of the blocks on either side (an overflow of the one below, an
 * underflow of the one above). */
static const guard_slot_t *fault_slot(uintptr_t a) {
  int i = slot_of(a);
  if (i >= 0) return slots[i].state != SLOT_EMPTY ? &slots[i] : NULL;
  long k = (long)((a - da_guard_area) / GUARD_PAGE);   /* even: the guard between slots k/2 - 1 and k/2 */
  const guard_slot_t *below = k >= 2 && slots[k / 2 - 1].state != SLOT_EMPTY ? &slots[k / 2 - 1] : NULL;
  const guard_slot_t *above = k / 2 < DA_GUARD_SLOTS && slots[k / 2].state != SLOT_EMPTY ? &slots[k / 2] : NULL;
  if (below == NULL || above == NULL) return below != NULL ? below : above;
  return a - (below->block + below->size) <= above->block - a ? below : above;
}

DA_NORETURN static void report_fault(uintptr_t a, void *context) {
  const guard_slot_t *s = fault_slot(a);
  const char *access = "access";
  uintptr_t pc = 0;
#if defined(__x86_64__)
  const ucontext_t *uc = context;
  access = (uc->uc_mcontext.gregs[REG_ERR] & 2) ? "write" : "read";   /* the page fault's error code */
  pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#endif
  if (s == NULL) {
    da_message("dynalloc: wild %s at %p in the guarded area (no block there)\n", access, (void *)a);
  } else {
    const char *kind = s->state == SLOT_FREED && slot_of(a) >= 0 ? "use-after-free"
                       : a >= s->block + s->size ? "heap-buffer-overflow" : "heap-buffer-underflow";
    da_message("dynalloc: %s: %s at %p, offset %ld of block %p (%u bytes%s)\n", kind, access, (void *)a,
               (long)(a - s->block), (void *)s->block, s->size, s->state == SLOT_FREED ? ", freed" : "");
  }
  if (pc != 0) da_stack_print("access:   ", &pc, 1);
  if (s != NULL) da_stack_print("allocated:", s->alloc_stack, s->alloc_frames);
  if (s != NULL && s->state == SLOT_FREED) da_stack_print("freed:    ", s->free_stack, s->free_frames);
  abort();
}

/* Not the area's: the previous handler, as the kernel would have called it;
 * or the default action, by the same fault once the handler is gone (a signal
 * sent by a process, which no return repeats, is sent again). */
static void on_fault(int sig, siginfo_t *info, void *context) {
  uintptr_t a = (uintptr_t)info->si_addr;
  if (info->si_code > 0 && __atomic_load_n(&slots, __ATOMIC_ACQUIRE) != NULL && da_guard_contains((void *)a))
    report_fault(a, context);
  if (prev_segv.sa_flags & SA_SIGINFO) {
    prev_segv.sa_sigaction(sig, info, context);
  } else if (prev_segv.sa_handler != SIG_DFL && prev_segv.sa_handler != SIG_IGN) {
    prev_segv.sa_handler(sig);
  } else {
    signal(sig, SIG_DFL);
    if (info->si_code <= 0) raise(sig);
  }
}

/* ---- fork ---------------------------------------------------------------------------------------- */
void da_guard_fork_prepare(void) { da_lock(&guard_lock); }
void da_guard_fork_parent(void) { da_unlock(&guard_lock); }
void da_guard_fork_child(void) { pthread_mutex_init(&guard_lock, NULL); }
