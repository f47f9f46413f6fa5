#!/bin/sh
# gcc.sh WORKDIR — gcc compiling a large generated C file (about 21000
# lines); prints digests of the object file and its symbol table.
set -e
dir="$1/gcc"
rm -rf "$dir"
mkdir -p "$dir"
cd "$dir"
awk 'BEGIN {
    print "#include <stddef.h>";
    print "struct rec { int a; long b; double c; char name[16]; };";
    for (f = 0; f < 1700; f++) {
        printf("static int table%d[] = {", f);
        for (k = 0; k < 8; k++) printf("%d,", (f * 131 + k * 7) % 1000);
        print "};";
        printf("int fn%d(struct rec *r, int n) {\n", f);
        print "    int acc = 0;";
        printf("    for (int i = 0; i < n; i++) {\n");
        printf("        acc += r[i].a * %d + (int)r[i].b;\n", f % 17 + 1);
        printf("        if (acc > %d) acc -= table%d[i & 7];\n", 1000 + f, f);
        printf("        switch (acc & 3) { case 0: acc ^= %d; break; case 1: acc += fn%d(r, i / 2); break; default: acc--; }\n", f, (f > 0 ? f - 1 : 0));
        print "    }";
        printf("    return acc + (int)(r[0].c * %d.5);\n", f % 9);
        print "}";
        printf("const char *name%d(void) { return \"function number %d\"; }\n", f, f);
        print "";
    }
    print "int total(struct rec *r, int n) {";
    print "    int t = 0;";
    for (f = 0; f < 1700; f += 3) printf("    t += fn%d(r, n);\n", f);
    print "    return t;";
    print "}";
}' > big.c
echo "lines $(wc -l < big.c)"
gcc -O1 -g0 -frandom-seed=dynalloc -c big.c -o big.o
echo "object $(sha256sum big.o | cut -c1-16)"
echo "symbols $(nm big.o | sha256sum | cut -c1-16)"
