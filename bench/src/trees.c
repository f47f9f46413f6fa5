/* trees — single-thread programs that build and tear down many small objects
 * of mixed sizes: an expression simplifier, a factoriser, tree builders and a
 * random-size replace loop.
 *
 *   trees --mode=expr [--trees=N] [--nodes=N] [--passes=P] [--live=L]
 *       N random expression trees (default 600) of about --nodes nodes
 *       each (default 3000): numbers (24-byte nodes), symbols (40 bytes, plus
 *       a malloc'd name of 8-64 bytes), calls (48 bytes, plus an argument
 *       array of 8-24 bytes and a name of 9-32 bytes), unary (56 bytes) and
 *       binary operators (72 bytes).  Each tree is "simplified" P times
 *       (default 3): bottom-up, every operator node is rebuilt as a new node
 *       (constants folded, x*1, x+0, x-x and --x rewritten, some symbols
 *       substituted by numbers) and the node it replaces is freed.  The
 *       last L trees (default 4) stay live; the oldest is freed whole when a
 *       new one is made.
 *   trees --mode=bigint [--jobs=N] [--steps=S] [--limbs=K]
 *       a factoriser: N numbers (default 500), each the product of random
 *       factors, up to K 32-bit limbs long (default 32 = 1024 bits), are
 *       attacked with Pollard's rho, at most S steps each (default 300).
 *       Numbers are malloc'd limb arrays: every product, quotient and
 *       remainder is a fresh 16-256 byte array, long division copies its
 *       operands, carries grow a number by realloc, and each factor found is
 *       printed to a decimal string grown by realloc.
 *   trees --mode=binary [--depth=D]
 *       binary-trees: after a "stretch" tree of depth D+1, a long-lived
 *       complete tree of depth D (default 16) lives throughout, while
 *       complete trees of depth d = 4, 6, ... D are built 2^(D-d+4) times
 *       each, walked and freed.  Nodes are 32 bytes.
 *   trees --mode=randsize [--ops=N] [--slots=S] [--min=B] [--max=B]
 *       glibc's bench-malloc-simple/thread loop: S live blocks (default
 *       1000); each of N steps (default 20m) frees a random slot and mallocs
 *       a block of random size in [min, max] (default 16-4096) drawn from an
 *       inverse-square distribution (median about 32 bytes).
 *
 *   Every mode: [--seed=X] [--check] (--check verifies each bigint division).
 *
 * Prints total_s, allocs_per_s (malloc + calloc + realloc calls per second)
 * and a checksum that is the same under every allocator.
 */
#include "common.h"
#include <math.h>

static uint64_t g_allocs;
static int g_check;
static rng_t R;

static inline void *amalloc(size_t n)
{
    g_allocs++;
    void *p = malloc(n);
    if (!p) { fprintf(stderr, "trees: malloc(%zu) failed\n", n); exit(1); }
    return p;
}

static inline void *arealloc(void *p, size_t n)
{
    g_allocs++;
    void *q = realloc(p, n);
    if (!q) { fprintf(stderr, "trees: realloc(%zu) failed\n", n); exit(1); }
    return q;
}

/* ======================================================================
 * expr
 */
enum { K_NUM, K_SYM, K_CALL, K_UN, K_BIN };
enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_NEG, OP_NOT, OP_ABS };

typedef struct node { uint8_t kind, op; uint16_t pad; uint32_t nsub; uint64_t hash; } node;
typedef struct { node h; int64_t val; } num_t;                                       /* 24 */
typedef struct { node h; char *name; uint64_t len; uint64_t attr; } sym_t;           /* 40 */
typedef struct { node h; char *name; node **args; uint64_t nargs, aux; } call_t;     /* 48 */
typedef struct { node h; node *a; uint64_t aux[4]; } un_t;                           /* 56 */
typedef struct { node h; node *a, *b; uint64_t aux[5]; } bin_t;                      /* 72 */

_Static_assert(sizeof(num_t) == 24 && sizeof(sym_t) == 40 && sizeof(call_t) == 48 && sizeof(un_t) == 56 &&
               sizeof(bin_t) == 72, "expr node sizes");

