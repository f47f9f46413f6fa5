/* prof.c — the sampling heap profiler (DYNALLOC_PROF=1; DYNALLOC_PROF_RATE bytes
 * per sample on average, 512 KiB by default; DYNALLOC_PROF_FILE).
 *
 * The countdown (sample.c) picks allocations as a Poisson process over the
 * bytes allocated: intervals are exponential with mean R, so an allocation of
 * s bytes is sampled with probability p(s) = 1 - exp(-s/R), and each sample
 * stands for 1/p(s) allocations and s/p(s) bytes (an unbiased estimate of the
 * true figures, summed per call stack).  A sampled block is served as a run of
 * whole pages (a bulk run, or a mapping above 1 MiB) whose header carries
 * DA_PAGE_SAMPLED: free finds that flag on a path that every such block takes
 * already (a flagged run fails free's kind test), so the fast paths carry no
 * test for it.  The profile is written in the text format google-pprof reads
 * ("heap profile: … @ heapprofile", figures already scaled, then the process's
 * mappings), at exit and by da_prof_dump.
 *
 * Invariants:
 *  - the tables (stacks, live samples) come from dynalloc's metadata mappings
 *    and change only under prof_lock, a leaf lock taken with signals blocked
 *    (da_lock: a signal handler's malloc or fork never finds it held by its
 *    own thread); nothing takes another lock under it;
 *  - a block carries DA_PAGE_SAMPLED exactly while the live-sample table holds
 *    it; the flag is set before the block is handed out and cleared when it is
 *    freed (da_prof_free), before its run is given back;
 *  - a stack, once in the table, stays (its totals since start are kept);
 *  - nothing here allocates: stacks come from stack.c, the output is written
 *    with write(2) from a buffer on the stack.
 */
#define _GNU_SOURCE
#include "internal.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

typedef struct prof_stack_s {
  uint64_t  hash;
  uint32_t  frames;
  double    live_objects, live_bytes;    /* estimates of the true figures */
  double    alloc_objects, alloc_bytes;  /* … of everything allocated since start */
  uintptr_t pc[DA_PROF_FRAMES];          /* return addresses, innermost first */
} prof_stack_t;

typedef struct prof_sample_s {
  uintptr_t block;                       /* 0: an empty slot */
  size_t    size;                        /* the request */
  double    weight;                      /* the allocations it stands for */
  uint32_t  stack;                       /* index in stacks */
} prof_sample_t;

static pthread_mutex_t prof_lock = PTHREAD_MUTEX_INITIALIZER;
static prof_stack_t  *stacks;            /* stack_count used of stack_cap */
static size_t         stack_count, stack_cap;
static uint32_t      *stack_slots;       /* index + 1 by hash, linear probing; 0 empty */
static size_t         stack_slot_cap;
static prof_sample_t *samples;           /* live samples by block address, linear probing */
static size_t         sample_count, sample_cap;
static uint64_t       dropped;           /* samples a full table could not take */
static char           prof_path[4096];   /* DYNALLOC_PROF_FILE, absolute, %p not yet expanded */

/* ---- the estimate ------------------------------------------------------------------------------- */
/* Natural logarithm of u in (0, 1]: u = m 2^e with m in [1, 2), ln m = 2 atanh((m-1)/(m+1)). */
static double ln_unit(double u) {
  uint64_t bits;
  memcpy(&bits, &u, sizeof bits);
  int e = (int)((bits >> 52) & 0x7ff) - 1023;
  bits = (bits & ((UINT64_C(1) << 52) - 1)) | (UINT64_C(1023) << 52);
  double m;
  memcpy(&m, &bits, sizeof m);
  double z = (m - 1) / (m + 1), z2 = z * z, sum = 0, power = z;
  for (int k = 1; k <= 15; k += 2) { sum += power / k; power *= z2; }
  return e * 0.69314718055994530942 + 2 * sum;
}

