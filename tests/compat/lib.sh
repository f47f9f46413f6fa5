# lib.sh — helpers shared by the compat suites (sourced, not run).
#
# Every suite script is called as   <suite>.sh MODE OUTDIR
#   MODE    glibc | mmap | sbrk   (glibc: no preload; mmap/sbrk: ALLOC_LIB
#           preloaded with DYNALLOC_BACKEND set to that back-end)
#   OUTDIR  an empty directory for its work files
# and writes OUTDIR/result.txt: one line per compared fact, "key<TAB>value".
# run_compat.sh compares each dynalloc line with the glibc line of the same key.
# A suite exits non-zero when its run itself broke (crash, hang, bad exit).

set -u

COMPAT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SYS_PY=/usr/bin/python3          # Debian's python, never the one on PATH

# run_in MODE cmd args… — run a command under the chosen allocator, killed
# with its whole process group after RUN_TIMEOUT seconds (default 1200), so
# that a hang fails the suite instead of stopping the run.
run_in() {
    local mode=$1; shift
    local t=${RUN_TIMEOUT:-1200}
    case "$mode" in
        glibc) timeout -k 10 "$t" env -u LD_PRELOAD -u DYNALLOC_BACKEND "$@" ;;
        mmap|sbrk) timeout -k 10 "$t" env LD_PRELOAD="$ALLOC_LIB" DYNALLOC_BACKEND="$mode" "$@" ;;
        *) echo "run_in: unknown mode $mode" >&2; return 2 ;;
    esac
}

# mode_env MODE — set the array MODE_ENV to the env(1) arguments of run_in,
# for commands that must go through another wrapper (timeout …).
mode_env() {
    case "$1" in
        glibc) MODE_ENV=(-u LD_PRELOAD -u DYNALLOC_BACKEND) ;;
        *) MODE_ENV=(LD_PRELOAD="$ALLOC_LIB" DYNALLOC_BACKEND="$1") ;;
    esac
}

# result KEY VALUE — append one compared fact.
result() { printf '%s\t%s\n' "$1" "$2" >> "$OUTDIR/result.txt"; }

# sha FILE — sha256 of a file, hex only.
sha() { sha256sum "$1" | cut -d' ' -f1; }

# free_port — a TCP port nobody listens on, on 127.0.0.1.
free_port() {
    "$SYS_PY" - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

# timed LABEL cmd… — run, then log the wall time to OUTDIR/times.txt.
timed() {
    local label=$1; shift
    local t0=$SECONDS rc=0
    "$@" || rc=$?
    echo "$label $((SECONDS - t0))s rc=$rc" >> "$OUTDIR/times.txt"
    return $rc
}

suite_init() {
    MODE=$1 OUTDIR=$2
    mkdir -p "$OUTDIR"
    : > "$OUTDIR/result.txt"
    : > "$OUTDIR/times.txt"
}