static char *make_name(size_t len, uint64_t tag)
{
    char *s = amalloc(len + 1);
    for (size_t i = 0; i < len; i++) s[i] = (char)('a' + (tag + i * 7) % 26);
    s[len] = 0;
    return s;
}

static char *copy_name(const char *src)
{
    size_t n = strlen(src);
    char *s = amalloc(n + 1);
    memcpy(s, src, n + 1);
    return s;
}

static node *new_num(int64_t v)
{
    num_t *n = amalloc(sizeof *n);
    n->h = (node){ K_NUM, 0, 0, 1, (uint64_t)v * 0x9e3779b97f4a7c15ull };
    n->val = v;
    return &n->h;
}

static node *new_sym(void)
{
    sym_t *s = amalloc(sizeof *s);
    uint64_t id = rng_below(&R, 64);
    size_t len = 7 + (size_t)(id % 8) * 8 + (size_t)rng_below(&R, 8); /* 7..70 chars */
    if (len > 63) len = 63;
    s->name = make_name(len, id);
    s->len = len;
    s->attr = id;
    s->h = (node){ K_SYM, 0, 0, 1, id * 0xbf58476d1ce4e5b9ull + len };
    return &s->h;
}

static node *new_un(int op, node *a)
{
    un_t *u = amalloc(sizeof *u);
    u->h = (node){ K_UN, (uint8_t)op, 0, 1 + a->nsub, (a->hash << 3) ^ (uint64_t)op };
    u->a = a;
    for (int i = 0; i < 4; i++) u->aux[i] = a->hash >> i;
    return &u->h;
}

static node *new_bin(int op, node *a, node *b)
{
    bin_t *n = amalloc(sizeof *n);
    n->h = (node){ K_BIN, (uint8_t)op, 0, 1 + a->nsub + b->nsub,
                   (a->hash * 31 + b->hash) ^ ((uint64_t)op << 60) };
    n->a = a;
    n->b = b;
    for (int i = 0; i < 5; i++) n->aux[i] = n->h.hash + (uint64_t)i;
    return &n->h;
}

static node *new_call(char *name, node **args, uint64_t nargs)
{
    call_t *c = amalloc(sizeof *c);
    uint64_t h = 7, sub = 1;
    for (uint64_t i = 0; i < nargs; i++) { h = h * 131 + args[i]->hash; sub += args[i]->nsub; }
    c->h = (node){ K_CALL, 0, 0, (uint32_t)sub, h };
    c->name = name;
    c->args = args;
    c->nargs = nargs;
    c->aux = h >> 7;
    return &c->h;
}

static node *build(uint64_t budget)
{
    if (budget <= 1) {
        if (rng_below(&R, 2)) {
            uint64_t r = rng_below(&R, 8);
            return new_num(r < 2 ? (int64_t)r : (int64_t)rng_below(&R, 100));
        }
        return new_sym();
    }
    uint64_t k = rng_below(&R, 100);
    if (k < 12) return new_un(OP_NEG + (int)rng_below(&R, 3), build(budget - 1));
    if (k < 20 && budget >= 3) {
        uint64_t n = 1 + rng_below(&R, budget - 1 < 3 ? budget - 1 : 3);
        node **args = amalloc(n * sizeof *args);
        uint64_t left = budget - 1;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t share = i + 1 == n ? left : 1 + rng_below(&R, left - (n - i - 1));
            args[i] = build(share);
            left -= share;
        }
        return new_call(make_name(8 + (size_t)rng_below(&R, 24), k), args, n);
    }
    uint64_t left = 1 + rng_below(&R, budget - 1);
    node *a = build(left);
    node *b = build(budget - left > 0 ? budget - left : 1);
    return new_bin((int)rng_below(&R, 4), a, b);
}

