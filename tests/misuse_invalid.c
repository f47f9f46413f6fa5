/* misuse_invalid.c — free of a pointer dynalloc never returned aborts with
 *   dynalloc: free(): invalid pointer 0x…
 * Cases: a stack address, a global, a page from mmap, an interior pointer of a
 * pool block, interior pointers of a bulk class block and of a bulk run, an
 * interior pointer of a dedicated mapping, and a pointer into a foreign mapping
 * that starts on a 64 MiB boundary and is filled with junk (where an allocator
 * that trusts headers at aligned addresses would find one).
 */
#include "misuse.h"

#include <sys/mman.h>

static char global_buf[8192] __attribute__((aligned(64)));

static void do_free(void *p)
{
    free(p);
}

static void do_nothing_wrong(void *p)
{
    void *q = malloc(64);
    free(q);
    free(p);
}

static void expect_invalid(const char *what, void *p)
{
    expect_report(what, do_free, p, "free", "invalid pointer");
}

int main(void)
{
    misuse_init("misuse_invalid");
    char stack_buf[1024] __attribute__((aligned(64)));
    memset(stack_buf, 0, sizeof stack_buf);

    /* pointers in the middle of their objects, so that an allocator peeking at
     * nearby bytes stays inside them */
    expect_invalid("stack pointer", stack_buf + 512);
    expect_invalid("global", global_buf + 4096);

    void *page = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(page != MAP_FAILED);
    expect_invalid("mmap page", (char *)page + 4096);
    expect_invalid("mmap page start", page);

    size_t span = (size_t)128 << 20, boundary = (size_t)64 << 20;
    unsigned char *region = mmap(NULL, span, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CHECK(region != MAP_FAILED);
    unsigned char *aligned = (unsigned char *)(((uintptr_t)region + boundary - 1) & ~(uintptr_t)(boundary - 1));
    for (size_t i = 0; i < 256 * 1024; i++)
        aligned[i] = (unsigned char)(i * 7 + 0x41);
    expect_invalid("junk mapping at 64 MiB boundary", aligned + 65536);
    expect_invalid("junk mapping boundary + 16", aligned + 16);

    unsigned char *pool = malloc(64);
    CHECK(pool != NULL);
    expect_invalid("pool block + 16", pool + 16);
    expect_invalid("pool block + 1", pool + 1);

    unsigned char *bulk = malloc(8192);
    CHECK(bulk != NULL);
    expect_invalid("bulk class block + 16", bulk + 16);
    expect_invalid("bulk class block + 4096", bulk + 4096);
    unsigned char *run = malloc(40000);
    CHECK(run != NULL);
    expect_invalid("bulk run + 16", run + 16);
    expect_invalid("bulk run + 4096", run + 4096);

    unsigned char *huge = malloc(4 << 20);
    CHECK(huge != NULL);
    expect_invalid("dedicated mapping + 16", huge + 16);
    expect_invalid("dedicated mapping + 1 MiB", huge + (1 << 20));

    /* the real blocks are still fine, in the child and here */
    expect_clean("free of the real pool block", do_nothing_wrong, pool);
    free(pool);
    free(bulk);
    free(run);
    free(huge);
    munmap(page, 1 << 16);
    munmap(region, span);
    return test_done();
}
