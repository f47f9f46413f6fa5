/* harden_misuse.c — what DYNALLOC_HARDEN=1 adds, each misuse in a child (misuse.h):
 *  - a write one byte past the request (pool and bulk-class blocks; bulk runs
 *    and huge blocks, also once realloc kept them smaller or grew them) is
 *    reported by free, by realloc and by malloc_usable_size:
 *      dynalloc: free(): heap overflow past 0x… (N bytes requested)
 *  - a write into a freed block (past its two list words: every 16-byte chunk of
 *    the first 256 bytes, in blocks of 32 B to 512 B), once the block has
 *    left the quarantine (malloc_trim empties it), is reported when malloc hands
 *    the block out again: dynalloc: malloc(): use after free of 0x…
 *  - free(a), b = malloc(same size), free(a): b is not a (the quarantine), and
 *    the second free of a is reported as a double free;
 *  - free of a pointer into a block (not its start) is an invalid pointer;
 *  - malloc_usable_size is the request, free_sized wants it exactly;
 *  - blocks of a fresh page are not handed out in address order;
 *  - a one-byte overflow of a posix_memalign'ed block is reported too;
 *  - the slices below and above a segment's metadata are inaccessible (a write faults);
 *  - the page after a huge block is inaccessible: fresh, grown by realloc, reused from the cache.
 * Run with DYNALLOC_HARDEN=1 and dynalloc preloaded (the runner's @harden-*
 * modes); anywhere else it skips.
 */
#include "misuse.h"
#include "types.h"   /* DA_SEGMENT_SIZE, DA_SEGMENT_FIRST_RUN_FOR, DA_SLICE_SIZE, DA_PAGE_MAX: the layout */

#include <malloc.h>
#include <pthread.h>
#include <sys/mman.h>

static void overflow_free(void *arg)
{
    unsigned char *p = arg;
    p[(size_t)malloc_usable_size(p)] = 'x';   /* one byte past the request */
    free(p);
}

static void overflow_nul(void *arg)   /* the off-by-one string terminator */
{
    unsigned char *p = arg;
    p[(size_t)malloc_usable_size(p)] = 0;
    free(p);
}

static void overflow_realloc(void *arg)
{
    unsigned char *p = arg;
    p[40] = 0;
    p = realloc(p, 400);
    (void)p;
}

static void overflow_usable(void *arg)
{
    unsigned char *p = arg;
    memset(p + 5000, 0x41, 3);
    (void)malloc_usable_size(p);
}

static void use_after_free(void *arg)
{
    unsigned char *p = arg;
    free(p);
    p[20] = 1;              /* the write after free: past the link and the free key */
    malloc_trim(0);         /* the quarantine lets p go: on its page's free list */
    for (int i = 0; i < 100000; i++)
        if (malloc(64) == NULL)
            _exit(3);
    _exit(0);               /* never handed out again: not detected */
}

/* A write into one byte of a freed block of the class of bsize bytes. */
struct uaf_case {
    unsigned char *p;
    size_t request, offset;
};

static void use_after_free_at(void *arg)
{
    const struct uaf_case *c = arg;
    free(c->p);
    c->p[c->offset] = 1;
    malloc_trim(0);
    for (int i = 0; i < 100000; i++)
        if (malloc(c->request) == NULL)
            _exit(3);
    _exit(0);
}

static void double_free_after_reuse(void *arg)
{
    void *a = arg;
    free(a);
    void *b = malloc(40);
    if (b == a) {           /* reused at once: the quarantine did not hold it */
        fprintf(stderr, "malloc(40) returned %p, the block just freed\n", b);
        _exit(4);
    }
    free(a);
}

static void free_it(void *arg)
{
    free(arg);
}

static void wrong_size(void *arg)
{
    free_sized(arg, 48);    /* the request was 40 */
}

