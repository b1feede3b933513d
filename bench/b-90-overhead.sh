#!/bin/bash
# b-90-overhead.sh — the overhead figures of the other benchmarks (core malloc path, mmap,
# profiling, groups, ...) collected into one table.  Runs nothing itself; reads:
#   1. $MF_RESULTS/overhead-*.tsv — the convention for a bench that measures an overhead: one
#      line per case, tab-separated: `area  case  without  with  unit` (medians measured side by
#      side in one run; "without" is the same work without memfence or without the feature).
#      The ratio with/without is computed here.
#   2. failing those, the markdown tables of this `make bench` run (summary.md.tmp, written by
#      bench/run as each section finishes) whose header has a "ratio" column, from sections
#      whose title names the core, malloc, mmap, map, profile, group or overhead.
# Writes $MF_RESULTS/overhead.md (and overhead.png when there are TSV figures).
set -u
: "${MF_RESULTS:=bench/results}"
mkdir -p "$MF_RESULTS"
out=$MF_RESULTS/overhead.md
shopt -s nullglob
tsv=()
for f in "$MF_RESULTS"/overhead-*.tsv; do    # only this run's, when run by bench/run
    [ -f "$MF_RESULTS/summary.md.tmp" ] && [ ! "$f" -nt "$MF_RESULTS/summary.md.tmp" ] && continue
    tsv+=("$f")
done
{
echo "## Overhead: all areas in one table"
echo
if [ ${#tsv[@]} -gt 0 ]; then
    echo "| area | case | without | with | ratio |"
    echo "| --- | --- | ---: | ---: | ---: |"
    : > "$MF_RESULTS/overhead.dat"
    i=0
    for f in "${tsv[@]}"; do
        while IFS=$'\t' read -r area case without with unit; do
            [ -z "$area" ] || [ "${area:0:1}" = "#" ] && continue
            ratio=$(awk -v a="$with" -v b="$without" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "-" }')
            echo "| $area | $case | $without $unit | $with $unit | $ratio |"
            i=$((i + 1))
            awk -v i="$i" -v a="$with" -v b="$without" -v l="$area: $case" \
                'BEGIN { if (b > 0) printf "%d \"%s\" %.4f\n", i, l, a / b }' >> "$MF_RESULTS/overhead.dat"
        done < "$f"
    done
    echo
    echo "Sources: $(for f in "${tsv[@]}"; do printf '%s ' "${f##*/}"; done)"
    if command -v gnuplot >/dev/null && [ -s "$MF_RESULTS/overhead.dat" ]; then
        gnuplot <<EOF 2>/dev/null
set terminal pngcairo size 1000,500 noenhanced
set output "$MF_RESULTS/overhead.png"
set title "memfence overhead (with / without, medians in one run)"
set style fill solid 0.6; set boxwidth 0.7; set yrange [0:*]; set grid y
set xtics rotate by -35 font ",8"
set ylabel "ratio"
plot "$MF_RESULTS/overhead.dat" u 1:3:xtic(2) w boxes notitle, 1 w l dt 2 notitle
EOF
        [ -s "$MF_RESULTS/overhead.png" ] && { echo; echo "Plot: overhead.png"; }
    fi
else
    sum=$MF_RESULTS/summary.md.tmp
    rows=""
    if [ -f "$sum" ]; then
        rows=$(awk '
            /^## /   { sec = substr($0, 4); keep = (tolower(sec) ~ /core|malloc|mmap|map|profil|group|overhead/); intable = 0; next }
            /^\|/    { if (!keep) next
                       if (!intable) { intable = 1; hdr = $0; want = (tolower(hdr) ~ /ratio/); if (want) { print ""; print "**" sec "**"; print ""; print hdr }; next }
                       if (want) print; next }
                     { intable = 0 }' "$sum")
    fi
    if [ -n "$rows" ]; then
        echo "Collected from the sections above (tables with a ratio column):"
        echo "$rows"
    else
        echo "No overhead figures in this run: no \$MF_RESULTS/overhead-*.tsv and no section with a"
        echo "ratio table about the core, mmap or profiling (those benchmarks are not in this build)."
    fi
fi
} | tee "$out"
