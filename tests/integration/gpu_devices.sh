#!/bin/bash
# Per-device budgets: gpu_limit for every device, MEMFENCE_GPU_LIMIT_<N> (gpu_limit.N) for one;
# NVML's view per device, mapped through CUDA_VISIBLE_DEVICES.
. "$(dirname "$0")/lib.sh"
. "$MF_ROOT/tests/lib/fake_gpu.sh"
fake_gpu_setup
export FAKE_CUDA_DEVICES=2
M=$((1 << 20))
out=$(fenced MEMFENCE_GPU_LIMIT=64M MEMFENCE_GPU_LIMIT_1=50% -- "$MF_PROGS/cuda_alloc" static \
      info fill 16M dev 1 info fill 256M 2>/dev/null)
echo "$out"
grep -qx "info -> 0 free $((64 * M)) total $((64 * M))" <<<"$out" || fail "device 0: gpu_limit"
grep -qx "fill 16M -> 4 blocks, then 2" <<<"$out" || fail "device 0 holds 64M"
grep -qx "info -> 0 free $((512 * M)) total $((512 * M))" <<<"$out" || fail "device 1: MEMFENCE_GPU_LIMIT_1=50%"
grep -qx "fill 256M -> 2 blocks, then 2" <<<"$out" || fail "device 1 holds 512M, apart from device 0"
out=$(fenced MEMFENCE_GPU_LIMIT_0=64M MEMFENCE_GPU_LIMIT_1=32M -- "$MF_PROGS/cuda_nvml" 2>&1)
echo "$out"
grep -qx "dev 0 v1 total $((64 * M)) free $((64 * M)) used 0" <<<"$out" || fail "NVML v1 device 0"
grep -qx "dev 1 v1 total $((32 * M)) free $((32 * M)) used 0" <<<"$out" || fail "NVML v1 device 1"
grep -qx "dev 1 v2 total $((32 * M)) free $((32 * M)) used 0 reserved 0" <<<"$out" || fail "NVML v2 device 1"
grep -qx "dev 0 null -> 2" <<<"$out" || fail "NVML with a NULL pointer"
out=$(fenced MEMFENCE_GPU_LIMIT_0=64M MEMFENCE_VIRTUALIZE=off -- "$MF_PROGS/cuda_nvml" 2>&1)
grep -qx "dev 0 v1 total $((1024 * M)) free $((1024 * M)) used 0" <<<"$out" ||
    fail "virtualize = off: NVML shows the device's own figures: $out"
out=$(fenced MEMFENCE_GPU_LIMIT_0=64M CUDA_VISIBLE_DEVICES=1 -- "$MF_PROGS/cuda_nvml" 2>&1)
grep -qx "dev 1 v1 total $((64 * M)) free $((64 * M)) used 0" <<<"$out" || fail "NVML device 1 is CUDA device 0 here: $out"
grep -qx "dev 0 v1 total $((1024 * M)) free $((1024 * M)) used 0" <<<"$out" || fail "a device CUDA cannot see keeps NVML's figures: $out"
out=$(FAKE_NVML_USED=1000M fenced MEMFENCE_GPU_LIMIT=64M -- "$MF_PROGS/cuda_nvml" 2>&1)
grep -qx "dev 0 v1 total $((64 * M)) free $((24 * M)) used $((40 * M))" <<<"$out" || fail "free clamped by the device's real free memory: $out"
pass "per-device budgets and NVML view"
