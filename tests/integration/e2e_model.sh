#!/bin/bash
# The model runner story as a test (examples/model-runner): a 512 MiB model under a 256 MiB
# budget is refused at the mapping with a line naming the file; a 96 MiB model sizes its KV
# cache from the machine (virtualize off) and is refused cleanly at the budget, or from the
# budget (virtualize on) and runs; with the CUDA test doubles it sees the GPU budget and offloads
# what fits; in a group, a second runner whose reservation does not fit is not started.
# Parts whose feature is not in this build are skipped and named in the last line.
# The same story on the real engine (llama.cpp through node-llama-cpp) is llama_engine.sh; this
# synthetic runner stays for the CUDA test doubles, and covers the CPU paths without npm.
. "$(dirname "$0")/lib.sh"
R=$MF_BUILD/examples/model-runner/runner
[ -x "$R" ] || skip "$R not built (make test-bins)"
cd "$MF_TMP" || fail "no scratch directory"
export MEMFENCE_LEDGER_DIR=$MF_TMP
"$R" -N -m big.gguf -s 512M && "$R" -N -m small.gguf -s 96M || fail "cannot create the model files"
[ "$(du -k big.gguf | cut -f1)" -lt 1024 ] || fail "the model file is not sparse"
done_parts=() skipped=()

# 1. pre-flight
if grep -q -a -F "refused: it needs" "$MF_LIB"; then
    out=$("$MF_BIN" run -l 256M -- "$R" -C -m big.gguf 2>&1); rc=$?
    expect_eq "$rc" 2 "runner exit with a model that cannot fit"
    grep -q "mmap of $MF_TMP/big.gguf refused: it needs 512.0 MiB" <<<"$out" ||
        fail "no refusal line naming the model: $out"
    grep -q "generated" <<<"$out" && fail "the runner ran anyway: $out"
    done_parts+=(pre-flight)
else
    skipped+=("pre-flight (no mmap pre-flight check in this build)")
fi

# 2. virtualize off: sized from the machine, refused at the budget, cleanly
out=$(MEMFENCE_VIRTUALIZE=off "$MF_BIN" run -l 256M -- "$R" -C -m small.gguf 2>&1); rc=$?
expect_eq "$rc" 3 "runner exit, virtualize off (KV cache refused)"
grep -q "refused malloc(1.0 GiB) in runner" <<<"$out" || fail "no refusal of the KV cache: $out"
# 3. virtualize on: sized from the budget, runs
out=$(MEMFENCE_VIRTUALIZE=on "$MF_BIN" run -l 256M -- "$R" -C -m small.gguf 2>&1); rc=$?
expect_eq "$rc" 0 "runner exit, virtualize on: $out"
grep -q "MemAvailable 2[0-9][0-9]\.[0-9] MiB" <<<"$out" || fail "the runner did not see the budget: $out"
kv=$(sed -n 's/^runner: plan: context [0-9]* tokens -> KV cache \([0-9]*\)\..*/\1/p' <<<"$out")
[ -n "$kv" ] && [ "$kv" -gt 0 ] && [ "$kv" -lt 160 ] || fail "KV cache '$kv' MiB not sized to the budget: $out"
grep -q "^runner: generated 32 tokens" <<<"$out" || fail "the runner did not generate: $out"
done_parts+=(virtualize)

# 4. GPU through the CUDA test doubles
if grep -q -a -F cuGetProcAddress "$MF_LIB" && [ -f "$MF_TLIB/fake_cuda.so" ] && [ -f "$MF_TLIB/fake_cudart.so" ]; then
    mkdir -p fakegpu
    ln -sf "$MF_TLIB/fake_cuda.so" fakegpu/libcuda.so.1
    ln -sf "$MF_TLIB/fake_cudart.so" fakegpu/libcudart.so.12
    out=$(LD_LIBRARY_PATH=$PWD/fakegpu FAKE_CUDA_MEM=2G "$MF_BIN" run -l 256M -g 160M -- "$R" -m small.gguf 2>&1); rc=$?
    expect_eq "$rc" 0 "runner exit on the GPU double: $out"
    grep -q "cudaMemGetInfo free 160.0 MiB of 160.0 MiB" <<<"$out" || fail "the runner did not see the GPU budget: $out"
    grep -q "KV cache 48.0 MiB on the GPU" <<<"$out" || fail "GPU plan not sized to the budget: $out"
    out=$(LD_LIBRARY_PATH=$PWD/fakegpu FAKE_CUDA_MEM=2G "$MF_BIN" run -l 256M -g 64M -- "$R" -m small.gguf 2>&1); rc=$?
    expect_eq "$rc" 0 "runner exit on the GPU double with 64 MiB: $out"
    grep -q "[0-9]/16 layers on the GPU" <<<"$out" || fail "with 64 MiB all layers went to the GPU: $out"
    done_parts+=(gpu)
else
    skipped+=("gpu (no CUDA hooks or test doubles in this build)")
fi

# 5. group admission
if grep -q -a -F "admission refused" "$MF_LIB"; then
    export MEMFENCE_GROUP=e2e-ollama MEMFENCE_GROUP_LIMIT=384M MEMFENCE_RESERVE=240M MEMFENCE_VIRTUALIZE=on
    "$MF_BIN" run -l 256M -i runner-a -- "$R" -C -m small.gguf -H 5 >a.log 2>&1 &
    a=$!
    for _ in $(seq 100); do grep -q holding a.log && break; sleep 0.1; done
    grep -q holding a.log || fail "runner-a did not start: $(cat a.log)"
    out=$("$MF_BIN" run -l 256M -i runner-b -- "$R" -C -m small.gguf 2>&1); rc=$?
    expect_eq "$rc" 2 "memfence run of runner-b (admission)"
    grep -q "admission refused: group e2e-ollama cannot reserve 240.0 MiB for instance runner-b" <<<"$out" ||
        fail "no admission report: $out"
    grep -q "^runner:" <<<"$out" && fail "runner-b was started: $out"
    wait $a || fail "runner-a failed: $(cat a.log)"
    unset MEMFENCE_GROUP MEMFENCE_GROUP_LIMIT MEMFENCE_RESERVE MEMFENCE_VIRTUALIZE
    done_parts+=(group)
else
    skipped+=("group (no ledger in this build)")
fi
pass "parts: ${done_parts[*]}${skipped:+; skipped: ${skipped[*]}}"
