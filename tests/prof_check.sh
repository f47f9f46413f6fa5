#!/bin/bash
# prof_check.sh — the heap profiler, read by google-pprof (tests/run_tests.sh,
# prof@pprof): tests/prof_sites.c allocates known bytes at known sites;
# `google-pprof --text` must name each site with its true bytes within 10 %,
# live (da_prof_dump while they are live) and allocated since start (the exit
# profile, DYNALLOC_PROF_FILE with %p), at a rate of 2 KiB and, for 1 GiB
# allocated at one site, at the default rate; `--svg` draws the sites; the
# launcher's --profile writes the file; with the profiler off da_prof_dump
# fails (the program checks EINVAL).
set -u
cd "$(dirname "$0")/.." || exit 2
. tests/check_lib.sh
PROG=build/tests/prof/prof_sites

# mib PROFILE SITE [pprof options…]: the site's own bytes (flat), in MiB, or 0
mib() {
    local file=$1 site=$2
    shift 2
    google-pprof --text "$@" "$PROG" "$file" 2>/dev/null |
        awk -v s="$site" '$6 == s { print $1; found = 1 } END { if (!found) print 0 }'
}

# near PROFILE SITE BYTES [pprof options…]: within 10 % of BYTES
near() {
    local file=$1 site=$2 want=$3
    shift 3
    local got
    got=$(mib "$file" "$site" "$@")
    if awk -v g="$got" -v w="$want" 'BEGIN { d = g * 1048576 - w; exit !(d <= w / 10 && -d <= w / 10) }'; then
        echo "ok   $site $* ${got} MiB (true $(awk -v w="$want" 'BEGIN { printf "%.1f", w / 1048576 }'))"
    else
        fail "$site $*: ${got} MiB, true $want bytes"
    fi
}

# absent PROFILE SITE [pprof options…]: below 0.1 MiB
absent() {
    local got
    got=$(mib "$@")
    if awk -v g="$got" 'BEGIN { exit !(g < 0.1) }'; then echo "ok   $2 ${*:3} none"; else fail "$2 ${*:3}: $got MiB, want none"; fi
}

live=(site_small 6400000 site_medium 20000000 site_bulk 10000000 site_run 10000000
      site_huge 12582912 site_calloc 6000000 site_thread 8192000)
gone=(site_freed 10000000 site_churn 20000000)

env DYNALLOC_PROF=1 DYNALLOC_PROF_RATE=2048 DYNALLOC_PROF_FILE="$tmp/exit.%p.heap" LD_PRELOAD="$LIB" \
    "$PROG" live "$tmp/live.heap" || fail "prof_sites live exited with $?"
[ -s "$tmp/live.heap" ] || fail "no profile from da_prof_dump"
head -n 1 "$tmp/live.heap"
exit_file=$(ls "$tmp"/exit.*.heap 2>/dev/null | head -n 1)
[ -n "$exit_file" ] || fail "no exit profile (exit.%p.heap)"

echo "live profile (--inuse_space):"
for ((i = 0; i < ${#live[@]}; i += 2)); do near "$tmp/live.heap" "${live[i]}" "${live[i + 1]}"; done
for ((i = 0; i < ${#gone[@]}; i += 2)); do absent "$tmp/live.heap" "${gone[i]}"; done
echo "exit profile (--alloc_space, and nothing live):"
for ((i = 0; i < ${#live[@]}; i += 2)); do near "$exit_file" "${live[i]}" "${live[i + 1]}" --alloc_space; done
for ((i = 0; i < ${#gone[@]}; i += 2)); do near "$exit_file" "${gone[i]}" "${gone[i + 1]}" --alloc_space; done
for ((i = 0; i < ${#live[@]}; i += 2)); do absent "$exit_file" "${live[i]}"; done

echo "svg:"
google-pprof --svg "$PROG" "$tmp/live.heap" > "$tmp/live.svg" 2>/dev/null
if grep -q '<svg' "$tmp/live.svg"; then
    for ((i = 0; i < ${#live[@]}; i += 2)); do
        grep -q ">${live[i]}<" "$tmp/live.svg" && echo "ok   ${live[i]} drawn" || fail "${live[i]} not in the svg"
    done
else
    fail "google-pprof --svg drew nothing"
fi

echo "default rate (512 KiB), 1 GiB at one site:"
env -u DYNALLOC_PROF_RATE DYNALLOC_PROF=1 DYNALLOC_PROF_FILE="$tmp/churn.heap" LD_PRELOAD="$LIB" \
    "$PROG" churn || fail "prof_sites churn exited with $?"
near "$tmp/churn.heap" site_churn_big 1073741824 --alloc_space

echo "launcher:"
build/dynalloc --profile "$tmp/launcher.heap" env DYNALLOC_PROF_RATE=2048 "$PROG" live "$tmp/ignored.heap" ||
    fail "the launcher's run exited with $?"
[ -s "$tmp/launcher.heap" ] || fail "build/dynalloc --profile wrote no file"
near "$tmp/launcher.heap" site_medium 20000000 --alloc_space

echo "off:"
env -u DYNALLOC_PROF -u DYNALLOC_PROF_FILE LD_PRELOAD="$LIB" "$PROG" off || fail "prof_sites off exited with $?"

finish prof_check
