#!/bin/bash
# real-gpu.sh — memfence on a real NVIDIA GPU (not run by `make test`: CI has no GPU).
#   tests/gpu/real-gpu.sh [BUDGET_MiB]        (default 1024; the GPU needs a little more free)
# Builds a CUDA program with nvcc's defaults (the runtime linked statically) and with
# `-cudart shared`, runs both under a GPU budget, and then PyTorch when it is installed:
# cudaMemGetInfo / torch.cuda.mem_get_info report the budget, allocations inside it work, one
# beyond it fails with cudaErrorMemoryAllocation / torch.OutOfMemoryError, and freeing makes
# room again.  Exit 0 pass, 77 skip (the reason on the last line), 1 fail.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
lib=$root/build/libmemfence.so
mib=${1:-1024}
B=$((mib << 20))
skip() { echo "skipped: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
command -v nvidia-smi >/dev/null 2>&1 || skip "no nvidia-smi: no NVIDIA driver on this machine"
nvidia-smi -L >/dev/null 2>&1 || skip "nvidia-smi finds no GPU"
[ -f "$lib" ] || fail "$lib not built (make)"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv,noheader
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ran=0

if command -v nvcc >/dev/null 2>&1; then
    cat > "$tmp/fence.cu" <<'CU'
#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>
static int bad;
#define CHECK(c, what) do { bool ok_ = (c); printf("%s: %s\n", ok_ ? "ok" : "FAIL", what); bad += !ok_; } while (0)
int main(int argc, char **argv) {
    size_t B = strtoull(argv[1], 0, 10), f = 0, t = 0;
    void *a = 0, *b = 0, *h = 0;
    CHECK(cudaMemGetInfo(&f, &t) == cudaSuccess && t == B && f <= t, "cudaMemGetInfo reports the budget");
    printf("   free %zu total %zu\n", f, t);
    CHECK(cudaMalloc(&a, B / 2) == cudaSuccess, "cudaMalloc(B/2) inside the budget");
    CHECK(cudaMalloc(&b, B) == cudaErrorMemoryAllocation, "cudaMalloc(B) beyond: cudaErrorMemoryAllocation");
    cudaGetLastError();
    CHECK(cudaFree(a) == cudaSuccess && cudaMalloc(&b, B * 3 / 4) == cudaSuccess, "freeing makes room again");
    CHECK(cudaFree(b) == cudaSuccess, "cudaFree");
    CHECK(cudaMallocAsync(&a, B / 4, 0) == cudaSuccess && cudaFreeAsync(a, 0) == cudaSuccess &&
          cudaStreamSynchronize(0) == cudaSuccess, "cudaMallocAsync / cudaFreeAsync");
    CHECK(cudaMallocManaged(&a, B / 4) == cudaSuccess && cudaFree(a) == cudaSuccess, "cudaMallocManaged");
    CHECK(cudaMallocHost(&h, 1 << 20) == cudaSuccess && cudaFreeHost(h) == cudaSuccess, "cudaMallocHost");
    CHECK(cudaMemGetInfo(&f, &t) == cudaSuccess && t == B, "budget still reported at the end");
    return bad ? 1 : 0;
}
CU
    nvcc -O2 -o "$tmp/fence_static" "$tmp/fence.cu" || fail "nvcc (static runtime)"
    nvcc -O2 -cudart shared -o "$tmp/fence_shared" "$tmp/fence.cu" || fail "nvcc -cudart shared"
    for v in static shared; do
        echo "== CUDA program, runtime $v, budget $mib MiB"
        env MEMFENCE_GPU_LIMIT=${mib}M LD_PRELOAD="$lib" "$tmp/fence_$v" "$B" || fail "runtime $v"
        ran=1
    done
else
    echo "nvcc not found: the CUDA program checks are skipped"
fi

if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    echo "== PyTorch $(python3 -c 'import torch; print(torch.__version__)'), budget $mib MiB"
    env MEMFENCE_GPU_LIMIT=${mib}M LD_PRELOAD="$lib" python3 - "$B" <<'PY' || fail "PyTorch"
import sys, torch
B = int(sys.argv[1])
f, t = torch.cuda.mem_get_info()
print("   mem_get_info: free %d total %d" % (f, t))
assert t == B and f <= t, "mem_get_info does not report the budget"
x = torch.empty(B // 2, dtype=torch.uint8, device="cuda")
print("ok: allocation inside the budget")
try:
    y = torch.empty(B, dtype=torch.uint8, device="cuda")
    raise SystemExit("FAIL: an allocation beyond the budget succeeded")
except torch.OutOfMemoryError as e:
    print("ok: beyond the budget: torch.OutOfMemoryError")
del x
torch.cuda.empty_cache()
y = torch.empty(B * 3 // 4, dtype=torch.uint8, device="cuda")
print("ok: freeing made room again")
PY
    ran=1
else
    echo "PyTorch with CUDA not installed: the PyTorch checks are skipped"
fi
[ $ran = 1 ] || skip "a GPU is present but neither nvcc nor PyTorch is installed"
echo "real GPU: all checks passed"
