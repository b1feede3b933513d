#!/bin/bash
# b-70-survival.sh — the survival table: real programs grown past a budget, $MF_SURVIVAL_RUNS
# runs (5) of each program × budget, under `memfence run -l BUDGET` with default settings
# (MEMFENCE_CONFIG=none), and under a cgroup memory limit of the same size (swap 0) where this
# machine lets us make one.  Each run is classified:
#   a  clean error, the program carried on (it printed SURVIVED; redis answered after the fill)
#   b  the program's own documented out-of-memory end (V8's "JavaScript heap out of memory",
#      an uncaught java.lang.OutOfMemoryError, redis's "Out Of Memory allocating", python's
#      MemoryError at top level, gcc's "virtual memory exhausted" / "out of memory allocating")
#   c  under memfence: a crash (a signal other than the documented end's SIGABRT, or a runtime's
#      fatal-error report such as the JVM's hs_err) — memfence refused something the program
#      could not see coming.  This class must be 0.
#   k  under the cgroup: killed by the kernel's OOM killer (the cgroup counted an OOM kill; the
#      process itself, or a child such as gcc's cc1)
#   o  other: never reached the limit, an error exit without a documented message, hung
# Writes $MF_RESULTS/survival.md (the table, then what ended every run that was not a or b),
# $MF_RESULTS/survival.tsv (one line a run) and $MF_RESULTS/survival.png; prints the table.
# MF_SURVIVAL_ONLY=SUBSTRING runs only the matching cases.  MF_SURVIVAL_ALLOCATOR=jemalloc (or
# tcmalloc, mimalloc) runs memfence over that allocator (`memfence run --allocator`), without the
# cgroup runs, into survival-ALLOCATOR.md / .tsv / .png.  About 3 minutes on 2 cores (5 to 11
# where programs crash or hang at the limit).
set -u
: "${MF_BIN:=build/memfence}" "${MF_RESULTS:=bench/results}"
root=$(cd "$(dirname "$0")/.." && pwd)
MF_BIN=$(cd "$(dirname "$MF_BIN")" && pwd)/$(basename "$MF_BIN")
S=$root/bench/survival
RUNS=${MF_SURVIVAL_RUNS:-5}
ONLY=${MF_SURVIVAL_ONLY:-}
ALLOC=${MF_SURVIVAL_ALLOCATOR:-}
case $ALLOC in
"" | system) ALLOC="" OUT=survival ;;
jemalloc | tcmalloc | mimalloc) OUT=survival-$ALLOC ;;
*) echo "MF_SURVIVAL_ALLOCATOR: '$ALLOC' is not one of system, jemalloc, tcmalloc, mimalloc" >&2; exit 2 ;;
esac
T=60                                    # seconds a run may take before it counts as hung
mkdir -p "$MF_RESULTS"
tmp=$(mktemp -d /tmp/mfsurvival.XXXXXX)
CGROOT=""
cleanup() {
    [ -n "$CGROOT" ] && [ -d "$CGROOT" ] && rmdir "$CGROOT"/r* "$CGROOT" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

# ---- the equal cgroup limit -------------------------------------------------------------
# v2: a child of our own cgroup with memory.max and memory.swap.max = 0 (needs the memory
# controller delegated to it); v1: memory.limit_in_bytes and memory.memsw.limit_in_bytes.
CG=none CGWHY="not root"
cg_setup() {
    [ "$(id -u)" -eq 0 ] || return
    local self
    if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
        self=/sys/fs/cgroup$(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup)
        CGWHY="cgroup v2: the memory controller is not delegated to $self"
        grep -qw memory "$self/cgroup.controllers" 2>/dev/null || return
        grep -qw memory "$self/cgroup.subtree_control" ||
            echo +memory > "$self/cgroup.subtree_control" 2>/dev/null || return
        CG=v2
    elif [ -d /sys/fs/cgroup/memory ]; then
        self=/sys/fs/cgroup/memory$(awk -F: '$2 == "memory" { print $3 }' /proc/self/cgroup)
        CG=v1
    else
        CGWHY="no cgroup memory controller"; return
    fi
    CGROOT=$self/mf-survival-$$
    mkdir "$CGROOT" 2>/dev/null || { CG=none CGWHY="cannot create a cgroup under $self"; }
}
if [ -n "$ALLOC" ]; then CGWHY="the cgroup runs are made over glibc only (survival.md)"; else cg_setup; fi
printf '#!/bin/sh\necho $$ > "$1/cgroup.procs" || exit 125\nshift\nexec "$@"\n' > "$tmp/cgexec"
chmod +x "$tmp/cgexec"
cgn=0
cg_new() {     # budget bytes -> prints the new cgroup's directory
    cgn=$((cgn + 1))
    local d=$CGROOT/r$cgn
    mkdir "$d" || return 1
    if [ $CG = v1 ]; then
        echo "$1" > "$d/memory.limit_in_bytes"
        [ -f "$d/memory.memsw.limit_in_bytes" ] && echo "$1" > "$d/memory.memsw.limit_in_bytes"
    else
        echo "$1" > "$d/memory.max"
        [ -f "$d/memory.swap.max" ] && echo 0 > "$d/memory.swap.max"
    fi
    echo "$d"
}
cg_oomkills() {
    if [ $CG = v1 ]; then awk '$1 == "oom_kill" { print $2 }' "$1/memory.oom_control"
    else awk '$1 == "oom_kill" { print $2 }' "$1/memory.events"; fi
}
cg_done() {    # kill what is left in it, remove it
    local p i
    for i in 1 2 3 4 5 6 7 8 9 10; do
        p=$(cat "$1/cgroup.procs" 2>/dev/null)
        [ -z "$p" ] && break
        kill -9 $p 2>/dev/null; sleep 0.2
    done
    rmdir "$1" 2>/dev/null
}

bytes() { numfmt --from=iec "$1"; }

# ---- inputs made once ---------------------------------------------------------------------
mkdir -p "$tmp/jvm" "$tmp/run"
javac -d "$tmp/jvm" "$S/Grow.java" 2>"$tmp/javac.err" || JAVA_BROKEN=1
# gcc: a one-million-element initialised array (~175 MiB at its peak in cc1, ~1.2 s)
python3 -c "
print('const int big[] = {' + ','.join(str((i * 2654435761) % 100003) for i in range(1000000)) + '};')
print('int get(int i) { return big[i]; }')" > "$tmp/big.c"

# llama.cpp: the tiny random-weight GGUF, when node-llama-cpp is installed (scripts/setup)
if [ -x "$root/scripts/mkgguf" ] && [ -d "$root/examples/llama/node_modules/node-llama-cpp" ] &&
   [[ llama_tiny == *"$ONLY"* ]]; then
    "$root/scripts/mkgguf" "$tmp/tiny.gguf" --preset tiny > /dev/null 2>&1 || rm -f "$tmp/tiny.gguf"
fi

# ---- the programs -------------------------------------------------------------------------
# Each case: run_<case> WRAPPER... ; stdout and stderr go to the run's files; the exit status
# is the program's.  The wrapper is `memfence run -l B --` or the cgroup's exec helper.
run_py_bytes() { "$@" /usr/bin/python3 "$S/grow.py" bytes; }
run_py_bytes4k() { "$@" /usr/bin/python3 "$S/grow.py" bytes 4096; }
run_py_list() { "$@" /usr/bin/python3 "$S/grow.py" list; }
run_node_buffers() { "$@" node "$S/grow.js" buffers; }
run_node_buffers64k() { "$@" node "$S/grow.js" buffers 65536; }
run_node_buffers512k() { "$@" node "$S/grow.js" buffers 524288; }
run_node_objects() { "$@" node "$S/grow.js" objects; }
run_node_strings() { "$@" node "$S/grow.js" strings; }
run_jvm_1M() { "$@" java -cp "$tmp/jvm" Grow 1048576; }
run_jvm_1K() { "$@" java -cp "$tmp/jvm" Grow 1024; }
run_sqlite3() { "$@" sqlite3 :memory: < "$S/grow.sql"; }
run_gcc() { "$@" gcc -O2 -c -o "$tmp/run/big.o" "$tmp/big.c"; }
# llama.cpp through node-llama-cpp (examples/llama/generate.mjs, scripts/mkgguf's tiny model,
# context 32768: a 128 MiB KV cache): generating (exit 0) or node-llama-cpp's clean error
# (exit 11-13: an exception, a normal exit) both count as carrying on.
run_llama_tiny() {
    "$@" node "$root/examples/llama/generate.mjs" "$tmp/tiny.gguf" --context 32768
    local rc=$?
    case $rc in
        0) echo "SURVIVED: generated" ;;
        11|12|13) echo "SURVIVED: clean error from node-llama-cpp (exit $rc)"; rc=0 ;;
    esac
    return $rc
}
run_redis() { redis_case "" "$@"; }
run_redis_maxmemory() { redis_case "$MAXMEM" "$@"; }
# redis-server on 127.0.0.1 only, no persistence; filled with redis-benchmark (4 KiB values,
# random keys) to three times the budget; it carried on (a) when it still answers after the
# fill and exits 0 on SHUTDOWN.  With maxmemory (3/4 of the budget, allkeys-lru) it evicts.
redis_case() {
    local mm=$1; shift
    local port srv i fill rc
    for i in $(seq 50); do          # a port no socket uses, below the ephemeral range (from
        port=$((20000 + RANDOM % 12000))   # 32768: redis-benchmark's own connections took one)
        ss -Htan 2>/dev/null | awk '{ print $4 }' | grep -q ":$port\$" || break
    done
    "$@" redis-server --port $port --bind 127.0.0.1 --protected-mode yes --save '' \
        --appendonly no --dir "$tmp/run" --logfile '' \
        ${mm:+--maxmemory "$mm" --maxmemory-policy allkeys-lru} &
    srv=$!
    for i in $(seq 100); do
        redis-cli -h 127.0.0.1 -p $port ping 2>/dev/null | grep -q PONG && break
        kill -0 $srv 2>/dev/null || break
        sleep 0.1
    done
    timeout 30 redis-benchmark -h 127.0.0.1 -p $port -t set -n $((BUDGET_B * 3 / 4096)) -d 4096 \
        -r 100000000 -P 16 -c 4 -q > /dev/null 2>&1 &
    fill=$!
    while kill -0 $fill 2>/dev/null && kill -0 $srv 2>/dev/null; do sleep 0.1; done
    kill $fill 2>/dev/null; wait $fill 2>/dev/null
    if kill -0 $srv 2>/dev/null &&
        [ "$(timeout 5 redis-cli -h 127.0.0.1 -p $port ping 2>/dev/null)" = PONG ] &&
        timeout 5 redis-cli -h 127.0.0.1 -p $port set after fill >/dev/null 2>&1; then
        echo "SURVIVED: keys $(timeout 5 redis-cli -h 127.0.0.1 -p $port dbsize 2>/dev/null)"
        timeout 5 redis-cli -h 127.0.0.1 -p $port shutdown nosave >/dev/null 2>&1
    fi
    # a server that stopped answering may be writing its crash report: give it 30 s to end
    for i in $(seq 300); do kill -0 $srv 2>/dev/null || break; sleep 0.1; done
    if kill -0 $srv 2>/dev/null; then       # $srv is `timeout`; the server is its child
        echo "HUNG: redis-server neither answers nor ends: killed"
        kill -9 $(pgrep -P $srv) $srv 2>/dev/null
    fi
    wait $srv
}

