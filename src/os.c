/* os.c — the OS contract every other layer uses; picks the back-end.
 *
 *   da_os_alloc_segment   one 4 MiB segment aligned to 4 MiB (sbrk back-end when
 *                         selected, falling back to mmap when the break cannot grow);
 *                         with DYNALLOC_THP=1 marked MADV_HUGEPAGE
 *   da_os_alloc_huge      a mapping for one huge block (always mmap)
 *   da_os_alloc_meta      a mapping for allocator metadata with an inaccessible
 *                         page on either side (heap structs, huge descriptors):
 *                         a mapping the kernel places beside it never touches it;
 *                         such mappings are never given back
 *   da_os_free            gives memory back to the back-end it came from
 *   da_os_purge           returns the physical pages of a range, keeps the range
 *   da_os_remap           resizes a huge mapping (mremap)
 *   da_os_membarrier      a memory barrier on every running thread of the process
 *                         (the reclaimer's side of the bulk cache handshake)
 *
 * The OS page (da_os_page_init, at start-up before anything is mapped): the
 * kernel's AT_PAGESZ, or DYNALLOC_PAGE_SIZE when that is larger (a port's test on
 * a 4 KiB kernel: every call is then made as a kernel with that page needs it);
 * 4, 16 or 64 KiB are served, any other size is refused with one line.  Every
 * address and length given to mmap, munmap, mprotect, madvise and mremap is a
 * multiple of it (os_mmap.c checks each call: a miss is da_fatal, never a
 * rounded purge that zeroes live data).
 *
 * Invariants: memory from alloc reads as zero; da_os_stats.mapped is the number of
 * bytes currently obtained from the OS; with DA_DEBUG ≥ 1 and DYNALLOC_FAULT_EVERY=N
 * every Nth allocation request and the one after it fail, to test the
 * out-of-memory paths.
 */
#include "internal.h"
#include <errno.h>
#include <linux/membarrier.h>
#include <sys/mman.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

da_os_stats_t da_os_stats;
size_t da_page_size = DA_SLICE_SIZE, da_page_slices = 1, da_kernel_page = DA_SLICE_SIZE;
size_t da_first_run = DA_SEGMENT_FIRST_RUN_FOR(1);
size_t da_page_mask = DA_SLICE_SIZE - 1, da_slices_mask = ~(size_t)0;

void da_os_page_init(void) {
  size_t kernel = (size_t)getauxval(AT_PAGESZ);
  if (kernel == 0) kernel = (size_t)sysconf(_SC_PAGESIZE);
  size_t page = kernel;
  if (da_options.page_size > 0 && (size_t)da_options.page_size > kernel) page = (size_t)da_options.page_size;
  if (page < DA_SLICE_SIZE || page > DA_PAGE_MAX || (page & (page - 1)) != 0)
    da_fatal("the OS page size is %zu bytes; this build serves pages of %zu to %zu bytes",
             page, (size_t)DA_SLICE_SIZE, (size_t)DA_PAGE_MAX);
  da_kernel_page = kernel;
  da_page_size = page;
  da_page_slices = page >> DA_SLICE_SHIFT;
  da_page_mask = page - 1;
  da_slices_mask = ~(da_page_slices - 1);
  da_first_run = DA_SEGMENT_FIRST_RUN_FOR(da_page_slices);
  da_guard_span_init();
}

static void count_mapped(ptrdiff_t delta) {
  size_t now = atomic_fetch_add_explicit(&da_os_stats.mapped, (size_t)delta,
                                         memory_order_relaxed) + (size_t)delta;
  da_purger_mapped(now);
  size_t peak = atomic_load_explicit(&da_os_stats.mapped_peak, memory_order_relaxed);
  while (now > peak &&
         !atomic_compare_exchange_weak_explicit(&da_os_stats.mapped_peak, &peak, now,
                                                memory_order_relaxed, memory_order_relaxed)) {
  }
}

