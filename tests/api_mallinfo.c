/* api_mallinfo.c — every figure of mallinfo2, mallinfo, malloc_info and
 * malloc_stats against an exact expectation computed here.
 *
 * The program re-executes itself with the purge delay out of reach, no purger
 * thread and the mmap back-end, so that nothing changes behind its back.  Then:
 *  - uordblks moves by exactly the usable sizes of the pool and bulk blocks
 *    allocated and freed; hblks/hblkhd by exactly the huge blocks' count and
 *    usable sizes; smblks/fsmblks by exactly the pool blocks freed; keepcost by
 *    exactly the bulk and huge bytes freed (touched, not yet returned), and
 *    after malloc_trim(0) it is 0; a freed huge block moves to arena, fordblks,
 *    ordblks (one more free chunk) and keepcost;
 *  - uordblks + fordblks = arena and keepcost ≤ fordblks throughout;
 *  - blocks freed by another thread, their owner not collecting them, count as
 *    freed at once (uordblks back to its value before they were allocated);
 *  - arena + hblkhd equals the bytes of dynalloc's mappings in
 *    /proc/self/smaps: dynalloc maps everything with MAP_NORESERVE (VmFlags
 *    "nr"), nothing else in this program does, and guard pages are PROT_NONE
 *    (skipped under the sanitizers and valgrind, whose own mappings are there);
 *  - malloc_info writes glibc's XML shape with the same figures, and gives
 *    EINVAL for options != 0; malloc_stats prints the same figures;
 *  - mallinfo is mallinfo2 in int fields.
 */
#include "check.h"

#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TEST_SANITIZED 1
#endif
#endif
#ifndef TEST_SANITIZED
#define TEST_SANITIZED 0
#endif

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

static struct mallinfo2 info(void)
{
    struct mallinfo2 m = mallinfo2();
    CHECKF(m.uordblks + m.fordblks == m.arena, "uordblks %zu + fordblks %zu != arena %zu", m.uordblks,
           m.fordblks, m.arena);
    CHECKF(m.keepcost <= m.fordblks, "keepcost %zu > fordblks %zu", m.keepcost, m.fordblks);
    return m;
}

#define CHECK_DELTA(field, a, b, want) \
    CHECKF((b).field - (a).field == (size_t)(want), #field " moved by %zd, want %zd", \
           (ssize_t)((b).field - (a).field), (ssize_t)(want))

/* ---- /proc/self/smaps: the bytes of readable-writable NORESERVE mappings ---- */
static char smaps_buf[4 << 20];

static size_t read_all(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fd, buf + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    close(fd);
    buf[n] = 0;
    return n;
}

static size_t smaps_noreserve_bytes(void)
{
    read_all("/proc/self/smaps", smaps_buf, sizeof smaps_buf);
    size_t total = 0, size = 0;
    int rw = 0;
    for (char *line = smaps_buf; *line;) {
        char *end = strchr(line, '\n');
        if (end) *end = 0;
        unsigned long lo, hi;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && strchr(line, ' ') == line + strcspn(line, " ")
            && line[strcspn(line, "-")] == '-' && strncmp(line, "VmFlags", 7) != 0) {
            size = hi - lo;
            rw = perms[0] == 'r' && perms[1] == 'w';
        } else if (strncmp(line, "VmFlags:", 8) == 0) {
            if (rw && strstr(line, " nr") != NULL)
                total += size;
        }
        if (!end) break;
        line = end + 1;
    }
    return total;
}

static int smaps_usable(void)
{
    char buf[16];
    const char *pre = getenv("LD_PRELOAD");
    if (TEST_SANITIZED || (pre != NULL && strstr(pre, "vgpreload") != NULL))
        return 0;
    read_all("/proc/sys/vm/overcommit_memory", buf, sizeof buf);
    return buf[0] != '2';   /* overcommit 2: the kernel drops MAP_NORESERVE */
}

static void check_mapped(const char *when)
{
    if (!smaps_usable())
        return;
    struct mallinfo2 m = info();
    size_t maps = smaps_noreserve_bytes();
    CHECKF(maps == m.arena + m.hblkhd, "%s: smaps shows %zu bytes of dynalloc mappings, arena %zu + hblkhd %zu = %zu",
           when, maps, m.arena, m.hblkhd, m.arena + m.hblkhd);
}

