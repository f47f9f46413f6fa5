/* purge.c — the purger thread: returns free pages to the OS after the purge
 * delay even when the program stops calling the allocator.
 *
 * It starts once the process has mapped 8 MiB, at the end of a malloc slow path:
 * the allocator's state is consistent there, no lock is held (pthread_create
 * may call malloc), and the block being returned is already taken.  Free paths
 * only wake it.  It runs with every signal blocked
 * and a 64 KiB stack, never allocates, and sleeps on a condition variable while
 * nothing is left to purge.  DYNALLOC_PURGE_THREAD=0 disables it (then purging
 * happens only in the allocator's slow paths and in malloc_trim).
 *
 * Invariants:
 *  - it touches a heap's free runs only while holding that heap's span lock,
 *    taken with a try (value 2): the owner is never blocked for more than one
 *    heap's purge pass, and the purger never waits for an owner;
 *  - it holds purger_mutex during a pass, so the fork handler, which takes it,
 *    never forks in the middle of a pass; in the child the thread does not exist
 *    and is never started (pthread_create is not async-signal-safe);
 *  - armed == 1 while the purger will make another pass; a notifier that finds 0
 *    sets it and wakes the thread (no wake-up is lost: the purger re-checks after
 *    clearing it).
 */
#include "internal.h"
#include <signal.h>
#include <time.h>

static pthread_mutex_t purger_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t purger_cond = PTHREAD_COND_INITIALIZER;
static _Atomic(int) armed;
_Atomic(int) da_purger_running;   /* the thread exists (and returns what waits) */
_Atomic(int) da_purger_wanted;    /* 0 not yet, 1 start at the next safe point, 2 done */

/* The OS layer reports its mapped total: past two segments the purger is wanted. */
void da_purger_mapped(size_t mapped) {
  if (mapped >= 2 * DA_SEGMENT_SIZE && da_options.purge_thread &&
      atomic_load_explicit(&da_purger_wanted, memory_order_relaxed) == 0) {
    int expected = 0;
    atomic_compare_exchange_strong(&da_purger_wanted, &expected, 1);
  }
}
static bool started, wake, quit;

static void purge_one(da_heap_t *heap, void *arg) {
  bool *more = arg;
  int expected = 0;
  if (!atomic_compare_exchange_strong_explicit(&heap->span_lock, &expected, 2,
                                               memory_order_acquire, memory_order_relaxed)) {
    *more = true;   /* busy: its owner is active and purges in its own slow paths */
    return;
  }
  da_segment_purge_locked(heap, false);
  if (atomic_load_explicit(&heap->dirty_runs, memory_order_relaxed) != 0) *more = true;
  atomic_store_explicit(&heap->span_lock, 0, memory_order_release);
}

/* One pass over every heap, the abandoned segments and the huge cache; true
 * when something is still waiting for its delay. */
bool da_purger_pass(void) {
  bool more = false;
  da_heap_foreach_live(purge_one, &more);
  if (da_segment_purge_abandoned((uint32_t)da_clock_ms(), (uint32_t)da_options.purge_delay_ms)) more = true;
  if (da_segment_cache_maintain(false)) more = true;
  da_huge_cache_trim(false);
  if (da_huge_cache_bytes() != 0) more = true;
  return more;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* The purger must never keep the process alive: when the last heap is gone
 * (every thread that allocated has exited, the main thread included when it
 * called pthread_exit) it ends, and a new heap's next slow path restarts it. */
static bool purger_should_quit(void) {
  if (!quit) return false;
  quit = false;
  if (da_heap_live_count() != 0) return false;
  started = false;
  wake = false;
  atomic_store(&armed, 0);
  atomic_store(&da_purger_running, 0);
  atomic_store(&da_purger_wanted, 0);
  da_purger_mapped(atomic_load(&da_os_stats.mapped));
  da_huge_cache_shed();   /* no one would return a large cache now */
  return true;
}

static void *purger_main(void *arg) {
  (void)arg;
  da_lock(&purger_mutex);
  for (;;) {
    while (!wake && !quit) pthread_cond_wait(&purger_cond, &purger_mutex);
    if (purger_should_quit()) break;
    wake = false;
    bool more = true;
    while (more) {
      da_unlock(&purger_mutex);
      sleep_ms(da_options.purge_delay_ms / 2 + 1);
      da_lock(&purger_mutex);
      if (purger_should_quit()) goto done;
      more = da_purger_pass();
      if (!more) {
        atomic_store(&armed, 0);
        more = da_purger_pass() && atomic_exchange(&armed, 1) == 0;
      }
    }
  }
done:
  da_unlock(&purger_mutex);
  return NULL;
}

/* The last heap went away: let the purger end. */
void da_purger_no_heaps(void) {
  da_lock(&purger_mutex);
  if (started) {
    quit = true;
    pthread_cond_signal(&purger_cond);
  }
  da_unlock(&purger_mutex);
}

static bool purger_start(void) {
  pthread_attr_t attr;
  pthread_t thread;
  sigset_t all, old;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 << 10);
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  bool ok = pthread_create(&thread, &attr, purger_main, NULL) == 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  return ok;   /* on failure started stays set: no retry on every slow path */
}

/* Something waits to be purged: wake the purger if it runs.  Never starts it
 * (this is called from free paths, and starting allocates). */
void da_purger_notify(void) {
  if (!atomic_load_explicit(&da_purger_running, memory_order_relaxed)) return;
  if (atomic_load_explicit(&armed, memory_order_relaxed) || atomic_exchange(&armed, 1) != 0) return;
  da_lock(&purger_mutex);
  wake = true;
  pthread_cond_signal(&purger_cond);
  da_unlock(&purger_mutex);
}

/* Called at the end of malloc slow paths, once the returned block is taken (so
 * the allocations of pthread_create cannot reuse a block freed just before):
 * the purger starts once the process has mapped two segments' worth; smaller
 * programs never get the thread. */
void da_purger_start_if_needed(void) {
  int expected = 1;
  if (!atomic_compare_exchange_strong(&da_purger_wanted, &expected, 2)) return;
  da_lock(&purger_mutex);
  bool start = !started;
  started = true;
  wake = true;
  da_unlock(&purger_mutex);
  if (!start) return;
  atomic_store(&armed, 1);
  if (purger_start()) atomic_store(&da_purger_running, 1);
}

void da_purger_fork(int phase) {
  if (phase == 0) {
    da_lock(&purger_mutex);
  } else if (phase == 1) {
    da_unlock(&purger_mutex);
  } else {
    /* A child of fork may call only async-signal-safe functions until it
     * execs, and pthread_create is not one: the child never starts a purger
     * (its slow paths and malloc_trim still purge). */
    pthread_mutex_init(&purger_mutex, NULL);
    pthread_cond_init(&purger_cond, NULL);
    started = true;
    wake = quit = false;
    atomic_store(&armed, 0);
    atomic_store(&da_purger_running, 0);
    atomic_store(&da_purger_wanted, 2);
  }
}
