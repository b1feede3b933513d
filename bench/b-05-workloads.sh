#!/bin/bash
# b-05-workloads: what memfence costs allocation-heavy programs.  Own workloads in the spirit of
# the classic allocator benchmarks (bench/workloads.c: bignum ~ cfrac, server ~ larson, mixed ~
# espresso/xmalloc-test; bench/workloads_cxx.cc: C++ new/delete) and real programs (python3 json
# round-trips, sqlite3, a gcc compile, redis-server under redis-benchmark on 127.0.0.1).
# For each: instructions (callgrind, the median of MF_BENCH_IREPS runs, default 3; LD_PRELOAD set in
# valgrind's own environment, children traced and summed) and wall time (median of interleaved
# runs; redis: requests per second, inverted), as ratios to the same program without memfence, for:
#   bare    a bare forwarding interposer of malloc and free (what any preload costs before it does
#           any accounting)
#   floor   the least an exact fence does (tests/lib/bench_count.c): forwarding to glibc, plus each
#           block's chunk size added to a thread-local count and checked against a thread-local
#           credit, as memfence's fast path does, and nothing else: the floor under memfence's
#           ratio over glibc (redis: '-', its allocator is jemalloc)
#   ref     a bare forwarding interposer that also starts one idle thread (what memfence's sampler
#           thread cost a program when it started at once: glibc's malloc takes its arena locks
#           once a process has two threads; it now starts only once a process is worth watching)
#   budget  memfence with an 8 GiB budget
#   prof    the same with profiling on (default rate)
set -u
: "${MF_BENCH:=build/bench}" "${MF_LIB:=build/libmemfence.so}" "${MF_RESULTS:=bench/results}"
: "${MF_TLIB:=build/tests/lib}"
R=${MF_BENCH_REPS:-5}
IR=${MF_BENCH_IREPS:-3}   # callgrind runs per instruction count (their median)
MF_LIB=$(realpath "$MF_LIB"); PT=$(realpath "$MF_TLIB/bench_passthru.so")
FL=$(realpath "$MF_TLIB/bench_count.so")
W=$(realpath "$MF_BENCH/workloads"); WX=$(realpath "$MF_BENCH/workloads_cxx")
tmp=$(mktemp -d /tmp/mfwork.XXXXXX)
trap 'redis_stop; rm -rf "$tmp"' EXIT
mkdir -p "$MF_RESULTS"
# the interpreter itself (a pyenv shim would add its own shell processes to every run)
py=$(python3 -c 'import sys; print(sys.executable)')

cat > "$tmp/jsonbench.py" <<'PY'
import json, sys
n = int(sys.argv[1])
data = [{"id": i, "name": "item-%d" % i, "tags": ["a", "bb", "ccc"][: i % 4],
         "score": i * 0.5, "nested": {"k": [i, i + 1, str(i)]}} for i in range(n)]
for _ in range(5):
    s = json.dumps(data)
    data = json.loads(s)
print(len(s))
PY
cat > "$tmp/sql.sql" <<'SQL'
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, val REAL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < :N)
INSERT INTO t SELECT x, 'name-' || x || '-' || hex(randomblob(8)), x % 97, x * 1.5 FROM c;
CREATE INDEX t_grp ON t(grp, name);
SELECT grp, count(*), sum(val), max(name) FROM t GROUP BY grp ORDER BY 3 DESC LIMIT 3;
UPDATE t SET name = name || '-x' WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
SELECT count(*), sum(length(name)) FROM t;
SQL
printf '#!/bin/sh\nsed "s/:N/$1/" %s | sqlite3 :memory: >/dev/null\n' "$tmp/sql.sql" > "$tmp/sqlrun"
chmod +x "$tmp/sqlrun"
cp "$MF_ROOT/src/config/config.c" "$tmp/cc.c" 2>/dev/null || cp src/config/config.c "$tmp/cc.c"
inc="-I$(realpath "${MF_ROOT:-.}/src") -I$(realpath "${MF_ROOT:-.}/include")"