static void free_tree(node *n)
{
    switch (n->kind) {
    case K_NUM: break;
    case K_SYM: free(((sym_t *)n)->name); break;
    case K_CALL: {
        call_t *c = (call_t *)n;
        for (uint64_t i = 0; i < c->nargs; i++) free_tree(c->args[i]);
        free(c->args);
        free(c->name);
        break;
    }
    case K_UN: free_tree(((un_t *)n)->a); break;
    case K_BIN: free_tree(((bin_t *)n)->a); free_tree(((bin_t *)n)->b); break;
    }
    free(n);
}

static inline int is_num(const node *n, int64_t v) { return n->kind == K_NUM && ((num_t *)n)->val == v; }

/* Consumes n; returns its simplified replacement. */
static node *simplify(node *n)
{
    switch (n->kind) {
    case K_NUM:
        return n;
    case K_SYM: {
        sym_t *s = (sym_t *)n;
        if (s->attr % 5 == 0 && rng_below(&R, 4) == 0) { /* a bound variable: substitute */
            int64_t v = (int64_t)(s->attr % 7);
            free(s->name);
            free(s);
            return new_num(v);
        }
        return n;
    }
    case K_CALL: {
        call_t *c = (call_t *)n;
        node **args = amalloc(c->nargs * sizeof *args);
        for (uint64_t i = 0; i < c->nargs; i++) args[i] = simplify(c->args[i]);
        node *m = new_call(copy_name(c->name), args, c->nargs);
        free(c->args);
        free(c->name);
        free(c);
        return m;
    }
    case K_UN: {
        un_t *u = (un_t *)n;
        node *a = simplify(u->a);
        int op = u->h.op;
        free(u);
        if (a->kind == K_NUM) {
            int64_t v = ((num_t *)a)->val;
            free(a);
            return new_num(op == OP_NEG ? (int64_t)(0 - (uint64_t)v) : op == OP_NOT ? !v : v < 0 ? (int64_t)(0 - (uint64_t)v) : v);
        }
        if (a->kind == K_UN && a->op == op && op == OP_NEG) { /* --x */
            node *inner = ((un_t *)a)->a;
            free(a);
            return inner;
        }
        return new_un(op, a);
    }
    case K_BIN: default: {
        bin_t *bn = (bin_t *)n;
        node *a = simplify(bn->a), *b = simplify(bn->b);
        int op = bn->h.op;
        free(bn);
        if (a->kind == K_NUM && b->kind == K_NUM) {
            uint64_t x = (uint64_t)((num_t *)a)->val, y = (uint64_t)((num_t *)b)->val;
            if (op != OP_DIV || (int64_t)y > 0) {
                int64_t v = op == OP_ADD ? (int64_t)(x + y) : op == OP_SUB ? (int64_t)(x - y)
                          : op == OP_MUL ? (int64_t)(x * y) : (int64_t)x / (int64_t)y;
                free(a);
                free(b);
                return new_num(v);
            }
        }
        if (op == OP_MUL && (is_num(a, 0) || is_num(b, 0))) {
            free_tree(a);
            free_tree(b);
            return new_num(0);
        }
        if ((op == OP_MUL && is_num(b, 1)) || ((op == OP_ADD || op == OP_SUB) && is_num(b, 0))) {
            free(b);
            return a;
        }
        if ((op == OP_MUL && is_num(a, 1)) || (op == OP_ADD && is_num(a, 0))) {
            free(a);
            return b;
        }
        if (op == OP_SUB && a->kind == K_SYM && b->kind == K_SYM &&
            !strcmp(((sym_t *)a)->name, ((sym_t *)b)->name)) {
            free_tree(a);
            free_tree(b);
            return new_num(0);
        }
        return new_bin(op, a, b);
    }
    }
}

static uint64_t tree_sum(const node *n)
{
    switch (n->kind) {
    case K_NUM: return (uint64_t)((num_t *)n)->val + 1;
    case K_SYM: return ((sym_t *)n)->len + (unsigned char)((sym_t *)n)->name[0];
    case K_CALL: {
        const call_t *c = (const call_t *)n;
        uint64_t s = strlen(c->name);
        for (uint64_t i = 0; i < c->nargs; i++) s = s * 3 + tree_sum(c->args[i]);
        return s;
    }
    case K_UN: return tree_sum(((un_t *)n)->a) * 5 + n->op;
    default: return tree_sum(((bin_t *)n)->a) * 7 + tree_sum(((bin_t *)n)->b) + n->op;
    }
}

