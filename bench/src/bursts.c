/* bursts — one thread allocates in bursts, another frees them.
 *
 *   bursts [--burst=B] [--rounds=R] [--depth=D] [--min=B] [--max=B] [--seed=X]
 *
 * The producer allocates a burst of B blocks (default 10000) of random sizes
 * in [min, max] (default 16-1024), writes the first and last byte of each,
 * and hands the whole batch to the consumer through a queue of D batches
 * (default 3; mutex and condition variables); the consumer reads and frees
 * every block of a batch, then gives the empty batch back.  R rounds (default
 * 300), so R*B blocks in all.  Producer and consumer overlap: the producer
 * can be up to D batches ahead, so up to about (D+1)*B blocks are live.
 * Every free is remote and arrives in bulk, long after the allocation.
 *
 * Reports blocks_per_s and total_s.
 */
#include "common.h"

struct batch { char **blk; uint64_t n; };

/* a bounded FIFO of batch pointers */
struct fifo {
    pthread_mutex_t mu;
    pthread_cond_t nonempty;
    struct batch **q;
    uint64_t cap, head, count;
};

static void fifo_init(struct fifo *f, uint64_t cap)
{
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->nonempty, NULL);
    f->q = xmalloc(cap * sizeof *f->q);
    f->cap = cap;
    f->head = f->count = 0;
}

/* never full: there are only cap batches in all */
static void fifo_put(struct fifo *f, struct batch *b)
{
    pthread_mutex_lock(&f->mu);
    f->q[(f->head + f->count++) % f->cap] = b;
    pthread_cond_signal(&f->nonempty);
    pthread_mutex_unlock(&f->mu);
}

static struct batch *fifo_get(struct fifo *f)
{
    pthread_mutex_lock(&f->mu);
    while (f->count == 0) pthread_cond_wait(&f->nonempty, &f->mu);
    struct batch *b = f->q[f->head];
    f->head = (f->head + 1) % f->cap;
    f->count--;
    pthread_mutex_unlock(&f->mu);
    return b;
}

static struct fifo full, empty;
static uint64_t burst, rounds, seed;
static size_t minsz, maxsz;

static void *producer(void *arg)
{
    rng_t r;
    rng_seed(&r, seed);
    for (uint64_t k = 0; k < rounds; k++) {
        struct batch *b = fifo_get(&empty);
        for (uint64_t i = 0; i < burst; i++) {
            size_t sz = (size_t)rng_range(&r, minsz, maxsz);
            char *p = malloc(sz);
            if (!p) {
                fprintf(stderr, "bursts: malloc(%zu) failed\n", sz);
                exit(1);
            }
            p[0] = (char)sz;
            p[sz - 1] = 1;
            b->blk[i] = p;
        }
        b->n = burst;
        fifo_put(&full, b);
    }
    fifo_put(&full, NULL); /* end */
    return NULL;
}

static void *consumer(void *arg)
{
    uint64_t sum = 0;
    for (;;) {
        struct batch *b = fifo_get(&full);
        if (!b) break;
        for (uint64_t i = 0; i < b->n; i++) {
            sum += (unsigned char)b->blk[i][0];
            free(b->blk[i]);
        }
        b->n = 0;
        fifo_put(&empty, b);
    }
    escape(&sum);
    return NULL;
}

int main(int argc, char **argv)
{
    args_init(argc, argv, "[--burst=B] [--rounds=R] [--depth=D] [--min=B] [--max=B] [--seed=X]");
    burst = arg_u64("burst", 10000);
    rounds = arg_u64("rounds", 300);
    uint64_t depth = arg_u64("depth", 3);
    minsz = (size_t)arg_u64("min", 16);
    maxsz = (size_t)arg_u64("max", 1024);
    seed = arg_u64("seed", 9);
    if (burst == 0 || depth == 0 || minsz == 0 || maxsz < minsz) {
        fprintf(stderr, "bursts: need --burst > 0, --depth > 0 and 0 < min <= max\n");
        return 2;
    }
    /* depth batches circulate; the full queue also carries the end marker */
    fifo_init(&full, depth + 1);
    fifo_init(&empty, depth);
    struct batch *bs = xmalloc(depth * sizeof *bs);
    for (uint64_t i = 0; i < depth; i++) {
        bs[i].blk = xmalloc(burst * sizeof(char *));
        bs[i].n = 0;
        touch_pages(bs[i].blk, burst * sizeof(char *));
        fifo_put(&empty, &bs[i]);
    }

    uint64_t t0 = now_ns();
    pthread_t c = spawn(consumer, NULL), p = spawn(producer, NULL);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    double s = secs_since(t0);

    for (uint64_t i = 0; i < depth; i++) free(bs[i].blk);
    free(bs);
    free(full.q);
    free(empty.q);
    double total = (double)burst * rounds;
    printf("bursts: %" PRIu64 " bursts of %" PRIu64 " blocks (%zu-%zu bytes), queue depth %" PRIu64
           ": %.3f s\n", rounds, burst, minsz, maxsz, depth, s);
    metric("blocks_per_s", total / s, "blocks/s");
    metric("total_s", s, "s");
    return 0;
}
