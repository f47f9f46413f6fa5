/* guard_sample.c — guarded sampling (DYNALLOC_GUARD_SAMPLE), each misuse in a child (misuse.h).
 *
 * Run with DYNALLOC_GUARD_SAMPLE=1 (every pool-sized allocation sampled while a
 * slot is free), dynalloc preloaded:
 *  - a read and a write after free, a write one byte past a block, a read one
 *    byte before a left-aligned block and a double free are each reported by
 *    one report whose first line is exact (kind, access, address, offset,
 *    block, size) and whose stacks resolve: `addr2line -f -e OBJ OFFSET` of
 *    the first "allocated:" frame names the function that called malloc, of
 *    the first "freed:" (or "this free:") frame the one that called free;
 *  - a write into the alignment slack past a 13-byte block, and one 100 bytes
 *    before a right-aligned block, are reported by free; free of an address
 *    inside a sampled block is an invalid pointer, and free_sized wants the
 *    request (free_aligned_sized takes the aligned request back);
 *  - realloc moves a sampled block with its bytes, and the old one faults;
 *  - malloc_usable_size is the request; mallinfo2 counts a sampled block's
 *    request as in use and its page as mapped while it lives, neither after;
 *  - a fault outside the area, with no handler of the program's, ends the
 *    program by SIGSEGV with nothing printed.
 * Run with `default` as argument and the variable unset (the default rate):
 *  - a SIGSEGV handler the program installed before the first sample still
 *    gets the program's own faults once dynalloc's handler is in place;
 *  - a loop that allocates 64-byte blocks, frees each and reads it is
 *    reported within the child's 20 s alarm.
 */
#include "misuse.h"

#include <malloc.h>
#include <setjmp.h>
#include <sys/mman.h>

/* The test's own allocation and free sites, as the reports must name them. */
static __attribute__((noinline)) char *sample_site(size_t n)
{
    char *p = malloc(n);
    __asm__ volatile("" ::: "memory");   /* not a tail call: this frame is on the stack */
    return p;
}

static __attribute__((noinline)) void free_site(void *p)
{
    free(p);
    __asm__ volatile("" ::: "memory");
}

/* A sampled block of n bytes, left-aligned (at its page's start) or right-aligned (ending at its page's end). */
static char *sampled(size_t n, int left)
{
    for (int i = 0; i < 64; i++) {
        char *p = sample_site(n);
        CHECK(p != NULL);
        uintptr_t a = (uintptr_t)p;
        size_t align = n >= 16 || n == 0 ? 16 : 8;
        int is_left = (a & 4095) == 0, is_right = ((a + n + align - 1) & ~(uintptr_t)(align - 1)) % 4096 == 0;
        if ((left && is_left) || (!left && is_right))
            return p;
        free(p);
    }
    test_fail(__FILE__, __LINE__, "no %s-aligned sampled block of %zu bytes in 64 tries", left ? "left" : "right", n);
}

/* The function addr2line names for frame 0 of the line of `out` that starts with `label`. */
static void frame_function(const char *out, const char *label, char *fn, size_t cap)
{
    fn[0] = 0;
    const char *l = strstr(out, label);
    if (l == NULL)
        return;
    char obj[512];
    unsigned long off;
    if (sscanf(l + strlen(label), " %511[^+]+0x%lx", obj, &off) != 2)
        return;
    char cmd[700];
    snprintf(cmd, sizeof cmd, "addr2line -f -e '%s' 0x%lx", obj, off);
    FILE *f = popen(cmd, "r");
    if (f == NULL)
        return;
    if (fgets(fn, (int)cap, f) == NULL)
        fn[0] = 0;
    fn[strcspn(fn, "\n")] = 0;
    pclose(f);
}

/* The child dies by SIGABRT; its report starts with `first` (a whole line) and its
 * stacks name the allocation site and, where free_label is given, the free site. */
static void expect_guard_report(const char *what, void (*fn)(void *), void *arg, const char *first,
                          const char *free_label, const char *free_fn)
{
    char out[8192], want[512], fname[256];
    int status = run_child(fn, arg, out, sizeof out);
    snprintf(want, sizeof want, "%s\n", first);
    CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "%s: child status %#x, stderr \"%s\"", what, status, out);
    CHECKF(strncmp(out, want, strlen(want)) == 0, "%s: report \"%s\", want first line \"%s\"", what, out, first);
    frame_function(out, "dynalloc:   allocated:", fname, sizeof fname);
    CHECKF(strcmp(fname, "sample_site") == 0, "%s: allocation frame 0 is \"%s\", want sample_site; report \"%s\"",
           what, fname, out);
    if (free_label != NULL) {
        frame_function(out, free_label, fname, sizeof fname);
        CHECKF(strcmp(fname, free_fn) == 0, "%s: \"%s\" frame 0 is \"%s\", want %s; report \"%s\"", what, free_label,
               fname, free_fn, out);
    }
    printf("  ok  %-34s %.*s\n", what, (int)strcspn(out, "\n"), out);
}

