/* misuse_overflow.c — a write past the end of a pool block into its free
 * neighbour (a heap overflow) corrupts the neighbour's free-list link or free
 * key; the malloc that meets the neighbour aborts with
 *   dynalloc: malloc(): corrupted free list in page 0x… (block 0x…)
 * naming the neighbour's 64 KiB pool page and the neighbour itself, and never
 * hands out a planted or a live address.  Cases, for blocks of 64, 48 and 192
 * bytes: 16 bytes of 0x41 written past the end (link and key), 16 zero bytes,
 * 8 bytes of 0x41 (the link only).  Each case runs in a child (see misuse.h),
 * which allocates the size up to 10000 times after the overflow.
 */
#include "misuse.h"

#define NBLOCKS 200
#define EXIT_BAD_POINTER 42

static unsigned char *blocks[NBLOCKS];

struct overflow_case {
    size_t size;                  /* the class size: neighbours are size apart */
    unsigned char *block;         /* overflows into … */
    unsigned char *victim;        /* … its free neighbour, block + size */
    int byte;                     /* the value written */
    size_t len;                   /* bytes written past the end */
};

/* malloc handed out something it must not: a block that is still live, or an
 * address outside the block grid (a planted link followed).  Say so and exit
 * with a status of its own. */
static void bad_pointer(const char *why, const void *q, size_t n, int call)
{
    char msg[160];
    int len = snprintf(msg, sizeof msg, "malloc(%zu) call %d returned %p: %s\n", n, call, q, why);
    if (write(2, msg, (size_t)len) < 0) {
    }
    _exit(EXIT_BAD_POINTER);
}

static void do_overflow(void *arg)
{
    const struct overflow_case *c = arg;
    free(c->victim);
    memset(c->block + c->size, c->byte, c->len);   /* the overflow */
    for (int call = 1; call <= 10000; call++) {
        unsigned char *q = malloc(c->size);
        if (q == NULL)
            bad_pointer("NULL", q, c->size, call);
        if (((uintptr_t)q & 15) != 0)
            bad_pointer("not 16-byte aligned (a planted link followed)", q, c->size, call);
        for (int j = 0; j < NBLOCKS; j++)
            if (q == blocks[j] && q != c->victim)
                bad_pointer("a live block", q, c->size, call);
    }
}

static void run_size(size_t size)
{
    for (int j = 0; j < NBLOCKS; j++) {
        blocks[j] = malloc(size);
        CHECK(blocks[j] != NULL);
        memset(blocks[j], 0x33, size);
    }
    /* two blocks side by side in the same 64 KiB pool page (any two: the
     * allocator need not hand them out in address order) */
    unsigned char *block = NULL, *victim = NULL;
    for (int j = 0; j < NBLOCKS && block == NULL; j++)
        for (int m = 0; m < NBLOCKS; m++)
            if (blocks[m] == blocks[j] + size && ((uintptr_t)blocks[j] >> 16) == ((uintptr_t)blocks[m] >> 16)) {
                block = blocks[j];
                victim = blocks[m];
                break;
            }
    CHECKF(block != NULL, "no two adjacent %zu-byte blocks among %d", size, NBLOCKS);
    CHECK(malloc_usable_size(block) == size);   /* the write really is past the end */

    char line[160], what[96];
    snprintf(line, sizeof line, "dynalloc: malloc(): corrupted free list in page %p (block %p)",
             (void *)((uintptr_t)victim & ~(uintptr_t)0xFFFF), (void *)victim);
    static const struct { int byte; size_t len; } writes[] = { { 0x41, 16 }, { 0, 16 }, { 0x41, 8 } };
    for (size_t w = 0; w < sizeof writes / sizeof writes[0]; w++) {
        struct overflow_case c = { size, block, victim, writes[w].byte, writes[w].len };
        snprintf(what, sizeof what, "%zu B, %zu bytes of 0x%02x past the end", size, c.len, (unsigned)c.byte);
        expect_abort(what, do_overflow, &c, line);
    }
    for (int j = 0; j < NBLOCKS; j++)
        free(blocks[j]);
}

int main(void)
{
    misuse_init("misuse_overflow");
    run_size(64);
    run_size(48);
    run_size(192);
    return test_done();
}
