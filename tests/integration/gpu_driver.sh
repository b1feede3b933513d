#!/bin/bash
# Every hooked driver call through dlsym, dlvsym and cuGetProcAddress_v2 (test double): charges,
# credits, refusal codes, VMM reservations not counted, pinned memory in the host budget, the
# memory view with NULL pointers, and unhooked names passing through (tests/progs/cuda_driver.c).
. "$(dirname "$0")/lib.sh"
. "$MF_ROOT/tests/lib/fake_gpu.sh"
fake_gpu_setup
"$MF_PROGS/cuda_driver" plain || fail "the driver double misbehaves without memfence"
fenced MEMFENCE_GPU_LIMIT=64M MEMFENCE_LIMIT=256M -- "$MF_PROGS/cuda_driver" fenced || fail "driver API checks"
fenced MEMFENCE_GPU_LIMIT=64M MEMFENCE_LIMIT=256M CUDA_API_PER_THREAD_DEFAULT_STREAM=1 -- \
    "$MF_PROGS/cuda_driver" fenced || fail "driver API checks with the per-thread default stream"
pass "driver API fenced"
