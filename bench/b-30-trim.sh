#!/bin/bash
# Settled RSS of a multi-threaded workload that fragments glibc's arenas (bench/trim.c): plain
# glibc, a bare malloc_trim(0) loop (the reference), memfence's trim, jemalloc plain and
# memfence over jemalloc; medians of 3 runs, side by side; RSS over time plotted to
# $MF_RESULTS/trim-rss.png.  Then the sampler thread's own CPU time at the default interval.
set -u
: "${MF_BENCH:?run through bench/run}"
bin=$MF_BENCH/trim
je=$(ls /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 2>/dev/null)
tmp=$(mktemp -d /tmp/mfbench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
runs=3

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

names=(glibc trim-loop memfence jemalloc memfence+jemalloc)
run_cfg() {   # name, run index
    local out=$tmp/$1.$2.tsv
    case $1 in
        glibc) "$bin" frag "$out" ;;
        trim-loop) "$bin" frag "$out" --trim-loop ;;
        memfence) LD_PRELOAD=$MF_LIB "$bin" frag "$out" 2>/dev/null ;;
        jemalloc) LD_PRELOAD=$je "$bin" frag "$out" ;;
        memfence+jemalloc) LD_PRELOAD="$MF_LIB $je" "$bin" frag "$out" 2>/dev/null ;;
    esac
}
declare -A settled
for r in $(seq 1 $runs); do          # interleaved: every configuration sees the same machine
    for n in "${names[@]}"; do
        [ -z "$je" ] && [[ $n == *jemalloc* ]] && continue
        settled[$n]+="$(run_cfg "$n" "$r") "
    done
done
base=$(echo ${settled[glibc]} | tr ' ' '\n' | median)

echo "## Trim: settled RSS of a fragmented heap"
echo
echo "8 threads, 3 bursts of ~40 MiB of 32–1024-byte blocks each, all but 1 in 256 freed; RSS"
echo "settled 6 s after the work (median of the last second), median of $runs runs.  Ratio: to plain glibc."
echo
echo "| allocator | settled RSS (MiB) | ratio to glibc |"
echo "| --- | ---: | ---: |"
for n in "${names[@]}"; do
    [ -n "${settled[$n]:-}" ] || continue
    m=$(echo ${settled[$n]} | tr ' ' '\n' | median)
    printf '| %s | %.1f | %.3f |\n' "$n" "$m" "$(awk -v a="$m" -v b="$base" 'BEGIN { print a / b }')"
done
echo

if command -v gnuplot >/dev/null 2>&1; then
    plot=""
    for n in "${names[@]}"; do
        [ -f "$tmp/$n.1.tsv" ] && plot+="${plot:+, }'$tmp/$n.1.tsv' using (\$1/1000):2 with lines lw 2 title '$n'"
    done
    gnuplot -e "set terminal png size 900,500; set output '$MF_RESULTS/trim-rss.png';
                set xlabel 'seconds'; set ylabel 'RSS (MiB)'; set grid; set key top right;
                set title 'RSS after a fragmenting burst (run 1)'; plot $plot" &&
        echo "RSS over time: \`trim-rss.png\`." && echo
fi

echo "## Sampler thread CPU time"
echo
echo "An idle process under memfence for 10 s, default sample_interval (100 ms); CPU of the"
echo "thread named memfence, from /proc/self/task/TID/stat (clock ticks) and .../schedstat (ns)."
echo
echo '```'
LD_PRELOAD=$MF_LIB "$bin" idle 10
MEMFENCE_LIMIT=64M LD_PRELOAD=$MF_LIB "$bin" idle 10 | sed 's/^/with a 64M limit: /'
echo '```'
