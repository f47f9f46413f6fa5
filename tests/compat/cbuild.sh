#!/usr/bin/env bash
# cbuild.sh MODE OUTDIR — a real C project built with make -j2 under the
# allocator: GNU binutils 2.40 (bfd, opcodes, libiberty, libsframe, zlib and
# the binutils programs) from Debian's binutils-source package.  configure,
# make -j2 (make, sh, gcc, cc1, as, ld, flex, bison …) and the tests all run
# with the preload.
# Facts: sha256 of every built program and library and of all object files
# (built with -ffile-prefix-map, so the build directory does not matter),
# libiberty's `make check` results, and the outputs of the freshly built
# readelf/objdump/nm/size/strings/ar on fixed system files.
. "$(dirname "$0")/lib.sh"
suite_init "$@"
TARBALL=${BINUTILS_TARBALL:-$(ls /usr/src/binutils/binutils-*.tar.* 2>/dev/null | head -n 1)}
[ -f "$TARBALL" ] || { echo "binutils-source is not installed"; exit 3; }
cd "$OUTDIR"
top=$(tar tf "$TARBALL" | head -n 1 | cut -d/ -f1)
# leave out the parts that are not built (gas, ld, gold, gprof*)
timed extract tar xf "$TARBALL" --exclude="$top/gas" --exclude="$top/ld" --exclude="$top/gold" \
    --exclude="$top/gprof" --exclude="$top/gprofng"
mkdir build && cd build
cflags="-O1 -g0 -ffile-prefix-map=$OUTDIR=/compat"
rc=0
timed configure run_in "$MODE" "../$top/configure" --disable-gold --disable-ld --disable-gas \
    --disable-gprof --disable-gprofng --disable-gdb --disable-gdbserver --disable-sim \
    --disable-libctf --disable-nls --disable-werror --disable-plugins --disable-libdecnumber \
    --disable-readline --disable-libbacktrace --without-debuginfod --without-zstd \
    CFLAGS="$cflags" CXXFLAGS="$cflags" > configure.log 2>&1 || rc=$?
result cbuild.configure_exit "$rc"
[ $rc -eq 0 ] || { tail -n 30 configure.log; exit 1; }
timed make run_in "$MODE" make -j2 > make.log 2>&1 || rc=$?
result cbuild.make_exit "$rc"
[ $rc -eq 0 ] || { grep -B5 -m5 'Error\|error:' make.log; exit 1; }

# built artifacts
progs="binutils/objdump binutils/readelf binutils/nm-new binutils/size binutils/strings
       binutils/ar binutils/strip-new binutils/objcopy binutils/addr2line binutils/cxxfilt"
for p in $progs; do result "cbuild.bin.${p##*/}" "$(sha "$p")"; done
for a in bfd/.libs/libbfd.a opcodes/.libs/libopcodes.a libiberty/libiberty.a zlib/libz.a \
         libsframe/.libs/libsframe.a; do
    [ -f "$a" ] && result "cbuild.lib.${a##*/}" "$(sha "$a")"
done
find . -name '*.o' | LC_ALL=C sort | while read -r o; do echo "$(sha "$o") $o"; done > objects.txt
result cbuild.objects "$(wc -l < objects.txt) $(sha objects.txt)"

# the project's own tests
timed check run_in "$MODE" make -C libiberty check > check.log 2>&1 || rc=$?
result cbuild.check_exit "$rc"
result cbuild.check "PASS=$(grep -c '^PASS' check.log) FAIL=$(grep -c '^FAIL' check.log)"
result cbuild.check_lines "$(grep -E '^(PASS|FAIL)' check.log | LC_ALL=C sort | sha256sum | cut -c1-24)"

# the built tools at work, on fixed inputs, also under the allocator
tool() { local name=$1; shift; local trc=0
    run_in "$MODE" "$@" > "tool.$name.txt" 2>&1 || trc=$?
    result "cbuild.run.$name" "rc=$trc $(wc -l < "tool.$name.txt") $(sha "tool.$name.txt")"; }
cxx=$(ls /usr/lib/x86_64-linux-gnu/libstdc++.so.6 2>/dev/null)
tool readelf binutils/readelf -aW /usr/bin/perl
tool objdump binutils/objdump -d -r /usr/lib/x86_64-linux-gnu/libsqlite3.so.0
tool nm binutils/nm-new -DC --size-sort "$cxx"
tool size binutils/size -A /usr/bin/git
tool strings binutils/strings -n 8 /usr/bin/redis-server
tool cxxfilt sh -c "binutils/nm-new -D '$cxx' | awk '{print \$NF}' | binutils/cxxfilt"
mkdir -p artest && cp bfd/*.o artest/ 2>/dev/null
tool ar sh -c "binutils/ar rcsD artest/t.a artest/*.o && binutils/ar tv artest/t.a && sha256sum artest/t.a"
cd "$OUTDIR" && rm -rf "$top" build/bfd build/opcodes build/libiberty build/zlib build/libsframe \
    build/intl build/etc build/artest
[ $rc -eq 0 ]
