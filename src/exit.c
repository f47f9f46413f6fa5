/* exit.c — _exit and _Exit of the preloaded library (libdynalloc.so only): the
 * heap profile and the exit report first (prof.c, report.c; nothing when
 * DYNALLOC_PROF and DYNALLOC_STATS are off), then the
 * exit_group system call, as the C library's own _exit does.  Programs that
 * leave through _exit (dash, fork children) so still report.  The C library's
 * exit() calls its internal _exit, never this one, after the destructors ran.
 *
 * Invariant: never returns; allocates nothing.
 */
#include "internal.h"
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static DA_NORETURN void leave(int status) {
  da_prof_at_exit();
  da_report_at_exit();
  for (;;) syscall(SYS_exit_group, status);
}

DA_API void _exit(int status) { leave(status); }
DA_API void _Exit(int status) { leave(status); }