# case  budgets  what (for the table)
cases=(
    "py_bytes|32M 128M|python3: 1 MiB bytearrays until MemoryError, caught"
    "py_bytes4k|64M|python3: 4 KiB bytearrays until MemoryError, caught"
    "py_list|32M 128M|python3: small lists until MemoryError, caught"
    "node_buffers|32M 64M|node: 1 MiB Buffers until RangeError, caught"
    "node_buffers64k|64M|node: 64 KiB Buffers (small blocks) until RangeError, caught"
    "node_buffers512k|64M|node: 512 KiB Buffers (small blocks; glibc maps some) until RangeError, caught"
    "node_objects|32M 64M 128M|node: small objects on the JS heap"
    "node_strings|64M 128M|node: 1 KiB strings on the JS heap"
    "jvm_1M|128M 256M|JVM: byte[1 MiB] until OutOfMemoryError, caught"
    "jvm_1K|256M|JVM: byte[1 KiB] until OutOfMemoryError, caught"
    "llama_tiny|192M 224M 256M 288M|llama.cpp (node-llama-cpp): tiny model, 128 MiB KV cache"
    "redis|64M 128M|redis-server, no maxmemory, filled to 3x the budget"
    "redis_maxmemory|64M 128M|redis-server, maxmemory 3/4 of the budget (allkeys-lru)"
    "sqlite3|32M 128M|sqlite3 :memory:: sort of 300,000 x 1000-byte blobs"
    "gcc|64M 128M|gcc -O2: one-million-element initialised array"
)
have() {
    case $1 in
        py_*) [ -x /usr/bin/python3 ] ;;
        node_*) command -v node >/dev/null ;;
        jvm_*) command -v java >/dev/null && [ -z "${JAVA_BROKEN:-}" ] ;;
        llama_*) [ -f "$tmp/tiny.gguf" ] ;;
        redis*) command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null ;;
        sqlite3) command -v sqlite3 >/dev/null ;;
        gcc) command -v gcc >/dev/null ;;
    esac
}

