#!/bin/bash
# A process that never uses CUDA sees no difference: memfence exports no CUDA or NVML name,
# loads no CUDA library, and ordinary dlsym / dlvsym lookups (Python's ctypes) keep working.
. "$(dirname "$0")/lib.sh"
exports=$(nm -D --defined-only "$MF_LIB" | awk '{print $3}')
grep -E '^(cu|cuda|nvml)' <<<"$exports" && fail "memfence exports a CUDA-looking name"
fenced -- "$MF_PROGS/cuda_probe" || fail "probe"
out=$(fenced -- python3 -c '
import ctypes, ctypes.util
libc = ctypes.CDLL(None)
assert not hasattr(libc, "cuInit") and not hasattr(libc, "cudaMalloc") and not hasattr(libc, "nvmlInit_v2")
m = ctypes.CDLL(ctypes.util.find_library("m")); m.cos.restype = ctypes.c_double; m.cos.argtypes = [ctypes.c_double]
assert m.cos(0.0) == 1.0
maps = open("/proc/self/maps").read()
assert "libcuda" not in maps and "nvidia-ml" not in maps
print("python ok")' 2>&1) || fail "python3: $out"
[ "$out" = "python ok" ] || fail "python3 printed: $out"
# Another interposer after memfence finds the real function with dlsym(RTLD_NEXT, ...).
out=$(LD_PRELOAD="$MF_LIB $MF_TLIB/next_wrap.so" "$MF_PROGS/cuda_probe" 2>&1) || fail "RTLD_NEXT chain: $out"
[ "$out" = "[wrapped] ok: no CUDA name, no CUDA library, lookups intact" ] || fail "RTLD_NEXT chain printed: $out"
pass "no CUDA name exported, none loaded; lookups intact"
