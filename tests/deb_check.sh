#!/bin/bash
# deb_check.sh — `make deb`, then the package as a user gets it: its control
# fields, its file list (libraries, header, launcher, pkg-config and CMake
# files, man pages), unpacked into a scratch root with dpkg -x, and a program
# run with the unpacked library and one built against its header and archive.
set -eu
cd "$(dirname "$0")/.."
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
fail() { echo "deb_check: $*"; exit 1; }
deb=$(make --no-print-directory -s deb | tail -n 1)
[ -f "$deb" ] || fail "make deb made no package ($deb)"
[ "$(dpkg-deb -f "$deb" Package)" = dynalloc ] || fail "package name"
[ "$(dpkg-deb -f "$deb" Architecture)" = "$(dpkg --print-architecture)" ] || fail "architecture"
need=$(objdump -T build/libdynalloc.so | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)
[ "$(dpkg-deb -f "$deb" Depends)" = "libc6 (>= $need)" ] || fail "Depends is '$(dpkg-deb -f "$deb" Depends)', the library needs glibc $need"
dpkg-deb -c "$deb" | awk '{print $NF}' > "$root/files"
for f in ./usr/lib/libdynalloc.so ./usr/lib/libdynalloc.a ./usr/lib/libdynalloc-prefix.so \
         ./usr/lib/libdynalloc-prefix.a ./usr/include/dynalloc.h ./usr/bin/dynalloc \
         ./usr/lib/pkgconfig/dynalloc.pc ./usr/lib/cmake/dynalloc/dynalloc-config.cmake \
         ./usr/lib/cmake/dynalloc/dynalloc-config-version.cmake \
         ./usr/share/man/man1/dynalloc.1.gz ./usr/share/man/man3/dynalloc.3.gz \
         ./usr/share/dynalloc/valgrind.supp; do
    grep -qx "$f" "$root/files" || fail "$f is not in the package"
done
dpkg-deb -c "$deb" | awk '$2 != "root/root" { bad = 1 } END { exit bad }' || fail "files not owned by root"
dpkg -x "$deb" "$root/x"
grep -qx 'prefix=/usr' "$root/x/usr/lib/pkgconfig/dynalloc.pc" || fail "dynalloc.pc does not name /usr"
grep -q '^lib="/usr/lib/libdynalloc.so"' "$root/x/usr/bin/dynalloc" || fail "the launcher does not load /usr/lib/libdynalloc.so"
grep -q '^supp="/usr/share/dynalloc/valgrind.supp"' "$root/x/usr/bin/dynalloc" ||
    fail "the launcher's --valgrind does not name /usr/share/dynalloc/valgrind.supp"
. tests/install_progs.sh
write_install_progs "$root"
cc "$root/std.c" -o "$root/std-plain"
LD_PRELOAD="$root/x/usr/lib/libdynalloc.so" "$root/std-plain" >/dev/null || fail "the unpacked library does not serve malloc"
cc "$root/std.c" -I"$root/x/usr/include" "$root/x/usr/lib/libdynalloc.a" -pthread -o "$root/std-static"
"$root/std-static" >/dev/null || fail "a program linked with the unpacked archive does not run dynalloc"
echo "deb_check: ok"