/* 1 - exp(-x) for x ≥ 0, without cancellation for small x. */
static double one_minus_exp_neg(double x) {
  if (x < 0.5) {   /* x - x²/2! + x³/3! - … */
    double term = x, sum = 0;
    for (int k = 1; k <= 16; k++) { sum += term; term *= -x / (k + 1); }
    return sum;
  }
  if (x > 700) return 1;
  int k = (int)(x / 0.69314718055994530942);
  double r = x - k * 0.69314718055994530942, term = 1, e = 0;   /* exp(-x) = exp(-r) 2^-k */
  for (int i = 1; i <= 18; i++) { e += term; term *= -r / i; }
  uint64_t bits = (uint64_t)(1023 - k) << 52;
  double scale;
  memcpy(&scale, &bits, sizeof scale);
  return 1 - e * scale;
}

/* The allocations one sample of size bytes stands for: 1 / p(size). */
static double weight(size_t size) {
  long rate = da_options.prof_rate;
  if (rate <= 1) return 1;
  return 1 / one_minus_exp_neg((double)(size ? size : 1) / (double)rate);
}

/* Bytes until the next sample: exponential with mean DYNALLOC_PROF_RATE; -1
 * (every allocation) at rate 1; never when the profiler is off. */
intptr_t da_prof_interval(void) {
  if (!da_options.prof) return INTPTR_MAX;
  long rate = da_options.prof_rate;
  if (rate <= 1) return -1;
  double u = (double)((da_random() >> 11) + 1) * 0x1p-53;   /* (0, 1] */
  double x = -ln_unit(u) * (double)rate;
  return x < 0x1p62 ? (intptr_t)x : (intptr_t)1 << 62;
}

/* ---- the tables --------------------------------------------------------------------------------- */
static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdu;
  return x ^ (x >> 33);
}

/* *table (cap entries of size bytes) doubled, or false; the old one is copied
 * over when keep, else the new one starts empty. */
static bool grow(void **table, size_t *cap, size_t size, size_t first, bool keep) {
  size_t n = *cap ? *cap * 2 : first;
  void *t = da_os_alloc_meta(n * size);
  if (t == NULL) return false;
  if (*table != NULL) {
    if (keep) memcpy(t, *table, *cap * size);
    da_os_free_meta(*table, *cap * size);
  }
  *table = t;
  *cap = n;
  return true;
}

static uint32_t *stack_slot(uint64_t hash, const uintptr_t *pcs, int n) {
  for (size_t i = hash & (stack_slot_cap - 1);; i = (i + 1) & (stack_slot_cap - 1)) {
    uint32_t *slot = &stack_slots[i];
    if (*slot == 0) return slot;
    const prof_stack_t *s = &stacks[*slot - 1];
    if (s->hash == hash && s->frames == (uint32_t)n && memcmp(s->pc, pcs, n * sizeof *pcs) == 0) return slot;
  }
}

/* The stack's index, added if new; -1 if the tables cannot grow. */
static long stack_find(const uintptr_t *pcs, int n) {
  uint64_t hash = (uint64_t)n;
  for (int i = 0; i < n; i++) hash = mix(hash ^ pcs[i]);
  if (2 * (stack_count + 1) > stack_slot_cap) {   /* the index at most half full: a new one, filled again */
    if (!grow((void **)&stack_slots, &stack_slot_cap, sizeof *stack_slots, 1024, false)) return -1;
    for (size_t k = 0; k < stack_count; k++) *stack_slot(stacks[k].hash, stacks[k].pc, (int)stacks[k].frames) = (uint32_t)k + 1;
  }
  uint32_t *slot = stack_slot(hash, pcs, n);
  if (*slot != 0) return *slot - 1;
  if (stack_count == stack_cap && !grow((void **)&stacks, &stack_cap, sizeof *stacks, 256, true)) return -1;
  prof_stack_t *s = &stacks[stack_count];
  s->hash = hash;
  s->frames = (uint32_t)n;
  memcpy(s->pc, pcs, n * sizeof *pcs);
  *slot = (uint32_t)++stack_count;
  return (long)stack_count - 1;
}

