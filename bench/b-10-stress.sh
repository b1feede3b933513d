#!/bin/bash
# b-10-stress.sh — the allocation-failure stress benchmarks (bench/stress.c), ~40 s:
#   (a) refusal storm at 1/2/4/8 threads right at a 64 MiB budget, the sampler's actions off:
#       grants and refusals per second, latency of granted and refused calls, bytes granted
#       beyond the limit (from the program's own malloc_usable_size count; must be 0), no
#       deadlock; side by side with the plain allocator at the same working set (no memfence,
#       the program capping itself) for the granted-call latency ratio;
#   (b) the same storm with the sampler's default actions (trim, throttle, refuse-large);
#   (c) a fork-and-exec storm under a group budget (skipped when groups are not in the build).
# Prints a markdown section; writes stress.dat, stress.md and stress.png to $MF_RESULTS.
set -u
: "${MF_BENCH:=build/bench}" "${MF_LIB:=build/libmemfence.so}" "${MF_RESULTS:=bench/results}"
S=$MF_BENCH/stress
SECS=${MF_STRESS_SECS:-2}
LIMIT=64M
mkdir -p "$MF_RESULTS"
exec > >(tee "$MF_RESULTS/stress.md")
tmp=$(mktemp -d /tmp/mfstress.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
[ -x "$S" ] || { echo "## Stress"; echo; echo "skipped: $S is not built (make test-bins)"; exit 0; }

kv() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
ns() {  # nanoseconds in a readable unit
    awk -v n="$1" 'BEGIN { if (n == "") print "-"; else if (n < 1000) printf "%d ns", n;
        else if (n < 1e6) printf "%.1f µs", n / 1e3; else if (n < 1e9) printf "%.1f ms", n / 1e6;
        else printf "%.2f s", n / 1e9 }'
}
quiet_actions=(MEMFENCE_MODERATE_ACTIONS=none MEMFENCE_HIGH_ACTIONS=none MEMFENCE_CRITICAL_ACTIONS=none)
# the strict budget (headroom and overdraft 0): the storm checks exactness to the byte
fenced_storm() {    # threads, extra env...
    local t=$1; shift
    env "$@" MEMFENCE_HEADROOM=0 MEMFENCE_OVERDRAFT=0 MEMFENCE_LIMIT=$LIMIT MEMFENCE_LOG="$tmp/log" LD_PRELOAD="$MF_LIB" "$S" storm "$t" "$SECS"
}

# storm_ok LINE RC: false (and prints a row) on a deadlock or crash; marks bytes over the budget
storm_ok() {
    if [ "$(kv "$1" deadlock)" != 0 ] || [ "$2" -gt 1 ]; then
        echo "| $t | DEADLOCK or crash (exit $2): $1 |||||||"
        bad=1
        return 1
    fi
    [ "$(kv "$1" over)" = 0 ] || bad=1
}
lat() { echo "$(ns "$(kv "$1" "$2"_p50)") / $(ns "$(kv "$1" "$2"_p99)") / $(ns "$(kv "$1" "$2"_max)")"; }

bad=0
echo "## Stress: refusal storm, fork-and-exec storm"
echo
echo "Budget $LIMIT; each storm runs ${SECS} s; sizes 16 B – 2 MiB log-uniform; allocate 60 % / free 40 %,"
echo "and free one block after each refusal, so usage stays at the limit. \`over\` = the most the"
echo "program's own count of what its blocks count (memfence_charge_of; plus what it held before) ever exceeded the budget."
echo
echo "### (a) at the budget, sampler actions off"
echo
echo "| threads | grants/s | refusals/s | granted p50 / p99 / max | refused p50 / p99 / max | granted p50 vs plain | peak / budget | over | deadlock |"
echo "| ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | --- |"
: > "$MF_RESULTS/stress.dat"
for t in 1 2 4 8; do
    a=$(fenced_storm "$t" "${quiet_actions[@]}")
    rc=$?
    lim=$(kv "$a" limit); lim=${lim:-67108864}
    base=$(kv "$a" base); base=${base:-0}
    p=$("$S" storm "$t" "$SECS" $((lim - base)) 2>/dev/null)
    storm_ok "$a" $rc || continue
    ratio=$(awk -v a="$(kv "$a" g_p50)" -v b="$(kv "$p" g_p50)" 'BEGIN { printf (b > 0 ? "%.2f×" : "-"), a / b }')
    fill=$(awk -v f="$(kv "$a" fill)" 'BEGIN { printf "%.1f %%", f * 100 }')
    echo "| $t | $(kv "$a" grants_per_s) | $(kv "$a" refusals_per_s) | $(lat "$a" g) |" \
         "$(lat "$a" r) | $ratio | $fill | $(kv "$a" over) B | no |"
    echo "$t $(kv "$a" grants_per_s) $(kv "$a" refusals_per_s) $(kv "$a" g_p50) $(kv "$a" g_p99) $(kv "$a" r_p50) $(kv "$a" r_p99) $(kv "$p" g_p50) $(kv "$p" g_p99)" >> "$MF_RESULTS/stress.dat"
