/* percpu.c — per-CPU caches of pool blocks that threads free into pages they
 * do not own (DYNALLOC_PERCPU=1), on restartable sequences (rseq).
 *
 * A block another thread allocated is pushed onto the cache of the CPU the
 * freeing thread runs on (no atomic, no lock: one rseq critical section), and
 * a malloc whose allocation page is exhausted pops from that CPU's cache before
 * it looks for another page.  The owner's own frees and its allocation page
 * stay as they are (no rseq there: nothing changes for a single thread), so the
 * caches carry what crosses threads: with many threads on few CPUs a block
 * freed by one thread is reused by the next thread on that CPU instead of
 * waiting on its page's remote list for an owner that may not run for a while.
 *
 * The rseq area is glibc's where glibc registered one (__rseq_offset,
 * __rseq_size, glibc 2.35 on), else dynalloc's own (a TLS area each thread
 * registers at its first use); where neither works (no rseq in the kernel,
 * valgrind, a seccomp filter) the per-thread heaps run alone.  DA_TSAN builds
 * never use it (TSan cannot see the ordering a CPU gives).
 *
 * Invariants:
 *  - a cached block is a handed-out block for every other structure (its page
 *    counts it in `used`, no list links it), so no page under it is retired,
 *    reclaimed or purged; it carries the free key (a second free of it is a
 *    double free) and its page's class;
 *  - a CPU's cache of class c is one 512-byte slot: word 0 the count, words 1–63
 *    the blocks; the count is the critical section's one committing store, so a
 *    section cut short by preemption, migration or a signal changed nothing;
 *  - only a thread running on a CPU touches that CPU's slots (the drain runs the
 *    same critical sections after moving itself onto the CPU);
 *  - a class of 64 B or more caches at most CLASS_BYTES (32 KiB, 63 blocks at most); a CPU holds
 *    at most 1.19 MiB; the purger drains a CPU whose caches did not change between
 *    two passes, malloc_trim every CPU (docs/design.md, "Per-CPU caches").
 */
#define _GNU_SOURCE   /* sched_setaffinity, cpu_set_t */
#include "internal.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

int da_percpu_on;   /* 0 off, 1 on glibc's registration, 2 on dynalloc's own */

#if defined(__x86_64__) && !DA_TSAN && defined(SYS_rseq)

#define RSEQ_SIG       0x53053053u   /* the signature glibc registers with on x86-64 */
#define CPU_SHIFT      15            /* one CPU's slots: 64 of 512 bytes */
#define SLOT_SHIFT     9
#define SLOT_BLOCKS    63
#define CLASS_BYTES    ((size_t)32 << 10)
#define MIN_SIZE       64            /* smaller classes are not cached */
#define CPU_UNTRIED    0xffffffffu   /* the kernel's RSEQ_CPU_ID_UNINITIALIZED */
#define CPU_FAILED     0xfffffffeu   /* its RSEQ_CPU_ID_REGISTRATION_FAILED */

_Static_assert(DA_BIN_COUNT <= (1u << (CPU_SHIFT - SLOT_SHIFT)), "one slot per class");
_Static_assert((SLOT_BLOCKS + 1) * 8 == (1u << SLOT_SHIFT), "a slot is its count and its blocks");

/* The kernel's struct rseq, as far as it is read here (cpu_id, rseq_cs). */
typedef struct da_rseq_s {
  uint32_t cpu_id_start, cpu_id;
  uint64_t rseq_cs;
  uint32_t flags, pad[3];
} __attribute__((aligned(32))) da_rseq_t;

extern const ptrdiff_t __rseq_offset __attribute__((weak));   /* glibc ≥ 2.35 */
extern const unsigned int __rseq_size __attribute__((weak));

static __thread da_rseq_t own_area __attribute__((tls_model("initial-exec"))) = {.cpu_id = CPU_UNTRIED};
static ptrdiff_t area_offset;                  /* the area, from the thread pointer */
static uint8_t *slots;                         /* ncpu << CPU_SHIFT bytes */
static uint32_t ncpu;
static uint8_t cap[DA_BIN_COUNT];              /* blocks a class may cache; 0: not cached */
static uint32_t drain_seen[CPU_SETSIZE];       /* the blocks a CPU held at the previous pass */
static pthread_mutex_t drain_lock = PTHREAD_MUTEX_INITIALIZER;

