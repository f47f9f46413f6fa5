/* thp_coverage.c — DYNALLOC_THP (preloaded; tests/run_tests.sh runs it as
 * thp_coverage@on with DYNALLOC_THP=1 and the argument "on", thp_coverage@off
 * with DYNALLOC_THP=0 and "off").  Skips (77) unless the kernel's THP mode is
 * madvise, where only memory marked MADV_HUGEPAGE gets huge pages.
 *
 * 12 MiB of 100 KB blocks are written; the process's AnonHugePages
 * (/proc/self/smaps_rollup) must then be at least 4 MiB with "on" (segments
 * are marked, their 2 MiB halves filled) and 0 with "off".  With "on", after
 * every block is freed, a purge pass of the delay does not break the huge pages
 * for holes smaller than one, and malloc_trim(0) gives them back (below 2 MiB).
 */
#include "check.h"
#include <fcntl.h>
#include <unistd.h>

static long anon_huge_kb(void)
{
    char buf[4096];
    int fd = open("/proc/self/smaps_rollup", O_RDONLY);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    const char *at = strstr(buf, "AnonHugePages:");
    return at ? strtol(at + strlen("AnonHugePages:"), NULL, 10) : -1;
}

static int thp_mode_is_madvise(void)
{
    char buf[128] = {0};
    int fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n > 0 && strstr(buf, "[madvise]") != NULL;
}

#define BLOCKS 120
#define SIZE   100000

int main(int argc, char **argv)
{
    test_init("thp_coverage");
    CHECK(argc == 2);
    int on = strcmp(argv[1], "on") == 0;
    if (!thp_mode_is_madvise() || anon_huge_kb() < 0) {
        printf("thp_coverage: the kernel's THP mode is not madvise: skipped\n");
        return 77;
    }
    static unsigned char *b[BLOCKS];
    for (int i = 0; i < BLOCKS; i++) {
        b[i] = malloc(SIZE);
        CHECK(b[i] != NULL);
        memset(b[i], i, SIZE);
    }
    long full = anon_huge_kb();
    printf("thp_coverage: %s: AnonHugePages %ld KiB with %d KiB written\n", argv[1], full, BLOCKS * SIZE / 1024);
    if (!on) {
        CHECKF(full == 0, "huge pages without DYNALLOC_THP: %ld KiB", full);
        return test_done();
    }
    CHECKF(full >= 4096, "DYNALLOC_THP=1: only %ld KiB in huge pages", full);
    for (int i = 0; i < BLOCKS; i += 2) free(b[i]);   /* holes of 100 KB */
    usleep(400 * 1000);                                /* past the purge delay: a purge pass */
    malloc_stats();                                    /* a slow path that purges what is due */
    long holes = anon_huge_kb();
    printf("thp_coverage: holes: AnonHugePages %ld KiB after the purge delay\n", holes);
    CHECKF(holes >= full - 2048, "the purge broke huge pages for small holes: %ld KiB of %ld", holes, full);
    for (int i = 1; i < BLOCKS; i += 2) free(b[i]);
    malloc_trim(0);
    long trimmed = anon_huge_kb();
    printf("thp_coverage: after malloc_trim: AnonHugePages %ld KiB\n", trimmed);
    CHECKF(trimmed < 2048, "malloc_trim left %ld KiB in huge pages", trimmed);
    return test_done();
}
