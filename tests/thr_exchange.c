/* thr_exchange.c — many threads hand blocks to each other and exit while the
 * purger reclaims.
 *
 * ROUNDS rounds; in each, THREADS threads (far more than CPUs) share an array
 * of SLOTS slots: each thread OPS times callocs a block of a mixed size (7 in 8
 * between 16 and 2047 B, 1 in 8 up to 16 KiB), checks that it is zero, fills
 * it with its own byte, swaps it into a random slot and frees what it got back
 * after checking that block's fill is whole (any thread may have made it).
 * Threads end at different times, so their segments are abandoned and adopted
 * while other threads still free into them and the purger thread takes back
 * pages of heaps whose owners look idle: a reclaimer that reached the queues of
 * a heap whose thread was leaving freed pages another heap had adopted, and the
 * run ended in a corrupted free list, a division by zero or an invalid-pointer
 * abort (about one round in four with a purge delay of 1 ms, which the test
 * sets where the mode sets none).  TEST_SCALE divides OPS.
 */
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>

enum { ROUNDS = 6, THREADS = 32, SLOTS = 4096, BASE_OPS = 30000 };

static _Atomic(unsigned char *) slots[SLOTS];
static unsigned ops;
static pthread_barrier_t start;

/* The first byte of p[0, n) that differs from byte c, or n: eight at a time. */
static size_t differs(const unsigned char *p, size_t n, unsigned char c)
{
    uint64_t w = c * 0x0101010101010101u, v;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&v, p + i, 8);
        if (v != w) break;
    }
    while (i < n && p[i] == c)
        i++;
    return i;
}

/* The block's size is in its first word; every other byte is the maker's fill. */
static void check_block(const unsigned char *p)
{
    size_t n;
    memcpy(&n, p, sizeof n);
    size_t i = sizeof n + differs(p + sizeof n, n - sizeof n, p[sizeof n]);
    CHECKF(i == n, "block %p of %zu B: byte %zu is 0x%02x, fill 0x%02x", (const void *)p, n, i, p[i], p[sizeof n]);
}

static void *worker(void *arg)
{
    uint64_t rng = 0x9E3779B97F4A7C15u * ((uintptr_t)arg + 1);
    unsigned char fill = (unsigned char)(0x5a ^ (uintptr_t)arg) | 1;
    pthread_barrier_wait(&start);
    for (unsigned i = 0; i < ops; i++) {
        uint64_t x = test_rand(&rng);
        size_t n = (x & 7) == 0 ? 2049 + (size_t)((x >> 3) % 14336) : 16 + (size_t)((x >> 3) % 2032);
        unsigned char *p = calloc(1, n);
        CHECK(p != NULL);
        size_t k = differs(p, n, 0);
        CHECKF(k == n, "calloc(1, %zu) = %p: byte %zu is not zero", n, (void *)p, k);
        memcpy(p, &n, sizeof n);
        memset(p + sizeof n, fill, n - sizeof n);
        unsigned char *old = atomic_exchange(&slots[(x >> 20) % SLOTS], p);
        if (old != NULL) {
            check_block(old);
            free(old);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    (void)argc;
    if (getenv("DYNALLOC_PURGE_DELAY") == NULL) {   /* the purger's passes as often as they come */
        setenv("DYNALLOC_PURGE_DELAY", "1", 1);
        execv("/proc/self/exe", argv);
    }
    test_init("thr_exchange");
    ops = BASE_OPS / test_scale();
    for (unsigned r = 0; r < ROUNDS; r++) {
        pthread_t t[THREADS];
        CHECK(pthread_barrier_init(&start, NULL, THREADS) == 0);
        for (uintptr_t i = 0; i < THREADS; i++)
            CHECK(pthread_create(&t[i], NULL, worker, (void *)(r * THREADS + i)) == 0);
        for (unsigned i = 0; i < THREADS; i++)
            CHECK(pthread_join(t[i], NULL) == 0);
        pthread_barrier_destroy(&start);
    }
    for (unsigned k = 0; k < SLOTS; k++) {
        unsigned char *p = atomic_exchange(&slots[k], NULL);
        if (p != NULL) {
            check_block(p);
            free(p);
        }
    }
    printf("thr_exchange: %u rounds of %u threads, %u calloc+free each\n", ROUNDS, THREADS, ops);
    return test_done();
}
