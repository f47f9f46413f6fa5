"""gen_redis.py — print a deterministic redis command stream in RESP form
(for redis-cli --pipe): strings of many sizes, lists, hashes, sets, sorted
sets, growing strings (APPEND/SETRANGE), counters, and deletions."""
import random
import sys

rng = random.Random(4242)
out = sys.stdout.buffer

def cmd(*args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    out.write(b"".join(parts))

alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789-_"

def value(n):
    k = rng.randrange(len(alphabet))
    base = (alphabet[k:] + alphabet[:k]) * (n // len(alphabet) + 1)
    return base[:n]

for i in range(30000):
    n = (i * 7919) % 20000 + 1 if i % 10 else rng.randint(0, 64)
    cmd("SET", f"s:{i}", value(n))
for i in range(8):
    cmd("SET", f"big:{i}", value(1 << (17 + i % 4)))          # 128 KiB .. 1 MiB
for i in range(2000):
    cmd("RPUSH", f"l:{i}", *[value(rng.randint(1, 300)) for _ in range(rng.randint(1, 200))])
for i in range(2000):
    fields = []
    for j in range(rng.randint(1, 100)):
        fields += [f"f{j}", value(rng.randint(0, 200))]
    cmd("HSET", f"h:{i}", *fields)
for i in range(1000):
    cmd("SADD", f"set:{i}", *[f"m{rng.randint(0, 5000)}" for _ in range(rng.randint(1, 300))])
for i in range(1000):
    args = []
    for j in range(rng.randint(1, 300)):
        args += [str(rng.randint(-10**6, 10**6)), f"z{j}"]
    cmd("ZADD", f"z:{i}", *args)
for i in range(5000):
    k = rng.randint(0, 29999)
    r = rng.random()
    if r < 0.3:
        cmd("APPEND", f"s:{k}", value(rng.randint(1, 5000)))
    elif r < 0.45:
        cmd("SETRANGE", f"s:{k}", rng.randint(0, 30000), value(rng.randint(1, 100)))
    elif r < 0.6:
        cmd("DEL", f"s:{k}")
    elif r < 0.7:
        cmd("INCRBY", f"ctr:{k % 100}", rng.randint(-1000, 1000))
    elif r < 0.8:
        cmd("LTRIM", f"l:{k % 2000}", rng.randint(0, 20), rng.randint(20, 150))
    elif r < 0.85:
        cmd("UNLINK", f"h:{k % 2000}")                        # lazy free, other thread
    elif r < 0.9:
        cmd("ZREMRANGEBYRANK", f"z:{k % 1000}", 0, rng.randint(0, 50))
    else:
        cmd("HDEL", f"h:{k % 2000}", *[f"f{j}" for j in range(0, 100, rng.randint(2, 7))])
