/* init.c — process start-up and shutdown: options, the secrets (free key, link key), the thread-exit
 * key, fork handlers, and the DYNALLOC_STATS report and heap profile at exit (report.c, prof.c).
 *
 * Invariants: da_process_init runs its body once; nothing in it allocates before
 * da_initialized reaches 2 (pthread_atfork may allocate, so it comes after, and
 * its malloc is then served normally).  A thread that finds initialisation in
 * progress on another thread waits for it.
 */
#include "internal.h"
#include <sched.h>
#include <sys/auxv.h>
#include <string.h>

_Atomic(int) da_initialized;
uintptr_t da_free_key, da_link_key;

/* The guarded area's and the profiler's locks are leaves: taken last, given back first. */
static void fork_prepare(void) { da_heap_fork_prepare(); da_guard_fork_prepare(); da_prof_fork_prepare(); }
static void fork_parent(void) { da_prof_fork_parent(); da_guard_fork_parent(); da_heap_fork_parent(); }
static void fork_child(void) { da_percpu_fork_child(); da_prof_fork_child(); da_guard_fork_child(); da_heap_fork_child(); }

/* Word `which` (0 or 1) of the kernel's 16 random bytes, mixed with the clock
 * and an address in case they are missing. */
static uintptr_t random_word(size_t which) {
  uintptr_t r = 0;
  const uint8_t *bytes = (const uint8_t *)getauxval(AT_RANDOM);
  if (bytes != NULL) memcpy(&r, bytes + which * sizeof r, sizeof r);
  r ^= ((uintptr_t)da_clock_ms() + which) * 0x9e3779b97f4a7c15u ^ (uintptr_t)&r;
  return r | 1;
}

void da_process_init(void) {
  if (atomic_load_explicit(&da_initialized, memory_order_acquire) == 2) return;
  int expected = 0;
  if (!atomic_compare_exchange_strong(&da_initialized, &expected, 1)) {
    while (atomic_load_explicit(&da_initialized, memory_order_acquire) != 2) sched_yield();
    return;
  }
  da_options_init();
  da_os_page_init();   /* the OS page, before anything is mapped */
  da_vg_init();   /* under memcheck: the hardened mode's diversion, before any heap */
  da_report_init();
  da_prof_init();
  da_free_key = random_word(0);
  da_link_key = random_word(1) & ~(uintptr_t)(DA_ALIGN - 1);   /* links leak these bits anyway; DA_LIST_END */
  da_heap_key_init();
  da_percpu_init();
  atomic_store_explicit(&da_initialized, 2, memory_order_release);
  pthread_atfork(fork_prepare, fork_parent, fork_child);
  if (da_options.verbose)
    da_message("dynalloc: started (backend %s, purge delay %ld ms, %s)\n",
               da_options.backend_sbrk ? "sbrk" : "mmap", da_options.purge_delay_ms,
               da_percpu_design());
}

__attribute__((constructor)) static void da_init_at_load(void) { da_process_init(); }

__attribute__((destructor)) static void da_report_at_unload(void) {
  da_prof_at_exit();
  da_report_at_exit();
}
