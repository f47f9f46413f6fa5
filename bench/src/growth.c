/* growth — realloc-heavy patterns and large blocks.
 *
 *   growth --mode=string --strings=K --bytes=B [--rounds=R]
 *       K string builders grow side by side by appending 1–32 byte pieces,
 *       each append a realloc to the exact new length, until each holds B
 *       bytes; then all are freed.  Interleaving the builders stops the
 *       easy case of one block growing alone at the top of the heap.
 *   growth --mode=vector --elems=N [--rounds=R]
 *       a vector of 8-byte elements whose capacity doubles from 1 to N,
 *       every element written as it is pushed; a few smaller vectors grow
 *       alongside.
 *   growth --mode=large --min=B --max=B [--rounds=R]
 *       blocks of every power of two from --min to --max (64 KiB – 256 MiB by
 *       default): allocate, touch each page, free; then the same sizes with
 *       one block of each size kept live at once.
 */
#include "common.h"

static uint64_t rounds, seed;

static double mode_string(uint64_t k, uint64_t bytes)
{
    char **s = xmalloc(k * sizeof *s);
    size_t *len = xmalloc(k * sizeof *len);
    rng_t r;
    rng_seed(&r, seed);
    uint64_t reallocs = 0;
    uint64_t t0 = now_ns();
    for (uint64_t round = 0; round < rounds; round++) {
        for (uint64_t i = 0; i < k; i++) { s[i] = NULL; len[i] = 0; }
        int growing = 1;
        while (growing) {
            growing = 0;
            for (uint64_t i = 0; i < k; i++) {
                if (len[i] >= bytes) continue;
                growing = 1;
                size_t piece = (size_t)rng_range(&r, 1, 32);
                char *n = realloc(s[i], len[i] + piece + 1);
                if (!n) { fprintf(stderr, "realloc failed\n"); exit(1); }
                memset(n + len[i], 'a' + (int)(piece % 26), piece);
                len[i] += piece;
                n[len[i]] = 0;
                s[i] = n;
                reallocs++;
            }
        }
        for (uint64_t i = 0; i < k; i++) free(s[i]);
    }
    double sec = secs_since(t0);
    printf("string: %" PRIu64 " builders to %" PRIu64 " bytes x %" PRIu64 " rounds: %.3f s\n", k,
           bytes, rounds, sec);
    metric("reallocs_per_s", (double)reallocs / sec, "reallocs/s");
    free(s);
    free(len);
    return sec;
}

static double mode_vector(uint64_t elems)
{
    enum { SIDE = 3 };
    uint64_t t0 = now_ns();
    uint64_t reallocs = 0;
    for (uint64_t round = 0; round < rounds; round++) {
        uint64_t *v = NULL, cap = 0, n = 0;
        uint64_t *side[SIDE] = { 0 }, scap[SIDE] = { 0 }, sn[SIDE] = { 0 };
        for (uint64_t i = 0; i < elems; i++) {
            if (n == cap) {
                cap = cap ? cap * 2 : 1;
                v = realloc(v, cap * sizeof *v);
                if (!v) { fprintf(stderr, "realloc failed\n"); exit(1); }
                reallocs++;
            }
            v[n++] = i;
            /* smaller vectors growing in between: 1/4, 1/16, 1/64 the pace */
            for (int j = 0; j < SIDE; j++) {
                if (i & ((4ull << (2 * j)) - 1)) continue;
                if (sn[j] == scap[j]) {
                    scap[j] = scap[j] ? scap[j] * 2 : 1;
                    side[j] = realloc(side[j], scap[j] * sizeof(uint64_t));
                    if (!side[j]) { fprintf(stderr, "realloc failed\n"); exit(1); }
                    reallocs++;
                }
                side[j][sn[j]++] = i;
            }
        }
        escape(v);
        free(v);
        for (int j = 0; j < SIDE; j++) free(side[j]);
    }
    double sec = secs_since(t0);
    printf("vector: doubling to %" PRIu64 " elements x %" PRIu64 " rounds: %.3f s\n", elems, rounds,
           sec);
    metric("reallocs_per_s", (double)reallocs / sec, "reallocs/s");
    return sec;
}

static double mode_large(size_t lo, size_t hi)
{
    int nsizes = 0;
    for (size_t s = lo; s <= hi; s *= 2) nsizes++;
    char **held = xmalloc((size_t)nsizes * sizeof *held);
    uint64_t blocks = 0;
    uint64_t t0 = now_ns();
    for (uint64_t round = 0; round < rounds; round++) {
        /* one at a time: allocate, touch, free */
        for (size_t s = lo; s <= hi; s *= 2) {
            char *p = malloc(s);
            if (!p) { fprintf(stderr, "malloc(%zu) failed\n", s); exit(1); }
            touch_pages(p, s);
            free(p);
            blocks++;
        }
        /* all sizes live together, freed smallest first */
        int i = 0;
        for (size_t s = hi; s >= lo && s > 0; s /= 2, i++) {
            held[i] = malloc(s);
            if (!held[i]) { fprintf(stderr, "malloc(%zu) failed\n", s); exit(1); }
            touch_pages(held[i], s);
            blocks++;
        }
        while (i-- > 0) free(held[i]);
    }
    double sec = secs_since(t0);
    printf("large: %zu..%zu bytes x %" PRIu64 " rounds: %.3f s\n", lo, hi, rounds, sec);
    metric("blocks_per_s", (double)blocks / sec, "blocks/s");
    free(held);
    return sec;
}

int main(int argc, char **argv)
{
    args_init(argc, argv,
              "--mode=string|vector|large [--strings=K --bytes=B] [--elems=N] [--min=B --max=B] "
              "[--rounds=R] [--seed=X]");
    const char *mode = arg_str("mode", "string");
    rounds = arg_u64("rounds", 1);
    seed = arg_u64("seed", 11);
    double s;
    if (!strcmp(mode, "string"))
        s = mode_string(arg_u64("strings", 16), arg_u64("bytes", 1 << 20));
    else if (!strcmp(mode, "vector"))
        s = mode_vector(arg_u64("elems", 1 << 24));
    else if (!strcmp(mode, "large")) {
        size_t lo = (size_t)arg_u64("min", 64 << 10), hi = (size_t)arg_u64("max", 256 << 20);
        if (lo == 0 || hi < lo) { fprintf(stderr, "need 0 < min <= max\n"); return 2; }
        s = mode_large(lo, hi);
    } else {
        fprintf(stderr, "unknown --mode=%s\n", mode);
        return 2;
    }
    metric("total_s", s, "s");
    metric("peak_rss_kb", (double)hwm_kb(), "KiB");
    return 0;
}
