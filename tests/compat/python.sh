#!/usr/bin/env bash
# python.sh MODE OUTDIR — CPython's own regression tests (Debian's
# libpython3.11-testsuite, run by Debian's /usr/bin/python3 -m test -j2).
# Facts: per module, the regrtest verdict and the counts of test cases by
# outcome from its JUnit report (run, skipped, failures, errors).
. "$(dirname "$0")/lib.sh"
suite_init "$@"

# Containers, strings/unicode, pickling, threading, gc, weakref, mmap, zlib,
# json, re, asyncio, subprocess, numbers, io: 61 modules, ~2 min with -j2.
MODULES=${PY_MODULES:-"
test_list test_tuple test_dict test_dictviews test_set test_deque
test_collections test_ordered_dict test_userdict test_userlist test_heapq
test_bisect test_sort test_array test_bytes test_memoryview
test_unicode test_string test_codecs test_ucn test_unicodedata test_fstring
test_format test_pickle test_pickletools test_copy test_marshal test_struct
test_thread test_threading test_threading_local test_queue test_gc
test_weakref test_weakset test_mmap test_zlib test_bz2 test_lzma test_json
test_re test_asyncio test_subprocess test_itertools test_functools test_long
test_int test_float test_decimal test_math test_fractions test_statistics
test_random test_hash test_generators test_iter test_descr test_class
test_exceptions test_csv test_io"}

[ -d /usr/lib/python3.11/test ] || { echo "libpython3.11-testsuite is not installed"; exit 3; }
cd "$OUTDIR"
rc=0
# -j2: two worker processes (both inherit LD_PRELOAD); --timeout: a hung module
# is killed after 5 min (glibc needs ~75 s for the slowest, test_asyncio).
timed regrtest run_in "$MODE" env HOME="$OUTDIR" TMPDIR="$OUTDIR" \
    "$SYS_PY" -m test -j2 --timeout 300 --junit-xml "$OUTDIR/junit.xml" $MODULES \
    > "$OUTDIR/regrtest.log" 2>&1 || rc=$?
tail -n 30 "$OUTDIR/regrtest.log"

# regrtest's per-module verdict lines: "[ n/N] test_x passed (…)"
"$SYS_PY" - "$OUTDIR/regrtest.log" "$OUTDIR/junit.xml" "$OUTDIR/result.txt" $MODULES <<'PYEOF'
import re, sys, collections
import xml.etree.ElementTree as ET
log, junit, out, mods = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
verdict = {}
for line in open(log, errors="replace"):
    m = re.search(r"\] (test_\w+) (passed|failed|skipped|crashed|timed out|"
                  r"resource denied|interrupted|env changed|uncaught exception)", line)
    if m and m.group(1) not in verdict:
        verdict[m.group(1)] = m.group(2)
counts = collections.defaultdict(collections.Counter)
try:
    for tc in ET.parse(junit).getroot().iter("testcase"):
        name = tc.get("name", "")
        parts = name.split(".")
        mod = parts[1] if len(parts) > 1 and parts[0] == "test" else parts[0]
        kind = tc.get("status", "run")
        for child in tc:
            if child.tag in ("failure", "error", "skipped"):
                kind = child.tag
        counts[mod][kind] += 1
except Exception as e:
    print("no usable JUnit report:", e)
with open(out, "a") as f:
    for mod in mods:
        c = counts.get(mod, collections.Counter())
        desc = " ".join(f"{k}={c[k]}" for k in sorted(c))
        f.write(f"py.{mod}\t{verdict.get(mod, 'missing')} {desc}\n")
PYEOF
grep -q "Tests result: SUCCESS" "$OUTDIR/regrtest.log" || echo "regrtest exit $rc"
# a failing module is a compared fact, not a broken run; a crash of the
# runner itself (no verdicts at all) is.
grep -q "Tests result:" "$OUTDIR/regrtest.log"