/* ---- pool and bulk: uordblks, smblks, fsmblks, keepcost ---- */
static void test_segments(void)
{
    static const size_t sizes[] = { 24, 200, 1000, 3000 };
    enum { N = 300 };
    static void *pool[4][N];
    struct mallinfo2 m0 = info();
    size_t sum = 0;
    for (int s = 0; s < 4; s++)
        for (int i = 0; i < N; i++) {
            pool[s][i] = malloc(sizes[s]);
            CHECK(pool[s][i] != NULL);
            sum += malloc_usable_size(pool[s][i]);
        }
    struct mallinfo2 m1 = info();
    CHECK_DELTA(uordblks, m0, m1, sum);
    CHECK_DELTA(hblkhd, m0, m1, 0);
    /* every third block freed: no page empties, the blocks become free pool blocks */
    size_t freed = 0, nfreed = 0;
    for (int s = 0; s < 4; s++)
        for (int i = 0; i < N; i += 3) {
            freed += malloc_usable_size(pool[s][i]);
            nfreed++;
            free(pool[s][i]);
            pool[s][i] = NULL;
        }
    struct mallinfo2 m2 = info();
    CHECK_DELTA(uordblks, m1, m2, -freed);
    CHECK_DELTA(fsmblks, m1, m2, freed);
    CHECK_DELTA(smblks, m1, m2, nfreed);
    CHECK_DELTA(keepcost, m1, m2, 0);
    CHECK_DELTA(arena, m1, m2, 0);

    /* blocks above 4096 B (a bulk class, bulk runs, a huge block): usable sizes
     * in uordblks; a freed run, touched, in keepcost */
    static const size_t bulk[] = { 5000, 40000, 70000, 300000, 1000000 };
    void *b[5];
    sum = 0;
    for (int i = 0; i < 5; i++) {
        b[i] = malloc(bulk[i]);
        CHECK(b[i] != NULL);
        memset(b[i], 1, bulk[i]);
        sum += malloc_usable_size(b[i]);
    }
    struct mallinfo2 m3 = info();
    CHECK_DELTA(uordblks, m2, m3, sum);
    size_t u1 = malloc_usable_size(b[1]), u3 = malloc_usable_size(b[3]);
    free(b[1]);   /* 40000 B: kept whole in the bulk cache */
    free(b[3]);   /* 300000 B: a free run, not yet purged */
    struct mallinfo2 m4 = info();
    CHECK_DELTA(uordblks, m3, m4, -(u1 + u3));
    CHECK_DELTA(keepcost, m3, m4, u1 + u3);
    check_mapped("pool and bulk blocks live");
    CHECK(malloc_trim(0) == 1);
    struct mallinfo2 m5 = info();
    CHECKF(m5.keepcost == 0, "keepcost %zu after malloc_trim(0)", m5.keepcost);
    CHECK_DELTA(uordblks, m4, m5, 0);
    for (int i = 0; i < 5; i++)
        if (i != 1 && i != 3)
            free(b[i]);
    for (int s = 0; s < 4; s++)
        for (int i = 0; i < N; i++)
            free(pool[s][i]);
    check_mapped("after the frees");
}

