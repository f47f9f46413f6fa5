"""gen_corpus.py DIR — write the seed corpus of fuzz_alloc.c into DIR.

Deterministic (fixed seeds), ~24 files of 0.3-4 KiB.  Each file is four
slices (one per thread) of encoded operations; the seeds lean on different
operations so that every path of the harness is reached from the start:
plain malloc/free, calloc, realloc chains, aligned calls, mailbox hand-offs
(cross-thread frees), bursts, edge cases and large blocks.
Encoding (see fuzz_alloc.c): op byte, slot byte, then the op's arguments.
"""
import os
import random
import sys

OPS = {"malloc": 0, "calloc": 3, "realloc": 4, "reallocarray": 6, "free": 7,
       "free_sized": 9, "posix_memalign": 10, "aligned_alloc": 11, "memalign": 12,
       "check": 13, "mail": 14, "special": 15}


def size_bytes(rng, kind):
    # rd_size: 16-bit little-endian v, class = v >> 13
    if kind == "tiny":
        v = rng.randint(0, 2) << 13 | rng.randint(0, 63)
    elif kind == "small":
        v = rng.randint(3, 4) << 13 | rng.randint(0, 1023)
    elif kind == "medium":
        v = rng.randint(5, 6) << 13 | rng.randint(0, 0x1fff)
    else:
        v = 7 << 13 | rng.randint(0, 0x1fff)
    b = bytes([v & 0xff, v >> 8])
    if v >> 13 == 7:
        b += bytes([rng.randint(0, 255)])
    return b


def op(rng, name, kinds):
    out = bytes([OPS[name] + 16 * rng.randint(0, 15), rng.randint(0, 255)])
    kind = rng.choice(kinds)
    if name in ("malloc", "realloc", "reallocarray"):
        out += size_bytes(rng, kind)
    elif name == "calloc":
        out += bytes([rng.randint(0, 255)]) + size_bytes(rng, kind)
    elif name in ("posix_memalign", "aligned_alloc", "memalign"):
        out += bytes([rng.randint(0, 16)]) + size_bytes(rng, kind)
    elif name == "mail":
        out += bytes([rng.randint(0, 255)])
    elif name == "special":
        k = rng.randint(0, 255)
        out += bytes([k])
        if not k & 1:
            out += size_bytes(rng, "small")
    return out


def program(rng, weights, kinds, nops):
    names = list(weights)
    w = [weights[n] for n in names]
    return b"".join(op(rng, rng.choices(names, w)[0], kinds) for _ in range(nops))


MIX = {"malloc": 5, "calloc": 2, "realloc": 3, "reallocarray": 1, "free": 4, "free_sized": 1,
       "posix_memalign": 1, "aligned_alloc": 1, "memalign": 1, "check": 1, "mail": 2,
       "special": 1}
SEEDS = [
    ("mixed-small", MIX, ["tiny", "small"], 150),
    ("mixed-all", MIX, ["tiny", "small", "medium", "large"], 120),
    ("malloc-free", {"malloc": 5, "free": 4, "free_sized": 2}, ["tiny", "small"], 300),
    ("calloc", {"calloc": 5, "free": 3, "check": 1}, ["tiny", "small", "medium"], 150),
    ("realloc-chain", {"malloc": 1, "realloc": 6, "reallocarray": 2, "free": 1},
     ["tiny", "small", "medium"], 200),
    ("realloc-large", {"realloc": 4, "free": 1}, ["medium", "large"], 40),
    ("aligned", {"posix_memalign": 3, "aligned_alloc": 3, "memalign": 2, "free": 3,
                 "realloc": 1}, ["tiny", "small", "medium"], 150),
    ("mailbox", {"malloc": 4, "mail": 5, "free": 2, "realloc": 2}, ["tiny", "small"], 250),
    ("bursts", {"special": 4, "malloc": 1, "free": 1}, ["small"], 100),
    ("large", {"malloc": 3, "free": 2, "realloc": 2}, ["large"], 30),
]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "corpus"
    os.makedirs(out, exist_ok=True)
    n = 0
    for name, weights, kinds, nops in SEEDS:
        for variant in range(2):
            rng = random.Random(f"{name}/{variant}")
            parts = [program(rng, weights, kinds, nops // 4) for _ in range(4)]
            # equal slices: pad every part to the longest
            width = max(len(p) for p in parts)
            data = b"".join(p + bytes([OPS["check"]]) * (width - len(p)) for p in parts)
            with open(os.path.join(out, f"seed-{name}-{variant}"), "wb") as f:
                f.write(data)
            n += 1
    # edge cases on their own, single-threaded (under 64 bytes)
    rng = random.Random("edge")
    edge = b"".join(bytes([OPS["special"], 0, 2 * k + 1]) for k in range(6))
    with open(os.path.join(out, "seed-edge"), "wb") as f:
        f.write(edge)
    with open(os.path.join(out, "seed-tiny"), "wb") as f:
        f.write(bytes([0, 1, 8, 0, 7, 1]))
    n += 2
    print(f"{n} seeds in {out}")


main()
