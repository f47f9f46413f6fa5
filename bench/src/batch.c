/* batch — allocate N blocks, then free all N, in three orders:
 *   lifo    free the newest first (stack)
 *   fifo    free the oldest first (queue)
 *   random  free in a fixed pseudo-random permutation
 *
 *   batch --dist=small|mixed|powerlaw --n=N --rounds=R [--order=all|lifo|fifo|random]
 *
 * Size distributions are described in common.h.  Each block's first and last
 * byte are written, as a program would.  Reports ns per malloc+free for each
 * order.
 */
#include "common.h"

int main(int argc, char **argv)
{
    args_init(argc, argv, "--dist=small|mixed|powerlaw --n=N --rounds=R [--order=all|lifo|fifo|random] [--seed=S]");
    enum dist d = parse_dist(arg_str("dist", "small"));
    size_t n = (size_t)arg_u64("n", 100000);
    uint64_t rounds = arg_u64("rounds", 10);
    const char *order = arg_str("order", "all");
    uint64_t seed = arg_u64("seed", 1);

    rng_t r;
    rng_seed(&r, seed);
    size_t *sizes = xmalloc(n * sizeof *sizes);
    size_t *perm = xmalloc(n * sizeof *perm);
    char **blk = xmalloc(n * sizeof *blk);
    for (size_t i = 0; i < n; i++) sizes[i] = draw_size(&r, d, 0);
    for (size_t i = 0; i < n; i++) perm[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rng_below(&r, i);
        size_t t = perm[i - 1]; perm[i - 1] = perm[j]; perm[j] = t;
    }

    static const char *names[] = { "lifo", "fifo", "random" };
    double total = 0;
    for (int o = 0; o < 3; o++) {
        if (strcmp(order, "all") && strcmp(order, names[o])) continue;
        uint64_t t0 = now_ns();
        for (uint64_t k = 0; k < rounds; k++) {
            for (size_t i = 0; i < n; i++) {
                char *p = malloc(sizes[i]);
                p[0] = 1;
                p[sizes[i] - 1] = 2;
                blk[i] = p;
            }
            clobber();
            switch (o) {
            case 0: for (size_t i = n; i-- > 0;) free(blk[i]); break;
            case 1: for (size_t i = 0; i < n; i++) free(blk[i]); break;
            case 2: for (size_t i = 0; i < n; i++) free(blk[perm[i]]); break;
            }
        }
        double s = secs_since(t0);
        total += s;
        printf("%-6s %zu blocks x %" PRIu64 " rounds: %.3f s\n", names[o], n, rounds, s);
        char mname[32];
        snprintf(mname, sizeof mname, "%s_ns_per_pair", names[o]);
        metric(mname, s * 1e9 / ((double)n * (double)rounds), "ns");
    }
    metric("total_s", total, "s");
    free(sizes); free(perm); free(blk);
    return 0;
}