OOMRE='JavaScript heap out of memory|java\.lang\.OutOfMemoryError|Out Of Memory allocating|^MemoryError|virtual memory exhausted|out of memory allocating'
classify() {   # mode rc secs out err oomkills -> "class detail"
    local mode=$1 rc=$2 secs=$3 out=$4 err=$5 kills=$6 sig=0
    [ "$rc" -gt 128 ] && [ "$rc" -lt 192 ] && sig=$((rc - 128))
    local fatal=""
    grep -q 'A fatal error has been detected by the Java Runtime\|^# There is insufficient memory for the Java Runtime' "$out" "$err" 2>/dev/null && fatal=hs_err
    if [ "$secs" -ge $T ] || grep -q '^HUNG' "$out"; then echo "o hung"
    elif [ $sig -eq 0 ] && [ -z "$fatal" ] && grep -q SURVIVED "$out"; then
        echo "a $(grep -m 1 -o 'SURVIVED.*' "$out" | cut -c 1-100)"
    elif [ -z "$fatal" ] && { [ $sig -eq 0 ] || [ $sig -eq 6 ]; } && grep -Eq "$OOMRE" "$out" "$err"; then
        echo "b $(grep -Eho "$OOMRE" "$out" "$err" | head -n 1)"
    elif [ "$mode" = cgroup ] && [ "${kills:-0}" -gt 0 ]; then     # gcc's driver outlives its cc1
        [ $sig -eq 9 ] && echo "k OOM killer" || echo "k OOM killer (a child; exit $rc)"
    elif [ $sig -ne 0 ] || [ -n "$fatal" ]; then
        [ "$mode" = memfence ] && echo "c ${fatal:-signal $(kill -l $sig)}" || echo "o ${fatal:-signal $(kill -l $sig)}"
    elif [ "$rc" -eq 0 ]; then echo "o exit 0, limit not reached"
    else echo "o exit $rc"; fi
}

