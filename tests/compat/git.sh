#!/usr/bin/env bash
# git.sh MODE OUTDIR — git_workload.sh (branches, merges, rebases,
# cherry-picks, gc --aggressive, repack, fsck, clone) with every process of
# the script (bash, git and its helpers) under the allocator.
# Facts: the workload's fact lines and its exit status.
. "$(dirname "$0")/lib.sh"
suite_init "$@"
cd "$OUTDIR"
rc=0
timed workload run_in "$MODE" bash "$COMPAT_DIR/git_workload.sh" "$OUTDIR" > out.txt 2> err.txt || rc=$?
cat out.txt; tail -n 20 err.txt
result git.exit "$rc"
while IFS=$'\t' read -r k v; do result "git.$k" "$v"; done < out.txt
rm -rf repo clone
[ $rc -eq 0 ]