done
echo
echo "### (b) at the budget, sampler default actions (trim, throttle, log, refuse-large)"
echo
echo "| threads | grants/s | refusals/s | granted p50 / p99 / max | refused p50 / p99 / max | trims | throttled (total delay) | over |"
echo "| ---: | ---: | ---: | --- | --- | ---: | --- | ---: |"
acted=0
for t in 1 2 4 8; do
    b=$(fenced_storm "$t")
    rc=$?
    storm_ok "$b" $rc || continue
    [ "$(kv "$b" trims)$(kv "$b" throttled)" != 00 ] && acted=1
    echo "| $t | $(kv "$b" grants_per_s) | $(kv "$b" refusals_per_s) | $(lat "$b" g) | $(lat "$b" r) |" \
         "$(kv "$b" trims) | $(kv "$b" throttled) ($(ns "$(kv "$b" throttle_ns)")) | $(kv "$b" over) B |"
done
[ $acted = 1 ] || { echo; echo "note: the sampler took no action in any run (no sampler in this build?): (b) measured the same as (a)."; }

echo
echo "### (c) fork-and-exec storm under a group budget"
echo
grp=stress$$
genv=(MEMFENCE_GROUP=$grp MEMFENCE_LEDGER_DIR=$tmp MEMFENCE_LOG=$tmp/log)
if env "${genv[@]}" MEMFENCE_GROUP_LIMIT=1M LD_PRELOAD="$MF_LIB" "$S" probe 4194304 2>/dev/null; then
    glim=$((32 << 20))
    c=$(env "${genv[@]}" MEMFENCE_GROUP_LIMIT=$glim LD_PRELOAD="$MF_LIB" "$S" spawn 200 8 $((8 << 20)) "$tmp/shared")
    peak=$(kv "$c" peak)
    over=$(( peak > glim ? peak - glim : 0 ))
    [ $over = 0 ] || bad=1
    echo "200 children, 8 at a time, each holding 8 MiB for 20 ms, group budget 32 MiB:"
    echo
    echo "| spawns/s | children all granted | children refused | children failed | grants | refusals | group peak (members' own count) | over |"
    echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    echo "| $(kv "$c" spawns_per_s) | $(kv "$c" ok) | $(kv "$c" refused) | $(kv "$c" failed) | $(kv "$c" grants) | $(kv "$c" refusals) | $peak B | $over B |"
else
    echo "skipped: group budgets are not functional in this build (a 4 MiB malloc in a group with a 1 MiB budget was granted)."
fi

if command -v gnuplot >/dev/null && [ -s "$MF_RESULTS/stress.dat" ]; then
    gnuplot <<EOF 2>/dev/null
set terminal pngcairo size 1100,450 noenhanced
set output "$MF_RESULTS/stress.png"
set multiplot layout 1,2 title "memfence refusal storm at a $LIMIT budget (sampler actions off)"
set xlabel "threads"; set logscale x 2; set xrange [0.8:10]; set xtics (1,2,4,8); set key top left
set ylabel "calls per second"
plot "$MF_RESULTS/stress.dat" u 1:2 w lp t "granted", "" u 1:3 w lp t "refused"
set ylabel "latency (ns)"; set logscale y
plot "$MF_RESULTS/stress.dat" u 1:4 w lp t "granted p50", "" u 1:5 w lp t "granted p99", \
     "" u 1:6 w lp t "refused p50", "" u 1:7 w lp t "refused p99", \
     "" u 1:8 w lp dt 2 t "plain malloc p50", "" u 1:9 w lp dt 2 t "plain malloc p99"
unset multiplot
EOF
    [ -s "$MF_RESULTS/stress.png" ] && { echo; echo "Plot: stress.png"; }
fi
echo
if [ $bad = 0 ]; then
    echo "Result: 0 bytes granted beyond the budget at every thread count, no deadlock."
else
    echo "Result: **FAILED** — bytes granted beyond a budget, a deadlock or a crash (see above)."
fi