# name | command at instruction scale | command at wall scale
cases=(
  "bignum|$W bignum 3|$W bignum 40"
  "server (4 threads, cross-thread frees)|$W server 1|$W server 10"
  "mixed sizes + realloc|$W mixed 3|$W mixed 40"
  "C++ new/delete|$WX 3|$WX 40"
  "python3 json round-trips|$py $tmp/jsonbench.py 3000|$py $tmp/jsonbench.py 60000"
  "sqlite3|$tmp/sqlrun 5000|$tmp/sqlrun 100000"
  "gcc -O1 compile|gcc -O1 -D_GNU_SOURCE $inc -c $tmp/cc.c -o $tmp/cc.o|gcc -O2 -D_GNU_SOURCE $inc -c $tmp/cc.c -o $tmp/cc.o"
)

menv() {   # mode -> env assignments
    case $1 in
    plain) echo "MF_X=1" ;;
    bare) echo "LD_PRELOAD=$PT" ;;
    floor) echo "LD_PRELOAD=$FL" ;;
    ref) echo "MF_BENCH_IDLE_THREAD=1 LD_PRELOAD=$PT" ;;
    budget) echo "MEMFENCE_LIMIT=8G LD_PRELOAD=$MF_LIB" ;;
    prof) echo "MEMFENCE_LIMIT=8G MEMFENCE_PROFILE=on LD_PRELOAD=$MF_LIB" ;;
    esac
}
irs() {    # mode command...: instructions of all processes
    local m=$1; shift
    env $(menv "$m") valgrind --tool=callgrind --trace-children=yes --callgrind-out-file=/dev/null \
        bash -c "$*" 2>&1 | sed -n 's/.*Collected : *//p' | awk '{s += $1} END {print s}'
}
wall() {   # mode command...: seconds
    local m=$1; shift
    local a b
    a=$(date +%s%N); env $(menv "$m") bash -c "$*" >/dev/null 2>&1; b=$(date +%s%N)
    echo $(( b - a ))
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
irs_med() {   # mode command...: the median of $IR instruction counts (two things move a count:
              # profiling's random intervals, and the server's threads interleaving)
    local i
    for i in $(seq 1 "$IR"); do irs "$@"; done | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }'; }

echo "## Allocation-heavy workloads and real programs (bench/b-05-workloads.sh)"
echo
echo "Ratios to the same program without memfence. Instructions: callgrind, the median of $IR runs (the"
echo "bash wrapper's own instructions included). Wall: median of $R interleaved runs."
echo "bare = a bare interposer of malloc and free; ref = the same + one idle thread; floor = the least an exact"
echo "fence does (bare + each chunk counted against a thread-local credit); budget = MEMFENCE_LIMIT=8G;"
echo "prof = budget + MEMFENCE_PROFILE=on."
echo
echo "| workload | instructions plain | bare | ref | floor | budget | prof | wall plain | wall budget | wall prof |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
: > "$MF_RESULTS/overhead-workloads.tsv.tmp"
for c in "${cases[@]}"; do
    IFS='|' read -r name icmd wcmd <<<"$c"
    declare -A I=()
    for m in plain bare ref floor budget prof; do I[$m]=$(irs_med $m "$icmd"); done
    for rep in $(seq 1 "$R"); do
        for m in plain budget prof; do wall $m "$wcmd" >> "$tmp/w-$m"; done
    done
    wp=$(median < "$tmp/w-plain"); wb=$(median < "$tmp/w-budget"); wf=$(median < "$tmp/w-prof")
    rm -f "$tmp"/w-*
    echo "| $name | ${I[plain]} | $(ratio "${I[bare]}" "${I[plain]}") | $(ratio "${I[ref]}" "${I[plain]}") | $(ratio "${I[floor]}" "${I[plain]}") | $(ratio "${I[budget]}" "${I[plain]}") | $(ratio "${I[prof]}" "${I[plain]}") |" \
         "$(awk -v n="$wp" 'BEGIN {printf "%.3f s", n / 1e9}') | $(ratio "$wb" "$wp") | $(ratio "$wf" "$wp") |"
    printf 'workload\t%s instructions, budget\t%s\t%s\tinstr\n' "$name" "${I[plain]}" "${I[budget]}" >> "$MF_RESULTS/overhead-workloads.tsv.tmp"
    printf 'workload\t%s instructions, profiling\t%s\t%s\tinstr\n' "$name" "${I[plain]}" "${I[prof]}" >> "$MF_RESULTS/overhead-workloads.tsv.tmp"
    unset I
done

# redis-server (Debian's links jemalloc: memfence sees its libc calls only) under redis-benchmark
port=$((20000 + RANDOM % 12000))   # below the ephemeral range (32768 on), where clients' ports are
redis_pid=""
redis_start() {   # mode [valgrind]
    local m=$1 vg=${2:-}
    env $(menv "$m") $vg redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
        --daemonize no > "$tmp/redis.log" 2>&1 &
    redis_pid=$!
    for i in $(seq 1 300); do redis-cli -p "$port" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}
redis_stop() {
    [ -n "${redis_pid:-}" ] || return 0
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1
    wait "$redis_pid" 2>/dev/null
    redis_pid=""
}
if command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null; then
    declare -A I=()
    for m in plain bare ref budget prof; do
        redis_start $m "valgrind --tool=callgrind --callgrind-out-file=/dev/null" || { I[$m]=0; redis_stop; continue; }
        redis-benchmark -p "$port" -h 127.0.0.1 -n 3000 -q -t set,get,lpush,lpop,sadd,hset >/dev/null 2>&1
        redis_stop
        I[$m]=$(sed -n 's/.*Collected : *//p' "$tmp/redis.log" | awk '{s += $1} END {print s}')
    done
    declare -A T=()
    for rep in $(seq 1 "$R"); do
        for m in plain budget prof; do
            redis_start $m || continue
            rps=$(redis-benchmark -p "$port" -h 127.0.0.1 -n 100000 -q -t set,get,lpush,lpop,sadd,hset 2>/dev/null |
                  awk '/requests per second/ {for (i = 1; i <= NF; i++) if ($i ~ /^[0-9.]+$/) {s += 1 / $i; break}} END {print s}')
            redis_stop
            echo "$rps" >> "$tmp/r-$m"   # seconds per request, summed over the tests
        done
    done
    rp=$(median < "$tmp/r-plain"); rb=$(median < "$tmp/r-budget"); rf=$(median < "$tmp/r-prof")
    echo "| redis-server + redis-benchmark | ${I[plain]} | $(ratio "${I[bare]}" "${I[plain]}") | $(ratio "${I[ref]}" "${I[plain]}") | - | $(ratio "${I[budget]}" "${I[plain]}") | $(ratio "${I[prof]}" "${I[plain]}") |" \
         "$(awk -v s="$rp" 'BEGIN {printf "%.0f µs/6 req", s * 1e6}') | $(ratio "$rb" "$rp") | $(ratio "$rf" "$rp") |"
    printf 'workload\tredis instructions, budget\t%s\t%s\tinstr\n' "${I[plain]}" "${I[budget]}" >> "$MF_RESULTS/overhead-workloads.tsv.tmp"
else
    echo "| redis-server + redis-benchmark | skipped: not installed (scripts/setup installs redis-server, redis-tools) |||||||||"
fi
mv "$MF_RESULTS/overhead-workloads.tsv.tmp" "$MF_RESULTS/overhead-workloads.tsv"
echo
echo "Wall for redis: the inverse of requests per second summed over six commands (set, get, lpush,"
echo "lpop, sadd, hset; 100 000 requests each, 50 clients)."
