#!/usr/bin/python3
"""bench/run.py — run every benchmark workload under every allocator.

Allocators: glibc (no preload), dynalloc (build/libdynalloc.so) and the
Debian peers jemalloc, mimalloc and tcmalloc, each through LD_PRELOAD.  An
allocator whose library is missing, or does not load, is skipped with a note.

Runs are interleaved: repetition 1 of every workload under every allocator,
then repetition 2, and so on, with the allocator order rotated each time, so
that slow drift of the machine (thermal, other load) spreads over all of them.
For each run the harness records wall time, CPU time (user + system) and peak
RSS of the measured process (os.wait4 rusage; ru_maxrss includes the waited-for
children, e.g. gcc's cc1), and the "metric" lines the workload prints.

Output (full run):   bench/results/latest.md, latest.svg, latest.json, latency.md,
                     latest-rss.svg (RSS over time of rss-return and rss-remote)
Output (--quick):    bench/results/quick.md, quick.svg, quick.json, latency-quick.md,
                     quick-rss.svg
                     (latency*.md: the per-call latency tables alone, written next
                     to the markdown report when latency workloads ran)
Output (--scaling):  bench/results/scaling.md, scaling.json

Only the Python standard library is used; run it with /usr/bin/python3.
"""

import argparse
import datetime
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")
TMP = os.path.join(RESULTS, "tmp")
PEERS = ["glibc", "jemalloc", "mimalloc", "tcmalloc", "mimalloc3", "snmalloc", "rpmalloc"]   # the last three: ../shared/peers when present
ORDER = ["dynalloc"] + PEERS
# environment an added allocator runs with: --peer NAME=PATH?VAR=VALUE&VAR2=VALUE2
ALLOC_ENV = {}
CG_BEGIN = "<!-- callgrind:begin -->"
CG_END = "<!-- callgrind:end -->"


def log(msg):
    print(msg, flush=True)


# --------------------------------------------------------------------------
# allocators

def discover_allocators(build, wanted, given=()):
    """Returns ({name: preload path or None}, [notes about skipped ones]).
    given: NAME=PATH strings (--peer) that replace the packaged peers' paths, or,
    for a NAME that is no peer, add another allocator to compare (not a peer)."""
    found, notes = {"glibc": None}, []
    dyn = os.path.join(ROOT, build, "libdynalloc.so")
    if os.path.exists(dyn):
        found["dynalloc"] = dyn
    else:
        notes.append("dynalloc: %s not found (run `make`); skipped" % os.path.relpath(dyn, ROOT))
    try:
        out = subprocess.run([os.path.join(ROOT, "bench", "install-peers.sh"), "--print"],
                             capture_output=True, text=True, timeout=60)
        for line in out.stdout.splitlines():
            k, _, v = line.partition("=")
            if k in PEERS and v:
                found[k] = v
        for line in out.stderr.splitlines():
            notes.append(line.replace("install-peers: ", ""))
    except (OSError, subprocess.SubprocessError) as e:
        notes.append("install-peers.sh failed: %s" % e)
    for spec in given:
        k, _, v = spec.partition("=")
        if k in PEERS and v:
            found[k] = os.path.abspath(v)
        elif k and v and k not in ("dynalloc", "glibc"):
            # another build to compare (e.g. dynalloc-before=/tmp/old/libdynalloc.so),
            # or a mode (dynalloc-harden=build/libdynalloc.so?DYNALLOC_HARDEN=1):
            # measured and shown, never counted as a peer
            v, _, query = v.partition("?")
            ALLOC_ENV[k] = dict(kv.partition("=")[::2] for kv in query.split("&") if kv)
            found[k] = os.path.abspath(v)
            if k not in ORDER:
                ORDER.insert(1, k)
    result = {}
    for name in ORDER:
        if name not in found or (wanted and name not in wanted):
            continue
        so = found[name]
        if so and not preload_works(so):
            notes.append("%s: LD_PRELOAD=%s does not load; skipped" % (name, so))
            continue
        result[name] = so
    return result, notes


def preload_works(so):
    """True when a process started with LD_PRELOAD=so has it mapped and exits 0."""
    env = dict(os.environ, LD_PRELOAD=so)
    try:
        r = subprocess.run(["grep", "-qF", os.path.basename(os.path.realpath(so)), "/proc/self/maps"],
                           env=env, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0 and b"cannot be preloaded" not in r.stderr


# --------------------------------------------------------------------------
# measuring one process

LAUNCHER = None  # build/bench/measure, set in main()


def split_preload(env):
    env = dict(env)
    return env, env.pop("LD_PRELOAD", "")


def read_launcher(path):
    """The launcher's report: (wall, cpu, rss_kb, rc) or None."""
    try:
        with open(path) as f:
            wall, ut, st, rss, rc = f.read().split()
        return float(wall), float(ut) + float(st), int(rss), int(rc)
    except (OSError, ValueError):
        return None


def measure(cmd, env, timeout, cwd=None, stdin_path=None, tag="run"):
    """Runs cmd through the launcher; returns dict(wall, cpu, rss_kb, rc,
    timeout, out, err)."""
    os.makedirs(TMP, exist_ok=True)
    out_path = os.path.join(TMP, "%s.out" % tag)
    err_path = os.path.join(TMP, "%s.err" % tag)
    rep_path = os.path.join(TMP, "%s.rusage" % tag)
    if os.path.exists(rep_path):
        os.remove(rep_path)
    env, preload = split_preload(env)
    full = [LAUNCHER, "--out=" + rep_path, "--preload=" + preload, "--"] + cmd
    killed = []
    with open(out_path, "wb") as fo, open(err_path, "wb") as fe:
        fi = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        try:
            p = subprocess.Popen(full, env=env, cwd=cwd, stdin=fi, stdout=fo, stderr=fe,
                                 start_new_session=True)

            def kill():
                killed.append(1)
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
            timer = threading.Timer(timeout, kill)
            timer.start()
            p.wait()
            timer.cancel()
        finally:
            if stdin_path:
                fi.close()
    try:  # anything the run left behind in its session
        os.killpg(p.pid, signal.SIGKILL)
    except OSError:
        pass
    with open(out_path, "r", errors="replace") as f:
        out = f.read()
    with open(err_path, "r", errors="replace") as f:
        err = f.read()
    rep = read_launcher(rep_path)
    if rep is None:
        return {"wall": float("nan"), "cpu": float("nan"), "rss_kb": 0, "rc": p.returncode or 1,
                "timeout": bool(killed), "out": out, "err": err}
    wall, cpu, rss, rc = rep
    return {"wall": wall, "cpu": cpu, "rss_kb": rss, "rc": rc, "timeout": bool(killed),
            "out": out, "err": err}


def parse_metrics(text):
    m = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "metric":
            try:
                m[parts[1]] = float(parts[2])
            except ValueError:
                pass
    return m


def parse_series(text):
    """RSS over time from rssreturn/rssremote's output: [[ms since the frees
    began, KiB], ...], the first point right before the frees; [] if none."""
    before = re.search(r"^\s*before free: rss=(\d+) KiB, frees took ([\d.]+) ms", text, re.M)
    if not before:
        return []
    t0 = float(before.group(2))
    return [[0.0, int(before.group(1))]] + [
        [round(t0 + int(ms), 1), int(kb)] for ms, kb in re.findall(r"^\s*t=(\d+)ms rss=(\d+) KiB", text, re.M)]


# --------------------------------------------------------------------------
# real-program inputs, generated deterministically

def gen_sqlite(path, scale):
    rnd = random.Random(20240601)
    users, orders = int(20000 * scale), int(60000 * scale)
    cities = ["city%02d" % i for i in range(50)]
    words = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "lambda", "theta", "zeta"]
    L = ["PRAGMA cache_size=-65536;", "PRAGMA temp_store=MEMORY;",
         "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT, email TEXT, age INT, city TEXT, bio TEXT);",
         "CREATE TABLE orders(id INTEGER PRIMARY KEY, user_id INT, item TEXT, qty INT, price REAL, note TEXT);",
         "BEGIN;"]
    for i in range(1, users + 1):
        name = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(4, 12)))
        bio = " ".join(rnd.choice(words) for _ in range(rnd.randint(2, 40)))
        L.append("INSERT INTO users VALUES(%d,'%s','%s@example.org',%d,'%s','%s');"
                 % (i, name, name, rnd.randint(18, 90), rnd.choice(cities), bio))
    L.append("COMMIT;")
    L.append("BEGIN;")
    for i in range(1, orders + 1):
        L.append("INSERT INTO orders VALUES(%d,%d,'item%04d',%d,%.2f,'%s');"
                 % (i, rnd.randint(1, users), rnd.randint(0, 2000), rnd.randint(1, 20),
                    rnd.uniform(1, 500), rnd.choice(words) * rnd.randint(1, 8)))
    L.append("COMMIT;")
    L += ["CREATE INDEX orders_user ON orders(user_id);",
          "CREATE INDEX users_city ON users(city, age);",
          "BEGIN;"]
    for _ in range(int(5000 * scale)):
        L.append("UPDATE users SET bio = bio || ' %s', age = age + 1 WHERE id = %d;"
                 % (rnd.choice(words), rnd.randint(1, users)))
    L.append("COMMIT;")
    L += ["UPDATE orders SET note = upper(note) || note WHERE qty % 5 = 0;",
          "INSERT INTO orders(user_id, item, qty, price, note) "
          "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %d) "
          "SELECT (x * 7919) %% %d + 1, 'bulk' || (x %% 997), x %% 17 + 1, (x %% 1000) / 10.0, "
          "printf('%%.*c', x %% 200 + 1, 'n') FROM c;" % (int(100000 * scale), users),
          "CREATE INDEX orders_item ON orders(item, price);",
          "SELECT city, count(*), avg(age) FROM users GROUP BY city ORDER BY 2 DESC LIMIT 5;",
          "SELECT u.name, sum(o.qty * o.price) AS t FROM users u JOIN orders o ON o.user_id = u.id "
          "GROUP BY u.id ORDER BY t DESC LIMIT 5;",
          "SELECT item, count(*), max(price) FROM orders GROUP BY item ORDER BY 2 DESC LIMIT 5;",
          "SELECT length(group_concat(bio, ' ')) FROM users WHERE age BETWEEN 30 AND 60;",
          "SELECT count(DISTINCT note) FROM orders;",
          "DELETE FROM orders WHERE qty < 4;",
          "SELECT count(*) FROM orders o WHERE price > (SELECT avg(price) FROM orders WHERE user_id = o.user_id);"
          if scale < 0.5 else "SELECT count(*) FROM orders;",
          "VACUUM;",
          "SELECT count(*), sum(length(note)) FROM orders;"]
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