static inline uintptr_t thread_pointer(void) {
  uintptr_t p;
  __asm__("mov %%fs:0, %0" : "=r"(p));
  return p;
}

static inline da_rseq_t *area(void) { return (da_rseq_t *)(thread_pointer() + area_offset); }

/* The critical sections.  Each stores its descriptor's address in rseq_cs, then
 * reads cpu_id, finds its slot and commits with the count's store; the kernel
 * sends a section it interrupts to the abort handler (after the signature),
 * which starts it again.  A cpu_id of ncpu or more (no registration on this
 * thread) leaves at once: pop returns NULL, push false. */
#define RSEQ_DESCRIPTOR                                   \
  ".pushsection __rseq_cs, \"aw\"\n\t"                    \
  ".balign 32\n\t"                                        \
  "3:\n\t"                                                \
  ".long 0, 0\n\t"                                        \
  ".quad 1f, 2f - 1f, 4f\n\t"                             \
  ".popsection\n\t"
#define RSEQ_ABORT                                        \
  ".pushsection __rseq_failure, \"ax\"\n\t"               \
  ".byte 0x0f, 0xb9, 0x3d\n\t"                            \
  ".long 0x53053053\n\t"                                  \
  "4:\n\t"                                                \
  "jmp 5b\n\t"                                            \
  ".popsection\n\t"
#define RSEQ_ENTER(tmp)                                   \
  "leaq 3b(%%rip), %" tmp "\n\t"                          \
  "movq %" tmp ", %%fs:8(%[off])\n\t"                     \
  "1:\n\t"                                                \
  "movl %%fs:4(%[off]), %k" tmp "\n\t"                    \
  "cmpl %[ncpu], %k" tmp "\n\t"                           \
  "jae 2f\n\t"                                            \
  "shlq $15, %" tmp "\n\t"                                \
  "addq %[slot], %" tmp "\n\t"

static inline da_block_t *rseq_pop(uintptr_t slot) {
  da_block_t *b;
  uintptr_t at, count;
  __asm__ __volatile__(RSEQ_DESCRIPTOR
                       "5:\n\t"
                       "xorl %k[b], %k[b]\n\t"
                       RSEQ_ENTER("[at]")
                       "movq (%[at]), %[count]\n\t"
                       "testq %[count], %[count]\n\t"
                       "jz 2f\n\t"
                       "movq (%[at],%[count],8), %[b]\n\t"
                       "decq %[count]\n\t"
                       "movq %[count], (%[at])\n\t"
                       "2:\n\t"
                       RSEQ_ABORT
                       : [b] "=&r"(b), [at] "=&r"(at), [count] "=&r"(count)
                       : [off] "r"(area_offset), [ncpu] "rm"(ncpu), [slot] "r"(slot)
                       : "memory", "cc");
  return b;
}

static inline bool rseq_push(uintptr_t slot, da_block_t *b, uintptr_t limit) {
  uint32_t ok;
  uintptr_t at, count;
  __asm__ __volatile__(RSEQ_DESCRIPTOR
                       "5:\n\t"
                       "xorl %k[ok], %k[ok]\n\t"
                       RSEQ_ENTER("[at]")
                       "movq (%[at]), %[count]\n\t"
                       "cmpq %[limit], %[count]\n\t"
                       "jae 2f\n\t"
                       "movq %[b], 8(%[at],%[count],8)\n\t"
                       "incq %[count]\n\t"
                       "movl $1, %k[ok]\n\t"
                       "movq %[count], (%[at])\n\t"
                       "2:\n\t"
                       RSEQ_ABORT
                       : [ok] "=&r"(ok), [at] "=&r"(at), [count] "=&r"(count)
                       : [off] "r"(area_offset), [ncpu] "rm"(ncpu), [slot] "r"(slot), [b] "r"(b),
                         [limit] "r"(limit)
                       : "memory", "cc");
  return ok != 0;
}

