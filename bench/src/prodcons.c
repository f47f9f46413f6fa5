/* prodcons — one thread allocates, another frees.  Each producer allocates
 * blocks of 16–512 bytes (fixed pseudo-random sequence), writes them and
 * passes them through a bounded single-producer/single-consumer ring to its
 * consumer, which reads and frees them.  Every free is remote.
 *
 *   prodcons --items=N [--threads=T] [--queue=Q] [--seed=X]
 *
 * --threads is the total thread count; there are max(1, T/2) producer/consumer
 * pairs, each moving --items blocks.
 */
#include "common.h"
#include <sched.h>
#include <stdatomic.h>

struct queue {
    _Alignas(64) _Atomic uint64_t head; /* written by the consumer */
    _Alignas(64) _Atomic uint64_t tail; /* written by the producer */
    _Alignas(64) uint64_t cap;
    char **buf;
    uint64_t seed;
};

static uint64_t items;

static inline void backoff(unsigned *spins)
{
    if (++*spins < 64) __builtin_ia32_pause();
    else { sched_yield(); *spins = 0; }
}

static void *producer(void *arg)
{
    struct queue *q = arg;
    rng_t r;
    rng_seed(&r, q->seed);
    uint64_t tail = 0, head_seen = 0;
    for (uint64_t i = 0; i < items; i++) {
        size_t sz = (size_t)rng_range(&r, 16, 512);
        char *p = malloc(sz);
        p[0] = (char)sz;
        p[sz - 1] = 1;
        unsigned spins = 0;
        while (tail - head_seen >= q->cap) {
            head_seen = atomic_load_explicit(&q->head, memory_order_acquire);
            if (tail - head_seen >= q->cap) backoff(&spins);
        }
        q->buf[tail % q->cap] = p;
        atomic_store_explicit(&q->tail, ++tail, memory_order_release);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    struct queue *q = arg;
    uint64_t head = 0, tail_seen = 0, sum = 0;
    while (head < items) {
        unsigned spins = 0;
        while (head == tail_seen) {
            tail_seen = atomic_load_explicit(&q->tail, memory_order_acquire);
            if (head == tail_seen) backoff(&spins);
        }
        while (head < tail_seen) {
            char *p = q->buf[head % q->cap];
            sum += (unsigned char)p[0];
            free(p);
            head++;
        }
        atomic_store_explicit(&q->head, head, memory_order_release);
    }
    escape(&sum);
    return NULL;
}

int main(int argc, char **argv)
{
    args_init(argc, argv, "--items=N [--threads=T] [--queue=Q] [--seed=X]");
    items = arg_u64("items", 5000000);
    unsigned threads = arg_threads(2);
    uint64_t cap = arg_u64("queue", 1024);
    uint64_t seed = arg_u64("seed", 3);
    unsigned pairs = threads / 2 ? threads / 2 : 1;
    if (cap == 0) { fprintf(stderr, "--queue must be > 0\n"); return 2; }

    struct queue *q = aligned_alloc(64, pairs * sizeof *q);
    pthread_t *t = xmalloc(2 * pairs * sizeof *t);
    for (unsigned i = 0; i < pairs; i++) {
        atomic_init(&q[i].head, 0);
        atomic_init(&q[i].tail, 0);
        q[i].cap = cap;
        q[i].buf = xmalloc(cap * sizeof(char *));
        q[i].seed = seed + i;
    }
    uint64_t t0 = now_ns();
    for (unsigned i = 0; i < pairs; i++) {
        t[2 * i] = spawn(consumer, &q[i]);
        t[2 * i + 1] = spawn(producer, &q[i]);
    }
    for (unsigned i = 0; i < 2 * pairs; i++) pthread_join(t[i], NULL);
    double s = secs_since(t0);
    for (unsigned i = 0; i < pairs; i++) free(q[i].buf);
    free(q);
    free(t);
    printf("prodcons: %u pair(s), %" PRIu64 " blocks each: %.3f s\n", pairs, items, s);
    metric("ops_per_s", (double)items * pairs / s, "blocks/s");
    return 0;
}