def gen_c_file(path, nfuncs):
    rnd = random.Random(424242)
    out = ["/* generated by bench/run.py: a large C translation unit */",
           "#include <stddef.h>", "#include <string.h>", ""]
    for i in range(nfuncs):
        n = rnd.randint(3, 12)
        fields = "".join("    int f%d; double d%d;\n" % (k, k) for k in range(n))
        out.append("struct s%d {\n%s    char name[%d];\n};" % (i, fields, rnd.randint(8, 64)))
        body = []
        body.append("    struct s%d v; memset(&v, 0, sizeof v);" % i)
        body.append("    int acc = x;")
        for k in range(n):
            op = rnd.choice(["+", "-", "^", "*"])
            body.append("    v.f%d = acc %s %d; v.d%d = v.f%d * %d.5;" % (k, op, rnd.randint(1, 999), k, k, rnd.randint(1, 9)))
        body.append("    for (int i = 0; i < %d; i++) {" % rnd.randint(4, 64))
        body.append("        switch ((acc + i) %% %d) {" % (n + 1))
        for k in range(n):
            body.append("        case %d: acc += v.f%d * i; v.d%d += acc; break;" % (k, k, k))
        body.append("        default: acc ^= i << %d; break;" % rnd.randint(1, 7))
        body.append("        }")
        body.append("    }")
        if i > 0:
            for _ in range(rnd.randint(1, 3)):
                body.append("    acc += fn%d(acc & 0xff, s + 1);" % rnd.randint(max(0, i - 50), i - 1))
        body.append('    if (s && !strcmp(s, "k%d")) acc += (int)strlen(v.name);' % i)
        body.append("    return acc + (int)v.d0;")
        out.append("int fn%d(int x, const char *s) {\n%s\n}\n" % (i, "\n".join(body)))
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def gen_git_inputs(dirpath, commits, files):
    """A fast-import stream (history) and a directory of extra files."""
    rnd = random.Random(777)
    words = ["alloc", "free", "size", "page", "span", "heap", "arena", "cache", "lock", "thread",
             "block", "chunk", "region", "purge", "scavenge", "bin", "class", "slab", "list", "tree"]
    content = {}

    def text(nlines):
        return "".join(" ".join(rnd.choice(words) for _ in range(rnd.randint(3, 12))) + "\n"
                       for _ in range(nlines))
    for i in range(files):
        content["src/d%02d/file%04d.txt" % (i % 20, i)] = text(rnd.randint(20, 120))
    chunks = []
    mark = 0
    for c in range(commits):
        changed = list(content) if c == 0 else rnd.sample(sorted(content), rnd.randint(5, 25))
        for name in changed:
            if c:
                lines = content[name].splitlines(True)
                for _ in range(rnd.randint(1, 6)):
                    pos = rnd.randrange(len(lines) + 1)
                    if rnd.random() < 0.3 and lines:
                        del lines[min(pos, len(lines) - 1)]
                    else:
                        lines.insert(pos, text(1))
                content[name] = "".join(lines)
        mark += 1
        msg = "commit %d: %s\n" % (c, " ".join(rnd.choice(words) for _ in range(6)))
        ts = 1700000000 + c * 3600
        cmds = ["commit refs/heads/main", "mark :%d" % mark,
                "author Bench <bench@example.org> %d +0000" % ts,
                "committer Bench <bench@example.org> %d +0000" % ts,
                "data %d" % len(msg.encode()), msg.rstrip("\n")]
        if c:
            cmds.append("from :%d" % (mark - 1))
        for name in changed:
            data = content[name].encode()
            cmds.append("M 100644 inline %s" % name)
            cmds.append("data %d" % len(data))
            cmds.append(data.decode())
        chunks.append("\n".join(cmds) + "\n")
    with open(os.path.join(dirpath, "history.fi"), "w") as f:
        f.write("".join(chunks))
    extra = os.path.join(dirpath, "extra")
    shutil.rmtree(extra, ignore_errors=True)
    for i in range(files // 2):
        p = os.path.join(extra, "new/n%02d/extra%04d.txt" % (i % 10, i))
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text(rnd.randint(10, 80)))


GIT_SCRIPT = r"""set -e
rm -rf repo
git init -q -b main repo
cd repo
git fast-import --quiet < ../history.fi
git checkout -q -f main
cp -R ../extra/new .
git add -A
git commit -q -m "add generated files"
git gc -q
git log -p --stat > /dev/null
git log --format='%H %s' --numstat > /dev/null
git grep -c scavenge HEAD~20 > /dev/null
git diff HEAD~25 HEAD > /dev/null
"""


