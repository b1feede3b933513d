#!/bin/bash
# b-00-malloc: malloc/free pairs of 16 B to 64 KiB on 1 and 2 threads.  Modes, interleaved run
# by run so machine noise hits each alike:
#   plain      no preload                      passthru  a bare forwarding interposer
#   floor      the least an exact fence does (tests/lib/bench_count.c)
#   count      memfence, no limit (counting)   limit     memfence with a budget (8 GiB)
# Prints the median ns per pair and ratios against plain; then exact instruction counts from
# callgrind for 64-byte pairs (the figure that repeats exactly on a noisy machine).
set -u
R=${MF_BENCH_REPS:-5}
PAIRS=${MF_BENCH_PAIRS:-2000000}
bin=$MF_BENCH/malloc_pairs
pt=$MF_TLIB/bench_passthru.so
fl=$MF_TLIB/bench_count.so      # the floor under an exact fence
sizes="16 64 256 1024 4096 16384 65536"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run() {   # mode threads size
    case $1 in
    plain) "$bin" "$2" "$3" "$PAIRS" ;;
    passthru) LD_PRELOAD=$pt "$bin" "$2" "$3" "$PAIRS" ;;
    floor) LD_PRELOAD=$fl "$bin" "$2" "$3" "$PAIRS" ;;
    count) LD_PRELOAD=$MF_LIB "$bin" "$2" "$3" "$PAIRS" ;;
    limit) MEMFENCE_LIMIT=8G LD_PRELOAD=$MF_LIB "$bin" "$2" "$3" "$PAIRS" ;;
    esac
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

for rep in $(seq 1 "$R"); do
    for t in 1 2; do
        for s in $sizes; do
            for m in plain passthru floor count limit; do
                run $m $t $s >> "$tmp/$m-$t-$s"
            done
        done
    done
done

echo "## malloc/free pairs (bench/b-00-malloc.sh)"
echo
echo "Median of $R interleaved runs, $PAIRS pairs per thread; ns per pair and ratio to plain glibc."
echo
echo "| threads | size | plain ns | passthru | floor | memfence counting | memfence with budget |"
echo "|---|---|---|---|---|---|---|"
for t in 1 2; do
    for s in $sizes; do
        p=$(median < "$tmp/plain-$t-$s")
        row="| $t | $s | $p"
        for m in passthru floor count limit; do
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
    # Per pair: the difference between 400 000 and 200 000 pairs, divided by 200 000 (what one
    # more pair costs; each process's start-up, memfence's initialisation included, cancels out).
    ir() { local n=$1; shift
           env "$@" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" 1 64 "$n" 2>&1 |
           sed -n 's/.*refs: *//p' | tr -d ,; }
    echo "Instructions for 64 B pairs, one thread (callgrind, exact): a run of 200 000 pairs, and"
    echo "per pair the difference between runs of 400 000 and 200 000 pairs over 200 000.  floor: the"
    echo "least an exact fence does (tests/lib/bench_count.c: passthru + the chunk counted against a"
    echo "thread-local credit); count and limit: memfence."
    echo
    echo "| mode | instructions (200 000 pairs) | per pair | ratio |"
    echo "|---|---|---|---|"
    for m in plain passthru floor count limit; do
        case $m in
        plain) e=(X=1) ;;
        passthru) e=(LD_PRELOAD=$pt) ;;
        floor) e=(LD_PRELOAD=$fl) ;;
        count) e=(LD_PRELOAD=$MF_LIB) ;;
        limit) e=(LD_PRELOAD=$MF_LIB MEMFENCE_LIMIT=8G) ;;
        esac
        a=$(ir 200000 "${e[@]}"); b=$(ir 400000 "${e[@]}")
        [ $m = plain ] && base=$((b - a))
        awk -v m=$m -v a="$a" -v d=$((b - a)) -v base="$base" \
            'BEGIN {printf "| %s | %d | %.1f | %.3f× |\n", m, a, d / 200000, d / base}'
    done
fi
