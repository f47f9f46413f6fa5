/* vg.c — memcheck sees dynalloc's blocks (valgrind's client requests).
 *
 * When the process runs under valgrind's memcheck (RUNNING_ON_VALGRIND, and a
 * memcheck-only request that answers) and DYNALLOC_VALGRIND is not 0, the
 * shared library runs in the hardened mode's diversion (harden.c: every pool
 * allocation and free leaves the fast paths, the request size is known) with
 * guarded sampling off, and tells memcheck what it does:
 *  - a block handed out is announced (VALGRIND_MALLOCLIKE_BLOCK, its request),
 *    and what follows the request up to the end of its block, run or mapping
 *    is made inaccessible;
 *  - a free is announced first (VALGRIND_FREELIKE_BLOCK: memcheck reports an
 *    invalid or double free there), which makes the block inaccessible;
 *  - a block resized in place is announced (VALGRIND_RESIZEINPLACE_BLOCK);
 *  - a new pool page's blocks are inaccessible until handed out, but for the
 *    link and key of a block on a free list (carved, or out of the quarantine),
 *    which malloc's fast path reads before it diverts: a use after free of
 *    those 16 bytes goes unseen once the block has left the quarantine (1024
 *    frees later), as memcheck's own allocator forgets a block once its freed
 *    volume is used up;
 *  - dynalloc's own accesses to what it made inaccessible are not reported:
 *    its slow paths run with error reporting off (da_vg_quiet/da_vg_loud), and
 *    the fast paths' few reads match the suppressions in scripts/valgrind.supp.
 * Under any other valgrind tool (callgrind, cachegrind) and natively nothing
 * changes: da_vg stays false and every hook is one test of it on a slow path.
 * Built without valgrind's headers (DA_NO_VALGRIND), da_vg is always false.
 */
#include "internal.h"

#ifndef DA_NO_VALGRIND   /* the Makefile defines it when valgrind's headers are missing */
#include <valgrind/valgrind.h>
#include <valgrind/memcheck.h>
#endif

bool da_vg;

#ifndef DA_NO_VALGRIND
/* At start-up, after the options (the mode must be chosen before any heap). */
void da_vg_init(void) {
  if (da_options.valgrind == 0 || !RUNNING_ON_VALGRIND || !da_stack_self_shared()) return;
  char probe = 0, bits = 0;
  if (VALGRIND_GET_VBITS(&probe, &bits, 1) != 1) return;   /* another tool: 0 */
  da_vg = true;
  da_options.harden = 1;
  da_options.guard_sample = 0;
  if (da_options.verbose)
    da_message("dynalloc: memcheck runs this process: blocks announced to it, the hardened mode's paths\n");
}

void da_vg_alloc(void *p, size_t n, size_t room, bool zeroed) {
  VALGRIND_MALLOCLIKE_BLOCK(p, n, 0, zeroed);
  if (room > n) VALGRIND_MAKE_MEM_NOACCESS((uint8_t *)p + n, room - n);
}

void da_vg_free(const void *p) { VALGRIND_FREELIKE_BLOCK(p, 0); }

/* p, of old bytes, became q of n bytes with the same contents (realloc in place,
 * or a mapping moved by mremap); room: the bytes q's block, run or mapping has. */
void da_vg_resized(void *p, void *q, size_t old, size_t n, size_t room) {
  if (q == p) {
    VALGRIND_RESIZEINPLACE_BLOCK(p, old, n, 0);
  } else {
    VALGRIND_FREELIKE_BLOCK(p, 0);
    VALGRIND_MALLOCLIKE_BLOCK(q, n, 0, 1);   /* the moved bytes keep their state... */
    if (n > old) VALGRIND_MAKE_MEM_UNDEFINED((uint8_t *)q + old, n - old);   /* ...the new ones have none */
  }
  if (room > n) VALGRIND_MAKE_MEM_NOACCESS((uint8_t *)q + n, room - n);
}

void da_vg_noaccess(void *p, size_t n) { VALGRIND_MAKE_MEM_NOACCESS(p, n); }
void da_vg_listed(void *b) { VALGRIND_MAKE_MEM_DEFINED(b, 2 * sizeof(void *)); }
void da_vg_quiet(void) { VALGRIND_DISABLE_ERROR_REPORTING; }
void da_vg_loud(void) { VALGRIND_ENABLE_ERROR_REPORTING; }
#else
void da_vg_init(void) {}
void da_vg_alloc(void *p, size_t n, size_t room, bool zeroed) {}
void da_vg_free(const void *p) {}
void da_vg_resized(void *p, void *q, size_t old, size_t n, size_t room) {}
void da_vg_noaccess(void *p, size_t n) {}
void da_vg_listed(void *b) {}
void da_vg_quiet(void) {}
void da_vg_loud(void) {}
#endif
