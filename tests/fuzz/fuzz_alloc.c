/* fuzz_alloc.c — libFuzzer harness for the dynalloc API.
 *
 * The input is split into NTHREADS equal slices; each slice is replayed by its
 * own thread as a sequence of allocator calls (da_malloc, da_calloc, da_realloc,
 * da_reallocarray, da_free, da_free_sized, da_posix_memalign, da_aligned_alloc,
 * da_memalign, da_malloc_usable_size) on a small table of slots.  Blocks can be
 * put into a shared mailbox and picked up by another thread, so that frees and
 * reallocs cross threads.
 *
 * Every block is filled, up to its usable size, with a pattern derived from a
 * unique block id; the pattern is verified before every free and realloc (and on
 * demand), and realloc must preserve the old contents.  A shadow map (a sorted
 * interval set guarded by a mutex) holds [p, p + usable) of every live block and
 * catches two live blocks that overlap.  Usable size must be >= the request,
 * alignment must be honoured, calloc memory must be zero, free must keep errno,
 * and invalid requests must fail with the documented errno.
 *
 * Any violation prints one line starting with "fuzz_alloc:" and aborts, which
 * libFuzzer reports as a crash and saves the input.
 *
 * Build with FUZZ_STRICT=1 (the default for the dynalloc targets) to check the
 * dynalloc-specific promises of include/dynalloc.h that glibc 2.36 does not keep
 * (EINVAL for a non-power-of-two aligned_alloc alignment).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dynalloc.h"

#ifndef FUZZ_STRICT
#define FUZZ_STRICT 1
#endif
/* 0: never pass a realloc'd block to da_free_sized (C23 allows it, with the
 * size given to realloc); only for narrowing down a failure. */
#ifndef FUZZ_SIZED_REALLOC
#define FUZZ_SIZED_REALLOC 1
#endif

#define NTHREADS   4
#define NSLOTS     32
#define NMAIL      16
#define LIVE_LIMIT ((size_t)48 << 20)  /* per thread: skip allocations beyond */

typedef struct {
    unsigned char *p;
    size_t req;      /* bytes requested */
    size_t usable;   /* da_malloc_usable_size at allocation time */
    size_t align;    /* alignment asked for (0: plain) */
    uint64_t id;     /* pattern seed */
    int from_realloc;
} block_t;

/* ------------------------------------------------------------------ failure */

/* Only the first failing thread reports and aborts; the others wait, so that
 * libFuzzer's crash handler runs once and writes the input out. */
static pthread_mutex_t fail_mu = PTHREAD_MUTEX_INITIALIZER;
#define FAIL(...) do {                                                       \
        pthread_mutex_lock(&fail_mu);                                        \
        fprintf(stderr, "fuzz_alloc: " __VA_ARGS__);                         \
        fputc('\n', stderr);                                                 \
        abort();                                                             \
    } while (0)

/* ----------------------------------------------------------------- patterns */

static atomic_uint_fast64_t next_id = 1;

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27; x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* Byte i of block `id` is byte (i % 8) of word w(i / 8); words are cheap to
 * compute so that multi-megabyte blocks stay fast. */
static inline uint64_t pat_word(uint64_t seed, size_t w)
{
    return seed ^ ((uint64_t)w * 0x9e3779b97f4a7c15ULL);
}

static void fill(unsigned char *p, size_t n, uint64_t id)
{
    uint64_t seed = mix64(id);
    size_t w = 0, i = 0;
    for (; i + 8 <= n; i += 8, w++) {
        uint64_t v = pat_word(seed, w);
        memcpy(p + i, &v, 8);
    }
    if (i < n) {
        uint64_t v = pat_word(seed, w);
        memcpy(p + i, &v, n - i);
    }
}

/* Returns the offset of the first wrong byte, or (size_t)-1. */
static size_t check(const unsigned char *p, size_t n, uint64_t id)
{
    uint64_t seed = mix64(id);
    size_t w = 0, i = 0;
    for (; i + 8 <= n; i += 8, w++) {
        uint64_t v = pat_word(seed, w), g;
        memcpy(&g, p + i, 8);
        if (g != v) break;
    }
    for (; i < n; i++) {
        uint64_t v = pat_word(seed, i / 8);
        if (p[i] != (unsigned char)(v >> (8 * (i % 8)))) return i;
    }
    return (size_t)-1;
}

