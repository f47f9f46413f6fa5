/* thr_sigfork.c — fork() from a signal handler that interrupted malloc, free,
 * realloc or another fork, in the same thread or another one.
 *
 * The SIGUSR1 handler forks; the child allocates, writes, checks and frees a
 * block of each tier (pool, bulk, huge), then _exit(0)s; the parent waits for
 * it.  Two phases, BASE_FORKS / 2 handler forks each (divided by TEST_SCALE):
 *
 *  - single: a fresh copy of this program (run with DYNALLOC_PURGE_THREAD=0,
 *    so that the process has one thread) loops over malloc, free and realloc
 *    of random sizes of every tier, and forks itself every 7th round, while
 *    two sender processes signal it.  The signal lands inside an allocator
 *    call or inside the loop's own fork.  This is the case glibc's fork is
 *    async-signal-safe in: with one thread it takes none of its own locks.
 *  - threads: WORKERS threads do the same (no fork of their own), a sender
 *    thread signals them with pthread_kill and kill, and the main thread forks
 *    in a loop with SIGUSR1 blocked.  A handler's fork then meets allocator
 *    calls of its own thread and of the others, and forks of the main thread.
 *    (A signal that interrupts a fork of its own thread is left out here:
 *    with several threads glibc's fork holds its atfork lock through the fork
 *    handlers, so a fork in that handler waits for itself whatever the
 *    allocator does.)  The system allocator skips this phase: glibc's malloc
 *    is not async-signal-safe for fork with several threads.
 *
 * A child that deadlocks is killed after CHILD_S seconds and reported; a
 * watchdog fails the program with a message when no fork completes for
 * WATCHDOG_S seconds, and the single phase as a whole has SINGLE_S seconds.  Under ThreadSanitizer the program skips: it reports each of the
 * child's allocations, made inside the signal handler, as a signal-unsafe call.
 */
#include "check.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/single_threaded.h>
#include <sys/wait.h>
#include <time.h>

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define TEST_TSAN 1
#endif

enum { BASE_FORKS = 10000, NOBJ = 256, WORKERS = 3, WATCHDOG_S = 20, SENDERS = 2, CHILD_S = 10,
       SINGLE_S = 100 };

static atomic_uint handler_forks;      /* forks made by the handler, all threads */
static atomic_uint progress;           /* forks completed (handler and loop) */
static atomic_int handler_error;       /* 0, or what went wrong in a handler */
static atomic_int stop;
static volatile sig_atomic_t got_signal;   /* single phase: the signal came during a call */
static pid_t sender_pids[SENDERS];
static const char *phase = "start";

static void say(const char *s) { ssize_t r = write(2, s, strlen(s)); (void)r; }

/* The child's work: a block of each tier, written, checked and freed. */
static void child_work(void)
{
    static const size_t sizes[] = { 24, 3000, 9000, 200000, 2 * MiB + 5 };
    if (!test_is_dynalloc())
        _exit(0);                  /* glibc's malloc: only async-signal-safe calls here */
    void *v[sizeof sizes / sizeof sizes[0]];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        v[i] = malloc(sizes[i]);
        if (v[i] == NULL)
            _exit(3);
        memset(v[i], (int)i + 1, sizes[i] < 8192 ? sizes[i] : 8192);
    }
    v[1] = realloc(v[1], 6000);
    if (v[1] == NULL)
        _exit(4);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        if (((unsigned char *)v[i])[0] != (unsigned char)(i + 1))
            _exit(5);
        free(v[i]);
    }
    _exit(0);
}

/* 0 when the child exited 0; else what happened, for the message.  A child
 * that has not ended after CHILD_S seconds is killed (it may wait with its
 * signals blocked, where its own alarm would never fire). */
static int wait_child(pid_t pid)
{
    int status;
    long waited_us = 0, step_us = 20;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR)
            return 1;
        if (waited_us >= CHILD_S * 1000000L) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            return 2;
        }
        struct timespec ts = { 0, step_us * 1000 };
        nanosleep(&ts, NULL);
        waited_us += step_us;
        if (step_us < 2000)
            step_us *= 2;
    }
    if (WIFSIGNALED(status))
        return 3;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 4;
}

static void on_usr1(int sig)
{
    (void)sig;
    int saved = errno;
    got_signal = 1;
    pid_t pid = fork();
    if (pid == 0)
        child_work();
    int e = pid < 0 ? 5 : wait_child(pid);
    if (e != 0 && atomic_load(&handler_error) == 0)
        atomic_store(&handler_error, e);
    atomic_fetch_add(&handler_forks, 1);
    atomic_fetch_add(&progress, 1);
    errno = saved;
}

