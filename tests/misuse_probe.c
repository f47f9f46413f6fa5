/* misuse_probe.c — free of any address that is not the start of a live block
 * aborts with exactly one of
 *   dynalloc: free(): invalid pointer 0x…
 *   dynalloc: free(): double free 0x…
 * never with a crash and never silently: a property test over random
 * addresses in and around blocks of every tier.
 *
 * Blocks: pool (16, 48, 64, 200, 512, 1000, 4000 B), bulk (classes: 5000, 8192,
 * 20000 B; runs: 40000, 100000, 700000 B) and huge (1.5, 3, 6, 9 MiB), filled with bytes of a
 * fixed-seed generator; the huge ones 1 MiB at a time, by turns with those
 * bytes, all 0x01 bytes and repeated small 16-, 32- and 64-bit integers
 * (contents that look like header fields).  Some of each tier are freed.
 * Each probe picks a block, live or freed, and an address in
 * [start - 8 KiB, start + size + 8 KiB): 16-byte aligned or not,
 * page-aligned, near either end, on 64 KiB boundaries around pool and bulk
 * blocks, at multiples of 1 MiB from the start of huge blocks and on 1 MiB and
 * 4 MiB boundaries inside them.  Addresses that start a live block of the test
 * are skipped.  A child calls free(address) and must die of SIGABRT with one
 * of the two lines for that address.  About 3000 probes, divided by TEST_SCALE.
 *
 * No other block may be live near the test's blocks (a probe hitting it would
 * rightly be freed): the bookkeeping is static, stdout is unbuffered (stdio
 * allocates no buffer), and the plain programs run themselves again with
 * DYNALLOC_PURGE_THREAD=0, since the purger thread's start allocates a block
 * (pthread_create's) of dynalloc's.
 */
#include "misuse.h"

enum tier { POOL, BULK, HUGE, NTIERS };
static const char *const tier_name[NTIERS] = { "pool", "bulk", "huge" };

enum fill { RANDOM, ONES, SMALL16, SMALL32, SMALL64, NFILLS };
static const char *const fill_name[] = { "random", "0x01 bytes", "small 16-bit integers",
                                         "small 32-bit integers", "small 64-bit integers" };

struct block {
    unsigned char *p;
    size_t size;
    enum tier tier;
    enum fill fill;               /* huge: the fill of the first MiB; the next MiB
                                     take the next fills in turn */
    int freed;                    /* freed by the test after every allocation */
};

#define MAX_BLOCKS 64
static struct block blocks[MAX_BLOCKS];
static int nblocks;
static uint64_t rng = 0x2545F4914F6CDD1DULL;

static void fill(unsigned char *p, size_t n, enum fill how)
{
    size_t i;
    switch (how) {
    case RANDOM:
        for (i = 0; i + 8 <= n; i += 8) {
            uint64_t v = test_rand(&rng);
            memcpy(p + i, &v, 8);
        }
        for (; i < n; i++)
            p[i] = (unsigned char)test_rand(&rng);
        break;
    case ONES:
        memset(p, 1, n);
        break;
    case SMALL16:
        for (i = 0; i + 2 <= n; i += 2) {
            uint16_t v = (uint16_t)(i / 2 % 3 + 1);
            memcpy(p + i, &v, 2);
        }
        break;
    case SMALL32:
        for (i = 0; i + 4 <= n; i += 4) {
            uint32_t v = (uint32_t)(i / 4 % 17);
            memcpy(p + i, &v, 4);
        }
        break;
    case SMALL64:
        for (i = 0; i + 8 <= n; i += 8) {
            uint64_t v = i / 8 % 5;
            memcpy(p + i, &v, 8);
        }
        break;
    case NFILLS:
        break;
    }
}

/* The fill at offset off of block b. */
static enum fill fill_at(const struct block *b, size_t off)
{
    return b->tier == HUGE ? (enum fill)((b->fill + off / MiB) % NFILLS) : b->fill;
}