def gen_redis_fill(path, keys):
    """RESP commands: strings, hashes, lists and sets with power-law sizes,
    then deletion of a fixed pseudo-random half of the strings."""
    rnd = random.Random(6379)

    def resp(*args):
        b = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            b.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(b)
    out = []
    for i in range(keys):
        size = min(16384, int(16 * (1.0 - rnd.random()) ** (-1 / 1.2)))
        out.append(resp("SET", "str:%d" % i, b"v" * size))
        if i % 4 == 0:
            out.append(resp("HSET", "h:%d" % (i % 5000), "f%d" % i, "x" * rnd.randint(1, 200)))
        if i % 3 == 0:
            out.append(resp("RPUSH", "l:%d" % (i % 1000), "y" * rnd.randint(1, 100)))
        if i % 5 == 0:
            out.append(resp("SADD", "s:%d" % (i % 2000), "m%d" % rnd.randint(0, 1 << 20)))
    for i in rnd.sample(range(keys), keys // 2):
        out.append(resp("DEL", "str:%d" % i))
    with open(path, "wb") as f:
        f.write(b"".join(out))


def free_port():
    for _ in range(50):
        port = random.randint(20000, 60000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_cmd(port, *args, timeout=5.0):
    """Sends one command to 127.0.0.1:port, returns the first reply line."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        msg = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a.encode()) for a in args)
        s.sendall(msg)
        try:
            return s.recv(256).split(b"\r\n")[0].decode(errors="replace")
        except OSError:
            return ""


def run_redis(env, timeout, w, tag):
    """redis-server under the allocator; client tools without it.  Wall time is
    the client phase (fill + redis-benchmark); CPU and peak RSS are the
    server's."""
    port = free_port()
    rdir = os.path.join(TMP, "redis")
    os.makedirs(rdir, exist_ok=True)
    server = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
              "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
              "--dir", rdir, "--logfile", ""]
    clean_env, preload = split_preload(env)
    rep_path = os.path.join(TMP, tag + ".rusage")
    if os.path.exists(rep_path):
        os.remove(rep_path)
    with open(os.path.join(TMP, tag + ".server.log"), "wb") as log_f:
        p = subprocess.Popen([LAUNCHER, "--out=" + rep_path, "--preload=" + preload, "--"] + server,
                             env=clean_env, stdin=subprocess.DEVNULL, stdout=log_f, stderr=log_f,
                             start_new_session=True)
    res = {"wall": float("nan"), "cpu": float("nan"), "rss_kb": 0, "rc": 1, "timeout": False,
           "out": "", "err": ""}
    try:
        deadline = time.time() + 15
        while time.time() < deadline:
            if p.poll() is not None:
                res["err"] = "redis-server exited with %s" % p.returncode
                return res
            try:
                if redis_cmd(port, "PING", timeout=1) == "+PONG":
                    break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            res["err"] = "redis-server did not answer"
            return res
        t0 = time.perf_counter()
        fill = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "--pipe"],
                              stdin=open(w["fill"], "rb"), capture_output=True, env=clean_env,
                              timeout=timeout)
        bench = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port)] + w["bench_args"],
                               capture_output=True, text=True, env=clean_env, timeout=timeout)
        wall = time.perf_counter() - t0
        redis_cmd(port, "SHUTDOWN", "NOSAVE")
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            res["err"] = "redis-server did not shut down"
            return res
        rep = read_launcher(rep_path)
        if rep is None:
            res["err"] = "no rusage report from the launcher"
            return res
        _, cpu, rss, server_rc = rep
        out = bench.stdout.replace("\r", "\n")
        rps = [float(x) for x in re.findall(r":\s*([\d.]+) requests per second", out)]
        metrics = {}
        if rps:
            metrics["rps_geomean"] = math.exp(sum(math.log(x) for x in rps) / len(rps))
        ok = fill.returncode == 0 and bench.returncode == 0 and rps and server_rc == 0
        res.update(wall=wall, cpu=cpu, rss_kb=rss,
                   rc=0 if ok else 1, out=fill.stdout.decode(errors="replace") + out,
                   err=fill.stderr.decode(errors="replace") + bench.stderr, metrics=metrics)
        return res
    except subprocess.TimeoutExpired:
        res["timeout"] = True
        return res
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


# --------------------------------------------------------------------------
# the suite

def workloads(cfg):
    """The workload list.  Each entry: name, group, desc, and either cmd (a
    list; "{threads}" is replaced) or runner.  kind "time" counts in the
    time and memory geometric means, "memory" only in the memory one,
    "latency" in neither (nor in the ratio tables and the chart): it has its
    own table of per-call percentiles (latency_section)."""
    q = cfg.quick
    b = os.path.join(ROOT, cfg.build, "bench")
    T = str(cfg.threads)

    def S(full, quick):
        return str(quick if q else full)
    W = []

    def add(name, group, desc, cmd, kind="time", show=None, **kw):
        W.append(dict(name=name, group=group, desc=desc, cmd=cmd, kind=kind, show=show, **kw))

    it = S("30m", "2m")
    for size in (16, 64, 512, 4000, 8000):
        add("fast-%d" % size, "fast path", "malloc(%d)+free pairs, one thread" % size,
            [b + "/fastpath", "--size=%d" % size, "--iters=" + it], show="ns_per_pair")
    add("ring-1000", "fast path", "1000 live objects in a ring, sizes 16-1024",
        [b + "/fastpath", "--ring=1000", "--iters=" + S("25m", "2m")], show="ns_per_pair")
    for dist, rounds in (("small", "40"), ("mixed", "10"), ("powerlaw", "30")):
        add("batch-" + dist, "batches", "allocate 100000 then free (LIFO, FIFO, random), %s sizes" % dist,
            [b + "/batch", "--dist=" + dist, "--n=" + S(100000, 20000), "--rounds=" + S(rounds, 2)],
            show="random_ns_per_pair")
    for mode, args, desc in (
            ("expr", ["--trees=" + S(600, 60), "--nodes=3000"],
             "expression trees (24-72 B nodes, 8-64 B names) simplified by rebuilding, freed"),
            ("bigint", ["--jobs=" + S(500, 50)],
             "factoriser: bigints as 16-256 B limb arrays, temporaries, realloc growth"),
            ("binary", ["--depth=" + S(16, 12)],
             "binary-trees: complete trees of 32 B nodes built, walked, freed; one long-lived"),
            ("randsize", ["--ops=" + S("20m", "2m")],
             "1000 live slots, free a random one, malloc 16-4096 B (inverse square)")):
        add("trees-" + mode, "trees", desc, [b + "/trees", "--mode=" + mode] + args, show="allocs_per_s")
    add("larson", "threads", "shared slot array, random replace, cross-thread frees",
        [b + "/larson", "--threads={threads}", "--slots=10000", "--ops=" + S("3m", "200k"),
         "--min=16", "--max=1024"], show="ops_per_s", threaded=True)
    add("larson-32", "threads", "larson with 32 threads: far more threads than CPUs, cross-thread frees",
        [b + "/larson", "--threads=32", "--slots=10000", "--ops=" + S("1m", "100k"),
         "--min=16", "--max=1024"], show="ops_per_s")
    add("conns-64", "threads", "thread per connection: 64 threads, each frees its own requests' blocks",
        [b + "/conns", "--threads=64", "--requests=" + S(20000, 2000), "--handoff=0"], show="requests_per_s")
    add("prodcons", "threads", "one thread allocates, another frees (SPSC queue)",
        [b + "/prodcons", "--threads=2", "--items=" + S("4m", "300k")], show="ops_per_s")
    add("falseshare", "threads", "blocks allocated by main, written by workers (active+passive)",
        [b + "/falseshare", "--threads={threads}", "--writes=" + S("10m", "1m"), "--size=8", "--rounds=4"],
        show="total_s", threaded=True)
    add("churn", "threads", "short-lived threads allocate and exit",
        [b + "/churn", "--threads={threads}", "--total=" + S(4000, 400), "--allocs=1000"],
        show="threads_per_s", threaded=True)
    add("leftover", "threads", "short-lived threads each free a random earlier thread's leftover, leave one",
        [b + "/leftover", "--threads=32", "--total=" + S(20000, 2000), "--allocs=200", "--slots=1000"],
        show="threads_per_s")
    add("exchange", "threads", "32 threads swap calloc'd blocks (zero checked) through 4096 slots",
        [b + "/exchange", "--threads=32", "--slots=4096", "--ops=" + S("100k", "10k")],
        show="ops_per_s")
    add("bursts", "threads", "producer allocates bursts of 10000 blocks, consumer frees them",
        [b + "/bursts", "--burst=10000", "--rounds=" + S(300, 30), "--depth=3"], show="blocks_per_s")
    add("realloc-string", "realloc/large", "16 string builders grown by exact-size realloc to 1 MiB",
        [b + "/growth", "--mode=string", "--strings=16", "--bytes=1m", "--rounds=" + S(10, 1)],
        show="reallocs_per_s")
    add("realloc-vector", "realloc/large", "vectors doubling to 16M elements (128 MiB)",
        [b + "/growth", "--mode=vector", "--elems=" + S("16m", "2m"), "--rounds=" + S(4, 1)],
        show="total_s")
    add("large", "realloc/large", "blocks 64 KiB-256 MiB, pages touched",
        [b + "/growth", "--mode=large", "--min=64k", "--max=" + S("256m", "16m"), "--rounds=1"],
        show="blocks_per_s")
    add("frag", "memory", "allocate, free random 90%, allocate larger sizes (8 phases)",
        [b + "/frag", "--count=" + S("1m", "100k"), "--phases=8"], show="peak_rss_over_live")
    add("rss-return", "memory", "free 90% of a 512 MiB heap, then idle: time until RSS drops",
        [b + "/rssreturn", "--mib=" + S(512, 64), "--keep=10", "--sample-ms=100", "--watch-ms=2000"],
        kind="memory", show="returned_ms", series=True)
    add("rss-remote", "memory", "one thread allocates 100 MiB in 1000 B blocks, another frees them, "
        "both stay alive and blocked: RSS after 2 s",
        [b + "/rssremote", "--mib=" + S(100, 32), "--size=1000", "--sample-ms=100", "--watch-ms=2000"],
        kind="memory", show="rss_end_kb", series=True)

    for pat, ops, desc in (("ring", S("8m", "1m"), "one thread, 1000 live blocks in a ring, 16-1024 B"),
                           ("larson", S("3m", "300k"), "2 threads, shared slots, random replace, remote frees"),
                           ("prodcons", S("6m", "600k"), "one thread mallocs, another frees (SPSC queue)")):
        add("latency-" + pat, "latency", "per-call malloc/free latency: " + desc,
            [b + "/latency", "--pattern=" + pat] + (["--threads=2"] if pat == "larson" else []) +
            ["--ops=" + ops, "--every=8", "--warmup=" + S("200k", "50k")], kind="latency")

    add("redis", "programs", "redis-server: fill + redis-benchmark on 127.0.0.1",
        None, runner="redis", show="rps_geomean", libc_shim=True,
        fill=os.path.join(TMP, "redis-fill-%s.resp" % ("q" if q else "f")),
        bench_args=["-q", "-n", S(20000, 2000), "-c", "20", "-d", "256", "-r", "50000",
                    "-t", "set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,lrange_100,mset"])
    add("sqlite", "programs", "sqlite3 :memory: inserts, updates, indexes, queries",
        ["sqlite3", ":memory:"], stdin=os.path.join(TMP, "sqlite-%s.sql" % ("q" if q else "f")))
    add("python", "programs", "python3 dict/string heavy script (PYTHONMALLOC=malloc)",
        ["/usr/bin/python3", "-S", os.path.join(ROOT, "bench", "workloads", "pyheavy.py"),
         "--n", S(50000, 5000)], env={"PYTHONMALLOC": "malloc"}, show="elapsed_s")
    add("gcc", "programs", "gcc -O2 -c on a large generated C file",
        ["gcc", "-O2", "-c", os.path.join(TMP, "big-%s.c" % ("q" if q else "f")), "-o",
         os.path.join(TMP, "big.o")])
    add("git", "programs", "git fast-import, add, commit, gc, log -p on a generated repository",
        ["sh", "-c", GIT_SCRIPT], cwd=os.path.join(TMP, "git-" + ("q" if q else "f")),
        env={"HOME": os.path.join(TMP, "git-home"), "GIT_CONFIG_NOSYSTEM": "1",
             "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.org",
             "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.org",
             "GIT_AUTHOR_DATE": "1700000000 +0000", "GIT_COMMITTER_DATE": "1700000000 +0000"})
    for w in W:
        if w["cmd"]:
            w["cmd"] = [a.replace("{threads}", T) for a in w["cmd"]]
    return W


