/* misuse.h — runs one misuse in a child process and checks how it dies.
 *
 * expect_abort(name, fn, arg, line): forks; the child sends its stderr into a
 * pipe and calls fn(arg), which must not return.  The parent requires the
 * child to be killed by SIGABRT and its stderr to be exactly `line` followed
 * by a newline.  expect_abort_either accepts one of two lines; expect_report
 * builds the usual line from the function and the problem.  Misuse detection is dynalloc's own promise, so a program
 * that finds another allocator under test skips.
 */
#ifndef TEST_MISUSE_H
#define TEST_MISUSE_H

#include "check.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

/* Runs fn(arg) in a child (no core dump, 20 s alarm) whose stderr goes into
 * out: its first cap - 1 bytes, NUL-terminated.  Returns the wait status. */
static int run_child(void (*fn)(void *), void *arg, char *out, size_t cap)
{
    int fds[2], status;
    size_t len = 0;

    fflush(stdout);
    fflush(stderr);
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        struct rlimit no_core = { 0, 0 };
        setrlimit(RLIMIT_CORE, &no_core);
        close(fds[0]);
        dup2(fds[1], 2);
        close(fds[1]);
        alarm(20);
        fn(arg);
        _exit(0);                  /* the misuse went unnoticed */
    }
    close(fds[1]);
    for (;;) {
        char sink[256];
        char *to = len < cap - 1 ? out + len : sink;
        size_t room = len < cap - 1 ? cap - 1 - len : sizeof sink;
        ssize_t r = read(fds[0], to, room);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (to != sink)
            len += (size_t)r;
    }
    out[len] = 0;
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0)
        CHECK(errno == EINTR);
    return status;
}

static void expect_abort_either(const char *what, void (*fn)(void *), void *arg, const char *line,
                                const char *alt)
{
    char out[1024];
    int status = run_child(fn, arg, out, sizeof out);

    char want[256], want_alt[256];
    snprintf(want, sizeof want, "%s\n", line);
    snprintf(want_alt, sizeof want_alt, "%s\n", alt != NULL ? alt : line);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT &&
        (strcmp(out, want) == 0 || strcmp(out, want_alt) == 0)) {
        printf("  ok  %-34s %s", what, out);
        test_checks++;
        return;
    }
    if (WIFSIGNALED(status))
        test_fail(__FILE__, __LINE__, "%s: child killed by signal %d, stderr \"%s\", want SIGABRT and \"%s\"",
                  what, WTERMSIG(status), out, line);
    test_fail(__FILE__, __LINE__, "%s: child exited with status %d, stderr \"%s\", want SIGABRT and \"%s\"",
              what, WEXITSTATUS(status), out, line);
}

static __attribute__((unused)) void expect_abort(const char *what, void (*fn)(void *), void *arg,
                                                 const char *line)
{
    expect_abort_either(what, fn, arg, line, NULL);
}

/* The usual report, "dynalloc: FUNC(): PROBLEM 0x…", for the pointer p that fn
 * is given. */
static __attribute__((unused)) void expect_report(const char *what, void (*fn)(void *), void *p,
                                                  const char *func, const char *problem)
{
    char line[160];
    snprintf(line, sizeof line, "dynalloc: %s(): %s %p", func, problem, p);
    expect_abort(what, fn, p, line);
}

/* A child that does nothing wrong must exit 0 with nothing on stderr. */
static __attribute__((unused)) void expect_clean(const char *what, void (*fn)(void *), void *arg)
{
    int status;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        alarm(20);
        fn(arg);
        _exit(0);
    }
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: control child failed (status 0x%x)", what, status);
    printf("  ok  %-34s (no abort)\n", what);
}

static void misuse_init(const char *name)
{
    test_init(name);
    if (!test_is_dynalloc())
        test_skip("misuse messages are dynalloc's; another allocator is under test");
}

#endif
