#!/bin/sh
# run_real.sh WORKLOAD BACKEND WORKDIR — run tests/real/WORKLOAD.sh bare (once
# per WORKDIR: the reference) and with libdynalloc.so preloaded under
# DYNALLOC_BACKEND=BACKEND (harden: mmap with DYNALLOC_HARDEN=1), and require
# identical output and exit status.
set -u
workload="$1"
backend="$2"
work="$3"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
lib="$root/build/libdynalloc.so"
script="$here/$workload.sh"

[ -f "$lib" ] || { echo "missing $lib"; exit 1; }
# the dynamic linker only warns when it cannot preload: make sure it does
if ! LD_PRELOAD="$lib" grep -q 'libdynalloc\.so' /proc/self/maps; then
    echo "$lib is not preloaded"
    exit 1
fi
mkdir -p "$work"
ref="$work/$workload.ref"
if [ ! -f "$ref" ]; then
    rm -rf "$work/ref-$workload"
    mkdir -p "$work/ref-$workload"
    "$script" "$work/ref-$workload" > "$ref.tmp" 2>&1
    echo "exit $?" >> "$ref.tmp"
    mv "$ref.tmp" "$ref"
fi
if [ "$(tail -n 1 "$ref")" != "exit 0" ]; then
    echo "$workload: the reference run without dynalloc failed:"
    tail -n 20 "$ref"
    exit 1
fi

out="$work/$workload.$backend.out"
rm -rf "$work/$backend-$workload"
mkdir -p "$work/$backend-$workload"
harden=0
be="$backend"
if [ "$backend" = harden ]; then harden=1; be=mmap; fi   # the hardened mode, on mmap
DYNALLOC_BACKEND="$be" DYNALLOC_HARDEN="$harden" LD_PRELOAD="$lib" "$script" "$work/$backend-$workload" > "$out" 2>&1
echo "exit $?" >> "$out"

if cmp -s "$ref" "$out"; then
    echo "$workload: output under dynalloc ($backend) equals the reference:"
    cat "$out"
    rm -rf "$work/$backend-$workload"
    exit 0
fi
echo "$workload: output under dynalloc ($backend) differs from the reference"
diff "$ref" "$out" | head -n 40
exit 1
