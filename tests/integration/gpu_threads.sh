#!/bin/bash
# The pointer table under many threads: 8 threads allocate and free through the runtime double
# near a 16 MiB budget; the device never holds more than the budget, refusals are out-of-memory,
# and everything is credited at the end.
. "$(dirname "$0")/lib.sh"
. "$MF_ROOT/tests/lib/fake_gpu.sh"
fake_gpu_setup
fenced MEMFENCE_GPU_LIMIT=16M MEMFENCE_LOG=off -- "$MF_PROGS/cuda_threads" 8 20000 $((16 << 20)) || fail "threads"
pass "8 threads x 20000 operations exact"
