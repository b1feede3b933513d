#!/bin/bash
# The model-runner story on the real engine: llama.cpp (node-llama-cpp's prebuilt CPU build,
# installed by scripts/setup) with random-weight GGUF models written by scripts/mkgguf, under
# memfence's DEFAULT settings (no configuration file, only a budget):
#   - the tiny model (128 MiB KV cache at context 32768) generates under 288M the same tokens as
#     without memfence;
#   - under 256M, 224M and 192M each run generates or ends with a clean error from
#     node-llama-cpp or llama.cpp (an exception and a normal exit), never an abort or a signal;
#   - a KV cache that cannot fit is refused cleanly (llama.cpp: "failed to allocate buffer for
#     kv cache"), and the refusal line names llama.cpp's allocation site;
#   - the automatic context size follows the budget (smaller than without memfence);
#   - `memfence report PID` names llama.cpp's allocation sites (profile = on);
#   - the 1.3 GiB model runs under 1600M, and under 1G its mapping is refused with the file
#     named and node-llama-cpp throws a clean error.
# Skipped (exit 77) only when node-llama-cpp is not installed.  MF_LLAMA_RUNS sets the runs at
# 288M (3 by default).
. "$(dirname "$0")/lib.sh"
G=$MF_ROOT/examples/llama/generate.mjs
[ -f "$MF_ROOT/examples/llama/node_modules/node-llama-cpp/package.json" ] ||
    skip "node-llama-cpp is not installed (scripts/setup installs it from npm)"
command -v node >/dev/null || skip "no node"
chk=$(node "$G" --check 2>&1) || skip "node-llama-cpp cannot load its prebuilt CPU build: $chk"
echo "$chk"
models=$MF_BUILD/llama-models
mkdir -p "$models" || fail "cannot create $models"
"$MF_ROOT/scripts/mkgguf" --keep --preset tiny "$models/tiny.gguf" || fail "mkgguf tiny"
"$MF_ROOT/scripts/mkgguf" --keep --preset big "$models/big.gguf" || fail "mkgguf big"
cd "$MF_TMP" || fail "no scratch directory"
export MEMFENCE_CONFIG=none MEMFENCE_LEDGER_DIR=$MF_TMP
unset MEMFENCE_LIMIT MEMFENCE_VIRTUALIZE MEMFENCE_PROFILE
runs=${MF_LLAMA_RUNS:-3}
n=0

# run OUTFILE ARGS...: generate.mjs under memfence (a budget given as -l in ARGS) or bare
run() {
    local out=$1; shift
    n=$((n + 1))
    if [ "$1" = bare ]; then shift; nice node "$G" "$@" >"$out" 2>&1
    else local l=$1; shift; nice "$MF_BIN" run -l "$l" -- node "$G" "$@" >"$out" 2>&1
    fi
}
tokens() { sed -n 's/^tokens: //p' "$1"; }
ctxsize() { sed -n 's/^context: \([0-9]*\) .*/\1/p' "$1"; }
# outcome FILE RC: generated | clean | crash (and fails the test on a crash)
outcome() {
    local f=$1 rc=$2
    if [ "$rc" = 0 ] && grep -q '^generated [0-9]* tokens' "$f"; then echo generated
    elif [ "$rc" -ge 11 ] && [ "$rc" -le 13 ] && grep -q '^error (' "$f" &&
         ! grep -q 'GGML_ASSERT\|Aborted\|Segmentation' "$f"; then echo clean
    else echo "crash (exit $rc)"; sed 's/^/    | /' "$f" | cut -c1-400 | tail -n 20 >&2; fi
}

# 0. without memfence: the reference tokens and the automatic context size
run ref.txt bare "$models/tiny.gguf" --context 32768 --tokens 10; rc=$?
expect_eq "$rc" 0 "tiny model without memfence: $(cat ref.txt)"
ref=$(tokens ref.txt)
[ -n "$ref" ] || fail "no tokens without memfence: $(cat ref.txt)"
run refauto.txt bare "$models/tiny.gguf" --tokens 2 ||
    fail "auto context without memfence: $(cat refauto.txt)"
refctx=$(ctxsize refauto.txt)
echo "without memfence: tokens $ref; automatic context $refctx"

# 1. a model that fits: 288M, the same tokens every run
for i in $(seq "$runs"); do
    run fit.txt 288M "$models/tiny.gguf" --context 32768 --tokens 10; rc=$?
    o=$(outcome fit.txt $rc)
    [ "$o" = generated ] || fail "288M run $i: $o: $(cut -c1-300 fit.txt)"
    expect_eq "$(tokens fit.txt)" "$ref" "tokens under 288M (run $i)"
