#!/bin/sh
# git.sh WORKDIR — a git repository built from generated files in a few
# commits with fixed names and dates (so every hash is fixed), packed with
# git gc and checked with git fsck; prints digests of the history.
set -e
dir="$1/repo"
rm -rf "$dir"
mkdir -p "$dir"
cd "$dir"
export GIT_AUTHOR_NAME="Test Author" GIT_AUTHOR_EMAIL="author@example.com"
export GIT_COMMITTER_NAME="Test Committer" GIT_COMMITTER_EMAIL="committer@example.com"
export GIT_CONFIG_NOSYSTEM=1 HOME="$dir" LC_ALL=C TZ=UTC
git init -q -b main .
git config gc.auto 0
for round in 1 2 3 4; do
    for d in $(seq -w 0 19); do mkdir -p "dir$d"; done
    # 2000 files in 20 directories; each round rewrites a different share
    awk -v round="$round" 'BEGIN {
        for (f = 0; f < 2000; f++) {
            if (round > 1 && f % (round + 1) != 0) continue;
            d = sprintf("dir%02d", f % 20);
            name = sprintf("%s/file%04d.txt", d, f);
            lines = 5 + (f * 7 + round * 13) % 60;
            for (l = 0; l < lines; l++)
                printf("round %d file %d line %d value %d\n", round, f, l, (f * 31 + l * 17 + round) % 1009) > name;
            close(name);
        }
    }'
    if [ "$round" = 3 ]; then git rm -q -r dir05; fi
    git add -A
    export GIT_AUTHOR_DATE="2020-01-0${round}T12:00:00Z" GIT_COMMITTER_DATE="2020-01-0${round}T12:00:00Z"
    git commit -q -m "round $round"
done
git gc -q
git fsck --full --strict 2>&1
echo "head $(git rev-parse HEAD)"
echo "log $(git log -p | sha256sum | cut -c1-16)"
echo "count $(git count-objects -v | grep -E '^(count|in-pack|packs)')" | tr '\n' ' '
echo
echo "ls $(git ls-tree -r HEAD | sha256sum | cut -c1-16)"
