/* thr_stress.c — many threads allocating, resizing and freeing, with blocks
 * handed from thread to thread and freed by their receiver.
 *
 * Each of NTHREADS threads runs a fixed number of operations drawn from its
 * own seeded generator, so a run is repeatable up to thread interleaving.
 * Every block is filled with the pattern of a tag unique to (thread, index);
 * whoever frees a block first verifies the pattern.  Blocks come from malloc,
 * calloc and posix_memalign.  Blocks move between
 * threads through mutex-protected exchange slots: a thread puts its block in a
 * slot and takes out whatever another thread left there, then verifies it and
 * frees it, or resizes it with realloc and keeps it.
 * TEST_SCALE divides the operation count (for slow instrumented runs).
 */
#include "check.h"

#include <pthread.h>

enum { NTHREADS = 8, NSLOTS = 64, LOCAL = 128, BASE_OPS = 80000 };

struct block {
    unsigned char *p;
    size_t n;
    uint64_t tag;
};

struct slot {
    pthread_mutex_t lock;
    struct block b;
};

static struct slot slots[NSLOTS];
static pthread_barrier_t start;
static unsigned long ops_per_thread;
static unsigned long handed[NTHREADS], received[NTHREADS];

static size_t pick_size(uint64_t *rng)
{
    uint64_t x = test_rand(rng);
    unsigned r = (unsigned)(x % 1000);
    x >>= 10;
    if (r < 700)
        return (size_t)(x % 257);                 /* small pool blocks */
    if (r < 870)
        return 257 + (size_t)(x % (4096 - 256));  /* large pool blocks */
    if (r < 997)
        return 4097 + (size_t)(x % (256 * 1024)); /* bulk */
    return MiB + (size_t)(x % (3 * MiB));          /* dedicated mappings */
}

static void release(const struct block *b, const char *how)
{
    size_t bad = test_verify_sparse(b->p, b->n, b->tag);
    CHECKF(bad == b->n, "block %p (%zu bytes, tag %llx) damaged at byte %zu before %s",
           (void *)b->p, b->n, (unsigned long long)b->tag, bad, how);
    free(b->p);
}

/* A new block from malloc, or now and then from calloc (checked zero) or
 * posix_memalign (alignment 16 B … 64 KiB). */
static void make(struct block *b, size_t n, uint64_t tag)
{
    switch (tag % 16) {
    case 0: {
        size_t align = (size_t)16 << (tag / 16 % 13);
        void *p = NULL;
        CHECKF(posix_memalign(&p, align, n) == 0, "posix_memalign(%zu, %zu) failed", align, n);
        CHECKF(((uintptr_t)p & (align - 1)) == 0, "posix_memalign(%zu) = %p misaligned", align, p);
        b->p = p;
        break;
    }
    case 1: {
        b->p = calloc(1, n);
        CHECKF(b->p != NULL, "calloc(1, %zu) failed", n);
        size_t head = n < 4096 ? n : 4096, i = 0;
        while (i < head && b->p[i] == 0)
            i++;
        CHECKF(i == head, "calloc(1, %zu) byte %zu is not zero", n, i);
        for (i = 4096; i < n; i += 4096)
            CHECKF(b->p[i] == 0, "calloc(1, %zu) byte %zu is not zero", n, i);
        break;
    }
    default:
        b->p = malloc(n);
        CHECKF(b->p != NULL, "malloc(%zu) failed", n);
        break;
    }
    CHECKF(n < 16 || ((uintptr_t)b->p & 15) == 0, "block of %zu bytes at %p misaligned", n, (void *)b->p);
    b->n = n;
    b->tag = tag;
    test_fill_sparse(b->p, n, tag);
}