static void verify(const block_t *b, const char *when)
{
    size_t off = check(b->p, b->usable, b->id);
    if (off != (size_t)-1)
        FAIL("block %p (id %llu, size %zu, usable %zu) corrupted at offset %zu before %s",
             (void *)b->p, (unsigned long long)b->id, b->req, b->usable, off, when);
}

/* --------------------------------------------------------------- shadow map */

typedef struct { uintptr_t lo, hi; uint64_t id; } ival_t;

static pthread_mutex_t shadow_mu = PTHREAD_MUTEX_INITIALIZER;
static ival_t *shadow;
static size_t shadow_n, shadow_cap;

/* first index whose lo >= key */
static size_t shadow_lower(uintptr_t key)
{
    size_t a = 0, b = shadow_n;
    while (a < b) {
        size_t m = a + (b - a) / 2;
        if (shadow[m].lo < key) a = m + 1; else b = m;
    }
    return a;
}

static void shadow_insert(const block_t *blk)
{
    uintptr_t lo = (uintptr_t)blk->p;
    uintptr_t hi = lo + (blk->usable ? blk->usable : 1);
    pthread_mutex_lock(&shadow_mu);
    size_t k = shadow_lower(lo);
    if (k > 0 && shadow[k - 1].hi > lo)
        FAIL("new block [%p,+%zu) id %llu overlaps live block [%p,%p) id %llu",
             (void *)lo, (size_t)(hi - lo), (unsigned long long)blk->id,
             (void *)shadow[k - 1].lo, (void *)shadow[k - 1].hi,
             (unsigned long long)shadow[k - 1].id);
    if (k < shadow_n && shadow[k].lo < hi)
        FAIL("new block [%p,+%zu) id %llu overlaps live block [%p,%p) id %llu",
             (void *)lo, (size_t)(hi - lo), (unsigned long long)blk->id,
             (void *)shadow[k].lo, (void *)shadow[k].hi,
             (unsigned long long)shadow[k].id);
    if (shadow_n == shadow_cap) {
        shadow_cap = shadow_cap ? 2 * shadow_cap : 256;
        shadow = realloc(shadow, shadow_cap * sizeof *shadow);  /* libc, not dynalloc */
        if (!shadow) FAIL("out of memory for the shadow map");
    }
    memmove(shadow + k + 1, shadow + k, (shadow_n - k) * sizeof *shadow);
    shadow[k] = (ival_t){ lo, hi, blk->id };
    shadow_n++;
    pthread_mutex_unlock(&shadow_mu);
}

static void shadow_remove(const block_t *blk)
{
    uintptr_t lo = (uintptr_t)blk->p;
    pthread_mutex_lock(&shadow_mu);
    size_t k = shadow_lower(lo);
    if (k >= shadow_n || shadow[k].lo != lo || shadow[k].id != blk->id)
        FAIL("block %p id %llu missing from the shadow map", (void *)blk->p,
             (unsigned long long)blk->id);
    memmove(shadow + k, shadow + k + 1, (shadow_n - k - 1) * sizeof *shadow);
    shadow_n--;
    pthread_mutex_unlock(&shadow_mu);
}

/* ------------------------------------------------------------------ mailbox */

static pthread_mutex_t mail_mu = PTHREAD_MUTEX_INITIALIZER;
static block_t mailbox[NMAIL];

/* ------------------------------------------------------------------- decode */

typedef struct {
    const uint8_t *d;
    size_t n, i;
} reader_t;

static inline unsigned rd8(reader_t *r) { return r->i < r->n ? r->d[r->i++] : 0; }
static inline unsigned rd16(reader_t *r) { unsigned a = rd8(r); return a | (rd8(r) << 8); }