static size_t sample_home(uintptr_t block) { return mix(block) & (sample_cap - 1); }

static void sample_put(const prof_sample_t *e) {
  size_t i = sample_home(e->block);
  while (samples[i].block != 0) i = (i + 1) & (sample_cap - 1);
  samples[i] = *e;
}

static bool samples_room(void) {
  if (2 * (sample_count + 1) <= sample_cap) return true;
  prof_sample_t *old = samples;
  size_t old_cap = sample_cap;
  size_t n = old_cap ? old_cap * 2 : 4096;
  prof_sample_t *t = da_os_alloc_meta(n * sizeof *t);
  if (t == NULL) return false;
  samples = t;
  sample_cap = n;
  for (size_t i = 0; i < old_cap; i++)
    if (old[i].block != 0) sample_put(&old[i]);
  if (old != NULL) da_os_free_meta(old, old_cap * sizeof *old);
  return true;
}

/* Remove the entry at i, moving later entries of its probe run back (no tombstones). */
static void sample_remove_at(size_t i) {
  size_t mask = sample_cap - 1;
  for (size_t j = (i + 1) & mask; samples[j].block != 0; j = (j + 1) & mask) {
    size_t home = sample_home(samples[j].block);
    if (((j - home) & mask) >= ((j - i) & mask)) {   /* home at or before the hole: it may move there */
      samples[i] = samples[j];
      i = j;
    }
  }
  samples[i].block = 0;
  sample_count--;
}

/* ---- samples ------------------------------------------------------------------------------------ */
static bool record(uintptr_t block, size_t size, const uintptr_t *pcs, int n) {
  long k = stack_find(pcs, n);
  if (k < 0 || !samples_room()) { dropped++; return false; }
  prof_stack_t *s = &stacks[k];
  double w = weight(size);
  s->live_objects += w;
  s->live_bytes += w * (double)size;
  s->alloc_objects += w;
  s->alloc_bytes += w * (double)size;
  prof_sample_t e = {block, size, w, (uint32_t)k};
  sample_put(&e);
  sample_count++;
  return true;
}

/* A sampled allocation whose stack is pcs: a run of whole pages aligned to
 * align, its stack recorded and its header flagged; NULL when no memory
 * (errno ENOMEM). */
void *da_prof_sample(size_t size, size_t align, bool zero, const uintptr_t *pcs, int n) {
  void *p = da_large_block(size, align, zero);
  if (p == NULL) return NULL;
  da_page_t *page = da_checked_page(p, "malloc", "freed pointer");
  da_lock(&prof_lock);
  if (record((uintptr_t)p, size, pcs, n)) DA_SET(page->flags, (uint8_t)(DA_GET(page->flags) | DA_PAGE_SAMPLED));
  da_unlock(&prof_lock);
  return p;
}

/* A flagged block is freed: its sample leaves the live figures. */
void da_prof_free(da_page_t *page, const void *p) {
  da_lock(&prof_lock);
  DA_SET(page->flags, (uint8_t)(DA_GET(page->flags) & ~DA_PAGE_SAMPLED));
  if (sample_cap != 0) {
    for (size_t i = sample_home((uintptr_t)p); samples[i].block != 0; i = (i + 1) & (sample_cap - 1)) {
      if (samples[i].block == (uintptr_t)p) {
        prof_stack_t *s = &stacks[samples[i].stack];
        s->live_objects -= samples[i].weight;
        s->live_bytes -= samples[i].weight * (double)samples[i].size;
        sample_remove_at(i);
        break;
      }
    }
  }
  da_unlock(&prof_lock);
}

