/* lifetime.c MODE — process-lifetime behaviour that must not change under a
 * preloaded allocator.  Each mode prints one line; the runner compares it
 * (and the exit status) with the glibc run.
 *   pthread_exit  main thread touches > 8 MiB, starts a detached thread and
 *                 calls pthread_exit: the process must end, status 0, when
 *                 that thread returns
 *   thread_exit   a worker calls exit(3) while other threads allocate
 *   sigterm       after heavy allocation the process blocks in pause();
 *                 the runner's SIGTERM must end it
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void churn(int n)
{
    for (int i = 0; i < n; i++) {
        void *p = malloc(64 + (size_t)(i % 64) * 1024);
        memset(p, i, 64);
        free(p);
    }
}

static void touch_mib(int mib)
{
    void *big[64];
    for (int i = 0; i < mib && i < 64; i++) { big[i] = malloc(1 << 20); memset(big[i], 1, 1 << 20); }
    for (int i = 0; i < mib && i < 64; i++) free(big[i]);
}

static void *last_thread(void *a) { churn(100000); printf("last thread done\n"); fflush(stdout); return a; }
static void *busy(void *a) { for (;;) churn(1000); return a; }
static void *exiter(void *a) { churn(20000); printf("exit from a thread\n"); fflush(stdout); exit(3); return a; }

int main(int argc, char **argv)
{
    const char *m = argc > 1 ? argv[1] : "";
    pthread_t t;
    if (!strcmp(m, "pthread_exit")) {
        touch_mib(48);
        pthread_create(&t, NULL, last_thread, NULL);
        pthread_detach(t);
        pthread_exit(NULL);
    }
    if (!strcmp(m, "thread_exit")) {
        touch_mib(48);
        for (int i = 0; i < 3; i++) pthread_create(&t, NULL, busy, NULL);
        pthread_create(&t, NULL, exiter, NULL);
        for (;;) churn(1000);
    }
    if (!strcmp(m, "sigterm")) {
        touch_mib(48);
        pthread_create(&t, NULL, busy, NULL);
        printf("waiting\n");
        fflush(stdout);
        for (;;) pause();
    }
    fprintf(stderr, "usage: lifetime pthread_exit|thread_exit|sigterm\n");
    return 2;
}
