#!/bin/bash
# GPU fencing through the CUDA runtime (test double): the runtime linked statically (nvcc's
# default) and shared (-cudart shared, PyTorch, ggml) reach the driver through dlopen + dlsym +
# cuGetProcAddress_v2; memfence counts, refuses with out-of-memory, reports, and shows the budget.
. "$(dirname "$0")/lib.sh"
. "$MF_ROOT/tests/lib/fake_gpu.sh"
fake_gpu_setup
M=$((1 << 20))
for mode in static shared; do
    out=$(fenced MEMFENCE_GPU_LIMIT=256M -- "$MF_PROGS/cuda_alloc" $mode info malloc 100M info \
          malloc 200M async 100M managed 50M info pitch 1000 1000 pitch 4000 2000 freeall info fill 64M freeall 2>"$MF_TMP/err")
    echo "$out"
    grep -qx "info -> 0 free $((256 * M)) total $((256 * M))" <<<"$out" || fail "$mode: view is not the budget"
    grep -qx "info -> 0 free $((156 * M)) total $((256 * M))" <<<"$out" || fail "$mode: view after 100M"
    grep -qx "malloc 200M -> 2" <<<"$out" || fail "$mode: cudaMalloc beyond the budget is not cudaErrorMemoryAllocation"
    grep -qx "async 100M -> 0" <<<"$out" || fail "$mode: cudaMallocAsync within the budget"
    grep -qx "managed 50M -> 0" <<<"$out" || fail "$mode: cudaMallocManaged within the budget"
    grep -qx "info -> 0 free $((6 * M)) total $((256 * M))" <<<"$out" || fail "$mode: async + managed not counted"
    grep -qx "pitch 1000 1000 -> 0 pitch 1024" <<<"$out" || fail "$mode: pitched allocation within the budget"
    grep -qx "pitch 4000 2000 -> 2 pitch 0" <<<"$out" || fail "$mode: pitched allocation beyond the budget"
    grep -qx "freeall -> 0" <<<"$out" || fail "$mode: frees failed"
    tail -n +2 <<<"$out" | grep -qx "info -> 0 free $((256 * M)) total $((256 * M))" || fail "$mode: frees did not make room"
    grep -qx "fill 64M -> 4 blocks, then 2" <<<"$out" || fail "$mode: the budget does not hold exactly 4 x 64M"
    grep -q "refused cuMemAlloc(200.0 MiB) in cuda_alloc (pid [0-9]*): GPU 0 memory in use 100.0 MiB + 200.0 MiB asked > budget 256.0 MiB" \
        "$MF_TMP/err" || { cat "$MF_TMP/err"; fail "$mode: refusal line"; }
done
# A percentage of the device; the real figures without a budget; per-thread-stream entry points.
out=$(fenced MEMFENCE_GPU_LIMIT=25% -- "$MF_PROGS/cuda_alloc" static info 2>&1)
grep -qx "info -> 0 free $((256 * M)) total $((256 * M))" <<<"$out" || fail "25% of a 1 GiB device: $out"
# virtualize = off: the program is told the device's own figures; the budget still holds.
out=$(fenced MEMFENCE_GPU_LIMIT=256M MEMFENCE_VIRTUALIZE=off -- "$MF_PROGS/cuda_alloc" static info malloc 300M info 2>/dev/null)
grep -qx "info -> 0 free $((1024 * M)) total $((1024 * M))" <<<"$out" || fail "virtualize = off still shows the budget: $out"
grep -qx "malloc 300M -> 2" <<<"$out" || fail "virtualize = off lifted the GPU budget: $out"
out=$(fenced -- "$MF_PROGS/cuda_alloc" shared info malloc 300M info 2>&1)
grep -qx "info -> 0 free $((724 * M)) total $((1024 * M))" <<<"$out" || fail "without a budget the device's own figures pass: $out"
out=$(fenced MEMFENCE_GPU_LIMIT=64M FAKE_CUDART_PTDS=1 -- "$MF_PROGS/cuda_alloc" shared async 60M async 8M info 2>/dev/null)
grep -qx "async 8M -> 2" <<<"$out" || fail "per-thread-stream cudaMallocAsync not fenced: $out"
# The runtime sees the same allocations without memfence (the double is sane).
out=$("$MF_PROGS/cuda_alloc" static malloc 900M malloc 200M 2>&1)
grep -qx "malloc 200M -> 2" <<<"$out" || fail "the double does not refuse beyond its device: $out"
# Fault injection reaches CUDA allocations (calls=cuda): every second one fails cleanly.
out=$(fenced MEMFENCE_FAIL=every=2,calls=cuda -- "$MF_PROGS/cuda_alloc" shared malloc 1M malloc 1M host 1M host 1M freeall info 2>/dev/null)
[ "$(grep -c -- '-> 2$' <<<"$out")" = 2 ] || fail "fault injection on CUDA calls: $out"
grep -qx "info -> 0 free $((1024 * M)) total $((1024 * M))" <<<"$out" || fail "after injected failures: $out"
pass "static and shared runtime fenced; refusal code, report line and memory view right"