static uint64_t mode_expr(uint64_t trees, uint64_t nodes, uint64_t passes, uint64_t live)
{
    node **ring = calloc(live, sizeof *ring);
    uint64_t sum = 0, k = 0;
    for (uint64_t t = 0; t < trees; t++) {
        node *e = build(nodes);
        for (uint64_t p = 0; p < passes; p++) e = simplify(e);
        sum = sum * 1000003 + tree_sum(e) + e->nsub;
        if (ring[k]) free_tree(ring[k]);
        ring[k] = e;
        if (++k == live) k = 0;
    }
    for (uint64_t i = 0; i < live; i++)
        if (ring[i]) free_tree(ring[i]);
    free(ring);
    return sum;
}

/* ======================================================================
 * bigint: little-endian arrays of 32-bit limbs, no leading zero limbs
 * (zero has n == 0).  cap is the allocated length, kept exact, so that a
 * carry out grows the array by realloc.
 */
typedef struct { uint32_t n, cap; uint32_t *d; } bn;

static void bn_alloc(bn *x, uint32_t cap)
{
    x->n = 0;
    x->cap = cap;
    x->d = cap ? amalloc(cap * sizeof(uint32_t)) : NULL;
}

static void bn_free(bn *x) { free(x->d); x->d = NULL; x->n = x->cap = 0; }

static void bn_trim(bn *x) { while (x->n && x->d[x->n - 1] == 0) x->n--; }

static void bn_copy(bn *r, const bn *a)
{
    bn_alloc(r, a->n ? a->n : 1);
    memcpy(r->d, a->d, a->n * sizeof(uint32_t));
    r->n = a->n;
}

static int bn_cmp(const bn *a, const bn *b)
{
    if (a->n != b->n) return a->n < b->n ? -1 : 1;
    for (uint32_t i = a->n; i-- > 0;)
        if (a->d[i] != b->d[i]) return a->d[i] < b->d[i] ? -1 : 1;
    return 0;
}

static void bn_random(bn *x, uint32_t limbs)
{
    bn_alloc(x, limbs);
    for (uint32_t i = 0; i < limbs; i++) x->d[i] = (uint32_t)rng_next(&R);
    x->d[limbs - 1] |= 1u << 31 >> rng_below(&R, 8);
    x->n = limbs;
}

/* r = a * b (fresh array) */
static void bn_mul(bn *r, const bn *a, const bn *b)
{
    uint32_t n = a->n + b->n;
    bn_alloc(r, n ? n : 1);
    memset(r->d, 0, n * sizeof(uint32_t));
    for (uint32_t i = 0; i < a->n; i++) {
        uint64_t c = 0, ai = a->d[i];
        for (uint32_t j = 0; j < b->n; j++) {
            c += ai * b->d[j] + r->d[i + j];
            r->d[i + j] = (uint32_t)c;
            c >>= 32;
        }
        r->d[i + b->n] = (uint32_t)c;
    }
    r->n = n;
    bn_trim(r);
}

/* x += v in place; a carry out of the top grows x by realloc */
static void bn_add_small(bn *x, uint32_t v)
{
    uint64_t c = v;
    for (uint32_t i = 0; c && i < x->n; i++) {
        c += x->d[i];
        x->d[i] = (uint32_t)c;
        c >>= 32;
    }
    if (c) {
        if (x->n == x->cap) {
            x->cap = x->n + 1;
            x->d = arealloc(x->d, x->cap * sizeof(uint32_t));
        }
        x->d[x->n++] = (uint32_t)c;
    }
}

/* r = |a - b| (fresh array) */
static void bn_absdiff(bn *r, const bn *a, const bn *b)
{
    if (bn_cmp(a, b) < 0) { const bn *t = a; a = b; b = t; }
    bn_alloc(r, a->n ? a->n : 1);
    int64_t br = 0;
    for (uint32_t i = 0; i < a->n; i++) {
        int64_t t = (int64_t)a->d[i] - (i < b->n ? b->d[i] : 0) - br;
        br = t < 0;
        r->d[i] = (uint32_t)t;
    }
    r->n = a->n;
    bn_trim(r);
}

