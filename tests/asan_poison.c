/* asan_poison.c — an ASan build of the prefixed library (SANITIZE=address)
 * poisons what the program no longer owns, so that a program built with ASan
 * gets ASan's report for a use of a freed da_ block (built only as
 * build/tests/asan/asan_poison, against build-asan/libdynalloc-prefix.a).
 *
 * Checked, each in a forked child whose stderr is read back:
 *  - a read 16 bytes into a freed 64-byte block, a write into the middle of a
 *    freed 6000-byte (bulk class) block, and a read of a freed block that
 *    another thread freed: ASan's "use-after-poison" report at that address,
 *    and the child dies;
 *  - no false report: every byte of live blocks of many sizes written, freed,
 *    the memory handed out again (pool blocks, then a 100000-byte run grown by
 *    realloc over pages that were pool blocks) and every byte written again;
 *    calloc of a reused block reads as zero.
 */
#include "check.h"
#include <pthread.h>
#include <sys/wait.h>

static volatile unsigned char sink;

/* Run fn(arg) in a child; its stderr must name use-after-poison at addr. */
static void expect_poison(const char *what, void (*fn)(void *), void *arg, const void *addr) {
    int fd[2];
    CHECK(pipe(fd) == 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(fd[1], 2);
        close(fd[0]);
        fn(arg);
        _exit(0);   /* not reported */
    }
    close(fd[1]);
    static char out[65536];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof out - 1 && (n = read(fd[0], out + len, sizeof out - 1 - len)) > 0) len += (size_t)n;
    out[len] = 0;
    close(fd[0]);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    char want[128];
    snprintf(want, sizeof want, "AddressSanitizer: use-after-poison on address %p", addr);
    if (!(WIFEXITED(status) && WEXITSTATUS(status) != 0) || strstr(out, want) == NULL) {
        fprintf(stderr, "asan_poison: %s: status %d, wanted \"%s\" in:\n%.2000s\n", what, status, want, out);
        exit(1);
    }
    printf("  ok  %s\n", what);
}

static void read_at(void *p) { sink = *(volatile unsigned char *)p; }
static void write_at(void *p) { *(volatile unsigned char *)p = 1; }

static void *free_it(void *p) { free(p); return NULL; }

int main(void) {
    test_init("asan_poison");
    unsigned char *a = malloc(64);
    CHECK(a != NULL);
    memset(a, 1, 64);
    free(a);
    expect_poison("read of a freed 64-byte block", read_at, a + 16, a + 16);

    unsigned char *b = malloc(6000);
    CHECK(b != NULL);
    memset(b, 2, 6000);
    free(b);
    expect_poison("write into a freed 6000-byte block", write_at, b + 3000, b + 3000);

    unsigned char *c = malloc(200);
    CHECK(c != NULL);
    memset(c, 3, 200);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, free_it, c) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    expect_poison("read of a block another thread freed", read_at, c + 100, c + 100);

    /* no false report where the memory is the program's again */
    enum { N = 2000 };
    static unsigned char *live[N];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            size_t size = 1 + (size_t)(i * 37 % 4096);
            live[i] = malloc(size);
            CHECK(live[i] != NULL);
            memset(live[i], round, malloc_usable_size(live[i]));
        }
        for (int i = 0; i < N; i++)
            free(live[i]);
    }
    malloc_trim(0);   /* the pool pages go back: their slices may now make a run */
    unsigned char *r = malloc(40000);
    CHECK(r != NULL);
    r = realloc(r, 100000);
    CHECK(r != NULL);
    memset(r, 4, malloc_usable_size(r));
    free(r);
    unsigned char *z = calloc(1, 64);
    CHECK(z != NULL);
    for (int i = 0; i < 64; i++)
        CHECK(z[i] == 0);
    free(z);
    return test_done();
}