static const char *error_text(int e)
{
    switch (e) {
    case 1: return "waitpid failed";
    case 2: return "a child deadlocked (killed after 10 s)";
    case 3: return "a child was killed by a signal";
    case 4: return "a child exited with a non-zero status";
    default: return "fork failed";
    }
}

/* Every second: fail when no fork completed for WATCHDOG_S seconds. */
static void on_alarm(int sig)
{
    static unsigned last, idle;
    (void)sig;
    unsigned now = atomic_load(&progress);
    if (now != last) {
        last = now;
        idle = 0;
    } else if (++idle >= WATCHDOG_S) {
        say("thr_sigfork: FAILED: no fork completed for 20 s in phase ");
        say(phase);
        say(": deadlock\n");
        for (int i = 0; i < SENDERS; i++)
            if (sender_pids[i] > 0)
                kill(sender_pids[i], SIGKILL);
        _exit(1);
    }
    alarm(1);
}

static void install(int sig, void (*fn)(int))
{
    struct sigaction sa = { .sa_handler = fn, .sa_flags = SA_RESTART };
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(sig, &sa, NULL) == 0);
}

static size_t pick_size(uint64_t *rng)
{
    uint64_t x = test_rand(rng);
    switch (x % 16) {
    case 0: return MiB + 1 + (size_t)(x >> 8) % (2 * MiB);        /* huge */
    case 1: case 2: case 3: return 4097 + (size_t)(x >> 8) % 200000;   /* bulk */
    default: return 1 + (size_t)(x >> 8) % 4096;                   /* pool */
    }
}

/* One round on a random slot: free, malloc, or realloc. */
static void churn(void **obj, uint64_t *rng, unsigned *during)
{
    unsigned slot = (unsigned)(test_rand(rng) % NOBJ);
    size_t n = pick_size(rng);
    got_signal = 0;
    if (test_rand(rng) % 3 == 0) {
        void *q = realloc(obj[slot], n);
        CHECK(q != NULL);
        obj[slot] = q;
    } else {
        free(obj[slot]);
        obj[slot] = malloc(n);
        CHECK(obj[slot] != NULL);
    }
    ((unsigned char *)obj[slot])[0] = (unsigned char)slot;
    if (got_signal)
        ++*during;
}

/* ---- single: one thread, signals from other processes ------------------------------- */
static void sender(pid_t target)
{
    uint64_t rng = 99 + (uint64_t)getpid();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (;;) {
        if (getppid() != target || kill(target, SIGUSR1) != 0)
            _exit(0);
        struct timespec ts = { 0, (long)(200000 + test_rand(&rng) % 600000) };
        nanosleep(&ts, NULL);
    }
}

static int phase_single(unsigned target)
{
    void *obj[NOBJ] = { 0 };
    uint64_t rng = 12345;
    unsigned during_calls = 0, during_fork = 0, loop_forks = 0;
    phase = "single";
    CHECKF(__libc_single_threaded, "the single phase runs with one thread");
    install(SIGUSR1, on_usr1);
    install(SIGALRM, on_alarm);
    alarm(1);
    for (int i = 0; i < SENDERS; i++) {
        sender_pids[i] = fork();
        CHECK(sender_pids[i] >= 0);
        if (sender_pids[i] == 0)
            sender(getppid());
    }
    while (atomic_load(&handler_forks) < target && atomic_load(&handler_error) == 0) {
        if (test_rand(&rng) % 7 == 0) {
            got_signal = 0;
            pid_t pid = fork();
            if (pid == 0)
                child_work();
            if (got_signal)
                during_fork++;
            CHECK(pid > 0);
            int e = wait_child(pid);
            CHECKF(e == 0, "loop fork: %s", error_text(e));
            loop_forks++;
            atomic_fetch_add(&progress, 1);
        }
        churn(obj, &rng, &during_calls);
    }
    for (int i = 0; i < SENDERS; i++) {
        kill(sender_pids[i], SIGKILL);
        waitpid(sender_pids[i], NULL, 0);
    }
    alarm(0);
    int e = atomic_load(&handler_error);
    CHECKF(e == 0, "handler fork: %s", error_text(e));
    for (unsigned k = 0; k < NOBJ; k++)
        free(obj[k]);
    printf("thr_sigfork: single: %u handler forks (%u during allocator calls, %u during the "
           "loop's %u forks)\n", atomic_load(&handler_forks), during_calls, during_fork, loop_forks);
    return test_done();
}