def prepare_inputs(cfg, ws):
    os.makedirs(TMP, exist_ok=True)
    q = cfg.quick
    names = {w["name"] for w in ws}
    t0 = time.time()
    if "sqlite" in names:
        p = os.path.join(TMP, "sqlite-%s.sql" % ("q" if q else "f"))
        if not os.path.exists(p):
            gen_sqlite(p, 0.1 if q else 1.0)
    if "gcc" in names:
        p = os.path.join(TMP, "big-%s.c" % ("q" if q else "f"))
        if not os.path.exists(p):
            gen_c_file(p, 15 if q else 110)
    if "git" in names:
        d = os.path.join(TMP, "git-" + ("q" if q else "f"))
        if not os.path.exists(os.path.join(d, "history.fi")):
            os.makedirs(d, exist_ok=True)
            gen_git_inputs(d, 30 if q else 200, 100 if q else 400)
        os.makedirs(os.path.join(TMP, "git-home"), exist_ok=True)
    if "redis" in names:
        p = os.path.join(TMP, "redis-fill-%s.resp" % ("q" if q else "f"))
        if not os.path.exists(p):
            gen_redis_fill(p, 5000 if q else 60000)
    if time.time() - t0 > 0.5:
        log("generated inputs in %.1f s" % (time.time() - t0))


def missing_tools(w):
    need = {"redis": ["redis-server", "redis-cli", "redis-benchmark"], "sqlite": ["sqlite3"],
            "gcc": ["gcc"], "git": ["git"]}.get(w["name"], [])
    return [t for t in need if not shutil.which(t)]


def run_one(w, alloc, so, cfg, shim):
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    env.setdefault("LC_ALL", "C")
    preload = so
    if alloc == "glibc" and w.get("libc_shim"):
        preload = shim
    if preload:
        env["LD_PRELOAD"] = preload
    env.update(ALLOC_ENV.get(alloc, {}))
    env.update(w.get("env", {}))
    tag = "%s.%s" % (w["name"], alloc)
    if w.get("runner") == "redis":
        r = run_redis(env, cfg.timeout, w, tag)
    else:
        r = measure(w["cmd"], env, cfg.timeout, cwd=w.get("cwd"), stdin_path=w.get("stdin"), tag=tag)
        r["metrics"] = parse_metrics(r["out"])
        if w.get("series"):
            r["series"] = parse_series(r["out"])
    r.setdefault("metrics", {})
    return r


def fmt_eta(s):
    s = int(max(0, s))
    return "%dm%02ds" % (s // 60, s % 60)


def run_suite(cfg, allocs, ws, shim):
    names = list(allocs)
    results = {w["name"]: {a: [] for a in names} for w in ws}
    failed = set()
    total = cfg.reps * len(ws) * len(names)
    done, t_start = 0, time.time()
    for rep in range(cfg.reps):
        order = names[rep % len(names):] + names[:rep % len(names)]
        for w in ws:
            for a in order:
                done += 1
                if (w["name"], a) in failed:
                    continue
                r = run_one(w, a, allocs[a], cfg, shim)
                ok = r["rc"] == 0 and not r["timeout"]
                rec = {k: r[k] for k in ("wall", "cpu", "rss_kb", "rc", "timeout", "metrics", "series")
                       if k in r}
                rec["load"] = os.getloadavg()[0]
                results[w["name"]][a].append(rec)
                el = time.time() - t_start
                eta = el / done * (total - done)
                status = "" if ok else ("  TIMEOUT" if r["timeout"] else "  FAILED rc=%s" % r["rc"])
                log("[%3d/%d] rep %d  %-15s %-9s %8.3f s  cpu %7.3f s  rss %8.1f MiB%s  (eta %s)"
                    % (done, total, rep + 1, w["name"], a, r["wall"], r["cpu"], r["rss_kb"] / 1024,
                       status, fmt_eta(eta)))
                if not ok:
                    failed.add((w["name"], a))
                    tail = (r["err"] or r["out"]).strip().splitlines()[-5:]
                    for line in tail:
                        log("          | " + line)
    return results, time.time() - t_start


# --------------------------------------------------------------------------
# statistics and report

def ok_runs(runs):
    return [r for r in runs if r["rc"] == 0 and not r["timeout"]]


def med(runs, key):
    v = [r[key] for r in ok_runs(runs)]
    return statistics.median(v) if v else None


def med_metric(runs, key):
    v = [r["metrics"][key] for r in ok_runs(runs) if key in r["metrics"]]
    return statistics.median(v) if v else None


def span(runs, key):
    v = [r[key] for r in ok_runs(runs)]
    return (min(v), max(v)) if v else (None, None)


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def compute(ws, results, allocs):
    """Per workload and metric: medians, best peer, ratios."""
    stats = {}
    peers = [a for a in allocs if a in PEERS]
    for w in ws:
        s = stats[w["name"]] = {}
        for key in ("wall", "cpu", "rss_kb"):
            m = {a: med(results[w["name"]][a], key) for a in allocs}
            pv = [m[a] for a in peers if m[a]]
            best = min(pv) if pv else None
            best_name = next((a for a in peers if m[a] == best), None) if best else None
            mi = m.get("mimalloc")
            s[key] = {"median": m, "best_peer": best, "best_peer_name": best_name,
                      "span": {a: span(results[w["name"]][a], key) for a in allocs},
                      "to_best": {a: (m[a] / best if m[a] and best else None) for a in allocs},
                      "to_mimalloc": {a: (m[a] / mi if m[a] and mi else None) for a in allocs}}
    return stats


def summary(ws, stats, allocs):
    rows = {}
    for a in allocs:
        row = {}
        for key in ("wall", "cpu", "rss_kb"):
            sel = [w for w in ws if w["kind"] == "time" or (key == "rss_kb" and w["kind"] == "memory")]
            row[key + "_to_mimalloc"] = geomean([stats[w["name"]][key]["to_mimalloc"][a] for w in sel])
            row[key + "_to_best"] = geomean([stats[w["name"]][key]["to_best"][a] for w in sel])
        sel = [w for w in ws if w["kind"] == "time"]
        row["wins"] = sum(1 for w in sel if stats[w["name"]]["wall"]["median"][a] is not None and
                          stats[w["name"]]["wall"]["median"][a] ==
                          min(v for v in stats[w["name"]]["wall"]["median"].values() if v is not None))
        row["over_125"] = sum(1 for w in sel if (stats[w["name"]]["wall"]["to_best"][a] or 0) > 1.25)
        rows[a] = row
    return rows


def f3(x, nd=3):
    return "–" if x is None else ("%.*f" % (nd, x))


def fsec(x):
    if x is None:
        return "fail"
    return "%.3f" % x if x < 10 else "%.2f" % x


def fnum(x):
    if x is None:
        return "–"
    ax = abs(x)
    if ax >= 1e6:
        return "%.3g M" % (x / 1e6)
    if ax >= 1e4:
        return "%.3g k" % (x / 1e3)
    if ax >= 100:
        return "%.0f" % x
    return "%.3g" % x


def machine_info():
    info = {}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        m = re.search(r"Model name:\s*(.+)", lscpu)
        info["cpu"] = m.group(1).strip() if m else "?"
    except OSError:
        info["cpu"] = "?"
    info["cores"] = os.cpu_count()
    info["kernel"] = os.uname().release
    try:
        info["glibc"] = os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError):
        info["glibc"] = "?"
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
        info["memory"] = "%.1f GiB" % (kb / 1048576)
    except OSError:
        info["memory"] = "?"
    pk = ["libjemalloc2", "libmimalloc2.0", "libtcmalloc-minimal4", "redis-server", "sqlite3",
          "python3.11", "git", "gcc-12", "valgrind"]
    vers = {}
    for p in pk:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", p], capture_output=True, text=True)
        vers[p] = r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else "not installed"
    info["packages"] = vers
    r = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    commit = r.stdout.strip() if r.returncode == 0 else "no commit yet"
    d = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "src", "include"],
                       capture_output=True, text=True)
    if d.returncode == 0 and d.stdout.strip():
        commit += " (+ uncommitted changes in src/ or include/)"
    info["dynalloc"] = commit
    return info