done
echo "288M: $runs of $runs generated the same tokens"

# 2. tighter budgets: generated or a clean error, never a crash
for l in 256M 224M 192M; do
    run tight.txt $l "$models/tiny.gguf" --context 32768 --tokens 10; rc=$?
    o=$(outcome tight.txt $rc)
    case $o in
        generated) expect_eq "$(tokens tight.txt)" "$ref" "tokens under $l" ;;
        clean) ;;
        *) fail "$l: $o" ;;
    esac
    echo "$l: $o$(grep -m1 '^error (' tight.txt | sed 's/^/: /')"
done

# 3. a KV cache that cannot fit, node-llama-cpp's own estimate skipped: llama.cpp asks, memfence
#    refuses the 128 MiB buffer, llama.cpp reports it and node-llama-cpp throws
run kv.txt 128M "$models/tiny.gguf" --context 32768 --tokens 10 --checks off; rc=$?
o=$(outcome kv.txt $rc)
[ "$o" = clean ] || fail "128M, checks off: $o: $(cut -c1-300 kv.txt)"
grep -q 'failed to allocate buffer for kv cache' kv.txt ||
    fail "no KV cache failure from llama.cpp: $(cut -c1-300 kv.txt)"
grep -q 'refused [a-z_]*(128.0 MiB) in node .*llama_kv_cache' kv.txt ||
    fail "the refusal line does not name llama_kv_cache: $(grep refused kv.txt | cut -c1-400)"
echo "128M, checks off: the KV cache refused cleanly, the line names llama_kv_cache"

# 4. the automatic context size follows the budget
run auto.txt 192M "$models/tiny.gguf" --tokens 10; rc=$?
o=$(outcome auto.txt $rc)
[ "$o" = generated ] || fail "192M, auto context: $o: $(cut -c1-300 auto.txt)"
actx=$(ctxsize auto.txt)
[ -n "$actx" ] && [ "$actx" -lt "$refctx" ] ||
    fail "automatic context under 192M is '$actx', not smaller than $refctx without memfence"
echo "auto context: $refctx without memfence, $actx under 192M"

# 5. memfence report names llama.cpp's allocation sites
MEMFENCE_PROFILE=on nice "$MF_BIN" run -l 288M -- node "$G" "$models/tiny.gguf" --context 32768 \
    --tokens 4 --hold 20 >prof.txt 2>&1 &
pid=$!
for _ in $(seq 150); do
    grep -q '^holding' prof.txt && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.2
done
grep -q '^holding' prof.txt ||
    { kill $pid 2>/dev/null; fail "profiled run did not generate: $(cut -c1-300 prof.txt)"; }
"$MF_BIN" report $pid --top 5 >report.txt 2>&1; rrc=$?
kill $pid 2>/dev/null; wait $pid 2>/dev/null
expect_eq "$rrc" 0 "memfence report: $(head -5 report.txt)"
grep -q 'llama_kv_cache' report.txt ||
    fail "memfence report does not name llama_kv_cache: $(head -40 report.txt)"
grep -q 'ggml_backend_sched_new\|llama_context::graph_reserve' report.txt ||
    fail "memfence report does not name llama.cpp's compute buffers: $(head -40 report.txt)"
echo "memfence report: $(grep -m1 'live in' report.txt | sed 's/^ *//') at llama_kv_cache"

# 6. the 1.3 GiB model: runs under 1600M; under 1G refused at its mapping, a clean error
run big.txt 1600M "$models/big.gguf" --tokens 2; rc=$?
o=$(outcome big.txt $rc)
[ "$o" = generated ] || fail "1.3 GiB model under 1600M: $o: $(cut -c1-300 big.txt)"
echo "1.3 GiB model under 1600M: generated, context $(ctxsize big.txt)"
run big1g.txt 1G "$models/big.gguf" --tokens 2; rc=$?
o=$(outcome big1g.txt $rc)
[ "$o" = clean ] || fail "1.3 GiB model under 1G: $o: $(cut -c1-300 big1g.txt)"
grep -q "^error (load): " big1g.txt || fail "node-llama-cpp did not fail the load: $(cat big1g.txt)"
grep -q "mmap of $models/big.gguf refused: it needs 1.3 GiB" big1g.txt ||
    fail "no refusal line naming the model: $(cut -c1-300 big1g.txt)"
echo "1.3 GiB model under 1G: $(grep -m1 'refused: it needs' big1g.txt | cut -d' ' -f2- | cut -c1-90)"
pass "llama.cpp under memfence's defaults: $n runs"
