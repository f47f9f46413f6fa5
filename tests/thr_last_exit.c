/* thr_last_exit.c — the purger thread never keeps a process alive: when the
 * last thread the program created ends with pthread_exit, the process ends with
 * status 0, as it does under glibc's malloc.
 *
 * Each case runs in a fresh process (this program re-executed with the case's
 * name); the test waits at most 5 s for it and requires exit status 0:
 *
 *   main-exit   the main thread frees 8 MiB (the purger starts), starts a
 *               worker and calls pthread_exit; the worker allocates, frees and
 *               returns
 *   fork-thread a worker thread forks (as Python's threading tests do); the
 *               child, whose only thread is that worker, frees 8 MiB (the
 *               child's purger starts), runs and joins one more thread, then
 *               calls pthread_exit.  The parent's main-thread heap stays in
 *               the child with no thread behind it: it must not count as one.
 *
 * Not under TSan: its background thread is a pthread, so main-exit hangs there
 * under glibc's malloc too, and it refuses threads in the child of a threaded
 * parent.  Each case first checks that the purger thread (named dynalloc-purge) runs,
 * so it tests what it says.
 */
#include "check.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <time.h>

enum { BLOCK = 1000, COUNT = 8 * 1024 };

static void *blocks[COUNT];

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Whether a thread named dynalloc-purge runs in this process. */
static bool purger_runs(void)
{
    DIR *dir = opendir("/proc/self/task");
    CHECK(dir != NULL);
    bool found = false;
    for (struct dirent *e; !found && (e = readdir(dir)) != NULL;) {
        char path[64], comm[32] = {0};
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            continue;   /* the thread ended meanwhile */
        ssize_t n = read(fd, comm, sizeof comm - 1);
        close(fd);
        found = n > 0 && strncmp(comm, "dynalloc-purge\n", 15) == 0;
    }
    closedir(dir);
    return found;
}

#if defined(__SANITIZE_THREAD__)
#define TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSAN 1
#endif
#endif

/* Allocate and free 8 MiB, then wait (at most 2 s) until the purger thread
 * runs. */
static void start_purger(void)
{
    for (unsigned i = 0; i < COUNT; i++) {
        blocks[i] = malloc(BLOCK);
        CHECK(blocks[i] != NULL);
        memset(blocks[i], (int)i, BLOCK);
    }
    for (unsigned i = 0; i < COUNT; i++)
        free(blocks[i]);
    void *p = malloc(BLOCK);   /* a slow path after the frees */
    free(p);
    bool runs = false;
    for (int waited = 0; waited < 2000 && !(runs = purger_runs()); waited += 10)
        sleep_ms(10);
    CHECKF(runs, "no dynalloc-purge thread after 8 MiB were freed");
}

static void *short_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100; i++) {
        void *p = malloc(64 + (size_t)i * 40);
        CHECK(p != NULL);
        free(p);
    }
    sleep_ms(50);
    return NULL;
}

static void case_main_exit(void)
{
    pthread_t t;
    start_purger();
    CHECK(pthread_create(&t, NULL, short_worker, NULL) == 0);
    pthread_exit(NULL);
}

/* In the child of a fork made by a worker thread. */
static void fork_child(void)
{
    pthread_t t;
    start_purger();
    CHECK(pthread_create(&t, NULL, short_worker, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    pthread_exit(NULL);
}

/* Wait up to 5 s for pid; kill it if it is still there.  Its exit status. */
static int wait_bounded(pid_t pid, const char *what)
{
    int status = 0;
    for (int waited = 0; waited < 5000; waited += 10) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        CHECK(r >= 0);
        if (r == pid)
            return status;
        sleep_ms(10);
    }
    kill(pid, SIGKILL);
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECKF(0, "%s still alive 5 s after its last thread called pthread_exit", what);
    return status;
}

static void *forking_worker(void *arg)
{
    (void)arg;
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        fork_child();
    int status = wait_bounded(pid, "fork child");
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "fork child ended with status %#x", status);
    return NULL;
}

static void case_fork_thread(void)
{
    pthread_t t;
    void *live = malloc(4 << 20);   /* the main thread's heap, inherited by the child */
    CHECK(live != NULL);
    memset(live, 1, 4 << 20);
    CHECK(pthread_create(&t, NULL, forking_worker, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    free(live);
    exit(test_done());
}

static const struct {
    const char *name;
    void (*run)(void);
} cases[] = {
    {"main-exit", case_main_exit},
    {"fork-thread", case_fork_thread},
};

int main(int argc, char **argv)
{
    test_init("thr_last_exit");
    if (!test_is_dynalloc())
        test_skip("the system allocator has no purger thread");
#ifdef TSAN
    test_skip("TSan's background thread keeps such processes alive under any allocator");
#endif
    if (argc > 1) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            if (strcmp(argv[1], cases[i].name) == 0)
                cases[i].run();
        CHECKF(0, "no case %s", argv[1]);
        return test_done();
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fflush(NULL);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            execl("/proc/self/exe", argv[0], cases[i].name, (char *)NULL);
            _exit(127);
        }
        int status = wait_bounded(pid, cases[i].name);
        CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "case %s ended with status %#x", cases[i].name,
               status);
        printf("thr_last_exit: %s ended with status 0\n", cases[i].name);
    }
    return test_done();
}