/* Size distribution: mostly small, sometimes medium, rarely large. */
static size_t rd_size(reader_t *r)
{
    unsigned v = rd16(r);
    switch (v >> 13) {                        /* 3 bits of class */
    case 0: case 1: case 2: return v & 0x3f;            /* 0..63        */
    case 3: case 4:         return v & 0x3ff;           /* 0..1023      */
    case 5:                 return v & 0x1fff;          /* 0..8191      */
    case 6:                 return (size_t)(v & 0x1fff) * 16;   /* ..128K  */
    default: {
        unsigned w = rd8(r);
        return (w & 3) == 3 ? (size_t)(v & 0xfff) * 512     /* ..2 MiB */
                            : (size_t)(v & 0x1fff) * 32;    /* ..256K  */
    }
    }
}

static size_t rd_align(reader_t *r)
{
    return (size_t)1 << (rd8(r) % 17);      /* 1 .. 64 KiB */
}

/* ------------------------------------------------------------- per thread */

typedef struct {
    reader_t r;
    block_t slot[NSLOTS];
    size_t live;
    int tid;
} worker_t;

static size_t min_align_for(size_t size)
{
    size_t a = 16;
    while (a > 1 && a > size) a >>= 1;
    return a;
}

static void check_new(block_t *b, const char *what)
{
    if ((uintptr_t)b->p % min_align_for(b->req))
        FAIL("%s(%zu) = %p is not aligned to %zu", what, b->req, (void *)b->p,
             min_align_for(b->req));
    if (b->align && (uintptr_t)b->p % b->align)
        FAIL("%s(align %zu, %zu) = %p is misaligned", what, b->align, b->req, (void *)b->p);
    b->usable = da_malloc_usable_size(b->p);
    if (b->usable < b->req)
        FAIL("%s(%zu) = %p: usable size %zu < request", what, b->req, (void *)b->p, b->usable);
    b->id = atomic_fetch_add(&next_id, 1);
    shadow_insert(b);
}

static void release(worker_t *w, block_t *b, int sized)
{
    if (!b->p) return;
    verify(b, "free");
    if (da_malloc_usable_size(b->p) != b->usable)
        FAIL("usable size of %p changed from %zu to %zu while live", (void *)b->p,
             b->usable, da_malloc_usable_size(b->p));
    shadow_remove(b);
    errno = 4242;
    if (!FUZZ_SIZED_REALLOC && b->from_realloc) sized = 0;
    if (sized && b->align) da_free_aligned_sized(b->p, b->align, b->req);
    else if (sized) da_free_sized(b->p, b->req);
    else da_free(b->p);
    if (errno != 4242) FAIL("free(%p) changed errno to %d", (void *)b->p, errno);
    w->live -= b->usable;
    memset(b, 0, sizeof *b);
}

static void do_realloc(worker_t *w, block_t *b, size_t n, int array)
{
    if (n == 0) n = 1;           /* realloc(p, 0) is implementation-defined */
    if (w->live + n > LIVE_LIMIT) return;
    if (b->p) verify(b, "realloc");
    block_t old = *b;
    if (old.p) shadow_remove(&old);
    unsigned char *q;
    if (array) {
        size_t cnt = n >= 4 ? 4 : 1;
        n = (n / cnt) * cnt; if (!n) n = cnt;
        q = da_reallocarray(old.p, cnt, n / cnt);
    } else {
        q = da_realloc(old.p, n);
    }
    if (!q) {
        if (n < ((size_t)1 << 30))
            FAIL("realloc(%p, %zu) failed, errno %d", (void *)old.p, n, errno);
        if (old.p) shadow_insert(&old);
        return;
    }
    /* realloc promises only malloc's alignment, even for a block that came
     * from an aligned call, so the new block is checked as a plain one */
    block_t nb = { .p = q, .req = n, .align = 0, .from_realloc = 1 };
    if (old.p) {
        size_t keep = old.req < n ? old.req : n;
        size_t off = check(q, keep, old.id);
        if (off != (size_t)-1)
            FAIL("realloc(%p id %llu, %zu -> %zu) = %p lost contents at offset %zu",
                 (void *)old.p, (unsigned long long)old.id, old.req, n, (void *)q, off);
        w->live -= old.usable;
    }
    check_new(&nb, array ? "reallocarray" : "realloc");
    fill(nb.p, nb.usable, nb.id);
    w->live += nb.usable;
    *b = nb;
}

