/* measure — run one command and report its wall time, CPU time and peak RSS.
 *
 *   measure --out=FILE [--preload=LIB] -- command [args...]
 *
 * Writes "wall_s utime_s stime_s maxrss_kb status" to FILE, where status is
 * the exit code, or 128+signal.  The command's stdin/stdout/stderr are
 * inherited.  bench/run.py starts every measured program through this small
 * launcher rather than directly: Linux counts the RSS a process had before
 * exec() in its peak (ru_maxrss), so a child forked straight from the Python
 * harness would report at least the harness's own size.  LD_PRELOAD is set
 * only in the child, so the launcher itself never runs on the allocator
 * under test.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static pid_t child;
static void forward(int sig) { if (child > 0) kill(child, sig); }

int main(int argc, char **argv)
{
    const char *out = NULL, *preload = NULL;
    int i = 1;
    for (; i < argc; i++) {
        if (!strncmp(argv[i], "--out=", 6)) out = argv[i] + 6;
        else if (!strncmp(argv[i], "--preload=", 10)) preload = argv[i] + 10;
        else if (!strcmp(argv[i], "--")) { i++; break; }
        else break;
    }
    if (!out || i >= argc) {
        fprintf(stderr, "usage: measure --out=FILE [--preload=LIB] -- command [args...]\n");
        return 2;
    }
    signal(SIGTERM, forward);
    signal(SIGINT, forward);
    double t0 = now();
    child = fork();
    if (child < 0) { perror("fork"); return 2; }
    if (child == 0) {
        if (preload && *preload) setenv("LD_PRELOAD", preload, 1);
        else unsetenv("LD_PRELOAD");
        execvp(argv[i], argv + i);
        fprintf(stderr, "measure: cannot run %s: %s\n", argv[i], strerror(errno));
        _exit(127);
    }
    int status;
    struct rusage ru;
    while (wait4(child, &status, 0, &ru) < 0) {
        if (errno != EINTR) { perror("wait4"); return 2; }
    }
    double wall = now() - t0;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    FILE *f = fopen(out, "w");
    if (!f) { perror(out); return 2; }
    fprintf(f, "%.6f %.6f %.6f %ld %d\n", wall,
            (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
            (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6, ru.ru_maxrss, code);
    fclose(f);
    return code;
}
