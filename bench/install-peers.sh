#!/bin/sh
# bench/install-peers.sh — make sure the peer allocators and the tools the
# benchmark suite drives are present, then print where each peer's shared
# object lives.
#
#   bench/install-peers.sh            install what is missing, print KEY=PATH lines
#   bench/install-peers.sh --print    only print (install nothing)
#
# Output (stdout), one line per peer whose library was found:
#   jemalloc=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
#   mimalloc=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2
#   tcmalloc=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
# Then the peers that Debian does not package, when a folder of their builds is
# present (PEERS_DIR, default ../shared/peers beside the repository; see its
# README): mimalloc3 (3.4.3), snmalloc and rpmalloc.  A user's machine has none
# of them, and the suite runs without them.
# Diagnostics go to stderr.  A peer that cannot be installed is reported and
# left out; the harness then skips it.
set -u

PKGS="libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4 hyperfine gnuplot-nox redis-server redis-tools sqlite3 valgrind"

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

if [ "${1:-}" != "--print" ]; then
    missing=""
    for p in $PKGS; do
        # gnuplot: any flavour will do
        if [ "$p" = gnuplot-nox ] && command -v gnuplot >/dev/null 2>&1; then continue; fi
        installed "$p" || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        echo "install-peers: installing:$missing" >&2
        SUDO=""
        [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
        export DEBIAN_FRONTEND=noninteractive
        # Refresh the package lists only when they are absent or when a first
        # install attempt fails.
        # Wait (up to 10 minutes) for another apt/dpkg run to release its lock.
        APT="$SUDO apt-get -o DPkg::Lock::Timeout=600 -y -qq --no-install-recommends"
        if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
            $APT update >/dev/null 2>&1 || true
        fi
        # shellcheck disable=SC2086  # word splitting of the package list is intended
        if ! $APT install $missing >/dev/null 2>&1; then
            $APT update >/dev/null 2>&1 || true
            # one by one, so that one unavailable package does not block the rest
            for p in $missing; do
                $APT install "$p" >/dev/null 2>&1 \
                    || echo "install-peers: could not install $p" >&2
            done
        fi
    fi
fi

# find_so PACKAGE BASENAME-PATTERN: the real shared object shipped by PACKAGE
find_so() {
    dpkg -L "$1" 2>/dev/null | grep -E "/$2\$" | while read -r f; do
        [ -e "$f" ] && { echo "$f"; break; }
    done
}

for spec in "jemalloc libjemalloc2 libjemalloc\\.so\\.2" \
            "mimalloc libmimalloc2.0 libmimalloc\\.so\\.2(\\.[0-9]+)*" \
            "tcmalloc libtcmalloc-minimal4 libtcmalloc_minimal\\.so\\.4"; do
    # shellcheck disable=SC2086
    set -- $spec
    so=$(find_so "$2" "$3" | head -n 1)
    if [ -n "$so" ]; then
        echo "$1=$so"
    else
        echo "install-peers: $1 ($2) not available; it will be skipped" >&2
    fi
done

PEERS_DIR=${PEERS_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/shared/peers}
for spec in "mimalloc3 libmimalloc-3.4.3.so" "snmalloc libsnmalloc.so" "rpmalloc librpmalloc.so"; do
    # shellcheck disable=SC2086
    set -- $spec
    [ -f "$PEERS_DIR/$2" ] && echo "$1=$PEERS_DIR/$2"
done
exit 0
