"""pyheavy.py — a python3 workload heavy in dicts and strings.

    python3 pyheavy.py [--n N] [--seed S]

Builds an inverted index over generated text, counts words, formats and
parses records, groups them in nested dicts, joins and splits strings and
sorts the results.  Deterministic for a given seed.  bench/run.py runs it
with PYTHONMALLOC=malloc so that every object goes through the allocator
under test rather than Python's small-object pool.
"""
import random
import sys
import time


def main():
    n, seed = 60000, 1
    args = sys.argv[1:]
    while args:
        a = args.pop(0)
        if a == "--n":
            n = int(args.pop(0))
        elif a == "--seed":
            seed = int(args.pop(0))
        else:
            sys.exit("usage: pyheavy.py [--n N] [--seed S]")
    rnd = random.Random(seed)
    t0 = time.perf_counter()
    syll = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "ve", "zu", "an", "el", "or"]
    vocab = ["".join(rnd.choice(syll) for _ in range(rnd.randint(1, 5))) for _ in range(5000)]

    # documents and an inverted index: dict of word -> list of (doc, pos)
    index = {}
    counts = {}
    docs = []
    for d in range(n):
        words = [vocab[int(rnd.paretovariate(1.1)) % len(vocab)] for _ in range(rnd.randint(5, 40))]
        text = " ".join(words)
        docs.append(text)
        for pos, w in enumerate(text.split(" ")):
            index.setdefault(w, []).append((d, pos))
            counts[w] = counts.get(w, 0) + 1

    # records: format to strings, parse back into dicts, group
    groups = {}
    for d, text in enumerate(docs):
        rec = "id=%d;len=%d;head=%s;tag=%s" % (d, len(text), text[:12], vocab[d % 97].upper())
        fields = dict(kv.split("=", 1) for kv in rec.split(";"))
        g = groups.setdefault(fields["tag"], {})
        g.setdefault(int(fields["len"]) // 32, []).append(fields)

    # string churn: replace, slice, concatenate, dict of dicts rebuilt
    churn = {}
    for i in range(n):
        k = docs[i % len(docs)][:20].replace(" ", "_") + str(i % 1000)
        v = churn.get(k)
        if v is None:
            churn[k] = {"first": i, "text": k * 3}
        else:
            v["text"] = (v["text"] + k)[-200:]
            v["last"] = i
        if i % 7 == 0:
            churn.pop(next(iter(churn)))

    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:20]
    postings = sum(len(v) for v in index.values())
    blob = "\n".join("%s:%d" % kv for kv in sorted(counts.items()))
    lines = blob.split("\n")
    elapsed = time.perf_counter() - t0
    print("pyheavy: %d docs, %d words, %d postings, %d groups, %d churn keys, top=%s, %d lines: %.3f s"
          % (n, len(counts), postings, len(groups), len(churn), top[0][0], len(lines), elapsed))
    print("metric elapsed_s %.6g s" % elapsed)


if __name__ == "__main__":
    main()
