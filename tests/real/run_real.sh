#!/bin/sh
# run_real.sh WORKLOAD BACKEND WORKDIR — run tests/real/WORKLOAD.sh bare (once
# per WORKDIR: the reference) and with libdynalloc.so preloaded under
# DYNALLOC_BACKEND=BACKEND (harden: mmap with DYNALLOC_HARDEN=1; prof: mmap with
# the heap profiler at one sample per 64 KiB, every process writing its profile;
# page16k, page64k: mmap with DYNALLOC_PAGE_SIZE, every OS call in such pages),
# and require identical output and exit status (prof: and a profile with bytes
# allocated from every process that exits).
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
prof=0
page=0
be="$backend"
if [ "$backend" = harden ]; then harden=1; be=mmap; fi   # the hardened mode, on mmap
if [ "$backend" = prof ]; then prof=1; be=mmap; fi       # the heap profiler, on mmap
case $backend in page16k) page=16384; be=mmap ;; page64k) page=65536; be=mmap ;; esac   # a port's OS page
profiles="$(cd "$work" && pwd)/profiles-$workload"   # absolute: the workloads change directory
rm -rf "$profiles"
mkdir -p "$profiles"
if [ $prof = 1 ]; then
    DYNALLOC_BACKEND="$be" DYNALLOC_PROF=1 DYNALLOC_PROF_RATE=65536 DYNALLOC_PROF_FILE="$profiles/%p.heap" \
        LD_PRELOAD="$lib" "$script" "$work/$backend-$workload" > "$out" 2>&1
else
    DYNALLOC_BACKEND="$be" DYNALLOC_HARDEN="$harden" DYNALLOC_PAGE_SIZE="$page" LD_PRELOAD="$lib" \
        "$script" "$work/$backend-$workload" > "$out" 2>&1
fi
echo "exit $?" >> "$out"
if [ $prof = 1 ]; then
    # every profile is whole (its header, and the mappings at its end) and one has samples
    n=0
    for f in "$profiles"/*.heap; do
        [ -f "$f" ] || continue
        head -n 1 "$f" | grep -Eq '^heap profile: [0-9]+: [0-9]+ \[[0-9]+: [0-9]+\] @ heapprofile$' &&
            grep -q '^MAPPED_LIBRARIES:$' "$f" || { echo "$workload: $f is not a whole profile"; head -n 3 "$f"; exit 1; }
        head -n 1 "$f" | grep -Eq '\[[0-9]+: [1-9][0-9]*\]' && n=$((n + 1))
    done
    [ $n -gt 0 ] || { echo "$workload: no profile with samples in $profiles"; ls -la "$profiles"; exit 1; }
    echo "$workload: $n profiles with samples"
fi
rm -rf "$profiles"

if cmp -s "$ref" "$out"; then
    echo "$workload: output under dynalloc ($backend) equals the reference:"
    cat "$out"
    rm -rf "$work/$backend-$workload"
    exit 0
fi
echo "$workload: output under dynalloc ($backend) differs from the reference"
diff "$ref" "$out" | head -n 40
exit 1
