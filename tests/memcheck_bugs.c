/* memcheck_bugs.c — one heap bug per run, for memcheck with dynalloc serving the
 * program (tests/memcheck_check.sh runs it under `valgrind --soname-synonyms=
 * somalloc=NONE` with libdynalloc.so preloaded and reads memcheck's report).
 *
 *   memcheck_bugs clean      blocks of every tier: malloc, calloc, realloc (in place,
 *                      moved, a mapping grown), aligned, free_sized, another
 *                      thread's frees; every byte written and read; all freed
 *   memcheck_bugs uaf        a read 16 bytes into a freed 64 B block
 *   memcheck_bugs overflow   a write one byte past a 24 B block whose neighbour is live
 *   memcheck_bugs uninit     a branch on a byte of a fresh 40 B block never written
 *   memcheck_bugs double     a 32 B block freed twice
 *   memcheck_bugs leak       the only pointer to a 48 B block dropped
 *   memcheck_bugs bigleak    the same for a 2 MiB block
 *
 * Every mode first checks that dynalloc serves malloc: da_malloc_usable_size
 * (dynalloc's own, which reports a pointer it did not hand out) of a malloc'd
 * block must be the request (memcheck's mode makes usable sizes exact).
 */
#include "check.h"
#include <pthread.h>

size_t da_malloc_usable_size(void *ptr) __attribute__((weak));

static volatile unsigned char sink;

__attribute__((noinline)) static void *make(size_t n) { void *p = malloc(n); __asm__ volatile("" : : "r"(p) : "memory"); return p; }

__attribute__((noinline)) static void drop_pointer(size_t n)
{
    unsigned char *p = make(n);
    memset(p, 7, n);
    sink = p[n - 1];
    p = NULL;   /* the only copy is gone: definitely lost */
}

static void *thread_free(void *arg)
{
    void **blocks = arg;
    for (int i = 0; i < 64; i++) free(blocks[i]);
    return NULL;
}

static void clean(void)
{
    static const size_t sizes[] = {1, 8, 15, 16, 24, 64, 100, 512, 1000, 4000, 4096, 5000,
                                   20000, 40000, 100000, 2000000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        unsigned char *p = malloc(n);
        CHECK(p != NULL);
        memset(p, 1, n);
        sink = p[0] + p[n - 1];
        unsigned char *z = calloc(1, n);
        CHECK(z != NULL && z[0] == 0 && z[n - 1] == 0);
        z = realloc(z, n / 2 + 1);                 /* in place or moved */
        CHECK(z != NULL && z[0] == 0);
        z = realloc(z, 3 * n + 300000);            /* moved, a mapping above 256 KiB */
        CHECK(z != NULL && z[0] == 0);
        memset(z, 2, 3 * n + 300000);
        z = realloc(z, 4 * n + 400000);            /* a mapping grown in place or moved */
        CHECK(z != NULL && z[3 * n + 299999] == 2);
        free(z);
        void *a = NULL;
        CHECK(posix_memalign(&a, 256, n) == 0);
        memset(a, 3, n);
        free(a);
        free_sized(p, n);
    }
    void *blocks[64];
    for (int i = 0; i < 64; i++) { blocks[i] = malloc(16 + 50 * i); memset(blocks[i], 4, 16 + 50 * i); }
    pthread_t t;
    CHECK(pthread_create(&t, NULL, thread_free, blocks) == 0);
    CHECK(pthread_join(t, NULL) == 0);
}

int main(int argc, char **argv)
{
    test_init("memcheck_bugs");
    CHECK(argc == 2);
    CHECKF(da_malloc_usable_size != NULL, "dynalloc is not loaded");
    void *probe = malloc(100);
    CHECKF(da_malloc_usable_size(probe) == 100, "dynalloc does not serve malloc exactly: usable %zu",
           da_malloc_usable_size(probe));
    free(probe);
    const char *mode = argv[1];
    if (strcmp(mode, "clean") == 0) {
        clean();
    } else if (strcmp(mode, "uaf") == 0) {
        unsigned char *p = make(64);
        memset(p, 5, 64);
        free(p);
        sink = p[16];
    } else if (strcmp(mode, "overflow") == 0) {
        unsigned char *a = make(24), *b = make(24);
        memset(b, 6, 24);
        a[24] = 'x';   /* the byte after a's request */
        sink = b[0];
        free(b);
        free(a);
    } else if (strcmp(mode, "uninit") == 0) {
        unsigned char *p = make(40);
        if (p[10] == 42) sink = 1;   /* never written */
        free(p);
    } else if (strcmp(mode, "double") == 0) {
        void *p = make(32);
        free(p);
        free(p);
    } else if (strcmp(mode, "leak") == 0) {
        drop_pointer(48);
    } else if (strcmp(mode, "bigleak") == 0) {
        drop_pointer(2 << 20);
    } else {
        test_fail(__FILE__, __LINE__, "unknown mode %s", mode);
    }
    return test_done();
}