static void check_divmod(const bn *q, const bn *r, const bn *u, const bn *v);

/* q = u / v and/or r = u % v (fresh arrays; either may be NULL); v != 0.
 * Knuth's algorithm D on normalised copies of u and v. */
static void bn_divmod(bn *q, bn *r, const bn *u, const bn *v)
{
    uint32_t m = u->n, n = v->n;
    if (bn_cmp(u, v) < 0) {
        if (q) bn_alloc(q, 1);
        if (r) bn_copy(r, u);
        return;
    }
    if (q) { bn_alloc(q, m - n + 1); memset(q->d, 0, q->cap * sizeof(uint32_t)); }
    if (r) bn_alloc(r, n);
    uint32_t *qd = q ? q->d : amalloc((m - n + 1) * sizeof(uint32_t));
    if (n == 1) {
        uint64_t k = 0, d0 = v->d[0];
        for (uint32_t j = m; j-- > 0;) {
            uint64_t cur = (k << 32) | u->d[j];
            qd[j] = (uint32_t)(cur / d0);
            k = cur - qd[j] * d0;
        }
        if (r) { r->d[0] = (uint32_t)k; r->n = 1; }
    } else {
        int s = __builtin_clz(v->d[n - 1]);
        uint32_t *vn = amalloc(n * sizeof(uint32_t));
        uint32_t *un = amalloc((m + 1) * sizeof(uint32_t));
        for (uint32_t i = n - 1; i > 0; i--)
            vn[i] = (v->d[i] << s) | (s ? (uint32_t)((uint64_t)v->d[i - 1] >> (32 - s)) : 0);
        vn[0] = v->d[0] << s;
        un[m] = s ? (uint32_t)((uint64_t)u->d[m - 1] >> (32 - s)) : 0;
        for (uint32_t i = m - 1; i > 0; i--)
            un[i] = (u->d[i] << s) | (s ? (uint32_t)((uint64_t)u->d[i - 1] >> (32 - s)) : 0);
        un[0] = u->d[0] << s;
        for (int64_t j = (int64_t)m - n; j >= 0; j--) {
            uint64_t num = ((uint64_t)un[j + n] << 32) | un[j + n - 1];
            uint64_t qhat = num / vn[n - 1], rhat = num - qhat * vn[n - 1];
            while (qhat >> 32 || qhat * vn[n - 2] > ((rhat << 32) | un[j + n - 2])) {
                qhat--;
                rhat += vn[n - 1];
                if (rhat >> 32) break;
            }
            int64_t k = 0, t;
            for (uint32_t i = 0; i < n; i++) {
                uint64_t p = qhat * vn[i];
                t = (int64_t)un[i + j] - k - (int64_t)(p & 0xffffffffu);
                un[i + j] = (uint32_t)t;
                k = (int64_t)(p >> 32) - (t >> 32);
            }
            t = (int64_t)un[j + n] - k;
            un[j + n] = (uint32_t)t;
            qd[j] = (uint32_t)qhat;
            if (t < 0) {
                qd[j]--;
                uint64_t c = 0;
                for (uint32_t i = 0; i < n; i++) {
                    c += (uint64_t)un[i + j] + vn[i];
                    un[i + j] = (uint32_t)c;
                    c >>= 32;
                }
                un[j + n] += (uint32_t)c;
            }
        }
        if (r) {
            for (uint32_t i = 0; i + 1 < n; i++)
                r->d[i] = (un[i] >> s) | (s ? (uint32_t)((uint64_t)un[i + 1] << (32 - s)) : 0);
            r->d[n - 1] = un[n - 1] >> s;
            r->n = n;
        }
        free(vn);
        free(un);
    }
    if (q) { q->n = m - n + 1; bn_trim(q); } else free(qd);
    if (r) bn_trim(r);
    if (g_check) check_divmod(q, r, u, v);
}

