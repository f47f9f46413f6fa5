/* frag — fragmentation.  Repeated phases:
 *   1. allocate --count blocks of one size band;
 *   2. free a pseudo-random 90% of them (the survivors pin their pages);
 *   3. allocate blocks of the next, larger size band until the live bytes are
 *      back where they were after step 1.
 * Bands: 16–64, 80–256, 272–1024, 1040–4096 bytes, then around again.  An
 * allocator that can reuse the holes left in step 2 for the new sizes, or
 * returns the emptied memory, keeps RSS low.
 *
 *   frag --count=N [--phases=P] [--seed=X]
 *
 * Reports the live bytes, the peak RSS (VmHWM) and the final RSS (VmRSS),
 * both also relative to the largest live size.
 */
#include "common.h"

static const size_t band_lo[] = { 16, 80, 272, 1040 };
static const size_t band_hi[] = { 64, 256, 1024, 4096 };

int main(int argc, char **argv)
{
    args_init(argc, argv, "--count=N [--phases=P] [--seed=X]");
    size_t count = (size_t)arg_u64("count", 1000000);
    uint64_t phases = arg_u64("phases", 4);
    uint64_t seed = arg_u64("seed", 5);
    rng_t r;
    rng_seed(&r, seed);

    /* all blocks ever live, in one array; cap: count per phase + survivors */
    size_t cap = count * 2 + 16, n = 0;
    char **blk = xmalloc(cap * sizeof *blk);
    size_t *sz = xmalloc(cap * sizeof *sz);
    long base_kb = rss_kb();
    size_t live = 0, max_live = 0;

    uint64_t t0 = now_ns();
    for (uint64_t ph = 0; ph < phases; ph++) {
        int b = (int)(ph % 4);
        /* 1: allocate `count` blocks (phase 0) or refill to the target */
        size_t target = ph == 0 ? 0 : max_live;
        size_t made = 0;
        while (ph == 0 ? made < count : live < target) {
            if (n == cap) {
                cap *= 2;
                blk = realloc(blk, cap * sizeof *blk);
                sz = realloc(sz, cap * sizeof *sz);
                if (!blk || !sz) { fprintf(stderr, "realloc failed\n"); return 1; }
            }
            size_t s = (size_t)rng_range(&r, band_lo[b], band_hi[b]);
            char *p = malloc(s);
            memset(p, (int)made, s < 32 ? s : 32);
            blk[n] = p;
            sz[n] = s;
            n++;
            made++;
            live += s;
        }
        if (live > max_live) max_live = live;
        /* 2: free a random 90% of everything live */
        size_t keep = 0;
        for (size_t i = 0; i < n; i++) {
            if (rng_below(&r, 10) == 0) {
                blk[keep] = blk[i];
                sz[keep] = sz[i];
                keep++;
            } else {
                live -= sz[i];
                free(blk[i]);
            }
        }
        n = keep;
    }
    double s = secs_since(t0);
    long hwm = hwm_kb(), rss = rss_kb();
    printf("frag: %" PRIu64 " phases, %zu blocks, max live %.1f MiB, now live %.1f MiB: "
           "peak RSS %.1f MiB, final RSS %.1f MiB, %.3f s\n",
           phases, count, max_live / 1048576.0, live / 1048576.0, hwm / 1024.0, rss / 1024.0, s);
    metric("max_live_kb", max_live / 1024.0, "KiB");
    metric("final_live_kb", live / 1024.0, "KiB");
    metric("peak_rss_kb", (double)hwm, "KiB");
    metric("final_rss_kb", (double)rss, "KiB");
    metric("peak_rss_over_live", (double)(hwm - base_kb) * 1024.0 / (double)max_live, "x");
    metric("final_rss_over_live", live ? (double)(rss - base_kb) * 1024.0 / (double)live : 0, "x");
    for (size_t i = 0; i < n; i++) free(blk[i]);
    free(blk);
    free(sz);
    return 0;
}