static bool fault_injected(void) {
#if DA_DEBUG >= 1
  static _Atomic(uint64_t) requests;
  long every = da_options.fault_every;
  /* the Nth request and the next one: the allocator retries a refused request
   * once after releasing free memory, and the retry must be refused too */
  uint64_t k = atomic_fetch_add(&requests, 1) + 1;
  if (every > 0 && (k % (uint64_t)every == 0 || (k > 1 && (k - 1) % (uint64_t)every == 0))) return true;
#endif
  return false;
}

void *da_os_alloc_segment(bool *from_sbrk) {
  *from_sbrk = false;
  if (fault_injected()) return NULL;
  void *p = NULL;
  if (da_options.backend_sbrk) {
    p = da_sbrk_reserve(DA_SEGMENT_SIZE, DA_SEGMENT_SIZE);
    *from_sbrk = p != NULL;
  }
  if (p == NULL) p = da_mmap_reserve(DA_SEGMENT_SIZE, DA_SEGMENT_SIZE, 0);
  if (p != NULL) count_mapped((ptrdiff_t)DA_SEGMENT_SIZE);
  if (p != NULL && da_options.thp) da_mmap_advise_huge(p, DA_SEGMENT_SIZE);   /* where the kernel's mode is madvise */
  return p;
}

void *da_os_alloc_huge(size_t size, size_t align, size_t offset) {
  if (fault_injected()) return NULL;
  void *p = da_mmap_reserve(size, align, offset);
  if (p != NULL) count_mapped((ptrdiff_t)size);
  return p;
}

void *da_os_alloc_meta(size_t size) {
  size = da_page_round(size);
  if (fault_injected()) return NULL;
  uint8_t *p = da_mmap_guarded(size);
  if (p != NULL) count_mapped((ptrdiff_t)size);
  return p;
}

/* size bytes at p (whole OS pages) become inaccessible, or accessible again; the
 * mapped figure counts accessible bytes, as it leaves out metadata guards. */
bool da_os_protect(void *p, size_t size, bool accessible) {
  bool ok = da_mmap_protect(p, size, accessible ? PROT_READ | PROT_WRITE : PROT_NONE);
  if (ok) count_mapped(accessible ? (ptrdiff_t)size : -(ptrdiff_t)size);
  return ok;
}

void da_os_free_meta(void *p, size_t size) {
  size = da_page_round(size);
  count_mapped(-(ptrdiff_t)size);
  da_mmap_release((uint8_t *)p - da_page_size, size + 2 * da_page_size);   /* with its guards */
}

void da_os_free(void *p, size_t size, bool from_sbrk) {
  count_mapped(-(ptrdiff_t)size);
  da_asan_unpoison(p, size);   /* the next mapping there is not ours */
  if (from_sbrk) da_sbrk_release(p, size);
  else da_mmap_release(p, size);
}

void da_os_purge(void *p, size_t size) {
  atomic_fetch_add_explicit(&da_os_stats.purged, size, memory_order_relaxed);
  da_mmap_purge(p, size);
}

void *da_os_remap(void *p, size_t old_size, size_t new_size, size_t align) {
  if (fault_injected()) return NULL;
  void *q = da_mmap_remap(p, old_size, new_size, align);
  if (q != NULL) count_mapped((ptrdiff_t)new_size - (ptrdiff_t)old_size);
  return q;
}

uint64_t da_clock_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* membarrier(2): 0 not asked yet, 1 registered for the expedited command, -1
 * not available (the bulk caches of live heaps are then left to their owners). */
static _Atomic(int) membarrier_state;

void da_os_membarrier_register(void) {
  if (atomic_load_explicit(&membarrier_state, memory_order_relaxed) != 0) return;
  int saved = errno;
  long ok = syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0);
  errno = saved;
  atomic_store_explicit(&membarrier_state, ok == 0 ? 1 : -1, memory_order_relaxed);
}

bool da_os_membarrier(void) {
  da_os_membarrier_register();
  if (atomic_load_explicit(&membarrier_state, memory_order_relaxed) != 1) return false;
  int saved = errno;
  bool ok = syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0;
  errno = saved;
  atomic_thread_fence(memory_order_seq_cst);
  return ok;
}

/* A fork child is a new process: it registers again. */
void da_os_membarrier_fork_child(void) {
  atomic_store_explicit(&membarrier_state, 0, memory_order_relaxed);
}
