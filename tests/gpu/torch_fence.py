"""torch_fence.py — PyTorch under memfence's GPU fence (run by tests/gpu/real-gpu.sh on a GPU).

    python3 torch_fence.py BUDGET_BYTES

Checks, each printed as "ok: ..." or "FAIL: ...":
  - torch.cuda.mem_get_info() and NVML (nvidia-ml-py) report the budget as the device's memory;
  - what memfence charges is the caching allocator's reserved memory (memory_reserved()) plus
    what libraries allocate beside it (cuBLAS's workspace, taken at the first matrix product and
    kept), the same constant at every step;
  - an allocation past the budget raises torch.OutOfMemoryError and the program carries on:
    it allocates again after freeing, grows to the budget in 64 MiB steps, and computes;
  - empty_cache() gives everything back.
Set PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True for the caching allocator's VMM path.
"""
import ctypes
import os
import sys

import torch

B = int(sys.argv[1])
MiB = 1 << 20
bad = 0


def check(cond, what):
    global bad
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    bad += not cond


lib = ctypes.CDLL(None)
try:
    used_fn = lib.memfence_used
except AttributeError:
    print("FAIL: memfence is not loaded (memfence_used not found)")
    sys.exit(1)
used_fn.restype = ctypes.c_uint64
used_fn.argtypes = [ctypes.c_int]


def used():
    return used_fn(1)          # MEMFENCE_POOL_GPU0


conf = os.environ.get("PYTORCH_CUDA_ALLOC_CONF", "(default)")
print("   torch %s, CUDA %s, %s, allocator %s" % (torch.__version__, torch.version.cuda,
                                                  torch.cuda.get_device_name(0), conf))
check(torch.cuda.is_available(), "torch.cuda.is_available() under memfence")

f, t = torch.cuda.mem_get_info()
base = used()
check(t == B and f == B - base,
      "torch.cuda.mem_get_info() reports the budget: free %d, total %d (charged %d)" % (f, t, base))

try:
    import pynvml
    pynvml.nvmlInit()
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    m = pynvml.nvmlDeviceGetMemoryInfo(h)
    check(m.total == B and m.free <= B,
          "NVML nvmlDeviceGetMemoryInfo reports the budget: total %d, free %d" % (m.total, m.free))
    try:
        m2 = pynvml.nvmlDeviceGetMemoryInfo(h, version=pynvml.nvmlMemory_v2)
        check(m2.total == B and m2.free <= B,
              "NVML nvmlDeviceGetMemoryInfo_v2 reports the budget: total %d, free %d"
              % (m2.total, m2.free))
    except (TypeError, AttributeError, pynvml.NVMLError) as e:
        print("   NVML _v2 not asked: %s" % e)
    pynvml.nvmlShutdown()
except ImportError:
    print("   nvidia-ml-py (pynvml) not installed: the NVML checks are skipped")

# cuBLAS allocates its workspace itself (cudaMalloc, outside the caching allocator) at the first
# matrix product; memfence charges that too.  Warm it up first, then everything memfence charges
# beyond the allocator's reserved memory stays constant.
w = torch.randn(2048, 2048, device="cuda")
float((w @ w).sum())
del w
torch.cuda.empty_cache()
extra = used() - torch.cuda.memory_reserved()
print("   device memory allocated outside torch's caching allocator (cuBLAS's workspace): %d B, "
      "charged too" % (extra - base))


def charged_is_reserved(when):
    r = torch.cuda.memory_reserved()
    check(used() - extra == r, "%s: memfence charges the allocator's reserved memory "
          "(charged %d = reserved %d + %d)" % (when, used(), r, extra))


x = torch.empty(B // 2, dtype=torch.uint8, device="cuda")
charged_is_reserved("a tensor of half the budget")
try:
    y = torch.empty(B, dtype=torch.uint8, device="cuda")
    check(False, "a tensor of the whole budget beyond it was refused")
except torch.OutOfMemoryError as e:
    check(True, "a tensor beyond the budget: torch.OutOfMemoryError (%s)"
          % str(e).split(".")[0].strip())
charged_is_reserved("after the refusal")
del x
y = torch.empty(B * 3 // 4, dtype=torch.uint8, device="cuda")
check(True, "the program carries on: a tensor of 3/4 of the budget after freeing")
charged_is_reserved("after carrying on")
del y
torch.cuda.empty_cache()

blocks, refused = [], False
while len(blocks) < 4 * (B // (64 * MiB)):
    try:
        blocks.append(torch.ones(16 * MiB, dtype=torch.float32, device="cuda"))
    except torch.OutOfMemoryError:
        refused = True
        break
n = len(blocks)
check(refused and n * 64 * MiB <= B and used() <= B,
      "growing by 64 MiB tensors: %d granted (%d MiB), then torch.OutOfMemoryError; charged %d <= budget"
      % (n, n * 64, used()))
charged_is_reserved("at the limit")
del blocks[n // 2:]
torch.cuda.empty_cache()
a = torch.randn(2048, 2048, device="cuda")
s = float((a @ a).sum())
blocks.append(torch.ones(16 * MiB, dtype=torch.float32, device="cuda"))
check(s == s and float(blocks[-1].sum()) == 16 * MiB,
      "after freeing half, it allocates and computes again (a 2048x2048 matmul)")
charged_is_reserved("after computing")
del blocks, a
torch.cuda.empty_cache()
r = torch.cuda.memory_reserved()
check(used() == extra + r, "empty_cache(): memfence's charge falls with the allocator's: charged %d = "
      "reserved %d (%d still allocated) + %d" % (used(), r, torch.cuda.memory_allocated(), extra))
print("torch_fence: FAILED" if bad else "torch_fence: all checks passed")
sys.exit(1 if bad else 0)
