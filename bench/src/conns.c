/* conns — a thread-per-connection server: far more threads than CPUs, each
 * serving its own connection.  Per request a thread allocates a request buffer
 * (256–4096 B), parses it into 8–32 objects of 16–512 B, replaces a few entries
 * of its session state (64 live objects of 16–1024 B kept across requests),
 * builds a response (1–8 KiB) and frees everything but the session.  Every free
 * is the allocating thread's own; one request in --handoff (0: never) hands its
 * response to the next connection's thread, which frees it (a proxy's buffer).
 *
 *   conns --threads=T --requests=N [--handoff=K] [--seed=X]
 *
 * --requests is per thread.  Reports requests per second and the peak RSS.
 */
#include "common.h"
#include <stdatomic.h>

enum { SESSION = 64, MAX_PARTS = 32 };

static uint64_t requests, handoff, seed;
static unsigned nthreads;
static _Atomic(char *) *mailbox;   /* one per thread: a response handed to it */

static void *worker(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    rng_t r;
    rng_seed(&r, seed ^ ((uint64_t)id * 0x9e3779b97f4a7c15ull));
    char *session[SESSION];
    for (int i = 0; i < SESSION; i++) {
        size_t s = (size_t)rng_range(&r, 16, 1024);
        session[i] = malloc(s);
        memset(session[i], id, s < 64 ? s : 64);
    }
    char *parts[MAX_PARTS];
    for (uint64_t n = 0; n < requests; n++) {
        size_t rs = (size_t)rng_range(&r, 256, 4096);
        char *req = malloc(rs);
        memset(req, (int)n, rs < 256 ? rs : 256);
        unsigned np = (unsigned)rng_range(&r, 8, MAX_PARTS);
        for (unsigned i = 0; i < np; i++) {
            size_t s = (size_t)rng_range(&r, 16, 512);
            parts[i] = malloc(s);
            parts[i][0] = req[i];
            parts[i][s - 1] = (char)i;
        }
        for (int k = 0; k < 2; k++) {
            unsigned at = (unsigned)rng_below(&r, SESSION);
            size_t s = (size_t)rng_range(&r, 16, 1024);
            free(session[at]);
            session[at] = malloc(s);
            session[at][0] = parts[k][0];
        }
        size_t ws = (size_t)rng_range(&r, 1024, 8192);
        char *resp = malloc(ws);
        for (unsigned i = 0; i < np; i++) {
            resp[i] = parts[i][0];
            free(parts[i]);
        }
        free(req);
        char *old = atomic_exchange_explicit(&mailbox[id], NULL, memory_order_acquire);
        free(old);
        if (handoff != 0 && n % handoff == 0) {
            old = atomic_exchange_explicit(&mailbox[(id + 1) % nthreads], resp, memory_order_acq_rel);
            free(old);
        } else {
            free(resp);
        }
        if ((n & 255) == 0) sched_yield();   /* a connection waits for its client now and then */
    }
    for (int i = 0; i < SESSION; i++) free(session[i]);
    return NULL;
}

int main(int argc, char **argv)
{
    args_init(argc, argv, "--threads=T --requests=N [--handoff=K] [--seed=X]");
    nthreads = arg_threads(64);
    requests = arg_u64("requests", 20000);
    handoff = arg_u64("handoff", 0);
    seed = arg_u64("seed", 11);
    mailbox = xmalloc(nthreads * sizeof *mailbox);
    for (unsigned i = 0; i < nthreads; i++) atomic_init(&mailbox[i], NULL);
    pthread_t *t = xmalloc(nthreads * sizeof *t);
    uint64_t t0 = now_ns();
    for (unsigned i = 0; i < nthreads; i++) t[i] = spawn(worker, (void *)(uintptr_t)i);
    for (unsigned i = 0; i < nthreads; i++) pthread_join(t[i], NULL);
    double s = secs_since(t0);
    for (unsigned i = 0; i < nthreads; i++) free(atomic_load(&mailbox[i]));
    printf("conns: %u threads, %" PRIu64 " requests each (handoff 1 in %" PRIu64 "): %.3f s\n", nthreads,
           requests, handoff, s);
    metric("requests_per_s", (double)nthreads * (double)requests / s, "req/s");
    metric("peak_rss_kb", (double)hwm_kb(), "KiB");
    free(t);
    free((void *)mailbox);
    return 0;
}
