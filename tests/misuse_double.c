/* misuse_double.c — a second free of the same block aborts with
 *   dynalloc: free(): double free 0x…
 * Cases: pool blocks of several sizes, bulk class blocks (5000 and 8192 bytes)
 * and bulk runs (40000 bytes and more),
 * freed twice with no allocation in between, a double free that follows
 * frees of neighbouring blocks, an over-aligned block, and the stale pointer
 * of a block that realloc moved to another tier; a dedicated mapping freed
 * twice may also be reported as an invalid pointer.
 */
#include "misuse.h"

static void do_double_free(void *p)
{
    free(p);
    free(p);
}

static void *neighbours[2];

static void do_double_free_among(void *p)
{
    free(neighbours[0]);
    free(p);
    free(neighbours[1]);
    free(p);
}

static void do_free_after_move(void *p)
{
    void *q = realloc(p, 100000);  /* pool → bulk: the block moves, p is freed */
    if (q == p)
        _exit(3);
    free(p);
}

static void run_case(const char *what, size_t size)
{
    /* allocated here, freed twice in the child, which holds a copy of the heap */
    void *p = malloc(size);
    CHECK(p != NULL);
    memset(p, 0x11, size);
    expect_report(what, do_double_free, p, "free", "double free");
    free(p);
}

int main(void)
{
    misuse_init("misuse_double");
    run_case("double free, 16-byte pool block", 16);
    run_case("double free, 64-byte pool block", 64);
    run_case("double free, 1000-byte pool block", 1000);
    run_case("double free, 4096-byte pool block", 4096);
    run_case("double free, 5000-byte bulk class block", 5000);
    run_case("double free, 8192-byte bulk class block", 8192);
    run_case("double free, 40000-byte bulk run", 40000);
    run_case("double free, 100000-byte bulk run", 100000);

    neighbours[0] = malloc(48);
    void *p = malloc(48);
    neighbours[1] = malloc(48);
    CHECK(neighbours[0] && p && neighbours[1]);
    expect_report("double free between other frees", do_double_free_among, p, "free", "double free");
    free(neighbours[0]);
    free(neighbours[1]);
    free(p);

    p = aligned_alloc(256, 512);
    CHECK(p != NULL);
    expect_report("double free, aligned_alloc(256, 512)", do_double_free, p, "free", "double free");
    free(p);

    p = malloc(100);
    CHECK(p != NULL);
    expect_report("free of the old pointer after realloc", do_free_after_move, p, "free", "double free");
    free(p);

    /* a dedicated mapping is gone after its free: either message will do */
    p = malloc(4 << 20);
    CHECK(p != NULL);
    char line[128], alt[128];
    snprintf(line, sizeof line, "dynalloc: free(): double free %p", p);
    snprintf(alt, sizeof alt, "dynalloc: free(): invalid pointer %p", p);
    expect_abort_either("double free, 4 MiB dedicated mapping", do_double_free, p, line, alt);
    free(p);
    return test_done();
}
