/* init.c — process start-up and shutdown: options, the free key, the thread-exit
 * key, fork handlers, and the DYNALLOC_STATS report at exit.
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
uintptr_t da_free_key;

static void fork_prepare(void) { da_heap_fork_prepare(); }
static void fork_parent(void) { da_heap_fork_parent(); }
static void fork_child(void) { da_heap_fork_child(); }

static uintptr_t random_word(void) {
  uintptr_t r = 0;
  const void *bytes = (const void *)getauxval(AT_RANDOM);   /* 16 bytes from the kernel */
  if (bytes != NULL) memcpy(&r, bytes, sizeof r);
  r ^= (uintptr_t)da_clock_ms() * 0x9e3779b97f4a7c15u ^ (uintptr_t)&r;
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
  da_free_key = random_word();
  da_heap_key_init();
  atomic_store_explicit(&da_initialized, 2, memory_order_release);
  pthread_atfork(fork_prepare, fork_parent, fork_child);
  if (da_options.verbose)
    da_message("dynalloc: started (backend %s, purge delay %ld ms)\n",
               da_options.backend_sbrk ? "sbrk" : "mmap", da_options.purge_delay_ms);
}

__attribute__((constructor)) static void da_init_at_load(void) { da_process_init(); }

__attribute__((destructor)) static void da_report_at_exit(void) {
  if (da_options.stats) da_stats_print();
}
