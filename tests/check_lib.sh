# check_lib.sh — sourced by the shell checks that count their failures
# (prof_check.sh, memcheck_check.sh): a scratch directory $tmp removed at exit,
# fail MESSAGE (a FAIL line, counted), and finish NAME (the last line and the
# exit status: 0 only when nothing failed).  Run from the repository root.
LIB=$PWD/build/libdynalloc.so
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
finish() {
    [ $fails -eq 0 ] && echo "$1: ok" && exit 0
    echo "$1: $fails failed"
    exit 1
}