tsv=$tmp/runs.tsv details=$tmp/details
declare -A shown         # the details show the first run of each program, budget and class
: > "$tsv"; : > "$details"
for c in "${cases[@]}"; do
    IFS='|' read -r name budgets what <<< "$c"
    [ -n "$ONLY" ] && [[ "$name" != *"$ONLY"* ]] && continue
    have "$name" || { echo "$name: not installed, skipped" >&2; continue; }
    for budget in $budgets; do
        BUDGET_B=$(bytes "$budget")
        MAXMEM=$((BUDGET_B * 3 / 4))
        for r in $(seq 1 "$RUNS"); do
            for mode in memfence cgroup; do
                [ $mode = cgroup ] && [ $CG = none ] && continue
                rm -rf "$tmp/run"; mkdir -p "$tmp/run"
                local_out=$tmp/out local_err=$tmp/err
                t0=$(date +%s)
                if [ $mode = memfence ]; then
                    (cd "$tmp/run" && MEMFENCE_CONFIG=none "run_$name" timeout -k 5 $T \
                        nice "$MF_BIN" run ${ALLOC:+--allocator $ALLOC} -l "$budget" --) \
                        > "$local_out" 2> "$local_err"
                    rc=$? kills=0
                else
                    d=$(cg_new "$BUDGET_B") || { echo "cgroup: cannot create" >&2; CG=none; continue; }
                    (cd "$tmp/run" && "run_$name" timeout -k 5 $T nice "$tmp/cgexec" "$d") \
                        > "$local_out" 2> "$local_err"
                    rc=$?
                    kills=$(cg_oomkills "$d")
                    cg_done "$d"
                fi
                secs=$(( $(date +%s) - t0 ))
                read -r cls detail <<< "$(classify $mode $rc $secs "$local_out" "$local_err" "$kills")"
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$budget" "$mode" "$r" "$cls" "$secs" "$detail" >> "$tsv"
                printf '%-16s %5s %-8s run %d: %s %s (%ss)\n' "$name" "$budget" "$mode" "$r" "$cls" "$detail" "$secs" >&2
                if [ $mode = memfence ] && [ "$cls" != a ] && [ -z "${shown[$name $budget $cls]:-}" ]; then
                    shown[$name $budget $cls]=1
                    {
                        echo "### $name $budget, run $r: $cls ($detail)"
                        echo
                        echo '```'
                        grep -a 'memfence\[[0-9]*\]: refused' "$local_err" | tail -n 2 | cut -c 1-900
                        grep -av '^memfence\[' "$local_out" "$local_err" -h |
                            grep -aEv '^ *[0-9]+: 0x|^\s*$|^#|at |^-+|Last few GCs|JS stacktrace|^\[[0-9]+:0x' |
                            tail -n 3 | cut -c 1-300
                        echo '```'
                        echo
                    } >> "$details"
                fi
            done
        done
    done
