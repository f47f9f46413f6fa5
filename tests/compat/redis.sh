#!/usr/bin/env bash
# redis.sh MODE OUTDIR — redis-server under the allocator on 127.0.0.1 (free
# port, no persistence, 2 I/O threads, lazy freeing on so that a background
# thread frees what the main thread allocated), loaded by redis-benchmark
# (bounded request count, 4 clients), flushed, then filled with a
# deterministic data set (gen_redis.py) and read back with redis-cli.
# Facts: DBSIZE, DEBUG DIGEST, per-type key digests, sorted key list hash,
# sampled values, benchmark and shutdown status.
. "$(dirname "$0")/lib.sh"
suite_init "$@"
cd "$OUTDIR"
N=${REDIS_REQUESTS:-20000}

port=$(free_port)
cli() { timeout 120 redis-cli -h 127.0.0.1 -p "$port" "$@"; }
mode_env "$MODE"
# (env execs redis-server, so $! is the server itself)
env "${MODE_ENV[@]}" redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
    --daemonize no --protected-mode yes --enable-debug-command local \
    --io-threads 2 --io-threads-do-reads yes \
    --lazyfree-lazy-user-del yes --lazyfree-lazy-user-flush yes \
    --dir "$OUTDIR" --logfile "$OUTDIR/redis.log" &
pid=$!
trap 'kill $pid 2>/dev/null; sleep 1; kill -KILL $pid 2>/dev/null' EXIT
for _ in $(seq 100); do cli ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
result redis.ping "$(cli ping)"

# 1. load: bounded requests, few clients, random keys from a fixed range
rc=0
timed benchmark timeout 300 redis-benchmark -h 127.0.0.1 -p "$port" -n "$N" -c 4 -r 10000 -d 512 -q \
    -t set,get,incr,lpush,rpop,sadd,hset,spop,zadd,lrange_100,mset > bench.txt 2>&1 || rc=$?
cat bench.txt | tr '\r' '\n' | grep -v '^$' | tail -n 12
result redis.benchmark_exit "$rc"
result redis.benchmark_tests "$(grep -c 'requests per second' bench.txt)"
result redis.flush "$(cli flushall async)"
for _ in $(seq 50); do [ "$(cli dbsize)" = 0 ] && break; sleep 0.1; done

# 2. deterministic data
"$SYS_PY" "$COMPAT_DIR/gen_redis.py" > data.resp
result redis.input "$(sha data.resp)"
timed load cli --pipe < data.resp > pipe.txt 2>&1
result redis.pipe "$(grep -o 'errors: [0-9]*, replies: [0-9]*' pipe.txt)"

# 3. read back
result redis.dbsize "$(cli dbsize)"
result redis.digest "$(cli debug digest)"
cli --scan | LC_ALL=C sort > keys.txt
result redis.keys "$(wc -l < keys.txt) $(sha keys.txt)"
for i in 0 1 7 99 12345 29999; do
    result "redis.get.s:$i" "$(cli --no-raw get "s:$i" | sha256sum | cut -c1-16)"
done
for i in 0 3; do result "redis.get.big:$i" "$(cli get "big:$i" | wc -c)"; done
for p in s l h set z ctr big; do
    grep "^$p:" keys.txt > "k.$p.txt"
    sed 's/^/DEBUG DIGEST-VALUE /' "k.$p.txt" | cli > "d.$p.txt"
    paste -d' ' "k.$p.txt" "d.$p.txt" > "dv.$p.txt"
    result "redis.digest_values.$p" "$(wc -l < "dv.$p.txt") $(sha "dv.$p.txt")"
done
result redis.lrange "$(cli lrange l:5 0 -1 | sha256sum | cut -c1-16)"
result redis.zrange "$(cli zrange z:5 0 -1 withscores | sha256sum | cut -c1-16)"
result redis.hgetall "$(cli hgetall h:7 | paste - - | LC_ALL=C sort | sha256sum | cut -c1-16)"
result redis.smembers "$(cli smembers set:9 | LC_ALL=C sort | sha256sum | cut -c1-16)"
result redis.ctr "$(for i in 0 1 2 3 50 99; do cli get ctr:$i; done | tr '\n' ' ')"
cli info memory | grep -E '^(used_memory|used_memory_rss|mem_allocator):' | tr -d '\r'

# 4. delete everything from the main thread and from the lazy-free thread
cli flushall > /dev/null
result redis.dbsize_after_flush "$(cli dbsize)"

# 5. clean shutdown
result redis.shutdown "$(cli shutdown nosave 2>&1 | head -c 40)"
src=0
wait $pid || src=$?
trap - EXIT
result redis.exit "$src"
grep -q "ready to exit" redis.log && result redis.log_exit ok || result redis.log_exit missing
rm -f data.resp
[ $src -eq 0 ]
