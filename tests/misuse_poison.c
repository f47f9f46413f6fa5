/* misuse_poison.c — a freed pool block whose free-list link is overwritten
 * (free-list poisoning: a use after free that plants an address) makes the
 * malloc that pops it abort with
 *   dynalloc: malloc(): corrupted free list in page 0x… (block 0x…)
 * where the page is the block's 64 KiB pool page (block & ~0xFFFF) and the
 * block is the freed block itself; malloc never hands out the planted address.
 * Cases, for blocks of 16, 64, 512 and 4000 bytes: the link (first 8 bytes)
 * replaced by the address of a global; both words (link and free key) replaced
 * by arbitrary bytes; both words zeroed.  Then the global and the zeros for a
 * block that another thread freed (the owner takes it back from the page's
 * remote list, or from its delayed list when the page was full), found by the
 * owner's later mallocs (up to 10000).  Each case runs in a child (see misuse.h).
 */
#include "misuse.h"

#include <pthread.h>

/* The planted address: zeros, so that a malloc that follows the planted link
 * finds the end of a list there (and writes its clearing store harmlessly). */
static unsigned char some_global[256] __attribute__((aligned(64)));

#define EXIT_GOT_GLOBAL 42

/* The child got the planted address back from malloc: say so on stderr (the
 * failure message of misuse.h quotes it) and exit with a status of its own. */
static void check_not_global(const void *q, size_t n, int call)
{
    if ((const unsigned char *)q >= some_global && (const unsigned char *)q < some_global + sizeof some_global) {
        char msg[160];
        int len = snprintf(msg, sizeof msg,
                           "malloc(%zu) call %d returned the planted address %p (&some_global)\n",
                           n, call, q);
        if (write(2, msg, (size_t)len) < 0) {
        }
        _exit(EXIT_GOT_GLOBAL);
    }
}

enum poison { POISON_GLOBAL, POISON_BYTES, POISON_ZERO };

static const char *poison_name[] = { "link = &global", "16 arbitrary bytes", "16 zero bytes" };

static void poison(void *a, enum poison how)
{
    static const unsigned char junk[16] = { 0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0x7e,
                                            0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01 };
    switch (how) {
    case POISON_GLOBAL:
        *(void *volatile *)a = some_global;          /* the one 8-byte write */
        break;
    case POISON_BYTES:
        memcpy(a, junk, sizeof junk);
        break;
    case POISON_ZERO:
        memset(a, 0, 16);
        break;
    }
}

struct local_case {
    void *a;
    size_t n;
    enum poison how;
};

/* free, poison, then malloc of the same size: the first pops a (LIFO). */
static void do_local(void *arg)
{
    struct local_case *c = arg;
    free(c->a);
    poison(c->a, c->how);
    for (int i = 0; i < 3; i++) {
        void *q = malloc(c->n);
        check_not_global(q, c->n, i + 1);
    }
}

static void *remote_free(void *p)
{
    free(p);
    return NULL;
}

/* Another thread frees a (the child's main thread owns a's page); then the
 * owner poisons it and allocates until it meets a. */
static void do_remote(void *arg)
{
    struct local_case *c = arg;
    pthread_t t;
    if (pthread_create(&t, NULL, remote_free, c->a) != 0 || pthread_join(t, NULL) != 0)
        _exit(3);
    poison(c->a, c->how);
    for (int i = 0; i < 10000; i++) {
        void *q = malloc(c->n);
        check_not_global(q, c->n, i + 1);
    }
}

static void expect_corrupted(const char *what, void (*fn)(void *), struct local_case *c)
{
    char line[160];
    snprintf(line, sizeof line, "dynalloc: malloc(): corrupted free list in page %p (block %p)",
             (void *)((uintptr_t)c->a & ~(uintptr_t)0xFFFF), c->a);
    expect_abort(what, fn, c, line);
}

int main(void)
{
    misuse_init("misuse_poison");
    static const size_t sizes[] = { 16, 64, 512, 4000 };
    char what[96];

    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (int how = POISON_GLOBAL; how <= POISON_ZERO; how++) {
            struct local_case c = { malloc(sizes[s]), sizes[s], (enum poison)how };
            CHECK(c.a != NULL);
            memset(c.a, 0x5c, c.n);
            snprintf(what, sizeof what, "%zu B, %s", c.n, poison_name[how]);
            expect_corrupted(what, do_local, &c);
            free(c.a);                         /* the parent's copy is intact */
        }
    }

    /* Freed by another thread into a page with room: the block waits on the
     * page's remote list until the owner has used the local free blocks. */
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (int how = POISON_GLOBAL; how <= POISON_ZERO; how += POISON_ZERO) {
            struct local_case c = { malloc(sizes[s]), sizes[s], (enum poison)how };
            CHECK(c.a != NULL);
            memset(c.a, 0x5c, c.n);
            snprintf(what, sizeof what, "remote free, %zu B, %s", c.n, poison_name[how]);
            expect_corrupted(what, do_remote, &c);
            free(c.a);
        }
    }

    /* Freed by another thread into a page that was full (4000-byte blocks: 16
     * to a page; 40 of them fill the first pages, which leave the bin queue):
     * the owner takes the block from its delayed list. */
    void *blocks[40];
    for (int i = 0; i < 40; i++) {
        blocks[i] = malloc(4000);
        CHECK(blocks[i] != NULL);
        memset(blocks[i], 0x5c, 4000);
    }
    for (int how = POISON_GLOBAL; how <= POISON_ZERO; how += POISON_ZERO) {
        struct local_case c = { blocks[5], 4000, (enum poison)how };
        snprintf(what, sizeof what, "remote free, full page, %s", poison_name[how]);
        expect_corrupted(what, do_remote, &c);
    }
    for (int i = 0; i < 40; i++)
        free(blocks[i]);
    return test_done();
}
