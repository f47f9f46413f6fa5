/* misuse_fixed.c — a mapping that the program places right next to a huge
 * block (mmap with MAP_FIXED, one 4 KiB page, filled with its own data) changes
 * nothing for that block: malloc_usable_size still reports at least the size
 * asked, realloc to a larger size keeps the contents, free does not abort, and
 * a later malloc/free of the same size works.  While the block is live the
 * allocator writes nothing into the program's page either.  Cases: malloc(4 MiB)
 * with the page just below the block (rounded down to 4 KiB) and just after its
 * usable end (rounded up to 4 KiB); aligned_alloc(1 MiB, 3 MiB) with the page
 * just below and just after.  Each case runs in a child that must exit 0 with
 * nothing aborting: once through malloc_usable_size and realloc (grown by
 * half) before the free, once freeing the block at once.
 */
#include "misuse.h"

#include <sys/mman.h>

#define PAGE ((uintptr_t)4096)

struct fixed_case {
    size_t align;                 /* 0: malloc */
    size_t size;
    int after;                    /* the page after the block's end, not below its start */
    int full;                     /* usable size and realloc (grown by half) before the
                                     free; else the free comes at once */
};

/* The program's own data in its page: small integers, like header fields. */
static uint8_t page_byte(size_t i)
{
    return (uint8_t)(i % 8 == 0 ? (i / 8) % 5 : 0);
}

/* Stop the child with a message; the parent's expect_clean reports the status. */
static void child_fail(const char *what, int code)
{
    char msg[200];
    int len = snprintf(msg, sizeof msg, "misuse_fixed: child: %s\n", what);
    if (write(2, msg, (size_t)len) < 0) {
    }
    _exit(code);
}

/* A hole for the block's mapping, with a page of the program's own on top: the
 * kernel maps at the top of the highest hole that fits, so a block mapped on
 * its own most likely ends at that page.  The page placed after the block is
 * then free or the program's, not another mapping that MAP_FIXED would wreck. */
#define HOLE (64 * MiB)

static void do_fixed(void *arg)
{
    const struct fixed_case *c = arg;
    unsigned char *hole = mmap(NULL, HOLE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (hole == MAP_FAILED || munmap(hole, HOLE - PAGE) != 0)
        child_fail("no hole of 64 MiB", 2);
    unsigned char *cap = hole + HOLE - PAGE;
    unsigned char *p = c->align != 0 ? aligned_alloc(c->align, c->size) : malloc(c->size);
    if (p == NULL)
        child_fail("allocation failed", 2);
    if (c->align != 0 && ((uintptr_t)p & (c->align - 1)) != 0)
        child_fail("aligned_alloc gave a misaligned block", 2);
    size_t usable = malloc_usable_size(p);
    if (usable < c->size)
        child_fail("usable size below the size asked (before the mapping)", 2);
    test_fill_sparse(p, c->size, 0xf1);

    uintptr_t at = c->after ? ((uintptr_t)p + usable + PAGE - 1) & ~(PAGE - 1)
                            : ((uintptr_t)p & ~(PAGE - 1)) - PAGE;
    unsigned char vec;
    const char *before = at == (uintptr_t)cap ? "the program's reserved page"
                         : mincore((void *)at, PAGE, &vec) == 0 ? "mapped before" : "not mapped before";
    unsigned char *page = mmap((void *)at, PAGE, PROT_READ | PROT_WRITE,
                               MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED || (uintptr_t)page != at)
        child_fail("mmap MAP_FIXED failed", 2);
    for (size_t i = 0; i < PAGE; i++)
        page[i] = page_byte(i);
    printf("      block %p, usable %zu; program's page at %p (%s)\n", (void *)p, usable, (void *)page, before);

    if (test_verify_sparse(p, c->size, 0xf1) != c->size)
        child_fail("block contents changed by the mapping", 3);
    if (c->full) {
        if (malloc_usable_size(p) < c->size)
            child_fail("usable size below the size asked (after the mapping)", 3);
        size_t grown = c->size + c->size / 2;
        unsigned char *q = realloc(p, grown);
        if (q == NULL)
            child_fail("realloc to a larger size failed", 4);
        if (malloc_usable_size(q) < grown)
            child_fail("usable size after realloc below the size asked", 4);
        if (test_verify_sparse(q, c->size, 0xf1) != c->size)
            child_fail("realloc lost the contents", 4);
        memset(q + c->size, 0x6b, grown - c->size);
        p = q;
    }
    /* the allocator left the program's page alone while the block was live
     * (a realloc that moved the block may have unmapped it with its old range) */
    if (mincore(page, PAGE, &vec) == 0) {
        for (size_t i = 0; i < PAGE; i++)
            if (page[i] != page_byte(i))
                child_fail("the allocator wrote into the program's page", 6);
    }
    free(p);

    unsigned char *r = malloc(c->size);
    if (r == NULL)
        child_fail("the next malloc failed", 5);
    if (malloc_usable_size(r) < c->size)
        child_fail("the next block's usable size is below the size asked", 5);
    memset(r, 0x5d, c->size);
    free(r);
}

int main(void)
{
    misuse_init("misuse_fixed");
    static const struct { const char *name; size_t align, size; int after; } where[] = {
        { "4 MiB, page below", 0, 4 * MiB, 0 },
        { "4 MiB, page after", 0, 4 * MiB, 1 },
        { "aligned 1 MiB, 3 MiB, page below", MiB, 3 * MiB, 0 },
        { "aligned 1 MiB, 3 MiB, page after", MiB, 3 * MiB, 1 },
    };
    char what[96];
    for (size_t w = 0; w < sizeof where / sizeof where[0]; w++) {
        for (int full = 1; full >= 0; full--) {
            struct fixed_case c = { where[w].align, where[w].size, where[w].after, full };
            snprintf(what, sizeof what, "%s, %s", where[w].name, full ? "usable, realloc, free" : "free at once");
            expect_clean(what, do_fixed, &c);
            test_checks++;
        }
    }
    return test_done();
}
