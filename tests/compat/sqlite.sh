#!/usr/bin/env bash
# sqlite.sh MODE OUTDIR — a large deterministic SQL workload (gen_sqlite.py:
# ~200k inserts, updates, deletes, indexes, joins, group-bys, window functions,
# blobs up to 256 KiB, a temp table, VACUUM) run by the sqlite3 shell on a
# file database with a 64 MiB page cache.
# Facts: sha256 of each query's output, both PRAGMA integrity_check results,
# the shell's exit status, and the sha256 of the workload itself.
. "$(dirname "$0")/lib.sh"
suite_init "$@"
ROWS=${SQLITE_ROWS:-200000}

cd "$OUTDIR"
"$SYS_PY" "$COMPAT_DIR/gen_sqlite.py" "$ROWS" > workload.sql
result sqlite.workload "$(sha workload.sql)"
rc=0
timed sqlite3 run_in "$MODE" sqlite3 -bail "$OUTDIR/test.db" < workload.sql > out.txt 2> err.txt || rc=$?
result sqlite.exit "$rc"
result sqlite.stderr "$(sha err.txt)"
cat err.txt
# split the output at the '@@ name' markers and hash each part
awk -v dir="$OUTDIR" '
    /^@@ / { name = $2; next }
    name != "" { print > (dir "/q." name ".txt") }' out.txt
for f in q.*.txt; do
    n=${f#q.}; n=${n%.txt}
    result "sqlite.q.$n" "$(sha "$f")"
done
for n in integrity1 integrity2; do
    result "sqlite.$n" "$(tr '\n' ' ' < "q.$n.txt")"
done
# the database file must be readable again afterwards, without the preload
result sqlite.reopen "$(sqlite3 test.db 'PRAGMA integrity_check; SELECT count(*) FROM orders;' | tr '\n' ' ')"
rm -f test.db test.db-wal test.db-shm workload.sql
[ $rc -eq 0 ]