/* The last byte of the OS page above the header. */
static void write_guard(void *arg)
{
    uintptr_t seg = (uintptr_t)arg & ~(uintptr_t)(DA_SEGMENT_SIZE - 1);
    volatile unsigned char *guard = (unsigned char *)(seg + DA_SEGMENT_FIRST_RUN_FOR(test_os_page() / DA_SLICE_SIZE) * DA_SLICE_SIZE - 1);
    signal(SIGSEGV, SIG_DFL);
    *guard = 1;
}

static void write_guard_below(void *arg)
{
    volatile unsigned char *guard = (unsigned char *)((uintptr_t)arg & ~(uintptr_t)(DA_SEGMENT_SIZE - 1));
    signal(SIGSEGV, SIG_DFL);
    guard[DA_PAGE_MAX - 1] = 1;   /* the last byte below the header */
}

/* Past a huge block's request, page by page: its mapping's pages take the
 * write, and the page after them must be dynalloc's guard, which faults.
 * Where a page is free to take (no guard), the child maps one of its own there,
 * as the kernel may place any mapping, and the write lands in it: no fault. */
static void write_past_huge(void *arg)
{
    uintptr_t at = ((uintptr_t)arg + malloc_usable_size(arg) + 4096) & ~(uintptr_t)4095;
    signal(SIGSEGV, SIG_DFL);
    for (int i = 0; i < 4096; i++, at += 4096) {
        void *own = mmap((void *)at, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                         -1, 0);
        *(volatile unsigned char *)at = 1;
        if (own != MAP_FAILED)
            _exit(0);
    }
}

static int faults(void (*fn)(void *), void *p)
{
    char out[256];
    int status = run_child(fn, p, out, sizeof out);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV;
}

static void overflow_aligned(void *arg)
{
    unsigned char *p = arg;
    p[128] = 0x5a;          /* one byte past a 128-byte request aligned to 64: a class size */
    free(p);
}

/* 64 blocks of 48 bytes from a fresh thread's first page of that class: count
 * the neighbours handed out one after the other in address order. */
static void *sequential_count(void *arg)
{
    (void)arg;
    char *q[64];
    size_t step = 0;
    for (int i = 0; i < 64; i++) q[i] = malloc(48);
    if (malloc_usable_size(q[0]) == 48) step = 64;   /* hardened: class of 49 B */
    else step = 48;
    size_t seq = 0;
    for (int i = 1; i < 64; i++) seq += q[i] == q[i - 1] + step;
    for (int i = 0; i < 64; i++) free(q[i]);
    return (void *)seq;
}