static void read_after_free(void *arg)
{
    volatile char *p = arg;
    free_site(arg);
    (void)p[10];
}

static void write_after_free(void *arg)
{
    volatile char *p = arg;
    free_site(arg);
    p[10] = 1;
}

static void write_past(void *arg)
{
    volatile char *p = arg;
    p[64] = 1;
}

static void read_before(void *arg)
{
    volatile char *p = arg;
    (void)p[-1];
}

static __attribute__((noinline)) void double_free(void *arg)
{
    free_site(arg);
    free(arg);
    __asm__ volatile("" ::: "memory");
}

static void slack_write(void *arg)
{
    volatile char *p = arg;
    p[13] = 1;
    free(arg);
}

static void write_far_before(void *arg)
{
    volatile char *p = arg;
    p[-100] = 1;   /* in the page, before a right-aligned block */
    free(arg);
}

static void free_inside(void *arg)
{
    free((char *)arg + 8);
}

static void free_sized_wrong(void *arg)
{
    free_sized(arg, 63);
}

static void read_old_after_realloc(void *arg)
{
    volatile char *p = arg;
    (void)p[0];
}

static void wild_fault(void *arg)
{
    volatile char *p = arg;
    p[0] = 1;   /* a PROT_NONE page of the test's own */
}

static void test_every(void)
{
    char *p, line[256];

    p = sampled(64, 0);
    snprintf(line, sizeof line, "dynalloc: use-after-free: read at %p, offset 10 of block %p (64 bytes, freed)", p + 10,
             (void *)p);
    expect_guard_report("use after free, read", read_after_free, p, line, "dynalloc:   freed:", "free_site");
    snprintf(line, sizeof line, "dynalloc: use-after-free: write at %p, offset 10 of block %p (64 bytes, freed)",
             p + 10, (void *)p);
    expect_guard_report("use after free, write", write_after_free, p, line, "dynalloc:   freed:", "free_site");
    snprintf(line, sizeof line, "dynalloc: heap-buffer-overflow: write at %p, offset 64 of block %p (64 bytes)", p + 64,
             (void *)p);
    expect_guard_report("overflow by one byte", write_past, p, line, NULL, NULL);
    snprintf(line, sizeof line, "dynalloc: double free of %p (64 bytes, guarded sample)", (void *)p);
    expect_guard_report("double free", double_free, p, line, "dynalloc:   freed:", "free_site");
    char out[8192], fname[256];
    run_child(double_free, p, out, sizeof out);
    frame_function(out, "dynalloc:   this free:", fname, sizeof fname);
    CHECKF(strcmp(fname, "double_free") == 0, "double free: second free's frame 0 is \"%s\"", fname);
    CHECK(malloc_usable_size(p) == 64);
    snprintf(line, sizeof line, "dynalloc: free(): heap underflow before %p (64 bytes requested)", (void *)p);
    expect_abort("write 100 bytes before the block", write_far_before, p, line);
    snprintf(line, sizeof line, "dynalloc: free(): invalid pointer %p", p + 8);
    expect_abort("free inside a sampled block", free_inside, p, line);
    snprintf(line, sizeof line, "dynalloc: free_sized(): wrong size 63 for %p", (void *)p);
    expect_abort("free_sized of a sampled block", free_sized_wrong, p, line);
    free(p);

    p = sampled(64, 1);
    snprintf(line, sizeof line, "dynalloc: heap-buffer-underflow: read at %p, offset -1 of block %p (64 bytes)", p - 1,
             (void *)p);
    expect_guard_report("underflow by one byte", read_before, p, line, NULL, NULL);
    free(p);

    p = sampled(13, 0);
    CHECK(((uintptr_t)p & 7) == 0 && malloc_usable_size(p) == 13);
    snprintf(line, sizeof line, "dynalloc: free(): heap overflow past %p (13 bytes requested)", (void *)p);
    expect_abort("write into the slack past 13 bytes", slack_write, p, line);
    free(p);

    /* realloc moves the block with its bytes; the old block is freed (it faults) */
    p = sampled(64, 0);
    memset(p, 0x5a, 64);
    char *q = realloc(p, 100);
    CHECK(q != NULL && q != p && malloc_usable_size(q) == 100);
    for (int i = 0; i < 64; i++)
        CHECK((unsigned char)q[i] == 0x5a);
    snprintf(line, sizeof line, "dynalloc: use-after-free: read at %p, offset 0 of block %p (64 bytes, freed)", p,
             (void *)p);
    expect_guard_report("read of a block realloc moved", read_old_after_realloc, p, line, NULL, NULL);
    free(q);

    /* an aligned request is sampled as the size of its class, which is what
     * the aligned allocation asks for; free_aligned_sized with the request
     * the program made takes it back */
    if (free_aligned_sized) {
        struct mallinfo2 a0 = mallinfo2();
        p = aligned_alloc(4096, 313);
        struct mallinfo2 a1 = mallinfo2();
        CHECKF(p != NULL && ((uintptr_t)p & 4095) == 0 && a1.arena - a0.arena == test_os_page(),
               "aligned_alloc(4096, 313) = %p not sampled", (void *)p);
        free_aligned_sized(p, 4096, 313);
    }

    /* the figures: the request in use, the page mapped, while the block lives */
    struct mallinfo2 m0 = mallinfo2();
    p = sample_site(100);
    struct mallinfo2 m1 = mallinfo2();
    free(p);
    struct mallinfo2 m2 = mallinfo2();
    CHECKF(m1.uordblks - m0.uordblks == 100 && m1.arena - m0.arena == test_os_page(),
           "sampled 100 B: uordblks +%zd, arena +%zd, want +100, +%zu", (ssize_t)(m1.uordblks - m0.uordblks),
           (ssize_t)(m1.arena - m0.arena), test_os_page());
    CHECKF(m2.uordblks == m0.uordblks && m2.arena == m0.arena, "after free: uordblks %zd, arena %zd from the start",
           (ssize_t)(m2.uordblks - m0.uordblks), (ssize_t)(m2.arena - m0.arena));

    /* a fault of the program's own, no handler of its own: the default action, silently */
    char *own = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(own != MAP_FAILED);
    int status = run_child(wild_fault, own, out, sizeof out);
    CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV && out[0] == 0,
           "own fault: status %#x, stderr \"%s\", want SIGSEGV and nothing", status, out);
    test_checks++;
}