static void edge_case(unsigned k)
{
    void *p;
    int e;
    switch (k % 6) {
    case 0:
        errno = 0;
        p = da_malloc((size_t)PTRDIFF_MAX + 1);
        if (p || errno != ENOMEM) FAIL("malloc(PTRDIFF_MAX+1) = %p errno %d", p, errno);
        break;
    case 1:
        errno = 0;
        p = da_calloc(SIZE_MAX / 2, 3);
        if (p || errno != ENOMEM) FAIL("calloc overflow = %p errno %d", p, errno);
        break;
    case 2:
        p = (void *)1;
        e = da_posix_memalign(&p, 24, 64);
        if (e != EINVAL) FAIL("posix_memalign(align 24) returned %d", e);
        e = da_posix_memalign(&p, 4, 64);       /* not a multiple of sizeof(void*) */
        if (e != EINVAL) FAIL("posix_memalign(align 4) returned %d", e);
        break;
    case 3:
#if FUZZ_STRICT
        errno = 0;
        p = da_aligned_alloc(48, 96);
        if (p || errno != EINVAL) FAIL("aligned_alloc(48) = %p errno %d", p, errno);
#endif
        break;
    case 4:
        errno = 0;
        p = da_reallocarray(NULL, SIZE_MAX / 4, 8);
        if (p || errno != ENOMEM) FAIL("reallocarray overflow = %p errno %d", p, errno);
        break;
    case 5:
        errno = 4242;
        da_free(NULL);
        if (errno != 4242) FAIL("free(NULL) changed errno");
        if (da_malloc_usable_size(NULL) != 0) FAIL("malloc_usable_size(NULL) != 0");
        break;
    }
}