static void *worker(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    struct block local[LOCAL];
    unsigned nlocal = 0;
    uint64_t rng = 0x9000 + id * 7919, serial = 0;

    pthread_barrier_wait(&start);
    for (unsigned long op = 0; op < ops_per_thread; op++) {
        unsigned r = (unsigned)(test_rand(&rng) % 100);
        uint64_t tag = ((uint64_t)id << 48) | serial++;
        if (r < 45 || nlocal == 0) {
            if (nlocal == LOCAL) {
                unsigned k = (unsigned)(test_rand(&rng) % LOCAL);
                release(&local[k], "a local free");
                local[k] = local[--nlocal];
            }
            make(&local[nlocal++], pick_size(&rng), tag);
        } else if (r < 70) {
            unsigned k = (unsigned)(test_rand(&rng) % nlocal);
            release(&local[k], "a local free");
            local[k] = local[--nlocal];
        } else if (r < 92) {
            /* hand one block over, take whatever is waiting in the slot */
            unsigned k = (unsigned)(test_rand(&rng) % nlocal);
            struct slot *s = &slots[test_rand(&rng) % NSLOTS];
            struct block mine = local[k], theirs;
            local[k] = local[--nlocal];
            pthread_mutex_lock(&s->lock);
            theirs = s->b;
            s->b = mine;
            pthread_mutex_unlock(&s->lock);
            handed[id]++;
            if (theirs.p != NULL || theirs.n != 0) {
                received[id]++;
                if (r % 2 == 0 || nlocal == LOCAL) {
                    release(&theirs, "a cross-thread free");
                } else {
                    /* resize another thread's block and keep it */
                    size_t n = pick_size(&rng), keep = n < theirs.n ? n : theirs.n;
                    CHECK(test_verify_sparse(theirs.p, theirs.n, theirs.tag) == theirs.n);
                    unsigned char *q = realloc(theirs.p, n);
                    CHECKF(q != NULL || n == 0, "cross-thread realloc(%zu) failed", n);
                    if (q != NULL) {
                        CHECKF(test_verify_sparse(q, keep, theirs.tag) == keep,
                               "cross-thread realloc %zu → %zu lost contents", theirs.n, n);
                        local[nlocal].p = q;
                        local[nlocal].n = n;
                        local[nlocal].tag = tag;
                        test_fill_sparse(q, n, tag);
                        nlocal++;
                    }
                }
            }
        } else {
            /* resize in place or moved; the common prefix must survive */
            unsigned k = (unsigned)(test_rand(&rng) % nlocal);
            struct block *b = &local[k];
            size_t n = pick_size(&rng), keep = n < b->n ? n : b->n;
            CHECK(test_verify_sparse(b->p, b->n, b->tag) == b->n);
            unsigned char *q = realloc(b->p, n);
            CHECKF(q != NULL || n == 0, "realloc(%zu) failed", n);
            if (q == NULL) {
                local[k] = local[--nlocal];
                continue;
            }
            CHECKF(test_verify_sparse(q, keep, b->tag) == keep, "realloc %zu → %zu lost contents", b->n, n);
            b->p = q;
            b->n = n;
            b->tag = tag;
            test_fill_sparse(q, n, tag);
        }
    }
    while (nlocal > 0)
        release(&local[--nlocal], "the final free");
    return NULL;
}

int main(void)
{
    pthread_t t[NTHREADS];
    test_init("thr_stress");
    ops_per_thread = BASE_OPS / test_scale();
    for (int i = 0; i < NSLOTS; i++)
        pthread_mutex_init(&slots[i].lock, NULL);
    pthread_barrier_init(&start, NULL, NTHREADS);
    for (unsigned i = 0; i < NTHREADS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i) == 0);
    for (unsigned i = 0; i < NTHREADS; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    /* blocks still waiting in slots are freed by the main thread */
    unsigned long left = 0, sent = 0, got = 0;
    for (int i = 0; i < NSLOTS; i++)
        if (slots[i].b.p != NULL || slots[i].b.n != 0) {
            release(&slots[i].b, "the main thread's free");
            left++;
        }
    for (int i = 0; i < NTHREADS; i++) {
        sent += handed[i];
        got += received[i];
    }
    CHECKF(sent == got + left, "blocks handed over %lu, received %lu, left %lu", sent, got, left);
    printf("thr_stress: %d threads × %lu ops, %lu blocks crossed threads\n", NTHREADS, ops_per_thread, got);
    return test_done();
}