static void add_block(size_t size, enum tier tier, enum fill how, int freed)
{
    CHECK(nblocks < MAX_BLOCKS);
    unsigned char *p = malloc(size);
    CHECKF(p != NULL, "malloc(%zu) failed", size);
    blocks[nblocks] = (struct block){ p, size, tier, how, freed };
    if (tier == HUGE) {
        for (size_t off = 0; off < size; off += MiB)
            fill(p + off, size - off < MiB ? size - off : MiB, fill_at(&blocks[nblocks], off));
    } else {
        fill(p, size, how);
    }
    nblocks++;
}

static int is_live_start(uintptr_t a)
{
    for (int i = 0; i < nblocks; i++)
        if (!blocks[i].freed && (uintptr_t)blocks[i].p == a)
            return 1;
    return 0;
}

static uint64_t below(uint64_t n)          /* uniform in [0, n), n > 0 */
{
    return test_rand(&rng) % n;
}

#define MARGIN ((uintptr_t)8192)

/* An address for a probe of block b, in [start - MARGIN, start + size + MARGIN);
 * *how says how it was chosen. */
static uintptr_t pick_address(const struct block *b, const char **how)
{
    uintptr_t start = (uintptr_t)b->p, lo = start - MARGIN, hi = start + b->size + MARGIN;
    uintptr_t a;
    unsigned r = (unsigned)below(100);
    if (r < 25) {
        *how = "16-byte aligned";
        a = (lo + below(hi - lo)) & ~(uintptr_t)15;
    } else if (r < 45) {
        *how = "any byte";
        a = lo + below(hi - lo);
    } else if (r < 55) {
        *how = "page-aligned";
        a = (lo + below(hi - lo)) & ~(uintptr_t)4095;
    } else if (r < 65) {
        *how = "near an end";
        a = (below(2) ? start : start + b->size) + below(257) - 128;
        if (below(2))
            a &= ~(uintptr_t)15;
    } else if (r < 80 && b->tier == HUGE) {
        unsigned k = (unsigned)below(3);
        if (k == 0 && b->size > MiB) {
            *how = "start + a multiple of 1 MiB";
            a = start + (1 + below((b->size - 1) / MiB)) * MiB;
        } else {
            uintptr_t align = k == 2 ? 4 * MiB : MiB;
            uintptr_t first = (start + align) & ~(align - 1);
            if (first >= start + b->size) {
                align = MiB;
                first = (start + align) & ~(align - 1);
            }
            *how = align == MiB ? "1 MiB boundary inside" : "4 MiB boundary inside";
            a = first + below((start + b->size - first + align - 1) / align) * align;
        }
    } else if (r < 80) {
        *how = "64 KiB boundary";
        a = (lo + below(hi - lo)) & ~(uintptr_t)0xFFFF;
    } else if (b->size > 32) {
        *how = "inside, 16-byte aligned";
        a = start + 16 + (below(b->size - 16) & ~(uint64_t)15);
    } else {
        *how = "inside";
        a = start + 1 + below(b->size - 1);
    }
    if (a < lo)
        a = (lo + 4095) & ~(uintptr_t)4095;   /* a rounding that left the window */
    if (a >= hi)
        a = start + b->size;
    return a;
}

static void free_it(void *p)
{
    free(p);
}

/* Fork; the child frees addr with stderr into out.  Returns the wait status. */
static int probe(uintptr_t addr, char *out, size_t cap)
{
    return run_child(free_it, (void *)addr, out, cap);
}

/* strsignal may allocate (translations): a name of its own for the usual ones */
static const char *signal_name(int sig)
{
    switch (sig) {
    case SIGSEGV: return " (SIGSEGV)";
    case SIGBUS: return " (SIGBUS)";
    case SIGILL: return " (SIGILL)";
    case SIGFPE: return " (SIGFPE)";
    case SIGALRM: return " (SIGALRM: hung for 20 s)";
    case SIGTRAP: return " (SIGTRAP)";
    case SIGPIPE: return " (SIGPIPE)";
    default: return "";
    }
}

