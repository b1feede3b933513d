#!/bin/bash
# The real-GPU check program (tests/gpu/fence_check.c, run on an H200 by tests/gpu/real-gpu.sh:
# tests/gpu/results/) built against the CUDA TEST DOUBLES, so its checks hold in CI too: every
# device allocation path charged and credited exactly (against memfence_used()), refusals with the
# out-of-memory error and the program carrying on, VMM physical memory charged and reservations
# not, pinned memory in the host budget, the budget as the device's memory — through LD_PRELOAD
# and through `memfence run`.  Also what the real run showed about the refusal lines: each names
# the entry point the program reached (cuMemAllocAsync, cuMemAllocManaged, ...), not one for all.
. "$(dirname "$0")/lib.sh"
. "$MF_ROOT/tests/lib/fake_gpu.sh"
fake_gpu_setup
prog=$MF_PROGS/gpu_fence_check
[ -x "$prog" ] || skip "$prog not built (make test-bins)"
B=$((1 << 30))
export FAKE_CUDA_MEM=8G FENCE_MEMFENCE=$MF_BIN
out=$(fenced MEMFENCE_GPU_LIMIT=1G MEMFENCE_LIMIT=8G -- "$prog" check $B 2>"$MF_TMP/err"); rc=$?
echo "$out"
[ $rc = 0 ] && grep -qx "fence_check: all checks passed" <<<"$out" || fail "under LD_PRELOAD: $(grep FAIL <<<"$out")"
grep -q "^ok: the ledger (memfence status --json) shows GPU 0 used" <<<"$out" || fail "the ledger check did not run"
[ "$(grep -c '^ok: ' <<<"$out")" -ge 25 ] || fail "fewer checks ran than expected"
for call in "cuMemAlloc(1.0 GiB)" "cuMemAllocAsync(1.0 GiB)" "cuMemAllocManaged(1.0 GiB)" \
            "cuMemCreate(1.0 GiB)" "cuMemAllocHost(8.0 GiB)"; do
    grep -qF "refused $call in gpu_fence_check" "$MF_TMP/err" ||
        { cat "$MF_TMP/err"; fail "no refusal line naming $call"; }
done
out=$("$MF_BIN" run -g 1G -l 8G -- "$prog" check $B 2>/dev/null) ||
    fail "through memfence run: $(grep FAIL <<<"$out")"
grep -qx "fence_check: all checks passed" <<<"$out" || fail "through memfence run: no verdict"
# Without memfence the program says so instead of checking nothing.
out=$("$prog" check $B 2>&1) && fail "passed without memfence"
grep -q "memfence is not loaded" <<<"$out" || fail "without memfence: $out"
pass "fence_check's real-GPU checks hold on the doubles, preloaded and through memfence run"