done

# ---- the table ----------------------------------------------------------------------------
count() { awk -F'\t' -v n="$1" -v b="$2" -v m="$3" -v c="$4" '$1 == n && $2 == b && $3 == m && $5 == c { k++ } END { print k + 0 }' "$tsv"; }
table="| program | budget | memfence a / b / c / o | cgroup a / b / k / o |
| --- | ---: | :---: | :---: |"
: > "$tmp/plot.dat"
ctotal=0
for c in "${cases[@]}"; do
    IFS='|' read -r name budgets what <<< "$c"
    for budget in $budgets; do
        grep -q "^$name	$budget	" "$tsv" || continue
        ma=$(count $name $budget memfence a) mb=$(count $name $budget memfence b)
        mc=$(count $name $budget memfence c) mo=$(count $name $budget memfence o)
        ctotal=$((ctotal + mc))
        if [ $CG != none ]; then
            ga=$(count $name $budget cgroup a) gb=$(count $name $budget cgroup b)
            gk=$(count $name $budget cgroup k) go=$(count $name $budget cgroup o)
            cgcell="$ga / $gb / $gk / $go"
        else
            ga=0 gb=0 gk=0 go=0 cgcell="n/a"
        fi
        table+=$'\n'"| $what | $budget | $ma / $mb / **$mc** / $mo | $cgcell |"
        printf '"%s %s mf" %d %d %d 0 %d\n' "${name//_/-}" "$budget" $ma $mb $mc $mo >> "$tmp/plot.dat"
        [ $CG != none ] && printf '"%s %s cg" %d %d 0 %d %d\n' "${name//_/-}" "$budget" $ga $gb $gk $go >> "$tmp/plot.dat"
    done