def gnuplot_svg_png(script, svg, png, height):
    """Render one gnuplot script as SVG and PNG, 1200 px wide; the first file made."""
    made = None
    for term, path in (("svg size 1200,%d dynamic font 'sans,11' background '#ffffff'" % height, svg),
                       ("pngcairo size 1200,%d font 'sans,10' background '#ffffff'" % height, png)):
        r = subprocess.run(["gnuplot"], input="set terminal %s\nset output '%s'\n%s" % (term, path, script),
                           text=True, capture_output=True)
        if r.returncode != 0:
            log("gnuplot (%s) failed: %s" % (term.split()[0], r.stderr.strip()[:300]))
        else:
            made = made or path
    return made


def write_chart(path_base, ws, stats, allocs):
    """Bar chart (gnuplot, SVG) of wall-time and peak-RSS ratios per workload."""
    if not shutil.which("gnuplot"):
        log("gnuplot not found; no chart")
        return None
    if "dynalloc" in allocs:
        series = [("dynalloc", p) for p in PEERS if p in allocs]
        title = "dynalloc relative to each peer (< 1: dynalloc better)"
    else:
        series = [(a, "mimalloc") for a in PEERS if a in allocs and a != "mimalloc"]
        title = "peers relative to mimalloc (< 1: better than mimalloc; dynalloc not built)"
    if not series or "mimalloc" not in allocs and "dynalloc" not in allocs:
        return None
    ws = [w for w in ws if w["kind"] != "latency"]   # they have their own table
    if not ws:
        return None
    dat = path_base + ".dat"
    with open(dat, "w") as f:
        f.write("# workload " + " ".join("%s/%s" % s for s in series) + " (wall) ... (rss)\n")
        for w in ws:
            row = [w["name"]]
            for key in ("wall", "rss_kb"):
                m = stats[w["name"]][key]["median"]
                for a, b in series:
                    ratio = m[a] / m[b] if m.get(a) and m.get(b) else None
                    if key == "wall" and w["kind"] != "time":
                        ratio = None
                    row.append("%.4f" % ratio if ratio else "NaN")
            f.write(" ".join(row) + "\n")
    vals = []
    with open(dat) as f:
        for line in f:
            if not line.startswith("#"):
                vals += [float(x) for x in line.split()[1:] if x != "NaN"]
    lo = min([0.25] + [v / 1.15 for v in vals])
    hi = max([4.0] + [v * 1.3 for v in vals])
    n = len(series)
    colors = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7"]
    plots = []
    for panel, key_off in (("wall time", 0), ("peak RSS", n)):
        cols = ", ".join("'%s' using %d:xtic(1) title '%s/%s' lc rgb '%s'"
                         % (dat.replace("'", ""), 2 + key_off + i, a, b, colors[i % len(colors)])
                         for i, (a, b) in enumerate(series))
        plots.append((panel, cols))
    svg, png = path_base + ".svg", path_base + ".png"
    script = """set multiplot layout 2,1
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y 2
set yrange [%g:%g]
set ytics ('1/16' 0.0625, '1/8' 0.125, '1/4' 0.25, '1/2' 0.5, '0.8' 0.8, '1' 1, '1.25' 1.25, '2' 2, '4' 4, '8' 8, '16' 16, '32' 32)
set grid ytics
set xtics rotate by -40 font 'sans,9'
set key outside top center horizontal
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead lw 2 lc rgb '#000000' front
""" % (lo, hi)
    for panel, cols in plots:
        script += "set title '%s: %s, log scale'\nplot %s\n" % (panel, title, cols)
    script += "unset multiplot\n"
    made = gnuplot_svg_png(script, svg, png, 900)
    os.remove(dat)
    return made


