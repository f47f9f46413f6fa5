# install_progs.sh — sourced by the install and package tests: writes into
# directory $1 the two programs they build against installed files.
#   std.c     malloc's usable size of a 1-byte request is 16 under dynalloc (24
#             under glibc): exits 0 only when dynalloc serves malloc
#   prefix.c  da_malloc is dynalloc's and malloc stays the system's (the
#             prefixed library): exits 0 only then
write_install_progs() {
    cat > "$1/std.c" <<'C'
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
int main(void) {
    void *p = malloc(1);
    size_t n = malloc_usable_size(p);   /* 16 under dynalloc, 24 under glibc */
    free(p);
    printf("usable %zu\n", n);
    return n == 16 ? 0 : 1;
}
C
    cat > "$1/prefix.c" <<'C'
#include <dynalloc.h>
#include <stdio.h>
#include <stdlib.h>
int main(void) {
    char *p = da_malloc(1);
    void *q = malloc(1);                /* the system's: 24 usable bytes under glibc */
    int ok = p != NULL && da_malloc_usable_size(p) == 16 && malloc_usable_size(q) != 16;
    da_free(p);
    free(q);
    puts(ok ? "prefix ok" : "prefix wrong");
    return ok ? 0 : 1;
}
C
}