/* ---- huge blocks: hblks, hblkhd, and a freed one in the huge cache ---- */
static void test_huge(void)
{
    static const size_t sizes[] = { 2 * MiB + 1, 5 * MiB, 9 * MiB };
    void *h[3];
    struct mallinfo2 m0 = info();
    size_t sum = 0;
    for (int i = 0; i < 3; i++) {
        h[i] = malloc(sizes[i]);
        CHECK(h[i] != NULL);
        memset(h[i], 2, sizes[i]);
        sum += malloc_usable_size(h[i]);
    }
    struct mallinfo2 m1 = info();
    CHECK_DELTA(hblks, m0, m1, 3);
    CHECK_DELTA(hblkhd, m0, m1, sum);
    CHECK_DELTA(uordblks, m0, m1, 0);
    check_mapped("huge blocks live");
    size_t u = malloc_usable_size(h[1]);
    free(h[1]);   /* into the huge cache: mapped, free, resident */
    struct mallinfo2 m2 = info();
    CHECK_DELTA(hblks, m1, m2, -1);
    CHECK_DELTA(hblkhd, m1, m2, -u);
    CHECK_DELTA(arena, m1, m2, u);
    CHECK_DELTA(fordblks, m1, m2, u);
    CHECK_DELTA(keepcost, m1, m2, u);
    CHECK_DELTA(ordblks, m1, m2, 1);
    check_mapped("a huge block cached");
    malloc_trim(0);
    struct mallinfo2 m3 = info();
    CHECK_DELTA(arena, m2, m3, -u);
    CHECKF(m3.keepcost == 0, "keepcost %zu after malloc_trim(0)", m3.keepcost);
    check_mapped("the huge cache trimmed");
    free(h[0]);
    free(h[2]);
    malloc_trim(0);
    struct mallinfo2 m4 = info();
    CHECK(m4.hblks == m0.hblks && m4.hblkhd == m0.hblkhd);
}

/* ---- frees by another thread, the owner idle ---- */
enum { RN = 2000, RB = 20 };
static void *remote[RN + RB];
static sem_t go, done;

static void *freer(void *arg)
{
    (void)arg;
    sem_wait(&go);
    for (int i = 0; i < RN + RB; i++)
        free(remote[i]);
    sem_post(&done);
    sem_wait(&go);
    return NULL;
}

static void test_remote(void)
{
    pthread_t t;
    CHECK(sem_init(&go, 0, 0) == 0 && sem_init(&done, 0, 0) == 0);
    CHECK(pthread_create(&t, NULL, freer, NULL) == 0);
    struct mallinfo2 m0 = info();
    size_t sum = 0;
    for (int i = 0; i < RN + RB; i++) {
        remote[i] = malloc(i < RN ? 1000 : 40000);
        CHECK(remote[i] != NULL);
        sum += malloc_usable_size(remote[i]);
    }
    struct mallinfo2 m1 = info();
    CHECK_DELTA(uordblks, m0, m1, sum);
    sem_post(&go);
    sem_wait(&done);
    struct mallinfo2 m2 = info();   /* nothing collected: this thread has not allocated since */
    CHECKF(m2.uordblks == m0.uordblks, "uordblks %zu after another thread freed %zu bytes, was %zu before",
           m2.uordblks, sum, m0.uordblks);
    sem_post(&go);
    CHECK(pthread_join(t, NULL) == 0);
}

/* ---- malloc_info and malloc_stats: the same figures ---- */
static char xml[64 << 10];
static char iobuf[8192];

static size_t xml_attr(const char *tag, const char *attr)
{
    const char *p = strstr(xml, tag);
    CHECKF(p != NULL, "malloc_info lacks %s", tag);
    const char *a = strstr(p, attr);
    CHECKF(a != NULL, "malloc_info's %s lacks %s", tag, attr);
    return strtoull(a + strlen(attr), NULL, 10);
}

