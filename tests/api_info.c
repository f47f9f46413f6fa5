/* api_info.c — mallinfo, mallinfo2, malloc_trim, malloc_stats, mallopt.
 *
 * Covers: mallinfo2().uordblks grows by at least N after N bytes are
 * allocated and drops again after they are freed; arena and hblkhd are
 * non-zero while small and large blocks are live; mallinfo agrees with
 * mallinfo2; after a large heap is freed, malloc_trim(0) hands memory back
 * (returns 1, unless it was already handed back) and the resident set shrinks;
 * malloc_stats writes this process's report, every section of it, to stderr;
 * mallopt answers 1 for glibc's parameters and 0 for unknown ones.  (The exact
 * figures: api_mallinfo.c.)
 */
#include "check.h"

#include <fcntl.h>
#include <sys/mman.h>

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static void test_mallinfo2(void)
{
    enum { N = 4000, SZ = 1000 };
    static void *v[N];
    struct mallinfo2 before = mallinfo2();
    for (int i = 0; i < N; i++) {
        v[i] = malloc(SZ);
        CHECK(v[i] != NULL);
        memset(v[i], 1, SZ);
    }
    struct mallinfo2 during = mallinfo2();
    CHECKF(during.uordblks >= before.uordblks + (size_t)N * SZ,
           "uordblks %zu → %zu after allocating %zu bytes", before.uordblks, during.uordblks,
           (size_t)N * SZ);
    CHECK(during.arena > 0);
    for (int i = 0; i < N; i++)
        free(v[i]);
    struct mallinfo2 after = mallinfo2();
    CHECKF(after.uordblks + (size_t)N * SZ / 2 <= during.uordblks,
           "uordblks %zu → %zu after freeing %zu bytes", during.uordblks, after.uordblks,
           (size_t)N * SZ);

    /* a large block counts in hblkhd (or at least in the in-use total) */
    before = mallinfo2();
    char *big = malloc(8 * MiB), *small = malloc(100);
    CHECK(big != NULL && small != NULL);
    memset(big, 2, 8 * MiB);
    during = mallinfo2();
    CHECK(during.arena > 0);
    if (test_is_dynalloc())        /* the system allocator may carve it from its heap */
        CHECK(during.hblkhd > 0);
    CHECKF(during.uordblks + during.hblkhd >= before.uordblks + before.hblkhd + 8 * MiB,
           "uordblks+hblkhd %zu → %zu after allocating 8 MiB", before.uordblks + before.hblkhd,
           during.uordblks + during.hblkhd);

    /* mallinfo is mallinfo2 with int fields */
    struct mallinfo old = mallinfo();
    struct mallinfo2 now = mallinfo2();
    CHECK(old.arena > 0);
    CHECK((size_t)old.hblkhd <= now.hblkhd + 16 * MiB && now.hblkhd <= (size_t)old.hblkhd + 16 * MiB);
    CHECK((size_t)old.uordblks <= now.uordblks + 16 * MiB && now.uordblks <= (size_t)old.uordblks + 16 * MiB);
    free(big);
    free(small);
    after = mallinfo2();
    CHECKF(after.uordblks + after.hblkhd + 4 * MiB <= during.uordblks + during.hblkhd,
           "uordblks+hblkhd %zu → %zu after freeing 8 MiB", during.uordblks + during.hblkhd,
           after.uordblks + after.hblkhd);
}