static inline uintptr_t slot_of(size_t bin) { return (uintptr_t)slots + (bin << SLOT_SHIFT); }

/* dynalloc's own registration, on this thread: once. */
static bool own_register(void) {
  if (own_area.cpu_id != CPU_UNTRIED) return false;
  int saved = errno;
  if (syscall(SYS_rseq, &own_area, (uint32_t)sizeof own_area, 0, RSEQ_SIG) != 0) own_area.cpu_id = CPU_FAILED;
  errno = saved;
  return own_area.cpu_id < ncpu;
}

/* The section left at once: this thread has no registration yet (dynalloc's own). */
static inline bool unregistered(void) {
  return da_percpu_on == 2 && own_area.cpu_id == CPU_UNTRIED && own_register();
}

bool da_percpu_push(da_block_t *b, size_t bin) {
  uintptr_t limit = cap[bin];
  if (limit == 0) return false;
  b->key = da_free_mark(b);
  if (!rseq_push(slot_of(bin), b, limit) && !(unregistered() && rseq_push(slot_of(bin), b, limit)))
    return false;
  da_asan_freed(b, da_bin_size(bin));
  da_purger_notify();   /* drained once the CPU goes quiet */
  return true;
}

da_block_t *da_percpu_pop(size_t bin) {
  if (cap[bin] == 0) return NULL;
  da_block_t *b = rseq_pop(slot_of(bin));
  if (b == NULL && unregistered()) b = rseq_pop(slot_of(bin));
  if (b == NULL) return NULL;
  if (b->key != da_free_mark(b)) da_corrupt_list(b);   /* written after it was freed */
  b->key = 0;
  da_asan_unpoison(b, da_bin_size(bin));
  return b;
}

/* The number of CPUs the kernel may ever run (/sys/devices/system/cpu/possible,
 * "0-N" or a list), or 0. */