static void *worker(void *arg)
{
    worker_t *w = arg;
    reader_t *r = &w->r;
    while (r->i < r->n) {
        unsigned op = rd8(r);
        block_t *b = &w->slot[rd8(r) % NSLOTS];
        switch (op % 16) {
        case 0: case 1: case 2: {                    /* malloc */
            size_t n = rd_size(r);
            if (w->live + n > LIVE_LIMIT) break;
            release(w, b, 0);
            block_t nb = { .req = n };
            nb.p = da_malloc(n);
            if (!nb.p) FAIL("malloc(%zu) failed, errno %d", n, errno);
            check_new(&nb, "malloc");
            fill(nb.p, nb.usable, nb.id);
            w->live += nb.usable;
            *b = nb;
            break;
        }
        case 3: {                                    /* calloc */
            size_t cnt = rd8(r) % 16 + 1, sz = rd_size(r) / cnt;
            if (w->live + cnt * sz > LIVE_LIMIT) break;
            release(w, b, 0);
            block_t nb = { .req = cnt * sz };
            nb.p = da_calloc(cnt, sz);
            if (!nb.p) FAIL("calloc(%zu, %zu) failed, errno %d", cnt, sz, errno);
            for (size_t i = 0; i < nb.req; i++) {
                if (i + 8 <= nb.req) {               /* a word at a time */
                    uint64_t v;
                    memcpy(&v, nb.p + i, 8);
                    if (!v) { i += 7; continue; }
                }
                if (nb.p[i]) FAIL("calloc(%zu, %zu) = %p: byte %zu is %u", cnt, sz,
                                  (void *)nb.p, i, nb.p[i]);
            }
            check_new(&nb, "calloc");
            fill(nb.p, nb.usable, nb.id);
            w->live += nb.usable;
            *b = nb;
            break;
        }
        case 4: case 5:                              /* realloc */
            do_realloc(w, b, rd_size(r), 0);
            break;
        case 6:                                      /* reallocarray */
            do_realloc(w, b, rd_size(r), 1);
            break;
        case 7: case 8:                              /* free */
            release(w, b, 0);
            break;
        case 9:                                      /* free_sized */
            release(w, b, 1);
            break;
        case 10: {                                   /* posix_memalign */
            size_t al = rd_align(r), n = rd_size(r);
            if (al < sizeof(void *)) al = sizeof(void *);
            if (w->live + n + al > LIVE_LIMIT) break;
            release(w, b, 0);
            block_t nb = { .req = n, .align = al };
            void *p = NULL;
            int e = da_posix_memalign(&p, al, n);
            if (e || !p) FAIL("posix_memalign(%zu, %zu) returned %d", al, n, e);
            nb.p = p;
            check_new(&nb, "posix_memalign");
            fill(nb.p, nb.usable, nb.id);
            w->live += nb.usable;
            *b = nb;
            break;
        }
        case 11: case 12: {                          /* aligned_alloc / memalign */
            size_t al = rd_align(r), n = rd_size(r);
            if (w->live + n + al > LIVE_LIMIT) break;
            release(w, b, 0);
            block_t nb = { .req = n, .align = al };
            nb.p = (op % 16 == 11) ? da_aligned_alloc(al, n) : da_memalign(al, n);
            if (!nb.p) FAIL("aligned_alloc(%zu, %zu) failed, errno %d", al, n, errno);
            check_new(&nb, op % 16 == 11 ? "aligned_alloc" : "memalign");
            fill(nb.p, nb.usable, nb.id);
            w->live += nb.usable;
            *b = nb;
            break;
        }
        case 13:                                     /* check now */
            if (b->p) {
                verify(b, "usable-size check");
                if (da_malloc_usable_size(b->p) != b->usable)
                    FAIL("usable size of %p changed while live", (void *)b->p);
            }
            break;
        case 14: {                                   /* mailbox: give or take */
            unsigned m = rd8(r);
            block_t *mb = &mailbox[m % NMAIL];
            pthread_mutex_lock(&mail_mu);
            if (m & 0x80) {                          /* give */
                block_t t = *mb; *mb = *b; *b = t;
                w->live -= mb->usable; w->live += b->usable;
            } else {                                 /* take */
                block_t t = *b; *b = *mb; *mb = t;
                w->live += b->usable; w->live -= mb->usable;
            }
            pthread_mutex_unlock(&mail_mu);
            break;
        }
        case 15: {                                   /* burst or edge case */
            unsigned k = rd8(r);
            if (k & 1) { edge_case(k >> 1); break; }
            /* burst: many same-size blocks, freed in a scrambled order */
            size_t n = rd_size(r) % 2048, cnt = 8 + (k >> 1) % 120;
            void *v[128];
            for (size_t i = 0; i < cnt; i++) {
                v[i] = da_malloc(n);
                if (!v[i]) FAIL("burst malloc(%zu) failed", n);
                memset(v[i], (int)i, n);
            }
            for (size_t i = 0; i < cnt; i++) {
                size_t j = (i * 37 + k) % cnt;
                if (!v[j]) continue;
                for (size_t x = 0; x < n; x++)
                    if (((unsigned char *)v[j])[x] != (unsigned char)j)
                        FAIL("burst block %zu of size %zu corrupted", j, n);
                da_free(v[j]);
                v[j] = NULL;
            }
            for (size_t i = 0; i < cnt; i++) if (v[i]) da_free(v[i]);
            break;
        }
        }
    }
    for (int i = 0; i < NSLOTS; i++) release(w, &w->slot[i], i & 1);
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static worker_t w[NTHREADS];
    pthread_t th[NTHREADS];
    size_t per = size / NTHREADS;
    memset(w, 0, sizeof w);
    for (int t = 0; t < NTHREADS; t++) {
        w[t].tid = t;
        w[t].r.d = data + t * per;
        w[t].r.n = (t == NTHREADS - 1) ? size - t * per : per;
    }
    /* tiny inputs: replay on the calling thread only */
    if (size < 64) {
        worker(&w[0]);
        for (int t = 1; t < NTHREADS; t++) worker(&w[t]);
    } else {
        for (int t = 0; t < NTHREADS; t++)
            if (pthread_create(&th[t], NULL, worker, &w[t])) FAIL("pthread_create");
        for (int t = 0; t < NTHREADS; t++) pthread_join(th[t], NULL);
    }
    /* whatever is left in the mailbox is freed by the main thread */
    worker_t sink = { 0 };
    for (int i = 0; i < NMAIL; i++) {
        sink.live += mailbox[i].usable;
        release(&sink, &mailbox[i], 0);
    }
    if (shadow_n != 0) FAIL("%zu blocks still in the shadow map", shadow_n);
    return 0;
}
