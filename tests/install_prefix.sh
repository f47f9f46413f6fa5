#!/bin/bash
# install_prefix.sh — after the build made by `make` (PREFIX /usr/local), `make
# install PREFIX=<scratch>` with no DESTDIR, and every installed file used as it
# is, with nothing overridden:
#   - pkg-config finds dynalloc.pc by PKG_CONFIG_PATH alone and its flags build
#     and run a program whose malloc is dynalloc's (the .pc names the prefix);
#   - a CMake project with find_package(dynalloc 0.1) links dynalloc::dynalloc
#     and dynalloc::dynalloc-prefix (and the static targets), and each program
#     checks that the allocator is dynalloc;
#   - the launcher runs a program under the installed library, and under memcheck
#     with the installed suppressions (--valgrind);
#   - man -l renders dynalloc(1) and dynalloc(3) without a warning.
set -eu
cd "$(dirname "$0")/.."
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
inst=$root/prefix
make --no-print-directory -s install PREFIX="$inst" >/dev/null
fail() { echo "install_prefix: $*"; exit 1; }
grep -qx "prefix=$inst" "$inst/lib/pkgconfig/dynalloc.pc" || fail "dynalloc.pc does not name $inst: $(head -1 "$inst/lib/pkgconfig/dynalloc.pc")"

. tests/install_progs.sh
write_install_progs "$root"

# pkg-config, the file as installed
export PKG_CONFIG_PATH=$inst/lib/pkgconfig
libdir=$(pkg-config --variable=libdir dynalloc)
[ "$libdir" = "$inst/lib" ] || fail "pkg-config libdir is $libdir"
cc "$root/std.c" $(pkg-config --cflags --libs dynalloc) -Wl,-rpath,"$libdir" -o "$root/std-pc"
"$root/std-pc" >/dev/null || fail "a program built with pkg-config's flags does not run dynalloc"

# CMake
mkdir "$root/proj"
cat > "$root/proj/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.16)
project(uses_dynalloc C)
find_package(dynalloc 0.1 REQUIRED)
add_executable(std std.c)
target_link_libraries(std PRIVATE dynalloc::dynalloc)
add_executable(prefix prefix.c)
target_link_libraries(prefix PRIVATE dynalloc::dynalloc-prefix)
add_executable(std_static std.c)
target_link_libraries(std_static PRIVATE dynalloc::dynalloc-static)
add_executable(prefix_static prefix.c)
target_link_libraries(prefix_static PRIVATE dynalloc::dynalloc-prefix-static)
CM
cp "$root/std.c" "$root/prefix.c" "$root/proj/"
cmake -S "$root/proj" -B "$root/proj/build" -DCMAKE_PREFIX_PATH="$inst" >"$root/cmake.log" 2>&1 ||
    { cat "$root/cmake.log"; fail "cmake could not configure a project with find_package(dynalloc)"; }
cmake --build "$root/proj/build" >"$root/build.log" 2>&1 || { cat "$root/build.log"; fail "the CMake project does not build"; }
for p in std prefix std_static prefix_static; do
    "$root/proj/build/$p" >/dev/null || fail "CMake target's program $p does not run with dynalloc"
done
# a version this package is not: refused
mkdir "$root/proj1"
sed 's/find_package(dynalloc 0.1 REQUIRED)/find_package(dynalloc 1.0 REQUIRED)/' "$root/proj/CMakeLists.txt" \
    > "$root/proj1/CMakeLists.txt"
cp "$root/std.c" "$root/prefix.c" "$root/proj1/"
if cmake -S "$root/proj1" -B "$root/proj1/build" -DCMAKE_PREFIX_PATH="$inst" >/dev/null 2>&1; then
    fail "find_package(dynalloc 1.0) accepted version 0.1"
fi

# the launcher
cc "$root/std.c" -o "$root/std-plain"
"$inst/bin/dynalloc" "$root/std-plain" >/dev/null || fail "the installed launcher does not run dynalloc"
# its --valgrind: memcheck reads the installed suppressions (and dynalloc then
# gives exact usable sizes: "usable 1")
VALGRIND_OPTS=-v "$inst/bin/dynalloc" --valgrind "$root/std-plain" > "$root/vg.out" 2>&1 || true   # std-plain wants 16
grep -q "Reading suppressions file: $inst/share/dynalloc/valgrind.supp" "$root/vg.out" &&
    grep -qx 'usable 1' "$root/vg.out" || { tail -n 20 "$root/vg.out"; fail "the installed launcher's --valgrind"; }

# man pages
for page in man1/dynalloc.1 man3/dynalloc.3; do
    f=$inst/share/man/$page
    [ -f "$f" ] || fail "$page not installed"
    out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$f" 2>"$root/man.err")
    [ ! -s "$root/man.err" ] || { cat "$root/man.err"; fail "man -l $page warns"; }
    grep -q '^NAME' <<<"$out" && grep -q 'DYNALLOC_HARDEN' <<<"$out" || fail "$page renders without its NAME or options"
done
echo "install_prefix: ok"
