#!/bin/sh
# make-deb.sh — build a Debian package of dynalloc with dpkg-deb (make deb).
#   BUILD=build VERSION=0.1 scripts/make-deb.sh
# The package installs what `make install PREFIX=/usr` installs: the libraries
# (/usr/lib), the header, the launcher, pkg-config and CMake files and the man
# pages; it is written to $BUILD/dynalloc_VERSION_ARCH.deb and its path printed.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
VERSION=${VERSION:-0.1}
arch=$(dpkg --print-architecture)
stage=$BUILD/deb/dynalloc_${VERSION}_$arch
rm -rf "$stage"
make --no-print-directory -s BUILD="$BUILD" install DESTDIR="$PWD/$stage" PREFIX=/usr >/dev/null
mkdir -p "$stage/DEBIAN" "$stage/usr/share/doc/dynalloc"
gzip -9n < README.md > "$stage/usr/share/doc/dynalloc/README.md.gz"
find "$stage/usr/share/man" -type f -name '*.[0-9]' -exec gzip -9n {} +
size=$(du -sk "$stage/usr" | cut -f1)
# the newest glibc symbol version the libraries use
glibc=$(objdump -T "$stage"/usr/lib/libdynalloc*.so | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: dynalloc
Version: $VERSION
Architecture: $arch
Maintainer: dynalloc developers <dynalloc@localhost>
Installed-Size: $size
Depends: libc6 (>= $glibc)
Section: libs
Priority: optional
Description: fast, checked drop-in replacement for malloc
 dynalloc replaces the C library's malloc, free and the rest of the glibc
 allocation API in any program, preloaded (the dynalloc launcher) or linked.
 Per-thread heaps, checked free lists, memory returned to the system whichever
 thread frees it, a hardened mode and guarded sampling in the same library.
 This package has the shared and static libraries, the header, the launcher,
 the pkg-config and CMake files and the man pages.
CONTROL
deb=$BUILD/dynalloc_${VERSION}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
