/* misuse_other.c — misuse through the other entry points:
 *   dynalloc: realloc(): freed pointer 0x…             realloc of a freed pool block
 *   dynalloc: malloc_usable_size(): freed pointer 0x…  usable size of a freed block
 *   dynalloc: free_sized(): wrong size N for 0x…       a size that cannot have made it
 *   dynalloc: free_aligned_sized(): wrong size N for 0x…
 */
#include "misuse.h"

static void do_realloc(void *p) { void *q = realloc(p, 100); (void)q; }
static void do_usable(void *p) { size_t n = malloc_usable_size(p); (void)n; }
static void do_free_sized_10(void *p) { free_sized(p, 10); }
static void do_free_sized_big(void *p) { free_sized(p, 100000); }
static void do_free_aligned_sized(void *p) { free_aligned_sized(p, 64, 5000); }

int main(void)
{
    misuse_init("misuse_other");
    char line[160];

    unsigned char *a = malloc(64);
    CHECK(a != NULL);
    free(a);
    snprintf(line, sizeof line, "dynalloc: realloc(): freed pointer %p", (void *)a);
    expect_abort("realloc of a freed pool block", do_realloc, a, line);
    snprintf(line, sizeof line, "dynalloc: malloc_usable_size(): freed pointer %p", (void *)a);
    expect_abort("malloc_usable_size of a freed pool block", do_usable, a, line);

    unsigned char *b = malloc(3000);    /* class 3072: 10 bytes is another class */
    CHECK(b != NULL);
    snprintf(line, sizeof line, "dynalloc: free_sized(): wrong size 10 for %p", (void *)b);
    expect_abort("free_sized with a size of another class", do_free_sized_10, b, line);
    snprintf(line, sizeof line, "dynalloc: free_sized(): wrong size 100000 for %p", (void *)b);
    expect_abort("free_sized with a size above the block", do_free_sized_big, b, line);
    free_sized(b, 3000);                 /* the right size is fine */

    unsigned char *c = aligned_alloc(64, 128);
    CHECK(c != NULL);
    snprintf(line, sizeof line, "dynalloc: free_aligned_sized(): wrong size 5000 for %p", (void *)c);
    expect_abort("free_aligned_sized with a size above the block", do_free_aligned_sized, c, line);
    free_aligned_sized(c, 64, 128);
    return test_done();
}
