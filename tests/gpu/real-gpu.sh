#!/bin/bash
# real-gpu.sh — memfence on a real NVIDIA GPU (not run by `make test`: CI has no GPU; the same
# checks run there against the CUDA test doubles, tests/integration/gpu_fence_check.sh).
#
#   tests/gpu/real-gpu.sh [BUDGET_MiB]        (default 1024)
#
# Environment: MF_LIB, MF_BIN (default build/libmemfence.so, build/memfence), MF_COMMIT (the
# commit to name when the tree has no .git), MF_REPS (timing runs per mode, default 11).
#
# 1. tests/gpu/fence_check.c built with nvcc, the runtime linked statically (the default) and
#    shared (-cudart shared), both also linked directly against libcuda: cudaMalloc, pitched,
#    cudaMallocAsync on the default pool and on an explicit pool, cudaMallocManaged (16 MiB),
#    VMM (cuMemCreate/cuMemMap by direct calls and through cudaGetDriverEntryPointByVersion),
#    pinned host memory against the host budget; each charge and credit checked exactly against
#    memfence_used(), and once against the ledger (memfence status --json); refusals return the out-of-memory error and the program carries on.
# 2. The same program through `memfence run -g`.
# 3. PyTorch (tests/gpu/torch_fence.py), with the caching allocator's default segments and with
#    expandable segments (its VMM path), the second through `memfence run -c FILE`.
#    Then two PyTorch processes in one group (tests/gpu/torch_group.py): a GPU budget shared.
# 4. The cost per call of the GPU hooks: fence_check's timing loops with and without memfence,
#    interleaved, medians of MF_REPS runs.
# Exit 0 pass, 77 skip (the reason on the last line), 1 fail.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
lib=${MF_LIB:-$root/build/libmemfence.so}
bin=${MF_BIN:-$root/build/memfence}
mib=${1:-1024}
B=$((mib << 20))
reps=${MF_REPS:-11}
skip() { echo "skipped: $*"; exit 77; }
command -v nvidia-smi >/dev/null 2>&1 || skip "no nvidia-smi: no NVIDIA driver on this machine"
nvidia-smi -L >/dev/null 2>&1 || skip "nvidia-smi finds no GPU"
[ -f "$lib" ] || { echo "FAIL: $lib not built (make)"; exit 1; }
commit=${MF_COMMIT:-$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=()
step() { echo; echo "== $*"; }
result() {    # result NAME RC
    if [ "$2" = 0 ]; then echo "-- $1: passed"; else echo "-- $1: FAILED (exit $2)"; failed+=("$1"); fi
}

echo "memfence real-GPU run: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit, GPU budget $mib MiB"
echo "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv,noheader)"
echo "host: $(uname -r), $(nproc) CPUs; $(. /etc/os-release 2>/dev/null; echo "${PRETTY_NAME:-?}")"
command -v nvcc >/dev/null && echo "nvcc: $(nvcc --version | tail -1)"
python3 -c 'import torch; print("torch:", torch.__version__, "CUDA", torch.version.cuda)' 2>/dev/null

run_fenced() { env MEMFENCE_GPU_LIMIT=${mib}M MEMFENCE_LIMIT=8G LD_PRELOAD="$lib" timeout 180 "$@"; }
export FENCE_MEMFENCE=$bin      # fence_check compares the ledger (memfence status) once too

if command -v nvcc >/dev/null 2>&1; then
    src=$root/tests/gpu/fence_check.c
    for v in static shared; do
        opt=; [ $v = shared ] && opt="-cudart shared"
        step "CUDA program, runtime linked $v ($(echo nvcc -O2 -x cu $opt fence_check.c -lcuda))"
        if nvcc -O2 -x cu $opt -o "$tmp/fc_$v" "$src" -lcuda -ldl >"$tmp/nvcc.log" 2>&1; then
            run_fenced "$tmp/fc_$v" check "$B"
            result "CUDA program, runtime $v" $?
        else
            cat "$tmp/nvcc.log"; result "nvcc build ($v)" 1
        fi
    done
    if [ -x "$tmp/fc_shared" ] && [ -x "$bin" ]; then
        step "the same through memfence run -g ${mib}M -l 8G"
        timeout 180 "$bin" run -g ${mib}M -l 8G -- "$tmp/fc_shared" check "$B"
        result "memfence run" $?
    fi
else
    echo "nvcc not found: the CUDA program checks are skipped"
fi

if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    step "PyTorch, the caching allocator's default segments (LD_PRELOAD, MEMFENCE_GPU_LIMIT)"
    PYTHONUNBUFFERED=1 run_fenced python3 "$root/tests/gpu/torch_fence.py" "$B"
    result "PyTorch" $?
    step "PyTorch, expandable segments (memfence run -c FILE with gpu_limit = ${mib}M)"
    printf '[global]\nlimit = 8G\ngpu_limit = %sM\n' "$mib" > "$tmp/fence.conf"
    PYTHONUNBUFFERED=1 PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True \
        timeout 180 "$bin" run -c "$tmp/fence.conf" -- python3 "$root/tests/gpu/torch_fence.py" "$B"
    result "PyTorch, expandable segments" $?
    step "PyTorch, two processes in one group GPU budget of 1 GiB (each process's own: 2 GiB)"
    gd=$tmp/group
    mkdir -p "$gd"
    genv=(MEMFENCE_LEDGER_DIR="$gd" MEMFENCE_GROUP=gpus MEMFENCE_GPU_LIMIT=2G
          MEMFENCE_GROUP_GPU_LIMIT=1G LD_PRELOAD="$lib" PYTHONUNBUFFERED=1)
    env "${genv[@]}" MEMFENCE_INSTANCE=a timeout 120 python3 "$root/tests/gpu/torch_group.py" a "$gd" "$bin" &
    pa=$!
    env "${genv[@]}" MEMFENCE_INSTANCE=b timeout 120 python3 "$root/tests/gpu/torch_group.py" b "$gd" "$bin" &
    pb=$!
    wait $pa; ra=$?
    touch "$gd/a.gone"
    wait $pb; rb=$?
    result "PyTorch, a group GPU budget" $(( ra != 0 || rb != 0 ))
else
    echo "PyTorch with CUDA not installed: the PyTorch checks are skipped"
fi

if [ -x "${tmp}/fc_static" ]; then
    step "cost per call: fence_check time 20000 (static runtime; cudaMalloc 5000), $reps runs of each mode, interleaved"
    echo "   modes: gpu = MEMFENCE_GPU_LIMIT only; gpu+host = MEMFENCE_GPU_LIMIT and MEMFENCE_LIMIT=8G"
    pin=; command -v taskset >/dev/null && pin="taskset -c $(( $(nproc) - 1 ))" && echo "   pinned to one CPU ($pin)"
    for i in $(seq "$reps"); do
        $pin timeout 120 "$tmp/fc_static" time 20000 | sed 's/^/plain /' >> "$tmp/times"
        env MEMFENCE_GPU_LIMIT=${mib}M LD_PRELOAD="$lib" $pin timeout 120 "$tmp/fc_static" time 20000 |
            sed 's/^/gpu /' >> "$tmp/times"
        run_fenced $pin "$tmp/fc_static" time 20000 | sed 's/^/gpu+host /' >> "$tmp/times"
    done
    awk '
        { mode = $1; v = $NF; $1 = ""; $2 = ""; $NF = ""; name = $0; gsub(/^ +| +$/, "", name)
          k = name SUBSEP mode; n[k]++; val[k, n[k]] = v; names[name] = 1 }
        function median(k,   i, j, t, c, a) {
            c = n[k]; for (i = 1; i <= c; i++) a[i] = val[k, i]
            for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
            return c % 2 ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2 }
        END {
            printf "%-40s %9s %9s %7s %9s %7s   (ns per call, medians)\n", "call", "plain", "gpu", "ratio", "gpu+host", "ratio"
            for (nm in names) {
                p = median(nm SUBSEP "plain"); g = median(nm SUBSEP "gpu"); f = median(nm SUBSEP "gpu+host")
                printf "%-40s %9.0f %9.0f %7.3f %9.0f %7.3f\n", nm, p, g, p ? g / p : 0, f, p ? f / p : 0 }
        }' "$tmp/times"
    echo "   every run (ns): "; sort "$tmp/times" | awk '{ k = $1 " " $3; a[k] = a[k] " " $NF } END { for (k in a) print "     " k ":" a[k] }' | sort
fi

echo
if [ ${#failed[@]} -gt 0 ]; then
    echo "real GPU: FAILED: ${failed[*]}"
    exit 1
fi
echo "real GPU: all checks passed"
