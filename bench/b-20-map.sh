#!/bin/bash
# b-20-map.sh — the mmap family's overhead: bench/map_pairs.c (100 000 mmap/munmap pairs of
# mixed sizes, 1 in 8 a reservation committed with mprotect, 256 live) with and without
# memfence, runs interleaved in one go, medians of 7; untouched (pure system calls: the worst
# case for memfence's share) and with the first page written.  Goal: ratio <= 1.10.
# Prints a markdown section; writes map.md, map.dat and map.png (gnuplot) to $MF_RESULTS.
set -u
: "${MF_BENCH:=build/bench}" "${MF_LIB:=build/libmemfence.so}" "${MF_RESULTS:=bench/results}"
B=$MF_BENCH/map_pairs
RUNS=${MF_MAP_RUNS:-7}
PAIRS=${MF_MAP_PAIRS:-100000}
mkdir -p "$MF_RESULTS"
exec > >(tee "$MF_RESULTS/map.md")
echo "## Mappings: mmap/munmap pairs"
echo
[ -x "$B" ] || { echo "skipped: $B is not built (make test-bins)"; exit 0; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
one() { "$@" | tr '\n' ' '; }   # "ns_per_pair=W cpu_ns_per_pair=C user_ns_per_pair=U"
field() { tr ' ' '\n' | sed -n "s/^$1=//p"; }
echo "$PAIRS pairs of 4 KiB – 4 MiB (log-uniform), 1 in 8 a MAP_NORESERVE reservation committed"
echo "with mprotect, 256 mappings live; median of $RUNS interleaved runs; memfence counting"
echo "(no limit) and under a 64 GiB limit (every call charged through the gate)."
echo
echo "| workload | clock | without | memfence (counting) | ratio | memfence (limit 64G) | ratio |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
: > "$MF_RESULTS/map.dat"
for touch in 0 1; do
    plain=() fen=() lim=()
    for r in $(seq "$RUNS"); do
        plain+=("$(one "$B" "$PAIRS" $touch)")
        fen+=("$(one env LD_PRELOAD="$MF_LIB" "$B" "$PAIRS" $touch)")
        lim+=("$(one env LD_PRELOAD="$MF_LIB" MEMFENCE_LIMIT=64G "$B" "$PAIRS" $touch)")
    done
    name=$([ $touch = 1 ] && echo "first page written" || echo "untouched")
    for k in ns_per_pair cpu_ns_per_pair; do
        p=$(for x in "${plain[@]}"; do echo "$x" | field $k; done | median)
        f=$(for x in "${fen[@]}"; do echo "$x" | field $k; done | median)
        l=$(for x in "${lim[@]}"; do echo "$x" | field $k; done | median)
        clock=$([ $k = ns_per_pair ] && echo wall || echo "CPU (user+sys)")
        awk -v n="$name" -v c="$clock" -v p="$p" -v f="$f" -v l="$l" 'BEGIN {
            printf "| %s | %s | %.0f ns | %.0f ns | %.3f× | %.0f ns | %.3f× |\n", n, c, p, f, f / p, l, l / p }'
        [ $k = ns_per_pair ] && wp=$p wf=$f wl=$l
    done
    echo "$touch $wp $wf $wl" >> "$MF_RESULTS/map.dat"
done
echo
echo "Time per pair (mmap + munmap, and the mprotect of the reservations); wall clock, and the"
echo "process's CPU time (getrusage), which a loaded machine disturbs less.  Goal: ratio ≤ 1.10×."
if command -v gnuplot >/dev/null; then
    gnuplot <<GP 2>/dev/null
set terminal pngcairo size 760,360 noenhanced
set output "$MF_RESULTS/map.png"
set style data histograms
set style fill solid 0.8
set ylabel "ns per mmap/munmap pair"
set xtics ("untouched" 0, "first page written" 1)
set yrange [0:*]
set key outside right top vertical
plot "$MF_RESULTS/map.dat" using 2 title "without", "" using 3 title "memfence", "" using 4 title "memfence, 64G limit"
GP
    [ -f "$MF_RESULTS/map.png" ] && echo && echo "![map](map.png)"
fi
