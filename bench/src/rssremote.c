/* rssremote — does memory go back to the system when another thread frees it
 * and the thread that allocated it stays alive, blocked?
 *
 *   rssremote --mib=M [--size=B] [--sample-ms=100] [--watch-ms=2000]
 *
 * One thread allocates about M MiB (default 100) in blocks of B bytes (default
 * 1000), each written, and hands them through a pipe to a second thread, which
 * frees them all.  The allocating thread then blocks on another pipe (a worker
 * waiting for its next request) and makes no further allocator call until the
 * end; so does the freeing thread.  RSS is read from /proc/self/statm right
 * before the frees, right after them, then every --sample-ms for --watch-ms.
 * Reports RSS before the frees, right after them and at the end (nothing is
 * live then), and the time the frees took.
 */
#include "common.h"

#include <fcntl.h>

static uint64_t bytes;
static size_t block_size;
static int to_freer[2], to_main[2], release[2];

struct handoff { char **blocks; size_t n; };
struct done { long before_kb; double free_ms; };

static long statm_rss_kb(void)
{
    int fd = open("/proc/self/statm", O_RDONLY);
    char buf[128];
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
    if (fd >= 0) close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    long size, resident;
    if (sscanf(buf, "%ld %ld", &size, &resident) != 2) return -1;
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void xread(int fd, void *p, size_t n)
{
    if (read(fd, p, n) != (ssize_t)n) die_errno("read", errno);
}

static void xwrite(int fd, const void *p, size_t n)
{
    if (write(fd, p, n) != (ssize_t)n) die_errno("write", errno);
}

static void *allocator(void *arg)
{
    struct handoff h = { NULL, bytes / block_size };
    h.blocks = xmalloc(h.n * sizeof *h.blocks);
    for (size_t i = 0; i < h.n; i++) {
        h.blocks[i] = xmalloc(block_size);
        memset(h.blocks[i], 1, block_size);
    }
    xwrite(to_freer[1], &h, sizeof h);
    char c;
    xread(release[0], &c, 1); /* alive and blocked until main is done watching */
    return NULL;
}

static void *freer(void *arg)
{
    struct handoff h;
    xread(to_freer[0], &h, sizeof h);
    struct done d;
    d.before_kb = statm_rss_kb();
    uint64_t t0 = now_ns();
    for (size_t i = 0; i < h.n; i++) free(h.blocks[i]);
    free(h.blocks);
    d.free_ms = (double)(now_ns() - t0) / 1e6;
    xwrite(to_main[1], &d, sizeof d);
    char c;
    xread(release[0], &c, 1);
    return NULL;
}

int main(int argc, char **argv)
{
    args_init(argc, argv, "--mib=M [--size=B] [--sample-ms=MS] [--watch-ms=MS]");
    bytes = arg_u64("mib", 100) << 20;
    block_size = (size_t)arg_u64("size", 1000);
    unsigned sample_ms = (unsigned)arg_u64("sample-ms", 100);
    unsigned watch_ms = (unsigned)arg_u64("watch-ms", 2000);
    if (block_size == 0 || bytes < block_size || sample_ms == 0) { fprintf(stderr, "bad options\n"); return 2; }
    if (pipe(to_freer) || pipe(to_main) || pipe(release)) die_errno("pipe", errno);

    printf("rssremote: %zu blocks of %zu B\n", (size_t)(bytes / block_size), block_size);
    long base = statm_rss_kb();
    pthread_t ta = spawn(allocator, NULL), tf = spawn(freer, NULL);
    struct done d;
    xread(to_main[0], &d, sizeof d);
    long after = statm_rss_kb();
    printf("  base %ld KiB, peak %ld KiB\n", base, hwm_kb());
    printf("  before free: rss=%ld KiB, frees took %.1f ms\n", d.before_kb, d.free_ms);
    long never;   /* no target: the series alone */
    long last = watch_rss(statm_rss_kb, after, sample_ms, watch_ms, -1, &never);
    metric("rss_before_free_kb", (double)d.before_kb, "KiB");
    metric("rss_after_free_kb", (double)after, "KiB");
    metric("rss_end_kb", (double)last, "KiB");
    metric("free_ms", d.free_ms, "ms");

    char c[2] = { 1, 1 };
    xwrite(release[1], c, 2);
    pthread_join(ta, NULL);
    pthread_join(tf, NULL);
    return 0;
}
