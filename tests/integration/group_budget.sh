#!/bin/bash
# Two real processes in one group whose budget (64 MiB) is smaller than the sum of their own
# budgets (48 MiB each): the second one's allocation is refused while the first holds 40 MiB,
# with the group named in the line, and succeeds once the first has freed.
. "$(dirname "$0")/lib.sh"
W=$MF_PROGS/ledger_worker
[ -x "$W" ] || skip "build/tests/progs/ledger_worker missing (make test-bins)"
export MEMFENCE_LEDGER_DIR=$MF_TMP MEMFENCE_GROUP=models MEMFENCE_GROUP_LIMIT=64M MEMFENCE_LIMIT=48M
# the strict budget (no headroom): this test is about the group's arithmetic
export MEMFENCE_HEADROOM=0 MEMFENCE_OVERDRAFT=0

coproc A { fenced MEMFENCE_INSTANCE=a -- "$W" cmd 2>"$MF_TMP/a.err"; }
coproc B { fenced MEMFENCE_INSTANCE=b -- "$W" cmd 2>"$MF_TMP/b.err"; }
ask() {     # fd-in fd-out command -> answer
    echo "$3" >&"$1"
    local ans
    read -r -t 20 ans <&"$2" || ans=timeout
    echo "$ans"
}
expect_eq "$(ask "${A[1]}" "${A[0]}" "alloc 40")" ok "a: 40 MiB of a 64 MiB group"
expect_eq "$(ask "${B[1]}" "${B[0]}" "alloc 40")" refused "b: 40 MiB more with the group at 40"
expect_eq "$(ask "${B[1]}" "${B[0]}" "alloc 16")" ok "b: 16 MiB still fits the group"
expect_eq "$(ask "${B[1]}" "${B[0]}" "free")" ok "b: free"
expect_eq "$(ask "${A[1]}" "${A[0]}" "free")" ok "a: free"
expect_eq "$(ask "${B[1]}" "${B[0]}" "alloc 40")" ok "b: 40 MiB once a has freed"
expect_eq "$(ask "${A[1]}" "${A[0]}" "alloc 40")" refused "a: now a is refused"

json=$("$MF_BIN" status --json --group models) || fail "status failed"
python3 - "$json" <<'PY' || fail "status --json: $json"
import json, sys
d = json.loads(sys.argv[1])
g = [x for x in d["groups"] if x["group"] == "models"][0]
assert g["members"] == 2, g
assert g["host_limit"] == 64 << 20, g
assert 40 << 20 <= g["host_used"] <= 64 << 20, g
assert g["refusals"] >= 2, g
assert sorted(i["instance"] for i in d["instances"]) == ["a", "b"], d
PY
ask "${A[1]}" "${A[0]}" exit >/dev/null; ask "${B[1]}" "${B[0]}" exit >/dev/null
wait
grep -q "group models: .* of 64.0 MiB held by 2 instances" "$MF_TMP/b.err" ||
    fail "b's refusal line does not name the group: $(cat "$MF_TMP/b.err")"
json=$("$MF_BIN" status --json --group models)
python3 -c 'import json,sys; g=json.loads(sys.argv[1])["groups"][0]; assert g["members"]==0 and g["host_used"]==0, g' "$json" ||
    fail "after both exited the group is not empty: $json"
pass "group budget shared and refused with the group named"
