#!/bin/bash
# b-00-malloc: malloc/free pairs of 16 B to 64 KiB on 1 and 2 threads.  Modes, interleaved run
# by run so machine noise hits each alike:
#   plain      no preload                      passthru  a bare forwarding interposer
#   count      memfence, no limit (counting)   limit     memfence with a budget (8 GiB)
# Prints the median ns per pair and ratios against plain; then exact instruction counts from
# callgrind for 64-byte pairs (the figure that repeats exactly on a noisy machine).
set -u
R=${MF_BENCH_REPS:-5}
PAIRS=${MF_BENCH_PAIRS:-2000000}
bin=$MF_BENCH/malloc_pairs
pt=$MF_TLIB/bench_passthru.so
sizes="16 64 256 1024 4096 16384 65536"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run() {   # mode threads size
    case $1 in
    plain) "$bin" "$2" "$3" "$PAIRS" ;;
    passthru) LD_PRELOAD=$pt "$bin" "$2" "$3" "$PAIRS" ;;
    count) LD_PRELOAD=$MF_LIB "$bin" "$2" "$3" "$PAIRS" ;;
    limit) MEMFENCE_LIMIT=8G LD_PRELOAD=$MF_LIB "$bin" "$2" "$3" "$PAIRS" ;;
    esac
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

for rep in $(seq 1 "$R"); do
    for t in 1 2; do
        for s in $sizes; do
            for m in plain passthru count limit; do
                run $m $t $s >> "$tmp/$m-$t-$s"
            done
        done
    done
done

echo "## malloc/free pairs (bench/b-00-malloc.sh)"
echo
echo "Median of $R interleaved runs, $PAIRS pairs per thread; ns per pair and ratio to plain glibc."
echo
echo "| threads | size | plain ns | passthru | memfence counting | memfence with budget |"
echo "|---|---|---|---|---|---|"
for t in 1 2; do
    for s in $sizes; do
        p=$(median < "$tmp/plain-$t-$s")
        row="| $t | $s | $p"
        for m in passthru count limit; do
            v=$(median < "$tmp/$m-$t-$s")
            row="$row | $(awk -v a="$v" -v b="$p" 'BEGIN {printf "%.2f×", a / b}')"
        done
        echo "$row |"
        echo -e "malloc\t$t thr $s B counting\t$p\t$(median < "$tmp/count-$t-$s")\tns" >> "$MF_RESULTS/overhead-malloc.tsv.tmp"
        echo -e "malloc\t$t thr $s B budget\t$p\t$(median < "$tmp/limit-$t-$s")\tns" >> "$MF_RESULTS/overhead-malloc.tsv.tmp"
    done
done
mv "$MF_RESULTS/overhead-malloc.tsv.tmp" "$MF_RESULTS/overhead-malloc.tsv"
echo
if command -v valgrind >/dev/null; then
    ir() { env "$@" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" 1 64 200000 2>&1 |
           sed -n 's/.*refs: *//p' | tr -d ,; }
    base=$(ir X=1)
    echo "Instructions for 200 000 pairs of 64 B, one thread (callgrind, exact):"
    echo
    echo "| mode | instructions | per pair | ratio |"
    echo "|---|---|---|---|"
    for m in plain passthru count limit; do
        case $m in
        plain) v=$base ;;
        passthru) v=$(ir LD_PRELOAD=$pt) ;;
        count) v=$(ir LD_PRELOAD=$MF_LIB) ;;
        limit) v=$(ir LD_PRELOAD=$MF_LIB MEMFENCE_LIMIT=8G) ;;
        esac
        awk -v m=$m -v v="$v" -v b="$base" 'BEGIN {printf "| %s | %d | %.0f | %.3f× |\n", m, v, v / 200000, v / b}'
    done
fi
