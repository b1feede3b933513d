#!/bin/bash
# A library linked directly against the driver (like ggml-cuda's VMM pool, -lcuda): its calls
# reach libcuda through its GOT, not dlsym; memfence binds those slots to its hooks.
. "$(dirname "$0")/lib.sh"
. "$MF_ROOT/tests/lib/fake_gpu.sh"
fake_gpu_setup
export FAKE_GGML=$MF_TLIB/fake_ggml.so
[ -f "$FAKE_GGML" ] || skip "$FAKE_GGML not built"
for mode in now lazy; do
    fenced MEMFENCE_GPU_LIMIT=64M -- "$MF_PROGS/cuda_direct" $mode || fail "direct-linked calls ($mode binding)"
done
# A driver-API program linked with -lcuda at build time: bound at start, no lookup ever made.
command -v cc >/dev/null || skip "no C compiler for the -lcuda program"
ln -sf "$MF_TLIB/fake_cuda.so" "$MF_TMP/fakegpu/libcuda.so"
cat > "$MF_TMP/drvapi.c" <<'C'
#include <stdio.h>
#include "fake_cuda.h"
CUresult cuInit(unsigned); CUresult cuDevicePrimaryCtxRetain(CUcontext *, CUdevice);
CUresult cuCtxSetCurrent(CUcontext); CUresult cuMemAlloc_v2(CUdeviceptr *, size_t);
CUresult cuMemFree_v2(CUdeviceptr); CUresult cuMemGetInfo_v2(size_t *, size_t *);
int main(void) {
    CUcontext c; CUdeviceptr a, b; size_t f, t;
    if (cuInit(0) || cuDevicePrimaryCtxRetain(&c, 0) || cuCtxSetCurrent(c)) return 3;
    cuMemGetInfo_v2(&f, &t);
    int r1 = cuMemAlloc_v2(&a, 40 << 20), r2 = cuMemAlloc_v2(&b, 40 << 20);
    printf("total %zu alloc %d %d free %d\n", t, r1, r2, cuMemFree_v2(a));
    return 0;
}
C
cc -std=gnu11 -I"$MF_ROOT/tests/lib" -o "$MF_TMP/drvapi" "$MF_TMP/drvapi.c" -L"$MF_TMP/fakegpu" -lcuda \
    || fail "cannot build the -lcuda program"
out=$(fenced MEMFENCE_GPU_LIMIT=64M -- "$MF_TMP/drvapi" 2>/dev/null)
[ "$out" = "total 67108864 alloc 0 2 free 0" ] || fail "-lcuda program not fenced: $out"
out=$(fenced MEMFENCE_GPU_LIMIT=64M LD_BIND_NOW=1 -- "$MF_TMP/drvapi" 2>/dev/null)
[ "$out" = "total 67108864 alloc 0 2 free 0" ] || fail "-lcuda program (bound at load) not fenced: $out"
pass "direct-linked driver calls fenced (a library loaded later, a program linked with -lcuda)"