static sigjmp_buf own_jump;
static volatile sig_atomic_t own_faults;

static void own_handler(int sig, siginfo_t *info, void *context)
{
    (void)sig; (void)info; (void)context;
    own_faults++;
    siglongjmp(own_jump, 1);
}

static void uaf_loop(void *arg)
{
    (void)arg;
    for (long i = 0; i < 100000000; i++) {
        volatile char *p = malloc(64);
        free((void *)p);
        (void)p[10];
    }
}

static void test_default(void)
{
    struct sigaction sa, cur;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = own_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGSEGV, &sa, NULL) == 0);
    /* allocate until the first sample: dynalloc's handler then takes SIGSEGV */
    int sampled_once = 0;
    for (long i = 0; i < 10000000 && !sampled_once; i++) {
        free(malloc(64 + (size_t)(i % 8) * 16));
        CHECK(sigaction(SIGSEGV, NULL, &cur) == 0);
        sampled_once = cur.sa_sigaction != own_handler;
    }
    CHECKF(sampled_once, "no sample in 10 million allocations at the default rate");
    char *own = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(own != MAP_FAILED);
    if (sigsetjmp(own_jump, 1) == 0)
        ((volatile char *)own)[0] = 1;
    CHECKF(own_faults == 1, "the program's own handler ran %d times for its own fault", (int)own_faults);

    char out[8192];
    int status = run_child(uaf_loop, NULL, out, sizeof out);
    const char *want = "dynalloc: use-after-free: read at ";
    CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && strncmp(out, want, strlen(want)) == 0,
           "loop of reads after free: status %#x, stderr \"%s\"", status, out);
    printf("  ok  %-34s %.*s\n", "default rate: a read after free", (int)strcspn(out, "\n"), out);
}

int main(int argc, char **argv)
{
    misuse_init("guard_sample");
    if (argc > 1 && strcmp(argv[1], "default") == 0) {
        CHECK(getenv("DYNALLOC_GUARD_SAMPLE") == NULL);
        test_default();
    } else {
        if (!test_guarded())
            test_skip("run with DYNALLOC_GUARD_SAMPLE=1");
        test_every();
    }
    return test_done();
}
