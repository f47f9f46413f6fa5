/* libc_interop.c — memory that the C library allocates on the program's behalf.
 *
 * strdup, strndup, asprintf, getline, open_memstream, realpath, scandir,
 * glob, regcomp, iconv, dlopen, qsort and stdio all allocate inside libc; the
 * program frees their results (or libc frees them itself) with the same
 * allocator.  With dynalloc preloaded or linked in statically, every one of
 * these must reach dynalloc's malloc and free.  Built with the standard names
 * only.
 */
#include "check.h"

#include <dirent.h>
#include <dlfcn.h>
#include <glob.h>
#include <iconv.h>
#include <limits.h>
#include <regex.h>

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static void test_strings(void)
{
    for (int i = 0; i < 2000; i++) {
        char buf[64];
        snprintf(buf, sizeof buf, "string number %d", i);
        char *a = strdup(buf), *b = strndup(buf, 6), *c = NULL;
        CHECK(a != NULL && b != NULL && strcmp(a, buf) == 0 && strcmp(b, "string") == 0);
        CHECK(asprintf(&c, "%s/%s/%0*d", a, b, 1000 + i % 3000, i) > 0);
        CHECK(malloc_usable_size(c) >= strlen(c) + 1);
        c = realloc(c, 100000);     /* libc's block, resized by the program */
        CHECK(c != NULL && strncmp(c, buf, strlen(buf)) == 0);
        free(a);
        free(b);
        free(c);
    }
}

static void test_streams(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    CHECK(m != NULL);
    for (int i = 0; i < 20000; i++)
        fprintf(m, "line %d of a memory stream\n", i);
    CHECK(fclose(m) == 0);
    CHECK(len > 400000 && text != NULL);

    FILE *f = fmemopen(text, len, "r");
    CHECK(f != NULL);
    char *line = NULL;
    size_t cap = 0;
    int lines = 0;
    while (getline(&line, &cap, f) > 0)
        lines++;
    CHECK(lines == 20000);
    free(line);
    fclose(f);
    free(text);

    /* buffered file I/O: stdio allocates its buffers */
    for (int i = 0; i < 50; i++) {
        FILE *g = fopen("/proc/self/maps", "r");
        CHECK(g != NULL);
        char *l = NULL;
        size_t c = 0;
        while (getline(&l, &c, g) > 0)
            ;
        free(l);
        fclose(g);
    }
}

static void test_filesystem(void)
{
    char *rp = realpath("/proc/self/../self/.", NULL);
    CHECK(rp != NULL);
    free(rp);
    struct dirent **names = NULL;
    int n = scandir("/proc/self", &names, NULL, alphasort);
    CHECK(n > 5);
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    glob_t g;
    CHECK(glob("/proc/self/*", 0, NULL, &g) == 0 && g.gl_pathc > 5);
    globfree(&g);
}

static void test_regex_iconv(void)
{
    regex_t re;
    CHECK(regcomp(&re, "^(a|b)+[0-9]{2,5}x*$", REG_EXTENDED) == 0);
    CHECK(regexec(&re, "abba1234xxx", 0, NULL, 0) == 0);
    CHECK(regexec(&re, "abc", 0, NULL, 0) == REG_NOMATCH);
    regfree(&re);

    iconv_t cd = iconv_open("UTF-16LE", "UTF-8");
    CHECK(cd != (iconv_t)-1);
    char in[] = "h\xc3\xa9llo w\xc3\xb6rld", out[64];
    char *ip = in, *op = out;
    size_t il = strlen(in), ol = sizeof out;
    CHECK(iconv(cd, &ip, &il, &op, &ol) != (size_t)-1 && il == 0);
    iconv_close(cd);
}

static void test_dlopen(void)
{
    for (int i = 0; i < 20; i++) {
        void *h = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
        CHECKF(h != NULL, "dlopen: %s", dlerror());
        double (*cosine)(double) = (double (*)(double))dlsym(h, "cos");
        CHECK(cosine != NULL && cosine(0.0) == 1.0);
        CHECK(dlclose(h) == 0);
        void *bad = dlopen("libdoes-not-exist.so", RTLD_NOW);
        CHECK(bad == NULL && dlerror() != NULL);   /* the message is malloc'd by libc */
    }
}

static void test_qsort(void)
{
    enum { N = 300000 };           /* large enough that qsort takes a buffer */
    int *v = malloc(N * sizeof *v);
    uint64_t rng = 5;
    CHECK(v != NULL);
    for (int i = 0; i < N; i++)
        v[i] = (int)(test_rand(&rng) >> 40);
    qsort(v, N, sizeof *v, cmp_int);
    for (int i = 1; i < N; i++)
        CHECK(v[i - 1] <= v[i]);
    free(v);
}

int main(void)
{
    test_init("libc_interop");
    test_strings();
    test_streams();
    test_filesystem();
    test_regex_iconv();
    test_dlopen();
    test_qsort();
    return test_done();
}