/* ---- the profile -------------------------------------------------------------------------------- */
static unsigned long long rounded(double x) { return x > 0 ? (unsigned long long)(x + 0.5) : 0; }

static void write_stack(da_sink_t *s, const prof_stack_t *st) {
  char line[64 + DA_PROF_FRAMES * 20];
  size_t n = da_snprintf(line, sizeof line, "%llu: %llu [%llu: %llu] @", rounded(st->live_objects),
                         rounded(st->live_bytes), rounded(st->alloc_objects), rounded(st->alloc_bytes));
  for (uint32_t i = 0; i < st->frames; i++)   /* google-pprof takes one from every address but the first */
    n += da_snprintf(line + n, sizeof line - n, " %p", (void *)(st->pc[i] - (i == 0)));
  if (st->frames == 0) n += da_snprintf(line + n, sizeof line - n, " 0x0");   /* no stack: google-pprof needs one address */
  line[n++] = '\n';
  da_sink_write(s, line, n);
}

/* The process's mappings, as google-pprof finds the objects' symbols. */
static void write_maps(da_sink_t *s) {
  da_sink_write(s, "\nMAPPED_LIBRARIES:\n", 19);
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) { s->failed = true; return; }
  char chunk[1024];
  ssize_t n;
  while ((n = read(fd, chunk, sizeof chunk)) > 0) da_sink_write(s, chunk, (size_t)n);
  if (n < 0) s->failed = true;
  close(fd);
}

static int dump_fd(int fd) {
  da_sink_t s;
  da_sink_init(&s, fd);
  da_lock(&prof_lock);
  double t[4] = {0, 0, 0, 0};
  for (size_t i = 0; i < stack_count; i++) {
    t[0] += stacks[i].live_objects;
    t[1] += stacks[i].live_bytes;
    t[2] += stacks[i].alloc_objects;
    t[3] += stacks[i].alloc_bytes;
  }
  char line[160];
  size_t n = da_snprintf(line, sizeof line, "heap profile: %llu: %llu [%llu: %llu] @ heapprofile\n", rounded(t[0]),
                         rounded(t[1]), rounded(t[2]), rounded(t[3]));
  da_sink_write(&s, line, n);
  for (size_t i = 0; i < stack_count; i++) write_stack(&s, &stacks[i]);
  da_unlock(&prof_lock);
  write_maps(&s);
  return da_sink_flush(&s) ? 0 : -1;
}

/* The profile to path (%p: the pid), or to DYNALLOC_PROF_FILE's; 0, or -1 and
 * errno (EINVAL: the profiler is off). */
DA_API int da_prof_dump(const char *path) {
  int saved = errno;
  if (da_heap_tls == &da_heap_empty) da_process_init();
  if (!da_options.prof) { errno = EINVAL; return -1; }
  char file[4096 + 32];
  da_path_expand(file, sizeof file, path != NULL ? path : prof_path);
  int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  int rc = dump_fd(fd);
  int err = errno;
  close(fd);
  errno = rc == 0 ? saved : err;
  return rc;
}

/* At start-up: where the profile goes (relative: from the working directory then). */
void da_prof_init(void) {
  da_path_absolute(prof_path, sizeof prof_path, da_options.prof_file != NULL ? da_options.prof_file : "dynalloc.%p.heap");
}

/* At exit (as report.c's report: once per process, a fork child its own). */
void da_prof_at_exit(void) {
  static _Atomic(int) dumped_pid;
  if (!da_options.prof) return;
  int me = (int)getpid();
  if (atomic_exchange(&dumped_pid, me) == me) return;
  if (da_prof_dump(NULL) != 0) da_message("dynalloc: cannot write the heap profile (errno %d)\n", errno);
}

void da_prof_fork_prepare(void) { da_lock(&prof_lock); }
void da_prof_fork_parent(void) { da_unlock(&prof_lock); }
void da_prof_fork_child(void) { pthread_mutex_init(&prof_lock, NULL); }