int main(void)
{
    misuse_init("harden_misuse");
    const char *mode = getenv("DYNALLOC_HARDEN");
    if (mode == NULL || strcmp(mode, "1") != 0)
        test_skip("runs with DYNALLOC_HARDEN=1 only");

    char line[160];
    /* every request up to 160 B: the whole request is the program's (written,
     * kept or moved by a realloc one byte smaller, freed: no report), and one byte
     * past it ('x', or the NUL of an off-by-one string copy) is reported, always
     * (canary bytes are never ASCII), wherever the request ends in its block */
    for (size_t n = 1; n <= 160; n++) {
        unsigned char *w = malloc(n);
        memset(w, 0xa5, n);
        unsigned char *v = realloc(w, n - 1 > 0 ? n - 1 : 1);
        CHECK(v != NULL && v[0] == 0xa5 && v[(n - 1 > 0 ? n - 1 : 1) - 1] == 0xa5);
        memset(v, 0x5a, malloc_usable_size(v));
        free(v);
        void *o = malloc(n);
        snprintf(line, sizeof line, "dynalloc: free(): heap overflow past %p (%zu bytes requested)", o, n);
        char what[64];
        snprintf(what, sizeof what, "overflow by one byte, %zu B", n);
        expect_abort(what, n % 2 ? overflow_free : overflow_nul, o, line);
        free(o);
    }
    void *p = malloc(24);
    CHECK(malloc_usable_size(p) == 24);
    snprintf(line, sizeof line, "dynalloc: free(): heap overflow past %p (24 bytes requested)", p);
    expect_abort("overflow by one byte, 24 B", overflow_free, p, line);
    void *big = malloc(6000);   /* a bulk class */
    snprintf(line, sizeof line, "dynalloc: free(): heap overflow past %p (6000 bytes requested)", big);
    expect_abort("overflow by one byte, 6000 B", overflow_free, big, line);
    void *q = malloc(40);
    snprintf(line, sizeof line, "dynalloc: realloc(): heap overflow past %p (40 bytes requested)", q);
    expect_abort("overflow seen by realloc", overflow_realloc, q, line);
    void *r = malloc(5000);
    snprintf(line, sizeof line, "dynalloc: malloc_usable_size(): heap overflow past %p (5000 bytes requested)", r);
    expect_abort("overflow seen by malloc_usable_size", overflow_usable, r, line);

    /* above 32 KiB: a bulk run and a huge block, also after realloc kept or grew them */
    static const size_t large[] = { 40000, 100000, (size_t)3 << 20 };
    for (int i = 0; i < 3; i++) {
        char what[64];
        void *b = malloc(large[i]);
        CHECK(b != NULL && malloc_usable_size(b) == large[i]);
        snprintf(line, sizeof line, "dynalloc: free(): heap overflow past %p (%zu bytes requested)", b, large[i]);
        snprintf(what, sizeof what, "overflow by one byte, %zu B", large[i]);
        expect_abort(what, overflow_free, b, line);
        void *k = realloc(b, large[i] - 1000);   /* kept: the canary moves */
        CHECK(k == b && malloc_usable_size(k) == large[i] - 1000);
        snprintf(line, sizeof line, "dynalloc: free(): heap overflow past %p (%zu bytes requested)", k, large[i] - 1000);
        snprintf(what, sizeof what, "… after realloc kept it smaller");
        expect_abort(what, overflow_free, k, line);
        void *g = realloc(k, large[i] * 2);   /* grown in place or moved */
        CHECK(g != NULL && malloc_usable_size(g) == large[i] * 2);
        snprintf(line, sizeof line, "dynalloc: free(): heap overflow past %p (%zu bytes requested)", g, large[i] * 2);
        snprintf(what, sizeof what, "… after realloc grew it");
        expect_abort(what, overflow_free, g, line);
        free_sized(g, large[i] * 2);
    }
    /* a pool block realloc moves into a mapping of its own, of whole pages: the
     * mapping has a page more for the canary (without it, the canary had no room) */
    {
        size_t to = DA_REALLOC_MAP_MIN;
        void *m = realloc(malloc(3000), to);
        CHECK(m != NULL && malloc_usable_size(m) == to);
        snprintf(line, sizeof line, "dynalloc: free(): heap overflow past %p (%zu bytes requested)", m, to);
        expect_abort("overflow by one byte after realloc moved a block to whole pages", overflow_free, m, line);
        free_sized(m, to);
    }

    void *al = NULL;
    CHECK(posix_memalign(&al, 64, 128) == 0 && ((uintptr_t)al & 63) == 0 && malloc_usable_size(al) == 128);
    snprintf(line, sizeof line, "dynalloc: free(): heap overflow past %p (128 bytes requested)", al);
    expect_abort("overflow of an aligned block", overflow_aligned, al, line);

    void *keep = malloc(64);   /* live beside u: its page is not retired when u comes back */
    void *u = malloc(64);
    snprintf(line, sizeof line, "dynalloc: malloc(): use after free of %p", u);
    expect_abort("write after free, found at reuse", use_after_free, u, line);
    free(keep);

    /* the fill is checked in every 16-byte chunk it covers (the first 256 bytes of
     * a block after its link and key), in blocks of 1 to 15 chunks of fill: bytes
     * 16, 31, 46, … (every 15th) fall in each chunk, at different places */
    {
        static const size_t blocks[] = { 32, 48, 64, 80, 96, 112, 128, 160, 192, 256, 512 };
        size_t cases = 0;
        for (size_t k = 0; k < sizeof blocks / sizeof blocks[0]; k++) {
            size_t fill_end = blocks[k] < 256 ? blocks[k] : 256;
            for (size_t off = 16; off < fill_end; off += 15) {
                /* live blocks allocated before and after it: one of them shares its
                 * page (which holds 2 blocks or more), so malloc_trim keeps the page */
                void *pin = malloc(blocks[k] - 1);
                struct uaf_case c = { malloc(blocks[k] - 1), blocks[k] - 1, off };
                void *pin_after = malloc(blocks[k] - 1);
                CHECK(pin != NULL && c.p != NULL && pin_after != NULL);
                char want[128];
                snprintf(want, sizeof want, "dynalloc: malloc(): use after free of %p\n", (void *)c.p);
                int status = run_child(use_after_free_at, &c, line, sizeof line);
                CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && strcmp(line, want) == 0,
                       "a write at byte %zu of a freed %zu-byte block: status %#x, stderr \"%s\"", off, blocks[k],
                       status, line);
                cases++;
                free(c.p);
                free(pin);
                free(pin_after);
            }
        }
        test_checks++;
        printf("  ok  %-34s %zu writes, each reported\n", "write after free, every chunk", cases);
    }

    void *d = malloc(40);
    expect_report("double free after a malloc", double_free_after_reuse, d, "free", "double free");
    /* a pointer into a block, not its start: reported, never taken for a block */
    char *in = malloc(40);
    expect_report("free of a pointer 16 B into a block", free_it, in + 16, "free", "invalid pointer");
    expect_report("free of a pointer 8 B into a block", free_it, in + 8, "free", "invalid pointer");
    free(in);
    snprintf(line, sizeof line, "dynalloc: free_sized(): wrong size 48 for %p", d);
    expect_abort("free_sized wants the request", wrong_size, d, line);

    /* statistics: the blocks waiting in the quarantine are freed, not in use
     * (100 requests of 100 B take the 112-byte class of 101 B) */
    {
        void *held[100];
        malloc_trim(0);   /* the quarantine empty */
        size_t before = mallinfo2().uordblks;
        for (int i = 0; i < 100; i++)
            held[i] = malloc(100);
        CHECK(mallinfo2().uordblks == before + 100 * 112);
        for (int i = 0; i < 100; i++)
            free(held[i]);
        CHECK(mallinfo2().uordblks == before);
    }

    /* realloc within the block moves the canary with the request */
    unsigned char *g = malloc(100);
    g = realloc(g, 90);
    CHECK(g != NULL && malloc_usable_size(g) == 90);
    memset(g, 1, 90);
    free(g);

    pthread_t t;
    void *seq;
    CHECK(pthread_create(&t, NULL, sequential_count, NULL) == 0);
    CHECK(pthread_join(t, &seq) == 0);
    CHECKF((size_t)seq < 16, "%zu of 63 neighbours handed out in address order", (size_t)seq);
    test_checks++;
    printf("  ok  %-34s %zu of 63 in address order\n", "carving order shuffled", (size_t)seq);

    CHECKF(faults(write_guard, p), "a write to the slice above the metadata of %p's segment did not fault", p);
    CHECKF(faults(write_guard_below, p), "a write to the slice below the metadata of %p's segment did not fault", p);
    test_checks += 2;
    printf("  ok  %-34s\n", "guard slices around the metadata");

    /* a huge block's mapping ends in an inaccessible page: fresh, grown by mremap, from the cache */
    char *h = malloc((size_t)3 << 20);
    CHECK(h != NULL);
    memset(h, 1, malloc_usable_size(h));
    CHECKF(faults(write_past_huge, h), "a write past the huge block %p did not fault", (void *)h);
    h = realloc(h, (size_t)9 << 20);
    CHECK(h != NULL);
    memset(h, 2, malloc_usable_size(h));
    CHECKF(faults(write_past_huge, h), "a write past the huge block %p grown by realloc did not fault", (void *)h);
    free(h);
    h = malloc((size_t)5 << 20);
    CHECK(h != NULL);
    memset(h, 3, malloc_usable_size(h));
    CHECKF(faults(write_past_huge, h), "a write past the huge block %p from the cache did not fault", (void *)h);
    free(h);
    printf("  ok  %-34s\n", "guard page after huge blocks");
    return test_done();
}
