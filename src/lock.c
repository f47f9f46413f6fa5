/* lock.c — the allocator's mutexes, held with every signal blocked, and the
 * per-thread mark of a call in progress; together they make fork() from a
 * signal handler safe (docs/design.md, "fork").
 *
 * Invariants:
 *  - a thread holds an allocator mutex only while all its signals are blocked:
 *    the first da_lock of a thread blocks them (one pthread_sigmask) and the
 *    last da_unlock restores its mask, so no signal handler runs on a thread
 *    inside a critical section, and a fork from a handler never waits for a
 *    lock its own thread holds (nor for one whose holder waits for that thread);
 *  - lock_depth is raised only once the signals are blocked, so a handler that
 *    runs between the test and the block finds it as it was and leaves it so;
 *  - da_busy > 0 while the thread is in an allocator slow path (everything but
 *    the pool fast paths of malloc and free, which change one page's free
 *    list in single stores): the heap may be half-way through a change.
 *    A plain per-thread counter, changed by the thread only, in balanced pairs,
 *    so a signal handler sees and leaves a value that says where its thread
 *    was interrupted.
 */
#include "internal.h"
#include <signal.h>

__thread unsigned da_busy __attribute__((tls_model("initial-exec")));
static __thread unsigned lock_depth __attribute__((tls_model("initial-exec")));
static __thread sigset_t lock_saved_mask __attribute__((tls_model("initial-exec")));

void da_signals_block(void) {
  if (lock_depth == 0) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    lock_saved_mask = old;
  }
  lock_depth++;
}

void da_signals_restore(void) {
  if (--lock_depth == 0) pthread_sigmask(SIG_SETMASK, &lock_saved_mask, NULL);
}

void da_lock(pthread_mutex_t *m) {
  da_signals_block();
  pthread_mutex_lock(m);
}

bool da_trylock(pthread_mutex_t *m) {
  da_signals_block();
  if (pthread_mutex_trylock(m) == 0) return true;
  da_signals_restore();
  return false;
}

void da_unlock(pthread_mutex_t *m) {
  pthread_mutex_unlock(m);
  da_signals_restore();
}

/* The child of fork: the locks the prepare handler took are re-initialised by
 * their owners; the mask goes back to what it was before the prepare handler. */
void da_lock_fork_child(void) {
  lock_depth = 1;
  da_signals_restore();
}
