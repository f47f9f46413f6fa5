/* falseshare — does the allocator put blocks used by different threads on one
 * cache line?
 *
 *   active:  the main thread allocates one small block per worker, back to
 *            back; each worker then writes its own block in a tight loop.
 *   passive: the main thread allocates one small block per worker and hands
 *            it over; each worker frees it and allocates its own block of
 *            the same size, then writes it in a tight loop (an allocator that
 *            hands a freed block to the next caller of any thread can put
 *            workers side by side again).
 *
 *   falseshare --threads=T --writes=N [--size=B] [--rounds=R] [--mode=both|active|passive]
 *
 * Each round allocates fresh blocks; --writes is per worker and round.  An
 * allocator that keeps blocks of different threads on different lines is
 * several times faster here than one that packs them together.
 */
#include "common.h"

static uint64_t writes;
static size_t size;

struct job { char *blk; int passive; };

static void *worker(void *arg)
{
    struct job *j = arg;
    char *p = j->blk;
    if (j->passive) {
        free(p);
        p = malloc(size);
    }
    volatile char *v = p;
    for (uint64_t i = 0; i < writes; i++)
        for (size_t k = 0; k < size; k++) v[k]++;
    free(p);
    return NULL;
}

static double run(unsigned threads, int passive, uint64_t rounds)
{
    struct job *jobs = xmalloc(threads * sizeof *jobs);
    pthread_t *t = xmalloc(threads * sizeof *t);
    uint64_t t0 = now_ns();
    for (uint64_t r = 0; r < rounds; r++) {
        for (unsigned i = 0; i < threads; i++) {
            jobs[i].blk = malloc(size);
            memset(jobs[i].blk, 0, size);
            jobs[i].passive = passive;
        }
        for (unsigned i = 0; i < threads; i++) t[i] = spawn(worker, &jobs[i]);
        for (unsigned i = 0; i < threads; i++) pthread_join(t[i], NULL);
    }
    double s = secs_since(t0);
    free(jobs);
    free(t);
    return s;
}

int main(int argc, char **argv)
{
    args_init(argc, argv, "--threads=T --writes=N [--size=B] [--rounds=R] [--mode=both|active|passive]");
    unsigned threads = arg_threads(ncpus());
    writes = arg_u64("writes", 20000000);
    size = (size_t)arg_u64("size", 8);
    uint64_t rounds = arg_u64("rounds", 4);
    const char *mode = arg_str("mode", "both");
    if (size == 0) { fprintf(stderr, "--size must be > 0\n"); return 2; }
    double total = 0;
    if (strcmp(mode, "passive")) {
        double s = run(threads, 0, rounds);
        total += s;
        printf("active:  %u threads, %zu-byte blocks: %.3f s\n", threads, size, s);
        metric("active_s", s, "s");
    }
    if (strcmp(mode, "active")) {
        double s = run(threads, 1, rounds);
        total += s;
        printf("passive: %u threads, %zu-byte blocks: %.3f s\n", threads, size, s);
        metric("passive_s", s, "s");
    }
    metric("total_s", total, "s");
    return 0;
}