/* --check: recompute both results and verify u == q * v + r, r < v */
static void check_divmod(const bn *q, const bn *r, const bn *u, const bn *v)
{
    bn qq, rr, t, s;
    g_check = 0;
    bn_divmod(&qq, &rr, u, v);
    g_check = 1;
    bn_mul(&t, &qq, v);
    bn_alloc(&s, (t.n > rr.n ? t.n : rr.n) + 1);
    uint64_t c = 0;
    for (uint32_t i = 0; i < s.cap; i++) {
        c += (uint64_t)(i < t.n ? t.d[i] : 0) + (i < rr.n ? rr.d[i] : 0);
        s.d[i] = (uint32_t)c;
        c >>= 32;
    }
    s.n = s.cap;
    bn_trim(&s);
    if (bn_cmp(&s, u) != 0 || bn_cmp(&rr, v) >= 0 || (q && bn_cmp(q, &qq) != 0) ||
        (r && bn_cmp(r, &rr) != 0)) {
        fprintf(stderr, "trees: bigint division check failed\n");
        abort();
    }
    bn_free(&qq);
    bn_free(&rr);
    bn_free(&t);
    bn_free(&s);
}

/* x = (x * y) mod N, replacing x */
static void bn_mulmod(bn *x, const bn *y, const bn *N)
{
    bn t, r;
    bn_mul(&t, x, y);
    bn_divmod(NULL, &r, &t, N);
    bn_free(&t);
    bn_free(x);
    *x = r;
}

/* x = (x^2 + c) mod N, replacing x */
static void rho_step(bn *x, uint32_t c, const bn *N)
{
    bn t, r;
    bn_mul(&t, x, x);
    bn_add_small(&t, c);
    bn_divmod(NULL, &r, &t, N);
    bn_free(&t);
    bn_free(x);
    *x = r;
}

/* Euclid: a fresh gcd(a, b) */
static void bn_gcd(bn *g, const bn *a0, const bn *b0)
{
    bn a, b;
    bn_copy(&a, a0);
    bn_copy(&b, b0);
    while (b.n) {
        bn r;
        bn_divmod(NULL, &r, &a, &b);
        bn_free(&a);
        a = b;
        b = r;
    }
    bn_free(&b);
    *g = a;
}

/* decimal string, built 9 digits at a time by repeated division by 10^9,
 * the string grown by realloc (it comes out reversed; that is fine here) */
static size_t bn_decimal(const bn *x, uint64_t *sum)
{
    bn cur, ten9;
    bn_copy(&cur, x);
    bn_alloc(&ten9, 1);
    ten9.d[0] = 1000000000u;
    ten9.n = 1;
    char *s = NULL;
    size_t len = 0;
    while (cur.n) {
        bn q, r;
        bn_divmod(&q, &r, &cur, &ten9);
        uint32_t chunk = r.n ? r.d[0] : 0;
        s = arealloc(s, len + 10);
        for (int i = 0; i < 9; i++) { s[len++] = (char)('0' + chunk % 10); chunk /= 10; }
        s[len] = 0;
        bn_free(&r);
        bn_free(&cur);
        cur = q;
    }
    for (size_t i = 0; i < len; i++) *sum = *sum * 31 + (unsigned char)s[i];
    free(s);
    bn_free(&cur);
    bn_free(&ten9);
    return len;
}

