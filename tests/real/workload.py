"""workload.py — a deterministic Python workload for the LD_PRELOAD comparison.

Builds and drops large dicts, lists, strings and bytes, in the main thread and
in worker threads, and prints digests of what it computed.  The output depends
only on the computation, never on addresses, timing or hash seeds.
"""
import hashlib
import json
import threading


def lcg(seed):
    x = seed
    while True:
        x = (x * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        yield x >> 33


def digest(obj):
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def dicts(seed, n):
    r = lcg(seed)
    d = {}
    for i in range(n):
        k = next(r)
        d["k%d" % k] = [k % 97, str(k) * (1 + k % 5), {"i": i}]
    for k in list(d)[::3]:
        del d[k]
    total = sum(v[0] for v in d.values())
    return len(d), total


def strings(seed, n):
    r = lcg(seed)
    parts = []
    for _ in range(n):
        k = next(r)
        parts.append(("%x" % k) * (1 + k % 40))
    big = "-".join(parts)
    pieces = big.split("-")
    rebuilt = "".join(reversed(pieces))
    b = bytearray(rebuilt.encode())
    for i in range(0, len(b), 4096):
        b[i] = 0x41
    grown = bytes(b) * 3
    return len(big), hashlib.sha256(grown).hexdigest()[:16]


def lists(seed, n):
    r = lcg(seed)
    xs = [next(r) for _ in range(n)]
    xs.sort()
    chunks = [xs[i:i + 1000] for i in range(0, len(xs), 1000)]
    sums = [sum(c) % 1000003 for c in chunks]
    nested = [[j] * (j % 50) for j in range(20000)]
    return digest(sums), sum(len(x) for x in nested)


def big_buffers(seed):
    out = []
    r = lcg(seed)
    for _ in range(40):
        size = 100000 + next(r) % 5000000
        buf = bytearray(size)
        buf[size // 2] = 7
        out.append(hashlib.sha256(buf).hexdigest()[:8])
        del buf
    return out


results = {}


def worker(i):
    results[i] = (dicts(1000 + i, 60000), strings(2000 + i, 20000), lists(3000 + i, 200000))


def main():
    print("dicts", dicts(1, 300000))
    print("strings", strings(2, 60000))
    print("lists", lists(3, 600000))
    print("buffers", big_buffers(4))
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in sorted(results):
        print("thread", i, results[i])
    print("all", digest([results[i] for i in sorted(results)]))


main()