/* ---- threads: workers signalled by a sender thread; the main thread forks ------------------ */
static pthread_t workers[WORKERS];
static atomic_ulong worker_rounds;

static void *worker(void *arg)
{
    void *obj[NOBJ] = { 0 };
    uint64_t rng = 777 + (uintptr_t)arg;
    unsigned during = 0;
    unsigned long rounds = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        churn(obj, &rng, &during);
        rounds++;
    }
    for (unsigned k = 0; k < NOBJ; k++)
        free(obj[k]);
    atomic_fetch_add(&worker_rounds, rounds);
    return NULL;
}

static void *signaller(void *arg)
{
    uint64_t rng = 4242;
    (void)arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        uint64_t x = test_rand(&rng);
        if (x % 8 == 0)
            kill(getpid(), SIGUSR1);      /* any thread that does not block it: a worker */
        else
            pthread_kill(workers[x % WORKERS], SIGUSR1);
        struct timespec ts = { 0, (long)(20000 + (x >> 8) % 200000) };
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void phase_threads(unsigned target)
{
    pthread_t sig_thread;
    sigset_t usr1;
    unsigned loop_forks = 0;
    unsigned start = atomic_load(&handler_forks);
    phase = "threads";
    install(SIGUSR1, on_usr1);
    install(SIGALRM, on_alarm);
    alarm(1);
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    for (uintptr_t i = 0; i < WORKERS; i++)
        CHECK(pthread_create(&workers[i], NULL, worker, (void *)i) == 0);
    /* the main and sender threads never run the handler */
    CHECK(pthread_sigmask(SIG_BLOCK, &usr1, NULL) == 0);
    CHECK(pthread_create(&sig_thread, NULL, signaller, NULL) == 0);
    while (atomic_load(&handler_forks) - start < target && atomic_load(&handler_error) == 0) {
        void *before = malloc(100 + loop_forks % 5000);
        CHECK(before != NULL);
        pid_t pid = fork();
        if (pid == 0)
            child_work();
        CHECK(pid > 0);
        free(before);
        int e = wait_child(pid);
        CHECKF(e == 0, "main thread's fork: %s", error_text(e));
        loop_forks++;
        atomic_fetch_add(&progress, 1);
        struct timespec ts = { 0, 300000 };
        nanosleep(&ts, NULL);
    }
    atomic_store(&stop, 1);
    CHECK(pthread_join(sig_thread, NULL) == 0);
    for (unsigned i = 0; i < WORKERS; i++)
        CHECK(pthread_join(workers[i], NULL) == 0);
    alarm(0);
    int e = atomic_load(&handler_error);
    CHECKF(e == 0, "handler fork: %s", error_text(e));
    printf("thr_sigfork: threads: %u handler forks in %d workers (%lu rounds), %u forks of the "
           "main thread\n", atomic_load(&handler_forks) - start, WORKERS,
           (unsigned long)atomic_load(&worker_rounds), loop_forks);
}

int main(int argc, char **argv)
{
    unsigned per_phase = BASE_FORKS / 2 / test_scale();
    test_init("thr_sigfork");
#ifdef TEST_TSAN
    test_skip("ThreadSanitizer reports the child's allocations, made in the signal handler, "
              "as signal-unsafe calls");
#endif
    if (argc > 1 && strcmp(argv[1], "single") == 0)
        return phase_single(per_phase);
    /* the single phase: this program again, with one thread (no purger) */
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        setenv("DYNALLOC_PURGE_THREAD", "0", 1);
        execl("/proc/self/exe", argv[0], "single", (char *)NULL);
        _exit(127);
    }
    int status = 0;
    for (unsigned waited = 0; waitpid(pid, &status, WNOHANG) != pid; waited++) {
        if (waited == SINGLE_S * 10) {
            kill(pid, SIGKILL);
            test_fail(__FILE__, __LINE__, "the single phase did not end in %d s: deadlock",
                      SINGLE_S);
        }
        usleep(100000);
    }
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the single phase failed (status %d)",
           WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    if (!test_is_dynalloc()) {
        printf("thr_sigfork: threads: skipped (the system allocator's fork is async-signal-safe "
               "with one thread only)\n");
        return test_done();
    }
    phase_threads(per_phase);
    return test_done();
}
