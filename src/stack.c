/* stack.c — call stacks without allocation, for the guarded samples' reports
 * (guard.c) and the heap profiler (prof.c).
 *
 * Stacks come from libgcc's _Unwind_Backtrace, which reads the objects'
 * .eh_frame tables (programs built without frame pointers, as Debian's are,
 * unwind as well), and objects' names from dl_iterate_phdr; neither allocates.
 *
 * Invariants:
 *  - a stack starts at the first frame outside dynalloc's own code (the
 *    executable segment of the shared object that holds this file; in a static
 *    link, nothing is left out) and holds at most the caller's max frames;
 *  - da_stack_init runs its body once per process, before the first capture
 *    (it finds dynalloc's code and the program's path).
 */
#define _GNU_SOURCE
#include "internal.h"
#include <link.h>
#include <unistd.h>
#include <unwind.h>

static uintptr_t self_lo, self_hi;           /* dynalloc's code, left out at the top of stacks */
static char exe_path[256];                   /* the program's name for its own addresses */
static pthread_once_t stack_once = PTHREAD_ONCE_INIT;

_Unwind_Reason_Code da_stack_step(struct _Unwind_Context *ctx, void *arg) {
  da_trace_t *t = arg;
  uintptr_t ip = _Unwind_GetIP(ctx);
  if (ip == 0) return _URC_END_OF_STACK;
  if (t->top && ip >= self_lo && ip < self_hi) return _URC_NO_REASON;   /* inside dynalloc */
  t->top = false;
  t->pcs[t->n++] = ip;
  return t->n == t->max ? _URC_END_OF_STACK : _URC_NO_REASON;
}

/* dynalloc's own code: the executable segment of the object that holds this
 * function, unless that is the program itself (a static link: nothing left out). */
static int find_self(struct dl_phdr_info *info, size_t size, void *arg) {
  uintptr_t me = (uintptr_t)arg;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
    if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && me >= lo && me < lo + ph->p_memsz) {
      if (info->dlpi_name != NULL && info->dlpi_name[0] != 0) { self_lo = lo; self_hi = lo + ph->p_memsz; }
      return 1;
    }
  }
  return 0;
}

static void stack_init_once(void) {
  dl_iterate_phdr(find_self, (void *)(uintptr_t)&da_stack_step);
  ssize_t n = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
  exe_path[n > 0 ? n : 0] = 0;
}

void da_stack_init(void) { pthread_once(&stack_once, stack_init_once); }

bool da_stack_self_shared(void) {
  da_stack_init();
  return self_hi != 0;
}

typedef struct where_s { uintptr_t pc, base; const char *name; } where_t;

static int find_object(struct dl_phdr_info *info, size_t size, void *arg) {
  where_t *w = arg;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
    if (ph->p_type == PT_LOAD && w->pc >= lo && w->pc < lo + ph->p_memsz) {
      w->base = info->dlpi_addr;
      w->name = info->dlpi_name != NULL && info->dlpi_name[0] != 0 ? info->dlpi_name : exe_path;
      return 1;
    }
  }
  return 0;
}

/* One line: "dynalloc:   what OBJ+0xOFF OBJ+0xOFF …" (addr2line -e OBJ OFF). */
void da_stack_print(const char *what, const uintptr_t *pcs, int n) {
  char line[2048];
  size_t len = da_snprintf(line, sizeof line, "dynalloc:   %s", what);
  if (n == 0) len += da_snprintf(line + len, sizeof line - len, " (no frames)");
  for (int i = 0; i < n && len + 300 < sizeof line; i++) {
    where_t w = {pcs[i], 0, NULL};
    if (dl_iterate_phdr(find_object, &w) != 0)
      len += da_snprintf(line + len, sizeof line - len, " %s+0x%lx", w.name, (unsigned long)(pcs[i] - w.base));
    else
      len += da_snprintf(line + len, sizeof line - len, " %p", (void *)pcs[i]);
  }
  line[len++] = '\n';
  da_write_fd(STDERR_FILENO, line, len);
}
