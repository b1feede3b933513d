#!/bin/bash
# The fast path with a group set against the same process alone (same per-process budget), side
# by side in one run: alternating runs, medians, ratio group / alone.  Target: within 10 %.
set -u
B=$MF_BENCH/ledger_fast
[ -x "$B" ] || { echo "## group fast path"; echo; echo "skipped: $B not built"; exit 0; }
dir=$(mktemp -d /tmp/mfbench.XXXXXX)
trap 'rm -rf "$dir"' EXIT
REPS=${REPS:-5}
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
run() {     # group(empty: none) mode n
    env LD_PRELOAD="$MF_LIB" MEMFENCE_LIMIT=1G MEMFENCE_LEDGER_DIR="$dir" MEMFENCE_GROUP="$1" \
        MEMFENCE_GROUP_LIMIT=4G "$B" "$2" "$3"
}
echo "## Group budget: the allocation fast path in a group vs alone"
echo
echo "Each process has the same 1 GiB budget; \"group\" also charges a 4 GiB group in the shared"
echo "ledger (at lease granularity).  ns per malloc+free pair, median of $REPS alternating runs."
echo
echo "| workload | plain (no memfence) | alone | in a group | group / alone |"
echo "| --- | ---: | ---: | ---: | ---: |"
for w in "small 10000000" "churn 10000" "threads 10000"; do
    set -- $w
    : >"$dir/p"; : >"$dir/a"; : >"$dir/g"
    for ((i = 0; i < REPS; i++)); do
        "$B" "$1" "$2" >>"$dir/p"
        run "" "$1" "$2" >>"$dir/a"
        run bench "$1" "$2" >>"$dir/g"
    done
    p=$(median <"$dir/p"); a=$(median <"$dir/a"); g=$(median <"$dir/g")
    r=$(awk -v a="$a" -v g="$g" 'BEGIN { printf "%.3f", g / a }')
    echo "| $1 ($2) | $p | $a | $g | $r |"
done
echo

# Exact instruction counts (callgrind repeats exactly; wall time on a shared box does not).
if command -v valgrind >/dev/null; then
    d=$(mktemp -d)
    ir() { env "$@" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$MF_BENCH/ledger_fast" "$W" "$N" 2>&1 |
           sed -n 's/.*refs: *//p' | tr -d ,; }
    echo
    echo "Instructions (callgrind, exact), group / alone:"
    echo
    echo "| workload | alone | in a group | group / alone |"
    echo "| --- | ---: | ---: | ---: |"
    for wn in "small 200000" "churn 2000"; do
        set -- $wn; W=$1; N=$2
        a=$(ir LD_PRELOAD="$MF_LIB" MEMFENCE_LIMIT=1G MEMFENCE_LEDGER_DIR="$d")
        b=$(ir LD_PRELOAD="$MF_LIB" MEMFENCE_LIMIT=1G MEMFENCE_LEDGER_DIR="$d" MEMFENCE_GROUP=bench MEMFENCE_GROUP_LIMIT=4G)
        awk -v w="$W ($N)" -v a="$a" -v b="$b" 'BEGIN {printf "| %s | %d | %d | %.4f |\n", w, a, b, b / a}'
    done
    rm -rf "$d"
fi