static void test_trim(void)
{
    enum { TOTAL = 160 << 20 };
    static void *v[TOTAL / 512];
    size_t nv = 0, bytes = 0;
    uint64_t rng = 99;
    malloc_trim(0);
    size_t rss0 = test_rss();
    /* pool and bulk blocks, below any dedicated-mapping threshold */
    while (bytes < TOTAL) {
        size_t n = test_rand(&rng) % 8 == 0 ? 4096 + test_rand(&rng) % 60000 : 512 + test_rand(&rng) % 3000;
        void *p = malloc(n);
        CHECK(p != NULL);
        memset(p, 0x77, n);
        v[nv++] = p;
        bytes += n;
    }
    void *plug = malloc(200);      /* keeps the heap top from shrinking on its own */
    CHECK(plug != NULL);
    size_t rss1 = test_rss();
    CHECKF(rss1 >= rss0 + TOTAL / 2, "RSS %zu → %zu after touching %d bytes", rss0, rss1, TOTAL);
    for (size_t i = 0; i < nv; i++)
        free(v[i]);
    size_t rss2 = test_rss();
    int released = malloc_trim(0);
    size_t rss3 = test_rss();
    printf("api_info: rss before %zu MiB, full %zu MiB, freed %zu MiB, trimmed %zu MiB (trim returned %d)\n",
           rss0 >> 20, rss1 >> 20, rss2 >> 20, rss3 >> 20, released);
    CHECKF(released == 1 || rss2 < rss0 + TOTAL / 4,
           "malloc_trim(0) = %d though %zu MiB were still resident", released, (rss2 - rss0) >> 20);
    CHECKF(rss3 < rss0 + TOTAL / 4, "RSS still %zu MiB (from %zu MiB) after free and malloc_trim(0)",
           rss3 >> 20, rss0 >> 20);
    CHECK(released == 0 || released == 1);
    free(plug);
    /* trimming with nothing to give back is harmless */
    malloc_trim(0);
    malloc_trim(1 << 20);
}

static void test_stats(void)
{
    void *keep = malloc(40000);
    CHECK(keep != NULL);
    fflush(stderr);
    int saved = dup(2);
    int fd = memfd_create("malloc_stats", 0);
    CHECK(saved >= 0 && fd >= 0);
    CHECK(dup2(fd, 2) == 2);
    malloc_stats();
    fflush(stderr);
    CHECK(dup2(saved, 2) == 2);
    close(saved);
    off_t len = lseek(fd, 0, SEEK_END);
    static char text[16384];
    ssize_t got = pread(fd, text, sizeof text - 1, 0);
    close(fd);
    CHECKF(len > 0 && got > 0, "malloc_stats wrote nothing to stderr");
    text[got] = 0;
    if (test_is_dynalloc()) {
        /* the report of this process, every section of it, the 40000-byte bulk run counted */
        char head[64];
        snprintf(head, sizeof head, "dynalloc: statistics for process %d\n", (int)getpid());
        CHECKF(strncmp(text, head, strlen(head)) == 0, "malloc_stats starts: %.80s", text);
        static const char *const lines[] = {
            "\n  tier  mallocs  frees  live bytes\n", "\n    pool  –  –  ", "\n    bulk  ", "\n    huge  ",
            "\n  in use: ", "\n  free runs: ", "\n  caches: ", "\n  releasable now (keepcost): ",
            "\n  heaps: 1 live; ", "\n  OS: ", "\n  system calls: mmap ",
        };
        for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
            CHECKF(strstr(text, lines[i]) != NULL, "malloc_stats lacks \"%s\":\n%s", lines[i], text);
        unsigned long long bulk_live = 0;
        const char *b = strstr(text, "\n    bulk  ");
        CHECK(b != NULL && sscanf(b, "\n    bulk  %*u  %*u  %llu", &bulk_live) == 1);
        CHECKF(bulk_live >= malloc_usable_size(keep), "bulk live bytes %llu without the 40000-byte run", bulk_live);
    } else {
        CHECKF(strstr(text, "system bytes") != NULL, "malloc_stats: %.80s", text);
    }
    printf("api_info: malloc_stats wrote %ld bytes\n", (long)len);
    free(keep);
}

/* mallopt: 1 for glibc's parameters (dynalloc accepts and ignores them), 0 for
 * a parameter glibc does not know either (only dynalloc says so). */
static void test_mallopt(void)
{
    CHECK(mallopt(M_TRIM_THRESHOLD, 256 * 1024) == 1);
    CHECK(mallopt(M_MMAP_THRESHOLD, 1 << 20) == 1);
    CHECK(mallopt(M_TOP_PAD, 0) == 1);
    CHECK(mallopt(M_MMAP_MAX, 65536) == 1);
    CHECK(mallopt(M_ARENA_MAX, 8) == 1);
    CHECK(mallopt(M_MXFAST, 64) == 1);
    if (test_is_dynalloc()) {
        CHECK(mallopt(12345, 1) == 0);
        CHECK(mallopt(-9, 1) == 0);
        CHECK(mallopt(0, 1) == 0);
    }
    void *p = malloc(300000);
    CHECK(p != NULL);
    free(p);
}

int main(void)
{
    test_init("api_info");
    test_mallinfo2();
    test_trim();
    test_stats();
    test_mallopt();
    test_mallinfo2();
    return test_done();
}
