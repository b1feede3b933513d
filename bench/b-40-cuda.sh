#!/bin/bash
# b-40-cuda: what memfence's CUDA hooks add to a cudaMalloc/cudaFree pair, measured on the test
# doubles (fake driver, runtime compiled in), and with the real runtime when a GPU is present.
# Without and with memfence alternate in one run; the medians of 5 runs (each itself the median
# of 7 rounds of 100000 pairs) are compared.  Target: under 1 µs added per call.
set -u
prog=$MF_BENCH/cuda_alloc
[ -x "$prog" ] || { echo "## CUDA allocation overhead"; echo; echo "skipped: $prog not built"; exit 0; }
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
ln -s "$MF_TLIB/fake_cuda.so" "$d/libcuda.so.1"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
run_pair() {   # label, env...
    local label=$1; shift
    local off=() on=()
    for i in 1 2 3 4 5; do
        off+=("$(env "$@" "$prog" 100000 7 1048576)")
        on+=("$(env "$@" MEMFENCE_GPU_LIMIT=64G LD_PRELOAD="$MF_LIB" "$prog" 100000 7 1048576)")
    done
    local a b
    a=$(printf '%s\n' "${off[@]}" | median)
    b=$(printf '%s\n' "${on[@]}" | median)
    awk -v l="$label" -v a="$a" -v b="$b" 'BEGIN {
        printf "| %s | %.0f | %.0f | %.2f | %+.0f ns (%.0f ns per call) |\n", l, a, b, b / a, b - a, (b - a) / 2 }'
}
echo "## CUDA allocation overhead (cudaMalloc + cudaFree of 1 MiB)"
echo
echo "| driver | without (ns/pair) | memfence (ns/pair) | ratio | added |"
echo "| --- | ---: | ---: | ---: | --- |"
run_pair "test double (fake libcuda, static runtime)" LD_LIBRARY_PATH="$d"
# Instructions (callgrind, exact): the marginal cost of a pair, 40000 pairs less 20000.
if command -v valgrind >/dev/null 2>&1; then
    instr() {   # pairs, env...
        local n=$1; shift
        env LD_LIBRARY_PATH="$d" "$@" valgrind --tool=callgrind --callgrind-out-file=/dev/null \
            "$prog" "$n" 1 1048576 2>&1 >/dev/null | awk '/Collected/ {print $NF}'
    }
    p1=$(instr 20000); p2=$(instr 40000)
    f1=$(instr 20000 MEMFENCE_GPU_LIMIT=64G LD_PRELOAD="$MF_LIB"); f2=$(instr 40000 MEMFENCE_GPU_LIMIT=64G LD_PRELOAD="$MF_LIB")
    awk -v p1="$p1" -v p2="$p2" -v f1="$f1" -v f2="$f2" 'BEGIN {
        a = (p2 - p1) / 20000; b = (f2 - f1) / 20000
        printf "| test double, instructions (callgrind) | %.0f instr | %.0f instr | %.2f | %+.0f instructions (%.0f per call) |\n", a, b, b / a, b - a, (b - a) / 2 }'
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    rt=$(ldconfig -p | awk '/libcudart\.so/ {print $NF; exit}')
    [ -n "$rt" ] && run_pair "real GPU ($(nvidia-smi -L | head -1 | cut -c1-40)), $rt" BENCH_CUDART="$rt"
else
    echo
    echo "No NVIDIA GPU here: the real-driver row is measured only where one is present."
fi
