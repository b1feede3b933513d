#!/bin/bash
# A parent and its forked child share the group: the child gets its own slot (what it
# inherited stays the parent's, copy-on-write), its new allocations count against the group and
# can make the parent's refused; when it is SIGKILLed its share comes back.
. "$(dirname "$0")/lib.sh"
W=$MF_PROGS/ledger_worker
[ -x "$W" ] || skip "build/tests/progs/ledger_worker missing (make test-bins)"
export MEMFENCE_LEDGER_DIR=$MF_TMP MEMFENCE_GROUP=fam MEMFENCE_GROUP_LIMIT=48M
export MEMFENCE_HEADROOM=0 MEMFENCE_OVERDRAFT=0    # strict: the group's limit to the byte

coproc P { fenced MEMFENCE_INSTANCE=parent -- "$W" cmd 2>"$MF_TMP/p.err"; }
ask() { echo "$1" >&"${P[1]}"; local a; read -r -t 20 a <&"${P[0]}" || a=timeout; echo "$a"; }
expect_eq "$(ask "alloc 10")" ok "parent takes 10 MiB"
ans=$(ask "fork 30")
child=${ans#ok }
[ "$child" -gt 0 ] 2>/dev/null || fail "fork: $ans"
for _ in $(seq 50); do
    used=$("$MF_BIN" status --json --group fam | python3 -c 'import json,sys; print(json.load(sys.stdin)["groups"][0]["host_used"])')
    [ "$used" -ge $((40 << 20)) ] && break
    sleep 0.1
done
json=$("$MF_BIN" status --json --group fam)
python3 - "$json" "$child" <<'PY' || fail "status after fork: $json"
import json, sys
d = json.loads(sys.argv[1]); child = int(sys.argv[2])
inst = {i["pid"]: i for i in d["instances"]}
assert child in inst and inst[child]["forked"] and inst[child]["group"] == "fam", inst
parent = [i for i in d["instances"] if i["pid"] != child][0]
assert inst[child]["ppid"] == parent["pid"]
assert 30 << 20 <= inst[child]["group_charged"] < 32 << 20, inst[child]     # not the inherited 10
assert 10 << 20 <= parent["group_charged"] < 12 << 20, parent
assert d["groups"][0]["members"] == 2
PY
expect_eq "$(ask "alloc 10")" refused "parent while the child holds 30 of 48 MiB"
kill -9 "$child"
sleep 0.2
"$MF_BIN" status >/dev/null
expect_eq "$(ask "alloc 10")" ok "parent once the child is gone"
ask exit >/dev/null
pass "fork child shares the group"
