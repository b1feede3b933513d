#!/bin/bash
# b-60-profile: the profiler's overhead on an allocation-heavy workload (bench/profile_churn:
# mixed sizes, a ring of live blocks), measured side by side in one run: no memfence, memfence
# without profiling, memfence with profile = on at the default rate (512 KiB) and at 64 KiB.
# Runs are interleaved; medians of RUNS (default 5).  Goal: default rate <= 5 % over memfence.
set -u
runs=${RUNS:-5}
pairs=${PAIRS:-2000000}
prog=$MF_BENCH/profile_churn
[ -x "$prog" ] || { echo "## profiler overhead"; echo; echo "skipped: $prog not built"; exit 0; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
declare -A res
configs="plain memfence profile profile64k"
for threads in 1 2; do
    for c in $configs; do res[$c.$threads]=""; done
    for _ in $(seq "$runs"); do
        res[plain.$threads]+="$("$prog" "$threads" "$pairs") "
        res[memfence.$threads]+="$(LD_PRELOAD=$MF_LIB "$prog" "$threads" "$pairs") "
        res[profile.$threads]+="$(MEMFENCE_PROFILE=on LD_PRELOAD=$MF_LIB "$prog" "$threads" "$pairs") "
        res[profile64k.$threads]+="$(MEMFENCE_PROFILE=on MEMFENCE_PROFILE_RATE=64K LD_PRELOAD=$MF_LIB "$prog" "$threads" "$pairs") "
    done
done
echo "## profiler overhead (b-60-profile)"
echo
echo "profile_churn: $pairs malloc/free pairs per thread, mixed sizes 16 B–64 KiB; CPU ns per pair"
echo "(process CPU time, the profiler's thread included; steadier than wall time on a shared box),"
echo "medians of $runs interleaved runs.  Ratios against memfence without profiling."
echo
echo "| threads | no memfence | memfence | profile=on (512 KiB) | ratio | profile_rate=64K | ratio |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for threads in 1 2; do
    p=$(echo ${res[plain.$threads]} | tr ' ' '\n' | median)
    m=$(echo ${res[memfence.$threads]} | tr ' ' '\n' | median)
    d=$(echo ${res[profile.$threads]} | tr ' ' '\n' | median)
    k=$(echo ${res[profile64k.$threads]} | tr ' ' '\n' | median)
    printf '| %d | %s | %s | %s | %s | %s | %s |\n' "$threads" "$p" "$m" "$d" \
        "$(awk -v a="$d" -v b="$m" 'BEGIN {printf "%.3f", a / b}')" "$k" \
        "$(awk -v a="$k" -v b="$m" 'BEGIN {printf "%.3f", a / b}')"
done

# Exact instruction counts (callgrind repeats exactly; CPU time on a shared box does not), the
# profiler's work on sampled blocks and the sampler thread included.  Two lengths, so that the
# start-up cost drops out: the per-pair figure is the difference.
if command -v valgrind >/dev/null; then
    ir() { env "$@" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$prog" 1 "$n" 2>&1 |
           sed -n 's/.*refs: *//p' | tr -d ,; }
    echo
    echo "Instructions per malloc/free pair (callgrind, exact; profile_churn, 1 thread, 400 000 - 200 000 pairs):"
    echo
    echo "| mode | per pair | ratio to memfence |"
    echo "| --- | ---: | ---: |"
    declare -A per
    for m in plain memfence profile profile64k; do
        case $m in
        plain) e=(X=1) ;;
        memfence) e=(LD_PRELOAD=$MF_LIB) ;;
        profile) e=(LD_PRELOAD=$MF_LIB MEMFENCE_PROFILE=on) ;;
        profile64k) e=(LD_PRELOAD=$MF_LIB MEMFENCE_PROFILE=on MEMFENCE_PROFILE_RATE=64K) ;;
        esac
        n=200000; a=$(ir "${e[@]}")
        n=400000; b=$(ir "${e[@]}")
        per[$m]=$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.1f", (b - a) / 200000}')
    done
    for m in plain memfence profile profile64k; do
        printf '| %s | %s | %s |\n' "$m" "${per[$m]}" "$(awk -v a="${per[$m]}" -v b="${per[memfence]}" 'BEGIN {printf "%.3f", a / b}')"
    done
fi

# a real program: python3 json round-trips (CPU ns per iteration)
if command -v python3 >/dev/null; then
    py='import json, time
t = time.process_time()
for i in range(100000):
    d = json.loads(json.dumps({"k": [i] * 20, "s": "x" * (i % 300)}))
print("%.1f" % ((time.process_time() - t) * 1e9 / 100000))'
    pm="" pp=""
    for _ in $(seq "$runs"); do
        pm+="$(LD_PRELOAD=$MF_LIB python3 -c "$py") "
        pp+="$(MEMFENCE_PROFILE=on LD_PRELOAD=$MF_LIB python3 -c "$py") "
    done
    m=$(echo $pm | tr ' ' '\n' | median)
    d=$(echo $pp | tr ' ' '\n' | median)
    echo
    echo "| python3 json round-trips | memfence | profile=on (512 KiB) | ratio |"
    echo "| --- | ---: | ---: | ---: |"
    printf '| CPU ns per iteration | %s | %s | %s |\n' "$m" "$d" "$(awk -v a="$d" -v b="$m" 'BEGIN {printf "%.3f", a / b}')"
fi
echo
echo "Site table and block table: $(( (4096 * 400 + 65536 * 24 + 4096) / 1024 )) KiB of address space, touched as they fill (reported by \`memfence report\` as table_bytes)."