enum verdict { CRASHED, WRONG_LINE, ACCEPTED, OTHER, NVERDICTS };
static const char *const verdict_name[NVERDICTS] = { "crashed", "wrong line", "not reported", "other" };

struct tier_stats {
    unsigned probes, failed[NVERDICTS];
    char first[NVERDICTS][1400];  /* the first failing probe of each kind, in full */
};
static struct tier_stats stats[NTIERS];

#ifndef TEST_PREFIX
extern char **environ;
static char *env_copy[4096];
static char purge_off[] = "DYNALLOC_PURGE_THREAD=0";

/* Run again with the purger thread off (see the top of the file). */
static void without_purger(char **argv)
{
    const char *v = getenv("DYNALLOC_PURGE_THREAD");
    if (v != NULL && strcmp(v, "0") == 0)
        return;
    size_t n = 0;
    for (char **e = environ; *e != NULL; e++) {
        if (strncmp(*e, "DYNALLOC_PURGE_THREAD=", 22) == 0)
            continue;
        if (n + 2 >= sizeof env_copy / sizeof env_copy[0])
            return;                /* a huge environment: run as we are */
        env_copy[n++] = *e;
    }
    env_copy[n++] = purge_off;
    env_copy[n] = NULL;
    execve("/proc/self/exe", argv, env_copy);
    /* no exec: go on as we are (the purger's block may then be live) */
}
#endif