static uint64_t mode_bigint(uint64_t jobs, uint64_t steps, uint64_t maxlimbs)
{
    uint64_t sum = 0, found = 0, digits = 0;
    if (maxlimbs < 4) maxlimbs = 4;
    for (uint64_t job = 0; job < jobs; job++) {
        /* N = a product of random factors, 4..maxlimbs limbs */
        uint32_t target = (uint32_t)rng_range(&R, 4, maxlimbs);
        bn N;
        bn_random(&N, 1 + (uint32_t)rng_below(&R, 3));
        while (N.n < target) {
            bn f, t;
            uint32_t fl = 1 + (uint32_t)rng_below(&R, target - N.n < 6 ? target - N.n : 6);
            bn_random(&f, fl);
            f.d[0] |= 1;
            bn_mul(&t, &N, &f);
            bn_free(&N);
            bn_free(&f);
            N = t;
        }
        uint32_t c = 1 + (uint32_t)rng_below(&R, 1000);
        bn x, y, q;
        bn_alloc(&x, 1); x.d[0] = 2; x.n = 1;
        bn_copy(&y, &x);
        bn_alloc(&q, 1); q.d[0] = 1; q.n = 1;
        for (uint64_t st = 1; st <= steps && N.n > 1; st++) {
            rho_step(&x, c, &N);
            rho_step(&y, c, &N);
            rho_step(&y, c, &N);
            bn d;
            bn_absdiff(&d, &x, &y);
            if (d.n == 0) { /* x met y: start again from 2 with a new c */
                bn_free(&d);
                c++;
                x.d[0] = 2; x.n = 1;
                y.d[0] = 2; y.n = 1;
                continue;
            }
            bn_mulmod(&q, &d, &N);
            bn_free(&d);
            if (st % 16 && st != steps) continue;
            bn g;
            bn_gcd(&g, &q, &N);
            if (g.n && !(g.n == 1 && g.d[0] == 1) && bn_cmp(&g, &N) != 0) {
                /* a factor: print it, divide it out, go on with the cofactor */
                digits += bn_decimal(&g, &sum);
                found++;
                bn nq;
                bn_divmod(&nq, NULL, &N, &g);
                bn_free(&N);
                N = nq;
                bn_free(&q);
                bn_alloc(&q, 1); q.d[0] = 1; q.n = 1;
                /* x and y stay below the old N; reduce them */
                bn r;
                bn_divmod(NULL, &r, &x, &N); bn_free(&x); x = r;
                bn_divmod(NULL, &r, &y, &N); bn_free(&y); y = r;
            } else if (q.n == 0 || bn_cmp(&g, &N) == 0) {
                /* the product fell to 0 mod N: start afresh with another c */
                bn_free(&q);
                bn_alloc(&q, 1); q.d[0] = 1; q.n = 1;
                c += 2;
            }
            bn_free(&g);
        }
        digits += bn_decimal(&N, &sum);
        bn_free(&x);
        bn_free(&y);
        bn_free(&q);
        bn_free(&N);
    }
    printf("bigint: %" PRIu64 " factors found, %" PRIu64 " digits printed\n", found, digits);
    return sum ^ (found << 48);
}

/* ======================================================================
 * binary-trees
 */
typedef struct tn { struct tn *l, *r; int64_t item, pad; } tn;
_Static_assert(sizeof(tn) == 32, "binary-trees node");

static tn *bt_build(int depth)
{
    tn *t = amalloc(sizeof *t);
    t->item = depth;
    t->pad = 0;
    if (depth > 0) {
        t->l = bt_build(depth - 1);
        t->r = bt_build(depth - 1);
    } else {
        t->l = t->r = NULL;
    }
    return t;
}

static uint64_t bt_check(const tn *t) { return t->l ? 1 + bt_check(t->l) + bt_check(t->r) : 1; }

static void bt_free(tn *t)
{
    if (t->l) { bt_free(t->l); bt_free(t->r); }
    free(t);
}

static uint64_t mode_binary(int maxd)
{
    if (maxd < 6) maxd = 6;
    uint64_t sum = 0;
    tn *stretch = bt_build(maxd + 1);
    sum += bt_check(stretch);
    bt_free(stretch);
    tn *longlived = bt_build(maxd);
    for (int d = 4; d <= maxd; d += 2) {
        uint64_t iters = 1ull << (maxd - d + 4), check = 0;
        for (uint64_t i = 0; i < iters; i++) {
            tn *t = bt_build(d);
            check += bt_check(t);
            bt_free(t);
        }
        sum = sum * 7 + check;
    }
    sum = sum * 7 + bt_check(longlived);
    bt_free(longlived);
    return sum;
}

/* ======================================================================
 * randsize
 */
