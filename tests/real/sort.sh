#!/bin/sh
# sort.sh WORKDIR — sort(1) of a generated file of about 50 MB (with several
# threads and a large buffer); prints digests of the input and the output.
set -e
dir="$1/sort"
rm -rf "$dir"
mkdir -p "$dir"
cd "$dir"
export LC_ALL=C
awk 'BEGIN {
    x = 7;
    for (i = 0; i < 1650000; i++) {
        x = (x * 1103515245 + 12345) % 2147483648;
        printf("%010d %s line %d\n", x % 1000000007, substr("abcdefghijklmnopqrstuvwxyz", 1 + x % 26, 1 + x % 20), i);
    }
}' > input
echo "input $(wc -c < input) $(sha256sum input | cut -c1-16)"
sort --parallel=2 -S 200M input | sha256sum | cut -c1-16
sort -k2,2 -k1,1n --parallel=2 input | sha256sum | cut -c1-16
