#!/bin/bash
# An ollama-like tree: a server that fork+execs 3 runners, all inheriting LD_PRELOAD and the
# group.  Each runner asks for 20 MiB in a 50 MiB group: the group, not each process, decides
# (together they get at most 50 MiB, and at least one is refused, naming the group).  `memfence status` lists the 4 instances of the tree and
# the group total; --json parses; --group filters.  (The runners allocate at the same time, so
# how the 50 MiB split between them varies; what they got together may not pass 50 MiB.)  A runner killed with SIGKILL is reclaimed.
. "$(dirname "$0")/lib.sh"
W=$MF_PROGS/ledger_worker
[ -x "$W" ] || skip "build/tests/progs/ledger_worker missing (make test-bins)"
export MEMFENCE_LEDGER_DIR=$MF_TMP MEMFENCE_GROUP=ollama MEMFENCE_GROUP_LIMIT=50M

# a simple command, so $! is the server itself (its runners die with it: PDEATHSIG)
env MEMFENCE_INSTANCE=serve LD_PRELOAD="$MF_LIB" "$W" tree 3 20 >"$MF_TMP/out" 2>"$MF_TMP/err" &
server=$!
trap 'kill -9 $server' EXIT
for _ in $(seq 100); do
    [ "$(grep -c '^ready [0-9]' "$MF_TMP/out")" -ge 3 ] && break
    sleep 0.1
done
[ "$(grep -c '^ready [0-9]' "$MF_TMP/out")" -eq 3 ] || fail "runners not ready: $(cat "$MF_TMP/out" "$MF_TMP/err")"
got=$(awk '/^ready [0-9]/ { s += $2 } END { print s }' "$MF_TMP/out")
[ "$got" -le 50 ] && [ "$got" -ge 40 ] || fail "the runners got $got MiB in a 50 MiB group"
grep -q "refused malloc.* in runner-.*group ollama: " "$MF_TMP/err" || fail "no group refusal: $(cat "$MF_TMP/err")"

table=$("$MF_BIN" status) || fail "status failed"
echo "$table"
for name in serve runner-0 runner-1 runner-2; do
    grep -q "^[0-9]* *$name *ollama" <<<"$table" || fail "status does not list $name"
done
grep -q "^total *4 instances *ollama .*/50.0 MiB" <<<"$table" || fail "no total row for the group"

json=$("$MF_BIN" status --json --group ollama) || fail "status --json failed"
python3 - "$json" "$server" <<'PY' || fail "status --json: $json"
import json, sys
d = json.loads(sys.argv[1]); server = int(sys.argv[2])
inst = {i["instance"]: i for i in d["instances"]}
assert inst["serve"]["pid"] == server, (inst["serve"], server)
assert set(inst) == {"serve", "runner-0", "runner-1", "runner-2"}, inst.keys()
for n in ("runner-0", "runner-1", "runner-2"):
    assert inst[n]["ppid"] == server, (n, inst[n]["ppid"], server)
    assert inst[n]["group"] == "ollama"
g = d["groups"][0]
assert g["members"] == 4 and g["host_limit"] == 50 << 20 and g["host_used"] <= 50 << 20, g
assert g["host_used"] == sum(i["group_charged"] for i in d["instances"]), g
PY
[ "$("$MF_BIN" status --json --group nosuch)" = '{"instances":[],"groups":[]}' ] ||
    fail "--group nosuch is not empty"

# SIGKILL one runner: the next reader reclaims its share
victim=$(python3 -c 'import json,sys; print([i["pid"] for i in json.loads(sys.argv[1])["instances"] if i["instance"]=="runner-0"][0])' "$json")
kill -9 "$victim"
sleep 0.2
json=$("$MF_BIN" status --json --group ollama)
python3 - "$json" <<'PY' || fail "after SIGKILL: $json"
import json, sys
d = json.loads(sys.argv[1]); g = d["groups"][0]
assert g["members"] == 3 and g["reclaimed"] >= 1, g
assert g["host_used"] == sum(i["group_charged"] for i in d["instances"]), g
PY
pass "the tree shares one group; status lists it"