#define NSIZES 65536
static uint64_t mode_randsize(uint64_t ops, uint64_t nslots, size_t minsz, size_t maxsz)
{
    uint32_t *sizes = xmalloc(NSIZES * sizeof *sizes);
    /* inverse square density on [min, max]: 1/s = 1/min - u (1/min - 1/max) */
    for (int i = 0; i < NSIZES; i++) {
        double u = rng_unit(&R);
        double s = 1.0 / (1.0 / (double)minsz - u * (1.0 / (double)minsz - 1.0 / (double)maxsz));
        sizes[i] = (uint32_t)(s > (double)maxsz ? (double)maxsz : s);
    }
    char **slot = xmalloc(nslots * sizeof *slot);
    for (uint64_t i = 0; i < nslots; i++) {
        slot[i] = amalloc(sizes[i % NSIZES]);
        slot[i][0] = 1;
    }
    uint64_t sum = 0;
    for (uint64_t i = 0; i < ops; i++) {
        uint64_t r = rng_next(&R);
        uint64_t k = (uint64_t)(((unsigned __int128)(r >> 16) * nslots) >> 48);
        sum += (unsigned char)slot[k][0];
        free(slot[k]);
        char *p = amalloc(sizes[r & (NSIZES - 1)]);
        p[0] = (char)i;
        slot[k] = p;
    }
    for (uint64_t i = 0; i < nslots; i++) free(slot[i]);
    free(slot);
    free(sizes);
    return sum;
}

int main(int argc, char **argv)
{
    args_init(argc, argv,
              "--mode=expr|bigint|binary|randsize [--trees=N --nodes=N --passes=P --live=L] "
              "[--jobs=N --steps=S --limbs=K] [--depth=D] [--ops=N --slots=S --min=B --max=B] "
              "[--seed=X] [--check]");
    const char *mode = arg_str("mode", "expr");
    uint64_t seed = arg_u64("seed", 11);
    g_check = arg_str("check", NULL) != NULL;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--check")) g_check = 1;
    rng_seed(&R, seed);

    uint64_t sum, work;
    const char *what;
    uint64_t t0 = now_ns();
    if (!strcmp(mode, "expr")) {
        uint64_t trees = arg_u64("trees", 600), nodes = arg_u64("nodes", 3000);
        uint64_t passes = arg_u64("passes", 3), live = arg_u64("live", 4);
        if (nodes < 1 || live < 1) { fprintf(stderr, "trees: need --nodes >= 1, --live >= 1\n"); return 2; }
        sum = mode_expr(trees, nodes, passes, live);
        work = trees;
        what = "trees";
    } else if (!strcmp(mode, "bigint")) {
        uint64_t jobs = arg_u64("jobs", 500);
        sum = mode_bigint(jobs, arg_u64("steps", 300), arg_u64("limbs", 32));
        work = jobs;
        what = "numbers";
    } else if (!strcmp(mode, "binary")) {
        int depth = (int)arg_u64("depth", 16);
        if (depth > 30) { fprintf(stderr, "trees: --depth at most 30\n"); return 2; }
        sum = mode_binary(depth);
        work = (uint64_t)depth;
        what = "depth";
    } else if (!strcmp(mode, "randsize")) {
        uint64_t ops = arg_u64("ops", 20000000), nslots = arg_u64("slots", 1000);
        size_t minsz = (size_t)arg_u64("min", 16), maxsz = (size_t)arg_u64("max", 4096);
        if (nslots == 0 || minsz == 0 || maxsz < minsz) {
            fprintf(stderr, "trees: need --slots > 0 and 0 < min <= max\n");
            return 2;
        }
        sum = mode_randsize(ops, nslots, minsz, maxsz);
        work = ops;
        what = "steps";
    } else {
        fprintf(stderr, "trees: unknown --mode=%s (expr|bigint|binary|randsize)\n", mode);
        return 2;
    }
    double s = secs_since(t0);
    printf("trees --mode=%s: %" PRIu64 " %s, %" PRIu64 " allocations, checksum %016" PRIx64 ": %.3f s\n",
           mode, work, what, g_allocs, sum, s);
    metric("total_s", s, "s");
    metric("allocs_per_s", (double)g_allocs / s, "allocs/s");
    return 0;
}
