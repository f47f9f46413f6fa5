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
. tests/install_progs.sh
write_install_progs "$root"
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
