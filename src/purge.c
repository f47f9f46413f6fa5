/* purge.c — the purger thread: returns free pages to the OS after the purge
 * delay even when the program stops calling the allocator.
 *
 * It starts once the process holds 1 MiB in runs or maps a segment and a huge
 * block's worth (smaller programs never get the thread: what they can keep is
 * below the retention bound), at the end of a malloc slow path:
 * the allocator's state is consistent there, no lock is held (pthread_create
 * may call malloc), and the block being returned is already taken.  Free paths
 * only wake it.  It runs with every signal blocked
 * and a 64 KiB stack, never allocates, and sleeps on a semaphore while
 * nothing is left to purge.  DYNALLOC_PURGE_THREAD=0 disables it (then purging
 * happens only in the allocator's slow paths and in malloc_trim).  It is named
 * "dynalloc-purge" and ends when no heap with a thread is left (it must never
 * keep a process alive whose last thread called pthread_exit).
 *
 * Invariants:
 *  - it touches a heap's free runs only while holding that heap's span lock,
 *    taken with a try (value 2): the owner is never blocked for more than one
 *    heap's purge pass, and the purger never waits for an owner;
 *  - it holds purger_mutex during a pass, so the fork handler, which takes it,
 *    never forks in the middle of a pass; in the child the thread does not exist
 *    until the child's own malloc slow path starts it;
 *  - of a live heap that was idle since its previous pass it also takes back what
 *    the owner cannot reach (reclaim.c), then purges;
 *  - armed == 1 while the purger will make another pass; a notifier that finds 0
 *    sets it and wakes the thread (no wake-up is lost: the purger re-checks after
 *    clearing it).
 */
#include "internal.h"
#include <semaphore.h>
#include <signal.h>
#include <sys/prctl.h>
#include <time.h>

static pthread_mutex_t purger_mutex = PTHREAD_MUTEX_INITIALIZER;
static sem_t wake_sem;            /* posted to wake the thread: sem_post takes no lock */
static bool wake_sem_ready;
_Atomic(int) da_purger_armed;   /* 1 while the purger will make another pass */
#define armed da_purger_armed
_Atomic(int) da_purger_running;   /* the thread exists (and returns what waits) */
_Atomic(int) da_purger_wanted;    /* 0 not yet, 1 start at the next safe point, 2 done */

/* The process holds enough that it must come back while the program idles:
 * start the purger at the next safe point. */
void da_purger_want(void) {
  if (da_options.purge_thread && atomic_load_explicit(&da_purger_wanted, memory_order_relaxed) == 0) {
    int expected = 0;
    atomic_compare_exchange_strong(&da_purger_wanted, &expected, 1);
  }
}

/* The OS layer reports its mapped total: past the first segment and a huge
 * block's worth (huge blocks and their cache count here), the purger is wanted;
 * the segment layer wants it too once DA_PURGER_START_BYTES of runs are in use. */
void da_purger_mapped(size_t mapped) {
  if (mapped >= DA_SEGMENT_SIZE + DA_HUGE_THRESHOLD) da_purger_want();
}
static bool started, quit;

static void purge_one(da_heap_t *heap, void *arg) {
  bool *more = arg;
  if (!da_span_lock_other(heap, false)) {
    *more = true;   /* busy: its owner is active and purges in its own slow paths */
    return;
  }
  if (da_heap_reclaim(heap, false)) *more = true;   /* the owner was active: look again */
  if (da_page_release_kept_locked(heap, false)) *more = true;   /* aged kept pages */
  da_segment_purge_locked(heap, false);
  if (atomic_load_explicit(&heap->dirty_runs, memory_order_relaxed) != 0) *more = true;
  da_span_unlock_other(heap);
}

/* One pass over every heap, the abandoned segments and the huge cache; true
 * when something is still waiting for its delay. */
bool da_purger_pass(void) {
  bool more = da_percpu_drain(false);   /* first: the blocks it gives back may empty pages */
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
  atomic_store(&armed, 0);
  atomic_store(&da_purger_running, 0);
  atomic_store(&da_purger_wanted, 0);
  da_purger_mapped(atomic_load(&da_os_stats.mapped));
  da_huge_cache_shed();   /* no one would return a large cache now */
  return true;
}

static void *purger_main(void *arg) {
  (void)arg;
  prctl(PR_SET_NAME, "dynalloc-purge", 0, 0, 0);   /* as top -H and /proc/PID/task show it */
  da_os_membarrier_register();
  for (;;) {
    while (sem_wait(&wake_sem) != 0) {
    }
    da_lock(&purger_mutex);
    bool stop = purger_should_quit();
    da_unlock(&purger_mutex);
    if (stop) return NULL;
    bool more = true;
    while (more) {
      sleep_ms(da_options.purge_delay_ms / 2 + 1);
      da_lock(&purger_mutex);
      if (purger_should_quit()) {
        da_unlock(&purger_mutex);
        return NULL;
      }
      more = da_purger_pass();
      if (!more) {
        atomic_store(&armed, 0);
        more = da_purger_pass() && atomic_exchange(&armed, 1) == 0;
      }
      da_unlock(&purger_mutex);
    }
  }
}

/* The last heap went away: let the purger end. */
void da_purger_no_heaps(void) {
  da_lock(&purger_mutex);
  if (started) {
    quit = true;
    sem_post(&wake_sem);
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

/* da_purger_notify (internal.h) found the purger running and not armed. */
void da_purger_wake(void) {
  if (atomic_exchange(&armed, 1) == 0) sem_post(&wake_sem);
}

/* Called at the end of malloc slow paths, once the returned block is taken (so
 * the allocations of pthread_create cannot reuse a block freed just before):
 * the purger starts once da_purger_want found the process large enough. */
void da_purger_start_if_needed(void) {
  int expected = 1;
  if (!atomic_compare_exchange_strong(&da_purger_wanted, &expected, 2)) return;
  da_lock(&purger_mutex);
  bool start = !started;
  started = true;
  if (!wake_sem_ready) {   /* once: a notifier may post at any time after */
    sem_init(&wake_sem, 0, 0);
    wake_sem_ready = true;
  }
  da_unlock(&purger_mutex);
  if (!start) return;
  atomic_store(&armed, 1);
  sem_post(&wake_sem);
  if (purger_start()) atomic_store(&da_purger_running, 1);
}

/* threaded: the parent had other threads (the purger or more heaps).  A TSan
 * build cannot start a thread in such a child (TSan refuses), so there the
 * child never gets a purger; elsewhere it starts one on demand. */
void da_purger_fork(int phase, bool threaded) {
  if (phase == 0) {
    da_lock(&purger_mutex);
  } else if (phase == 1) {
    da_unlock(&purger_mutex);
  } else {
    /* The child has no purger thread; it starts one on demand, at its first
     * malloc slow path that finds the process large enough (never in the fork
     * handler itself: pthread_create is not async-signal-safe). */
    pthread_mutex_init(&purger_mutex, NULL);
    if (wake_sem_ready) sem_init(&wake_sem, 0, 0);
    started = false;
    quit = false;
    atomic_store(&armed, 0);
    atomic_store(&da_purger_running, 0);
    atomic_store(&da_purger_wanted, DA_TSAN && threaded ? 2 : 0);
    da_purger_mapped(atomic_load(&da_os_stats.mapped));
  }
}