def write_rss_chart(path_base, ws, results, allocs):
    """Line chart (gnuplot, SVG and PNG) of RSS over time in the workloads that
    print it (rss-return, rss-remote), one line per allocator: the run with the
    median final RSS.  Returns the SVG's path, or None."""
    ws = [w for w in ws if w.get("series")]
    if not ws or not shutil.which("gnuplot"):
        return None
    colors = ["#e15759", "#4e79a7", "#f28e2b", "#59a14f", "#76b7b2", "#edc948", "#b07aa1",
              "#ff9da7", "#9c755f", "#000000"]
    dats, panels = [], []
    for w in ws:
        lines = []
        for i, a in enumerate(allocs):
            runs = sorted((r for r in ok_runs(results[w["name"]][a]) if r.get("series")),
                          key=lambda r: r["series"][-1][1])
            if not runs:
                continue
            dat = "%s.%s.%s.dat" % (path_base, w["name"], re.sub(r"[^A-Za-z0-9_-]", "_", a))
            with open(dat, "w") as f:
                f.writelines("%g %.2f\n" % (ms, kb / 1024) for ms, kb in runs[(len(runs) - 1) // 2]["series"])
            dats.append(dat)
            lines.append("'%s' using 1:2 with linespoints title '%s' lw %g pt %d ps 0.6 lc rgb '%s'"
                         % (dat.replace("'", ""), a, 3 if a == "dynalloc" else 1.5, 1 + i % 13,
                            colors[i % len(colors)]))
        if lines:
            panels.append((w, lines))
    if not panels:
        return None
    script = "set multiplot layout %d,1\n" % len(panels)
    script += ("set grid\nset key outside right top vertical\nset xlabel 'ms since the frees began "
               "(first point: right before them)'\nset ylabel 'RSS, MiB'\nset yrange [0:*]\nset autoscale xfix\n")
    for w, lines in panels:
        script += "set title '%s: %s'\nplot %s\n" % (w["name"], w["desc"].replace("'", ""), ", ".join(lines))
    script += "unset multiplot\n"
    made = gnuplot_svg_png(script, path_base + "-rss.svg", path_base + "-rss.png", 450 * len(panels))
    for dat in dats:
        os.remove(dat)
    return made


def render(cfg, ws, results, allocs, notes, elapsed, info, chart, rss_chart=None):
    stats = compute(ws, results, allocs)
    summ = summary(ws, stats, allocs)
    A = list(allocs)
    L = []
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    L.append("# dynalloc benchmark results%s" % (" (quick smoke run — not for comparison)" if cfg.quick else ""))
    L.append("")
    L.append("Generated by `bench/run.py` (`make %s`) on %s. Methodology: "
             "[docs/performance.md](../../docs/performance.md)." % ("bench-quick" if cfg.quick else "bench", now))
    L.append("")
    L.append("## Machine and versions")
    L.append("")
    L.append("| item | value |")
    L.append("| --- | --- |")
    L.append("| CPU | %s, %s logical CPUs |" % (info["cpu"], info["cores"]))
    L.append("| memory | %s |" % info["memory"])
    L.append("| kernel | %s |" % info["kernel"])
    L.append("| C library | %s |" % info["glibc"])
    L.append("| dynalloc | %s |" % ("%s, %s" % (info["dynalloc"], os.path.relpath(allocs["dynalloc"], ROOT))
                                    if "dynalloc" in allocs else "not measured"))
    for p, v in info["packages"].items():
        L.append("| %s | %s |" % (p, v))
    L.append("| allocators measured | %s |" % ", ".join(
        "%s (%s)" % (a, allocs[a] or "no preload") for a in A))
    L.append("| repetitions | %d, interleaved, allocator order rotated each repetition |" % cfg.reps)
    L.append("| thread count for threaded workloads | %d |" % cfg.threads)
    L.append("| nice value of the runs | %d |" % info.get("nice", 0))
    L.append("| suite wall time | %s |" % fmt_eta(elapsed))
    loads = [r["load"] for w in ws for a in A for r in results[w["name"]][a] if "load" in r]
    if loads:
        L.append("| 1-minute load average after each run | median %.2f, min %.2f, max %.2f (above the "
                 "threads in use, other processes were competing for the %s CPUs) |"
                 % (statistics.median(loads), min(loads), max(loads), info["cores"]))
    L.append("")
    if notes:
        L.append("Notes: " + "; ".join(notes) + ".")
        L.append("")

    L.append("## Summary")
    L.append("")
    n_time = sum(1 for w in ws if w["kind"] == "time")
    n_mem = sum(1 for w in ws if w["kind"] == "memory")
    n_lat = sum(1 for w in ws if w["kind"] == "latency")
    L.append("Geometric means over the suite of per-workload median ratios (lower is better). "
             "Time means cover the %d time workloads; the peak-RSS mean covers %s%s. "
             "\"best peer\" is the best of the peers measured on each workload."
             % (n_time, "those and the %d memory workload%s, %d in all"
                % (n_mem, "s" if n_mem > 1 else "", n_time + n_mem) if n_mem else "the same",
                "; the %d latency workload%s count%s in neither (own table below)"
                % (n_lat, "s" if n_lat > 1 else "", "" if n_lat > 1 else "s") if n_lat else ""))
    L.append("")
    L.append("| allocator | wall / mimalloc | wall / best peer | CPU / mimalloc | peak RSS / mimalloc "
             "| peak RSS / best peer | fastest on | > 1.25× best peer |")
    L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for a in A:
        s = summ[a]
        L.append("| %s | %s | %s | %s | %s | %s | %d | %d |" % (
            a, f3(s["wall_to_mimalloc"]), f3(s["wall_to_best"]), f3(s["cpu_to_mimalloc"]),
            f3(s["rss_kb_to_mimalloc"]), f3(s["rss_kb_to_best"]), s["wins"], s["over_125"]))
    L.append("")
    if chart:
        L.append("![ratios per workload](%s)" % os.path.basename(chart))
        L.append("")

    def table(key, title, unit, conv):
        if not any(w["kind"] != "latency" for w in ws):
            return
        L.append("## %s" % title)
        L.append("")
        L.append("Median %s, [min–max] over the runs; then ratio to mimalloc / to the best peer." % unit)
        L.append("")
        L.append("| workload | " + " | ".join(A) + " |")
        L.append("| --- | " + " | ".join("---:" for _ in A) + " |")
        for w in ws:
            if w["kind"] == "latency":
                continue
            st = stats[w["name"]][key]
            cells = []
            for a in A:
                m = st["median"][a]
                if m is None:
                    cells.append("fail" if results[w["name"]][a] else "–")
                    continue
                lo, hi = st["span"][a]
                c = "%s [%s–%s]" % (conv(m), conv(lo), conv(hi)) if cfg.reps > 1 else conv(m)
                c += "<br>%s / %s" % (f3(st["to_mimalloc"][a], 2), f3(st["to_best"][a], 2))
                if a == st["best_peer_name"]:
                    c = "**" + c + "**"
                cells.append(c)
            L.append("| %s | %s |" % (w["name"], " | ".join(cells)))
        L.append("")

    table("wall", "Wall time", "seconds", fsec)
    table("cpu", "CPU time (user + system)", "seconds", fsec)
    table("rss_kb", "Peak RSS", "MiB", lambda kb: "%.1f" % (kb / 1024))
    lat = latency_section(ws, results, A)
    if lat:
        L.extend(lat)

    L.append("## Figures reported by the workloads")
    L.append("")
    L.append("Medians of what each program prints about itself (`metric` lines).")
    L.append("")
    L.append("| workload | figure | " + " | ".join(A) + " |")
    L.append("| --- | --- | " + " | ".join("---:" for _ in A) + " |")
    extra = {"batch-small": ["lifo_ns_per_pair", "fifo_ns_per_pair"],
             "batch-mixed": ["lifo_ns_per_pair", "fifo_ns_per_pair"],
             "batch-powerlaw": ["lifo_ns_per_pair", "fifo_ns_per_pair"],
             "falseshare": ["active_s", "passive_s"],
             "frag": ["final_rss_over_live", "final_rss_kb"],
             "rss-return": ["rss_after_free_kb", "rss_end_kb", "live_kb"],
             "rss-remote": ["rss_before_free_kb", "rss_after_free_kb", "free_ms"]}
    for w in ws:
        for key in ([w["show"]] if w.get("show") else []) + extra.get(w["name"], []):
            vals = [med_metric(results[w["name"]][a], key) for a in A]
            if all(v is None for v in vals):
                continue
            L.append("| %s | %s | %s |" % (w["name"], key, " | ".join(fnum(v) for v in vals)))
    L.append("")
    L.append("`returned_ms`: milliseconds after the frees until RSS fell to within 10% of the freed "
             "amount above the live data (-1: not within the 2 s watch).")
    L.append("")
    if rss_chart:
        L.append("![RSS over time](%s)" % os.path.basename(rss_chart))
        L.append("")

    L.append("## Instruction counts (callgrind)")
    L.append("")
    L.append(CG_BEGIN)
    L.append(callgrind_section())
    L.append(CG_END)
    L.append("")

    L.append("## Workloads and exact parameters")
    L.append("")
    L.append("| workload | what | command |")
    L.append("| --- | --- | --- |")
    for w in ws:
        if w.get("runner") == "redis" or w.get("bench_args"):
            cmd = ("redis-server --port PORT --bind 127.0.0.1 --save '' --appendonly no; "
                   "redis-cli --pipe < %s; redis-benchmark -h 127.0.0.1 -p PORT %s"
                   % (os.path.relpath(w["fill"], ROOT), " ".join(w["bench_args"])))
        elif w["name"] == "git":
            cmd = "sh -c '<git script in bench/run.py>' (cwd %s)" % os.path.relpath(w["cwd"], ROOT)
        else:
            cmd = " ".join(os.path.relpath(a, ROOT) if a.startswith(ROOT) else a for a in w["cmd"])
            if w.get("stdin"):
                cmd += " < " + os.path.relpath(w["stdin"], ROOT)
        envs = " ".join("%s=%s" % kv for kv in w.get("env", {}).items() if not kv[0].startswith("GIT_")
                        and kv[0] != "HOME")
        if envs:
            cmd = envs + " " + cmd
        L.append("| %s | %s | `%s` |" % (w["name"], w["desc"], cmd.replace("|", "\\|")))
    L.append("")
    L.append("Each allocator other than glibc is selected with `LD_PRELOAD=<library>`. Debian's "
             "redis-server links libjemalloc itself, so its glibc column preloads "
             "`build/bench/libcmalloc.so`, which routes the malloc family to glibc's `__libc_*` "
             "functions. redis-benchmark has no seed option: its `-r` key choice is random, "
             "everything else (fill data, parameters) is fixed. Inputs for sqlite3, gcc, git and the "
             "redis fill are generated with fixed seeds into `bench/results/tmp/`.")
    L.append("")
    return "\n".join(L), stats, summ


LATENCY_TITLE = "Latency of single calls (ns, median of the repetitions)"
LATENCY_COLS = [("malloc", "p50"), ("malloc", "p99"), ("malloc", "p999"),
                ("free", "p50"), ("free", "p99"), ("free", "p999")]


def latency_section(ws, results, A, heading="##"):
    """Markdown lines: one table per latency workload, rows allocators,
    columns malloc and free p50 / p99 / p99.9; [] when none ran."""
    lw = [w for w in ws if w["kind"] == "latency"]
    if not lw:
        return []
    L = ["%s %s" % (heading, LATENCY_TITLE), "",
         "`build/bench/latency` times every 8th malloc and free call on its own with the "
         "time-stamp counter (after a warm-up), sorts the samples and reports percentiles; the "
         "cost of an empty timed region (timer overhead, below) is taken off. Each cell is the "
         "median over the repetitions of that run's percentile. Where the CPU advances its "
         "counter in steps (timer step, below: AMD Zen counts in 10 ns steps), every figure is "
         "quantised to that step. Not counted in the geometric means.", ""]
    for w in lw:
        runs = results[w["name"]]
        L.append("%s# %s — %s" % (heading, w["name"], w["desc"].replace("per-call malloc/free latency: ", "")))
        L.append("")
        L.append("| allocator | malloc p50 | malloc p99 | malloc p99.9 | free p50 | free p99 | free p99.9 |")
        L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        over, step = [], []
        for a in A:
            if not ok_runs(runs[a]):
                L.append("| %s | %s |" % (a, " | ".join(["fail" if runs[a] else "–"] * len(LATENCY_COLS))))
                continue
            cells = []
            for call, p in LATENCY_COLS:
                v = med_metric(runs[a], "%s_%s_ns" % (call, p))
                cells.append("–" if v is None else "%.0f" % v if v >= 10 else "%.1f" % v)
            L.append("| %s | %s |" % (a, " | ".join(cells)))
            for key, acc in (("timer_overhead_ns", over), ("timer_step_ns", step)):
                v = med_metric(runs[a], key)
                if v is not None:
                    acc.append(v)
        L.append("")
        if over:
            L.append("Timer overhead %.1f ns, timer step %s (medians over the runs)."
                     % (statistics.median(over),
                        "%.1f ns" % statistics.median(step) if step else "not reported"))
            L.append("")
    return L


def write_latency_md(path, cfg, ws, results, A, info):
    """The latency tables on their own (for the README), next to the report."""
    lat = latency_section(ws, results, A, heading="#")
    if not lat:
        return None
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    gen = ("Generated by `bench/run.py`%s on %s; %s, %s logical CPUs, %s; %d repetition(s)%s."
           % (" --quick" if cfg.quick else "", now, info.get("cpu", "?"), info.get("cores", "?"),
              info.get("glibc", "?"), cfg.reps,
              " — a quick smoke run, not for comparison" if cfg.quick else ""))
    with open(path, "w") as f:
        f.write("\n".join(lat[:2] + [gen, ""] + lat[2:]) + "\n")
    return path


def latency_md_path(cfg, md_path):
    """bench/results/latency.md next to latest.md; latency-quick.md for --quick."""
    return os.path.join(os.path.dirname(os.path.abspath(md_path)),
                        "latency-quick.md" if cfg.quick else "latency.md")


def callgrind_section():
    p = os.path.join(RESULTS, "callgrind.md")
    if os.path.exists(p):
        with open(p) as f:
            return f.read().strip()
    return "Not measured in this run (`make bench-callgrind`)."


def merge_callgrind(md_path):
    if not os.path.exists(md_path):
        log("%s does not exist yet; the callgrind table is in bench/results/callgrind.md"
            % os.path.relpath(md_path, ROOT))
        return
    with open(md_path) as f:
        text = f.read()
    if CG_BEGIN in text and CG_END in text:
        pre, rest = text.split(CG_BEGIN, 1)
        _, post = rest.split(CG_END, 1)
        text = pre + CG_BEGIN + "\n" + callgrind_section() + "\n" + CG_END + post
        with open(md_path, "w") as f:
            f.write(text)
        log("merged callgrind counts into %s" % os.path.relpath(md_path, ROOT))


# --------------------------------------------------------------------------
# thread scaling

SCALING = ["fast-64-mt", "larson", "prodcons", "falseshare", "churn"]


def scaling(cfg, allocs, shim):
    b = os.path.join(ROOT, cfg.build, "bench")
    q = cfg.quick
    defs = [
        ("fast-64-mt", "ops_per_s", "malloc(64)+free pairs, per thread",
         lambda t: [b + "/fastpath", "--size=64", "--iters=" + ("2m" if q else "20m"), "--threads=%d" % t]),
        ("larson", "ops_per_s", "shared slot array, cross-thread frees (ops per thread fixed)",
         lambda t: [b + "/larson", "--threads=%d" % t, "--slots=10000", "--ops=" + ("200k" if q else "2m")]),
        ("prodcons", "ops_per_s", "T/2 producer/consumer pairs",
         lambda t: [b + "/prodcons", "--threads=%d" % t, "--items=" + ("300k" if q else "2m")]),
        ("falseshare", "total_s", "T writers on blocks allocated by main",
         lambda t: [b + "/falseshare", "--threads=%d" % t, "--writes=" + ("1m" if q else "5m"), "--rounds=2"]),
        ("churn", "threads_per_s", "T short-lived threads at a time",
         lambda t: [b + "/churn", "--threads=%d" % t, "--total=" + ("400" if q else "4000"), "--allocs=1000"]),
    ]
    defs = [d for d in defs if not cfg.only or d[0] in cfg.only]
    res = {}
    t0 = time.time()
    total = len(cfg.thread_list) * len(defs) * len(allocs) * cfg.reps
    done = 0
    for rep in range(cfg.reps):
        for t in cfg.thread_list:
            for name, metric_name, desc, mk in defs:
                for a in allocs:
                    done += 1
                    w = {"name": name, "cmd": mk(t)}
                    r = run_one(w, a, allocs[a], cfg, shim)
                    ok = r["rc"] == 0 and not r["timeout"]
                    res.setdefault((name, t, a), []).append(
                        {k: r[k] for k in ("wall", "cpu", "rss_kb", "rc", "timeout", "metrics")})
                    log("[%3d/%d] %-11s T=%-3d %-9s %8.3f s %s" % (done, total, name, t, a, r["wall"],
                                                                 "" if ok else "FAILED"))
        # the tables so far, so that a run cut short still leaves its medians
        write_scaling(cfg, defs, allocs, res, rep + 1, time.time() - t0)


# --------------------------------------------------------------------------

def write_scaling(cfg, defs, allocs, res, reps_done, elapsed):
    q = cfg.quick
    info = machine_info()
    L = ["# dynalloc thread scaling", "",
         "Generated by `bench/scaling.sh` on %s; %s, %s logical CPUs, kernel %s, %s; "
         "%d of %d repetition(s), medians. Thread counts above the CPU count oversubscribe the machine."
         % (datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            info["cpu"], info["cores"], info["kernel"], info["glibc"], reps_done, cfg.reps), "",
         "Allocators: " + ", ".join("%s (%s)" % (a, os.path.relpath(allocs[a], ROOT) if allocs[a] else "no preload")
                                   for a in allocs) + ".", ""]
    for name, metric_name, desc, mk in defs:
        higher = metric_name != "total_s"
        L.append("## %s — %s" % (name, desc))
        L.append("")
        shown = " ".join(os.path.relpath(x, ROOT) if x.startswith(ROOT) else x for x in mk(0))
        L.append("`%s` (%s). Command at T threads: `%s`"
                 % (metric_name, "higher is better" if higher else "seconds, lower is better",
                    shown.replace("--threads=0", "--threads=T")))
        L.append("")
        L.append("| threads | " + " | ".join(allocs) + " |")
        L.append("| ---: | " + " | ".join("---:" for _ in allocs) + " |")
        for t in cfg.thread_list:
            cells = []
            for a in allocs:
                v = med_metric(res.get((name, t, a), []), metric_name)
                cells.append(fnum(v) if v is not None else "fail")
            L.append("| %d | %s |" % (t, " | ".join(cells)))
        L.append("")
    L.append("Suite time: %s." % fmt_eta(elapsed))
    out = os.path.join(RESULTS, "scaling%s.md" % ("-quick" if q else ""))
    with open(out, "w") as f:
        f.write("\n".join(L) + "\n")
    with open(out[:-3] + ".json", "w") as f:
        json.dump({"%s|%d|%s" % k: v for k, v in res.items()}, f, indent=1)
    log("wrote %s" % os.path.relpath(out, ROOT))


def rerender(cfg):
    with open(cfg.rerender) as f:
        d = json.load(f)
    cfg.quick, cfg.reps, cfg.threads = d["quick"], d["reps"], d["threads"]
    ws, allocs, results = d["workloads"], d["allocators"], d["runs"]
    base = cfg.rerender[:-5] if cfg.rerender.endswith(".json") else cfg.rerender
    chart = write_chart(base, ws, compute(ws, results, allocs), allocs)
    rss_chart = write_rss_chart(base, ws, results, allocs)
    text, _, _ = render(cfg, ws, results, allocs, d["notes"], d.get("elapsed", 0), d["machine"], chart,
                        rss_chart)
    with open(base + ".md", "w") as f:
        f.write(text)
    log("rewrote %s.md" % os.path.relpath(base, ROOT))
    lat = write_latency_md(latency_md_path(cfg, base + ".md"), cfg, ws, results, list(allocs), d["machine"])
    if lat:
        log("rewrote %s" % os.path.relpath(lat, ROOT))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build", help="build directory (default build)")
    ap.add_argument("--quick", action="store_true", help="1 repetition, small sizes (smoke test)")
    ap.add_argument("--reps", type=int, help="repetitions (default 3; 1 with --quick)")
    ap.add_argument("--allocators", help="comma list among %s" % ",".join(ORDER))
    ap.add_argument("--only", help="comma list of workloads (default all)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2,
                    help="thread count of threaded workloads (default: CPU count)")
    ap.add_argument("--timeout", type=float, default=120, help="seconds per run before it is killed")
    ap.add_argument("--nice", type=int, default=0,
                    help="change the harness's (and so every run's) nice value, e.g. -10 on a shared "
                         "machine (negative values need root)")
    ap.add_argument("--out", help="markdown output (default bench/results/latest.md or quick.md)")
    ap.add_argument("--merge-callgrind", action="store_true",
                    help="only copy bench/results/callgrind.md into the results markdown")
    ap.add_argument("--scaling", action="store_true", help="thread-scaling run instead of the suite")
    ap.add_argument("--thread-list", default="1,2,4,8,16", help="thread counts for --scaling")
    ap.add_argument("--peer", action="append", default=[], metavar="NAME=PATH",
                    help="use this shared object for peer NAME (e.g. on a machine without the "
                         "Debian packages), or add an allocator NAME that is no peer (another "
                         "build of dynalloc to compare); may be repeated")
    ap.add_argument("--list", action="store_true", help="list workloads and exit")
    ap.add_argument("--rerender", metavar="JSON",
                    help="rewrite the markdown and chart from a saved results JSON, running nothing")
    cfg = ap.parse_args()
    if cfg.reps is None:
        cfg.reps = 1 if cfg.quick else 3   # 9 allocators x 32 workloads: 13 min on 2 CPUs
    cfg.only = set(cfg.only.split(",")) if cfg.only else None
    cfg.thread_list = [int(x) for x in cfg.thread_list.replace(" ", ",").split(",") if x]
    out = cfg.out or os.path.join(RESULTS, "quick.md" if cfg.quick else "latest.md")
    if cfg.merge_callgrind:
        merge_callgrind(out)
        return 0

    os.makedirs(RESULTS, exist_ok=True)
    if cfg.rerender:
        return rerender(cfg)
    if cfg.nice:
        try:
            os.nice(cfg.nice)
            log("running at nice %d" % os.nice(0))
        except OSError as e:
            log("note: cannot change nice value: %s" % e)
    wanted = set(cfg.allocators.split(",")) if cfg.allocators else None
    allocs, notes = discover_allocators(cfg.build, wanted, cfg.peer)
    for n in notes:
        log("note: " + n)
    global LAUNCHER
    shim = os.path.join(ROOT, cfg.build, "bench", "libcmalloc.so")
    LAUNCHER = os.path.join(ROOT, cfg.build, "bench", "measure")
    for need in (shim, LAUNCHER):
        if not os.path.exists(need):
            log("error: %s missing; run `make bench-progs`" % os.path.relpath(need, ROOT))
            return 1
    log("allocators: " + ", ".join("%s=%s" % (a, allocs[a] or "(none)") for a in allocs))

    if cfg.list:
        for w in workloads(cfg):
            log("%-15s %-14s %s" % (w["name"], w["group"], w["desc"]))
        return 0
    if cfg.scaling:
        scaling(cfg, allocs, shim)
        return 0

    ws = workloads(cfg)
    if cfg.only:
        unknown = cfg.only - {w["name"] for w in ws}
        if unknown:
            log("unknown workloads: " + ", ".join(sorted(unknown)))
            return 2
        ws = [w for w in ws if w["name"] in cfg.only]
    for w in list(ws):
        miss = missing_tools(w)
        if miss:
            notes.append("%s skipped: %s not installed" % (w["name"], ", ".join(miss)))
            log("note: " + notes[-1])
            ws.remove(w)
    def stale_program(path):
        """A bench program that is missing or older than its source or a bench header."""
        if not path.startswith(os.path.join(ROOT, cfg.build, "bench")):
            return False
        if not os.path.exists(path):
            return True
        src = os.path.join(ROOT, "bench", "src")
        deps = [f for f in os.listdir(src) if f.endswith(".h") or f == os.path.basename(path) + ".c"]
        return any(os.path.getmtime(os.path.join(src, f)) > os.path.getmtime(path) for f in deps)
    stale = [w["cmd"][0] for w in ws if w["cmd"] and stale_program(w["cmd"][0])]
    if stale:
        log("missing or older than bench/src: %s; run make bench-progs (make bench does)" %
            ", ".join(sorted(set(stale))))
        return 2
    prepare_inputs(cfg, ws)
    # one unrecorded run of each real program: warms the page cache and
    # program images so that the first allocator measured is not penalised
    for w in ws:
        if w["group"] == "programs":
            run_one(w, "glibc", None, cfg, shim)

    results, elapsed = run_suite(cfg, allocs, ws, shim)
    info = machine_info()
    info["nice"] = os.nice(0)
    base = out[:-3] if out.endswith(".md") else out
    stats0 = compute(ws, results, allocs)
    chart = write_chart(base, ws, stats0, allocs)
    rss_chart = write_rss_chart(base, ws, results, allocs)
    text, stats, summ = render(cfg, ws, results, allocs, notes, elapsed, info, chart, rss_chart)
    with open(out, "w") as f:
        f.write(text)
    with open(base + ".json", "w") as f:
        json.dump({"date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                   "machine": info, "reps": cfg.reps, "quick": cfg.quick, "threads": cfg.threads,
                   "allocators": allocs, "notes": notes,
                   "workloads": ws,
                   "elapsed": elapsed, "runs": results, "summary": summ}, f, indent=1)
    lat = write_latency_md(latency_md_path(cfg, out), cfg, ws, results, list(allocs), info)
    log("")
    log("suite took %s; wrote %s%s%s%s" % (fmt_eta(elapsed), os.path.relpath(out, ROOT),
                                        ", " + os.path.relpath(chart, ROOT) if chart else "",
                                        ", " + os.path.relpath(rss_chart, ROOT) if rss_chart else "",
                                        ", " + os.path.relpath(lat, ROOT) if lat else ""))
    for a in allocs:
        s = summ[a]
        log("  %-9s wall/mimalloc %s  wall/best-peer %s  rss/mimalloc %s"
            % (a, f3(s["wall_to_mimalloc"]), f3(s["wall_to_best"]), f3(s["rss_kb_to_mimalloc"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