static void test_malloc_info(void)
{
    void *keep[3] = { malloc(100), malloc(50000), malloc(3 * MiB) };
    free(malloc(100));
    FILE *f = tmpfile();
    CHECK(f != NULL);
    setvbuf(f, iobuf, _IOFBF, sizeof iobuf);   /* no allocation inside malloc_info */
    errno = 0;
    CHECK(malloc_info(1, f) == -1 && errno == EINVAL);
    struct mallinfo2 m = info();
    CHECK(malloc_info(0, f) == 0);
    fflush(f);
    rewind(f);
    size_t n = fread(xml, 1, sizeof xml - 1, f);
    xml[n] = 0;
    fclose(f);
    CHECKF(strncmp(xml, "<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n", 42) == 0, "malloc_info starts: %.60s", xml);
    CHECK(n > 10 && strcmp(xml + n - 10, "</malloc>\n") == 0);
    const char *tail = strstr(xml, "</heap>");
    CHECK(tail != NULL);
    CHECK(xml_attr("<total type=\"fast\"", "count=\"") == m.smblks);
    CHECK(xml_attr("<total type=\"fast\"", "size=\"") == m.fsmblks);
    CHECK(xml_attr("<total type=\"rest\"", "count=\"") == m.ordblks);
    CHECK(xml_attr("<system type=\"current\"", "size=\"") == m.arena);
    CHECK(xml_attr("<system type=\"max\"", "size=\"") == m.usmblks);
    CHECK(xml_attr("<aspace type=\"total\"", "size=\"") == m.arena);
    CHECK(xml_attr("<total type=\"mmap\"", "count=\"") == m.hblks);
    CHECK(xml_attr("<total type=\"mmap\"", "size=\"") == m.hblkhd);
    CHECK(strstr(xml, "<size from=\"97\" to=\"112\" total=\"") != NULL);   /* 100 B class: a free block */

    /* malloc_stats: stderr into a memfd, the report's figures */
    fflush(stderr);
    int saved = dup(2), fd = memfd_create("stats", 0);
    CHECK(saved >= 0 && fd >= 0 && dup2(fd, 2) == 2);
    m = info();
    malloc_stats();
    CHECK(dup2(saved, 2) == 2);
    close(saved);
    n = (size_t)pread(fd, xml, sizeof xml - 1, 0);
    close(fd);
    xml[n] = 0;
    char want[256];
    snprintf(want, sizeof want, "  in use: %zu bytes (uordblks %zu + hblkhd %zu);", m.uordblks + m.hblkhd, m.uordblks,
             m.hblkhd);
    CHECKF(strstr(xml, want) != NULL, "malloc_stats lacks \"%s\":\n%s", want, xml);
    snprintf(want, sizeof want, "  OS: %zu bytes mapped now (arena %zu + hblkhd %zu;", m.arena + m.hblkhd, m.arena,
             m.hblkhd);
    CHECKF(strstr(xml, want) != NULL, "malloc_stats lacks \"%s\":\n%s", want, xml);
    snprintf(want, sizeof want, "  releasable now (keepcost): %zu bytes\n", m.keepcost);
    CHECKF(strstr(xml, want) != NULL, "malloc_stats lacks \"%s\":\n%s", want, xml);
    for (int i = 0; i < 3; i++)
        free(keep[i]);
}

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static void test_mallinfo_ints(void)
{
    struct mallinfo2 m2 = info();
    struct mallinfo m = mallinfo();
    CHECK((size_t)m.arena == m2.arena && (size_t)m.uordblks == m2.uordblks && (size_t)m.fordblks == m2.fordblks);
    CHECK((size_t)m.hblks == m2.hblks && (size_t)m.hblkhd == m2.hblkhd && (size_t)m.keepcost == m2.keepcost);
    CHECK((size_t)m.ordblks == m2.ordblks && (size_t)m.smblks == m2.smblks && (size_t)m.fsmblks == m2.fsmblks);
}

int main(int argc, char **argv)
{
    if (getenv("API_MALLINFO_SET") == NULL && argc > 0) {
        setenv("API_MALLINFO_SET", "1", 1);
        setenv("DYNALLOC_PURGE_DELAY", "1000000", 1);
        setenv("DYNALLOC_PURGE_THREAD", "0", 1);
        setenv("DYNALLOC_BACKEND", "mmap", 1);
        setenv("DYNALLOC_SEGMENT_CACHE", "8", 1);
        setenv("DYNALLOC_GUARD_SAMPLE", "0", 1);   /* pool figures: no block goes to the guarded area */
        execvp(argv[0], argv);   /* (argv[0], not /proc/self/exe: valgrind runs it natively) */
    }
    test_init("api_mallinfo");
    if (!test_is_dynalloc())
        test_skip("the figures are dynalloc's");
    if (test_hardened())   /* usable sizes are the requests there, the figures count blocks */
        test_skip("the byte figures follow malloc_usable_size only in the default mode");
    check_mapped("at start");
    test_segments();
    test_huge();
    test_remote();
    test_malloc_info();
    test_mallinfo_ints();
    check_mapped("at the end");
    return test_done();
}