static uint32_t possible_cpus(void) {
  char buf[256];
  int fd = open("/sys/devices/system/cpu/possible", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  uint32_t last = 0, v = 0;
  bool digits = false;
  for (const char *c = buf; *c; c++) {
    if (*c >= '0' && *c <= '9') {
      v = v * 10 + (uint32_t)(*c - '0');
      digits = true;
      if (v >= CPU_SETSIZE) return 0;
    } else {
      if (digits && v > last) last = v;
      v = 0;
      digits = false;
    }
  }
  if (digits && v > last) last = v;
  return last + 1;
}

static const char *off_reason = "per-thread heaps";

/* At start-up (da_process_init): the design, and whose registration it runs on. */
void da_percpu_init(void) {
  if (!da_options.percpu) return;
  if (da_options.harden || da_vg) { off_reason = "per-thread heaps (DYNALLOC_PERCPU=1: not with the hardened mode or valgrind)"; return; }
  ncpu = possible_cpus();
  if (ncpu == 0) { off_reason = "per-thread heaps (DYNALLOC_PERCPU=1: the possible CPUs are unknown)"; return; }
  if (&__rseq_size != NULL && &__rseq_offset != NULL && __rseq_size >= 16) {
    area_offset = __rseq_offset;
    da_percpu_on = 1;
  } else {
    area_offset = (ptrdiff_t)((uintptr_t)&own_area - thread_pointer());
    if (!own_register()) { off_reason = "per-thread heaps (DYNALLOC_PERCPU=1: no rseq registration, the kernel refused it)"; return; }
    da_percpu_on = 2;
  }
  slots = da_os_alloc_meta((size_t)ncpu << CPU_SHIFT);
  if (slots == NULL) { da_percpu_on = 0; off_reason = "per-thread heaps (DYNALLOC_PERCPU=1: no memory for the caches)"; return; }
  for (size_t bin = 1; bin < DA_BIN_COUNT; bin++) {
    if (da_bin_size(bin) < MIN_SIZE) continue;   /* blocks that share cache lines with their owner's */
    size_t n = CLASS_BYTES / da_bin_size(bin);
    cap[bin] = (uint8_t)(n > SLOT_BLOCKS ? SLOT_BLOCKS : n);
  }
}

const char *da_percpu_design(void) {
  static const char *names[3] = {NULL, "per-CPU caches on glibc's rseq registration",
                                 "per-CPU caches on dynalloc's own rseq registration"};
  return da_percpu_on ? names[da_percpu_on] : off_reason;
}

/* The blocks CPU cpu caches (a racy read: a snapshot). */
static uint32_t cpu_blocks(uint32_t cpu, uint64_t *by_bin) {
  uint32_t total = 0;
  for (size_t bin = 1; bin < DA_BIN_COUNT; bin++) {
    uint64_t n = __atomic_load_n((uint64_t *)(slots + ((size_t)cpu << CPU_SHIFT) + (bin << SLOT_SHIFT)),
                                 __ATOMIC_RELAXED);
    total += (uint32_t)n;
    if (by_bin) by_bin[bin] += n;
  }
  return total;
}

void da_percpu_counts(uint64_t by_bin[DA_BIN_COUNT]) {
  for (uint32_t cpu = 0; da_percpu_on && cpu < ncpu; cpu++) cpu_blocks(cpu, by_bin);
}

/* A drained block goes where a free without the caches would send it. */
static void drain_block(da_block_t *b) {
  da_page_t *page = da_page_of(b);
  da_heap_t *heap = da_heap_tls;
  if (da_owner(page) == heap) {
    da_span_lock(heap);
    da_free_local(heap, page, b);
    da_span_unlock(heap);
  } else {
    da_free_remote(page, b);
  }
}

/* Empty the caches of the CPU this thread runs on. */
static void drain_here(void) {
  for (size_t bin = 1; bin < DA_BIN_COUNT; bin++) {
    da_block_t *b;
    while (cap[bin] != 0 && (b = rseq_pop(slot_of(bin))) != NULL) drain_block(b);
  }
}

/* Give the caches' blocks back: every CPU's (all), or those of the CPUs whose
 * caches did not change since the previous call (the purger's passes).  The
 * thread moves onto each CPU in turn (sched_setaffinity) and back.  True when
 * blocks are left. */
bool da_percpu_drain(bool all) {
  if (!da_percpu_on) return false;
  if (da_percpu_on == 2 && own_area.cpu_id == CPU_UNTRIED) own_register();
  if (area()->cpu_id >= ncpu) return false;   /* this thread cannot run the sections */
  cpu_set_t old, one;
  if (sched_getaffinity(0, sizeof old, &old) != 0) return false;
  bool left = false, moved = false;
  da_lock(&drain_lock);
  for (uint32_t cpu = 0; cpu < ncpu; cpu++) {
    uint32_t n = cpu_blocks(cpu, NULL);
    bool idle = n == drain_seen[cpu];
    drain_seen[cpu] = n;
    if (n == 0) continue;
    if (!all && !idle) { left = true; continue; }
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0) continue;   /* not ours to run on: no later pass could drain it */
    moved = true;
    drain_here();
    drain_seen[cpu] = cpu_blocks(cpu, NULL);
    if (drain_seen[cpu] != 0) left = true;
  }
  if (moved) sched_setaffinity(0, sizeof old, &old);
  da_unlock(&drain_lock);
  return left;
}

void da_percpu_fork_child(void) { pthread_mutex_init(&drain_lock, NULL); }

#else   /* no rseq here: the per-thread heaps alone */

bool da_percpu_push(da_block_t *b, size_t bin) { (void)b; (void)bin; return false; }
da_block_t *da_percpu_pop(size_t bin) { (void)bin; return NULL; }
void da_percpu_init(void) {}
const char *da_percpu_design(void) {
  return da_options.percpu ? "per-thread heaps (DYNALLOC_PERCPU=1: no rseq in this build)" : "per-thread heaps";
}
void da_percpu_counts(uint64_t by_bin[DA_BIN_COUNT]) { (void)by_bin; }
bool da_percpu_drain(bool all) { (void)all; return false; }
void da_percpu_fork_child(void) {}

#endif
