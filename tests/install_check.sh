#!/bin/bash
# install_check.sh — `make install` into a scratch DESTDIR, then use what was
# installed the three ways a user would: pkg-config + the shared library, the
# static archive (replacing malloc), the prefixed API, and the launcher.
# Each program checks that its malloc really is dynalloc.
set -eu
cd "$(dirname "$0")/.."
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
prefix=/opt/dynalloc-test
make --no-print-directory -s install DESTDIR="$root" PREFIX="$prefix" >/dev/null
inst=$root$prefix
for f in lib/libdynalloc.so lib/libdynalloc.a lib/libdynalloc-prefix.so lib/libdynalloc-prefix.a \
         include/dynalloc.h bin/dynalloc lib/pkgconfig/dynalloc.pc; do
    [ -e "$inst/$f" ] || { echo "install_check: $f not installed"; exit 1; }
done
cat > "$root/std.c" <<'C'
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
cat > "$root/prefix.c" <<'C'
#include <dynalloc.h>
#include <stdio.h>
int main(void) {
    char *p = da_malloc(100);
    if (p == NULL || da_malloc_usable_size(p) < 100) return 1;
    da_free(p);
    puts("prefix ok");
    return 0;
}
C
flags=$(PKG_CONFIG_PATH="$inst/lib/pkgconfig" pkg-config --define-variable=prefix="$inst" \
        --cflags --libs dynalloc)
cc "$root/std.c" $flags -Wl,-rpath,"$inst/lib" -o "$root/std-shared"
"$root/std-shared"
cc "$root/std.c" "$inst/lib/libdynalloc.a" -pthread -o "$root/std-static"
"$root/std-static"
cc "$root/prefix.c" -I"$inst/include" "$inst/lib/libdynalloc-prefix.a" -pthread -o "$root/prefix-static"
"$root/prefix-static"
cc "$root/std.c" -o "$root/std-plain"
sed -e "s|$prefix/lib|$inst/lib|" "$inst/bin/dynalloc" > "$root/launcher" && chmod +x "$root/launcher"
"$root/launcher" "$root/std-plain"
echo "install_check: ok"
