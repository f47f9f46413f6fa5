#!/usr/bin/env bash
# git_workload.sh DIR — build a repository with many branches, merges,
# rebases and cherry-picks, then gc --aggressive, repack and fsck it, printing
# "name<TAB>value" facts.  Every date and identity is fixed, so commit ids are
# the same on every run.  Meant to run entirely under the allocator's preload.
set -eu
dir=$1
export GIT_AUTHOR_NAME=Compat GIT_AUTHOR_EMAIL=compat@example.invalid
export GIT_COMMITTER_NAME=Compat GIT_COMMITTER_EMAIL=compat@example.invalid
export GIT_CONFIG_NOSYSTEM=1 HOME=$dir TZ=UTC LC_ALL=C
tick=1700000000
stamp() { tick=$((tick + 60)); export GIT_AUTHOR_DATE="@$tick +0000" GIT_COMMITTER_DATE="@$tick +0000"; }
fact() { printf '%s\t%s\n' "$1" "$2"; }
h() { sha256sum | cut -c1-24; }

rm -rf "$dir/repo"; mkdir -p "$dir/repo"; cd "$dir/repo"
git init -q -b main .
git config gc.auto 0
git config pack.threads 2            # delta search in 2 threads (object set is compared, not deltas)
git config core.bigFileThreshold 64m

# deterministic file bodies
body() {  # body NAME VERSION LINES
    awk -v n="$1" -v v="$2" -v l="$3" 'BEGIN { for (i = 0; i < l; i++)
        printf "%s line %d of version %d: %x %x\n", n, i, v, (i * 2654435761 + v) % 4294967296, i * v }'
}
mkdir -p src doc
for i in $(seq 0 79); do body "file$i" 0 $((50 + i * 7)) > "src/f$i.c"; done
for i in $(seq 0 9); do body "doc$i" 0 400 > "doc/d$i.txt"; done
stamp; git add -A; git commit -q -m "initial import"

NB=${GIT_BRANCHES:-32}
for b in $(seq 1 "$NB"); do
    git checkout -q -b "topic$b" main
    for c in 1 2 3 4 5; do
        f=$(( (b * 7 + c * 13) % 80 ))
        body "file$f" $((b * 10 + c)) $((40 + (b + c) % 60)) >> "src/f$f.c"
        body "new$b-$c" "$c" 30 > "src/t$b-$c.c"
        stamp; git add -A; git commit -q -m "topic$b: change $c to f$f"
    done
    git checkout -q main
    if [ $((b % 3)) -eq 0 ]; then
        stamp; git rebase -q main "topic$b"; git checkout -q main
        git merge -q --ff-only "topic$b"
    elif [ $((b % 3)) -eq 1 ]; then
        stamp; git merge -q --no-ff -X theirs -m "merge topic$b" "topic$b"
    else
        stamp; git cherry-pick -X theirs "topic$b~2" "topic$b" > /dev/null
    fi
    body "doc$((b % 10))" "$b" 400 > "doc/d$((b % 10)).txt"
    stamp; git commit -q -am "main: doc update $b"
done
# an interactive-free rebase of a long branch onto the new main
git checkout -q -b late "main~$((NB / 2))"
for c in $(seq 1 10); do body "late" "$c" 200 > "src/late$c.c"; stamp; git add -A; git commit -q -m "late $c"; done
stamp; git rebase -q main; git checkout -q main
stamp; git merge -q --no-ff -m "merge late" late
git tag -a v1 -m "tag v1" >/dev/null

fact head "$(git rev-parse HEAD)"
fact refs "$(git for-each-ref --format='%(refname) %(objectname)' | h)"
fact log "$(git log --graph --format='%H %s' --all | h)"
fact log_patch "$(git log -p --stat -n 60 | h)"
fact diff_main_topic "$(git diff --stat topic1 main | h)"
fact blame "$(git blame -s src/f7.c | h)"
fact grep "$(git grep -c 'version 3' main | h)"
fact revlist "$(git rev-list --all --objects | sort | h)"

git gc -q --aggressive --prune=now
git repack -q -a -d -f --window=100 --depth=50
fact fsck "$(git fsck --full --strict 2>&1 | h)"
fact objects "$(git count-objects -v | grep -E '^(count|in-pack|packs|garbage):' | tr '\n' ' ')"
fact verify_pack "$(git verify-pack -v .git/objects/pack/*.idx | awk '$2 ~ /^(commit|tree|blob|tag)$/ { print $1, $2 }' | sort | h)"
fact archive "$(git archive --format=tar HEAD | tar -tvf - | awk '{print $3, $6}' | h)"
# clone it locally and check that the clone is identical
git clone -q --no-local . "$dir/clone"
fact clone "$(git -C "$dir/clone" rev-parse HEAD) $(git -C "$dir/clone" fsck --full 2>&1 | h)"