int main(int argc, char **argv)
{
    (void)argc;
    setvbuf(stdout, NULL, _IONBF, 0);
#ifndef TEST_PREFIX
    without_purger(argv);
#else
    (void)argv;
#endif
    misuse_init("misuse_probe");
    setvbuf(stdout, NULL, _IONBF, 0);      /* test_init made it line-buffered */

    /* every allocation first, then the frees: nothing freed is taken again */
    static const size_t pool_sizes[] = { 16, 48, 64, 200, 512, 1000, 4000 };
    for (size_t i = 0; i < sizeof pool_sizes / sizeof pool_sizes[0]; i++)
        for (int k = 0; k < 3; k++)
            add_block(pool_sizes[i], POOL, RANDOM, k == 1);
    static const size_t bulk_sizes[] = { 5000, 8192, 20000, 40000, 100000, 700000 };
    for (size_t i = 0; i < sizeof bulk_sizes / sizeof bulk_sizes[0]; i++)
        for (int k = 0; k < 2; k++)
            add_block(bulk_sizes[i], BULK, RANDOM, k == 1 && bulk_sizes[i] != 8192 && bulk_sizes[i] != 20000);
    static const struct { size_t size; enum fill fill; int freed; } huge[] = {
        { 3 * MiB / 2, RANDOM, 0 }, { 3 * MiB, ONES, 0 },        { 6 * MiB, SMALL16, 0 },
        { 9 * MiB, SMALL32, 0 },    { 3 * MiB / 2, SMALL64, 0 }, { 3 * MiB / 2, RANDOM, 1 },
        { 3 * MiB / 2, ONES, 1 },
    };
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++)
        add_block(huge[i].size, HUGE, huge[i].fill, huge[i].freed);

    size_t live_bytes = 0;
    for (int i = 0; i < nblocks; i++)
        if (!blocks[i].freed) {
            size_t usable = malloc_usable_size(blocks[i].p);
            CHECK(usable >= blocks[i].size);
            live_bytes += usable;
        }
    for (int i = 0; i < nblocks; i++)
        if (blocks[i].freed)
            free(blocks[i].p);
    /* Diagnostic only: blocks live beside the test's own (the allocator's
     * count may differ from the usable sizes for reasons of its own). */
    size_t in_use = mallinfo2().uordblks;
    char note[160] = "";
    if (in_use != live_bytes) {
        snprintf(note, sizeof note, " (note: mallinfo2 counts %zu bytes in use, the test's live blocks %zu)",
                 in_use, live_bytes);
        printf("  %s\n", note + 2);
    }

    int index_in_tier[NTIERS][MAX_BLOCKS], count_in_tier[NTIERS] = { 0 };
    for (int i = 0; i < nblocks; i++)
        index_in_tier[blocks[i].tier][count_in_tier[blocks[i].tier]++] = i;

    unsigned total = 3000 / test_scale(), timeouts = 0;
    if (total < 3 * NTIERS)
        total = 3 * NTIERS;
    for (unsigned n = 0; n < total && timeouts < 3; n++) {
        enum tier t = (enum tier)(n % NTIERS);
        const struct block *b = &blocks[index_in_tier[t][below((uint64_t)count_in_tier[t])]];
        const char *how;
        uintptr_t addr;
        do
            addr = pick_address(b, &how);
        while (addr == 0 || is_live_start(addr));

        char out[1024], want[2][96];
        int status = probe(addr, out, sizeof out);
        snprintf(want[0], sizeof want[0], "dynalloc: free(): invalid pointer %p\n", (void *)addr);
        snprintf(want[1], sizeof want[1], "dynalloc: free(): double free %p\n", (void *)addr);
        struct tier_stats *s = &stats[t];
        s->probes++;
        int abrt = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
        if (abrt && (strcmp(out, want[0]) == 0 || strcmp(out, want[1]) == 0))
            continue;
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
            timeouts++;
        enum verdict v;
        char died[64];
        if (abrt) {
            v = WRONG_LINE;
            snprintf(died, sizeof died, "died of SIGABRT with the wrong stderr");
        } else if (WIFSIGNALED(status)) {
            v = CRASHED;
            snprintf(died, sizeof died, "killed by signal %d%s", WTERMSIG(status), signal_name(WTERMSIG(status)));
        } else if (WEXITSTATUS(status) == 0 && out[0] == 0) {
            v = ACCEPTED;
            snprintf(died, sizeof died, "returned from free: not reported");
        } else {
            v = OTHER;
            snprintf(died, sizeof died, "exited with status %d", WEXITSTATUS(status));
        }
        if (s->failed[v]++ == 0)
            snprintf(s->first[v], sizeof s->first[v],
                     "probe %u: free(%p) = %s block %p + %lld (%zu bytes, %s, %s there; address %s): "
                     "child %s, stderr \"%s\"%s",
                     n, (void *)addr, tier_name[t], (void *)b->p, (long long)(addr - (uintptr_t)b->p), b->size,
                     b->freed ? "freed" : "live",
                     addr >= (uintptr_t)b->p && addr < (uintptr_t)b->p + b->size
                         ? fill_name[fill_at(b, addr - (uintptr_t)b->p)] : "outside the block",
                     how, died, out, note);
    }

    unsigned failed = 0;
    for (int t = 0; t < NTIERS; t++) {
        const struct tier_stats *s = &stats[t];
        unsigned bad = 0;
        for (int v = 0; v < NVERDICTS; v++)
            bad += s->failed[v];
        failed += bad;
        test_checks += s->probes;
        if (bad == 0) {
            printf("  ok  %s: %u probes around %d blocks, each reported\n", tier_name[t], s->probes, count_in_tier[t]);
            continue;
        }
        printf("  FAIL %s: %u probes around %d blocks, %u failed: %u crashed, %u wrong line, %u not reported, "
               "%u other\n", tier_name[t], s->probes, count_in_tier[t], bad, s->failed[CRASHED],
               s->failed[WRONG_LINE], s->failed[ACCEPTED], s->failed[OTHER]);
        for (int v = 0; v < NVERDICTS; v++)
            if (s->failed[v] != 0)
                printf("       first %s: %s\n", verdict_name[v], s->first[v]);
    }
    if (timeouts >= 3)
        printf("  stopped early: 3 probes ran into the 20 s alarm\n");
    CHECKF(failed == 0 && timeouts < 3, "%u of the probes failed", failed);
    return test_done();
}
