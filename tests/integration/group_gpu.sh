#!/bin/bash
# GPU pools charge the group too (CUDA test doubles): two processes with a 512 MiB budget each
# on GPU 0 share a 384 MiB group budget on it; the second one's cudaMalloc is refused while
# the first holds 256 MiB (out of memory, the group named), and succeeds after the first frees.
. "$(dirname "$0")/lib.sh"
. "$MF_ROOT/tests/lib/fake_gpu.sh"
fake_gpu_setup
G=$MF_PROGS/ledger_gpu
[ -x "$G" ] || skip "build/tests/progs/ledger_gpu missing (make test-bins)"
export MEMFENCE_LEDGER_DIR=$MF_TMP MEMFENCE_GROUP=gpus MEMFENCE_GPU_LIMIT=512M MEMFENCE_GROUP_GPU_LIMIT=384M

coproc A { fenced MEMFENCE_INSTANCE=a -- "$G" 2>"$MF_TMP/a.err"; }
coproc B { fenced MEMFENCE_INSTANCE=b -- "$G" 2>"$MF_TMP/b.err"; }
ask() { echo "$3" >&"$1"; local a; read -r -t 20 a <&"$2" || a=timeout; echo "$a"; }
expect_eq "$(ask "${A[1]}" "${A[0]}" "malloc 256")" ok "a: 256 MiB of a 384 MiB group"
expect_eq "$(ask "${B[1]}" "${B[0]}" "malloc 256")" refused "b: 256 MiB more"
expect_eq "$(ask "${B[1]}" "${B[0]}" "malloc 128")" ok "b: 128 MiB fits the group"
json=$("$MF_BIN" status --json --group gpus)
python3 - "$json" <<'PY' || fail "status --json: $json"
import json, sys
g = json.loads(sys.argv[1])["groups"][0]
gpu = [x for x in g["gpu"] if x["device"] == 0][0]
assert gpu["used"] == 384 << 20 and gpu["limit"] == 384 << 20, g
PY
expect_eq "$(ask "${A[1]}" "${A[0]}" "free")" ok "a: free"
expect_eq "$(ask "${B[1]}" "${B[0]}" "malloc 256")" ok "b: 256 MiB once a has freed"
ask "${A[1]}" "${A[0]}" exit >/dev/null; ask "${B[1]}" "${B[0]}" exit >/dev/null
wait
grep -q "refused cuMemAlloc(256.0 MiB) in b .*group gpus: 256.0 MiB of 384.0 MiB held by 2 instances" "$MF_TMP/b.err" ||
    fail "b's refusal does not name the group: $(cat "$MF_TMP/b.err")"
pass "GPU pools share the group budget"
