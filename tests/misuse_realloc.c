/* misuse_realloc.c — realloc of a pointer dynalloc never returned aborts with
 *   dynalloc: realloc(): invalid pointer 0x…
 * Cases: a stack address, a global, an interior pointer of a pool block.
 */
#include "misuse.h"

static char global_buf[4096] __attribute__((aligned(64)));

static void do_realloc(void *p)
{
    void *q = realloc(p, 100);
    (void)q;
}

static void expect_invalid(const char *what, void *p)
{
    expect_report(what, do_realloc, p, "realloc", "invalid pointer");
}

int main(void)
{
    misuse_init("misuse_realloc");
    char stack_buf[1024] __attribute__((aligned(64)));
    memset(stack_buf, 0, sizeof stack_buf);
    expect_invalid("realloc of a stack pointer", stack_buf + 512);
    expect_invalid("realloc of a global", global_buf + 2048);
    unsigned char *pool = malloc(64);
    CHECK(pool != NULL);
    expect_invalid("realloc of pool block + 16", pool + 16);
    free(pool);
    return test_done();
}