done

section() {
    echo "## Survival at the limit: real programs, memfence vs an equal cgroup limit${ALLOC:+ (over $ALLOC)}"
    echo
    echo "$RUNS runs of each program × budget under \`memfence run ${ALLOC:+--allocator $ALLOC }-l BUDGET\` with default settings"
    if [ -n "$ALLOC" ]; then
        echo "(\`MEMFENCE_CONFIG=none\`); $CGWHY."
    else
        echo "(\`MEMFENCE_CONFIG=none\`), and under a cgroup $CG memory limit of the same size with no swap"
        [ $CG = none ] && echo "(cgroup: $CGWHY)"
    fi
    echo "(\`bench/b-70-survival.sh\`, $(date -u +%Y-%m-%d), $(nproc) cores). a: clean error, the program"
    echo "carried on; b: the program's own documented out-of-memory end; c: a crash caused by"
    echo "memfence (a signal, or a runtime's fatal-error report); k: killed by the OOM killer;"
    echo "o: other (limit not reached, another error exit, hung). The two limits count differently:"
    echo "a cgroup charges pages as they are touched (file pages too), memfence what is allocated"
    echo "(anonymous memory, never file pages), so the same number can fit one and not the other"
    echo "(llama.cpp's KV cache is allocated whole and touched as the context fills)."
    echo
    echo "$table"
    echo
    echo "Crashes caused by memfence (class c): **$ctotal**."
    local ll
    ll=$(awk -F'\t' '$1 == "llama_tiny" && $5 == "a" { k = $2 " " $3; n[k]++; if ($7 ~ /generated/) g[k]++;
                                                         if (!(k in seen)) { seen[k] = 1; o[++m] = k } }
                     END { for (i = 1; i <= m; i++) printf "%s%s: %d generated, %d clean error", (i > 1 ? "; " : ""), o[i], g[o[i]], n[o[i]] - g[o[i]] }' "$tsv")
    [ -n "$ll" ] && echo && echo "llama.cpp runs counted as a: $ll."
}
{
    echo "# Survival at the limit"
    echo
    section | tail -n +2
    echo
    echo "Workloads: \`bench/survival/\` (grow.py, grow.js, Grow.java, grow.sql); redis is filled by"
    echo "redis-benchmark on 127.0.0.1; gcc compiles a generated one-million-element array."
    echo
    echo "## How the memfence runs that did not carry on ended"
    echo
    echo "For each program, budget and class, the first such run: the last two refusal lines"
    echo "memfence wrote (with the allocation's call stack when the profiler had one) and the"
    echo "program's last lines."
    echo
    cat "$details"
} > "$MF_RESULTS/$OUT.md"
cp "$tsv" "$MF_RESULTS/$OUT.tsv"
section

if command -v gnuplot >/dev/null 2>&1 && [ -s "$tmp/plot.dat" ]; then
    gnuplot -e "set terminal png size 1600,650; set output '$MF_RESULTS/$OUT.png';
        set style data histograms; set style histogram rowstacked; set style fill solid border -1;
        set boxwidth 0.8; set xtics rotate by -70 font ',9'; set ylabel 'runs'; set yrange [0:$RUNS];
        set key above horizontal; set bmargin 9;
        set title 'Survival at the limit: memfence (mf) vs an equal cgroup limit (cg), $RUNS runs each';
        plot '$tmp/plot.dat' using 2:xtic(1) lc rgb '#2ca02c' title 'a: clean error, carried on',
             '' using 3 lc rgb '#bcbd22' title 'b: documented OOM end',
             '' using 4 lc rgb '#d62728' title 'c: crash caused by memfence',
             '' using 5 lc rgb '#9467bd' title 'k: OOM killer (cgroup)',
             '' using 6 lc rgb '#7f7f7f' title 'o: other'" 2>/dev/null &&
        echo && echo "Plot: \`$OUT.png\`."
fi
