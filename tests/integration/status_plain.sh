# status_plain.sh — `memfence status` into a pipe: plain snapshots one after another even with
# --watch (no terminal escapes); allocation refusals (instance rows, REFUSED) and the group's
# lease refusals (total rows, LEASES REFUSED) in separate columns.
. "$(dirname "$0")/lib.sh"
W=$MF_PROGS/ledger_worker
[ -x "$W" ] || skip "build/tests/progs/ledger_worker missing (make test-bins)"
export MEMFENCE_LEDGER_DIR=$MF_TMP MEMFENCE_GROUP=plain MEMFENCE_GROUP_LIMIT=64M MEMFENCE_CONFIG=none
coproc H { fenced MEMFENCE_INSTANCE=holder MEMFENCE_LIMIT=1G -- "$W" cmd 2>"$MF_TMP/h.err"; }
ask() { echo "$1" >&"${H[1]}"; local a; read -r -t 20 a <&"${H[0]}" || a=timeout; echo "$a"; }
expect_eq "$(ask "alloc 40")" ok "holder takes 40 MiB"
expect_eq "$(ask "alloc 40")" refused "holder asks 40 MiB more than the group has"

# the sampler publishes the counts every interval (100 ms): wait for the refusal to show
for _ in $(seq 100); do
    "$MF_BIN" status --json --group plain |
        python3 -c 'import json,sys; sys.exit(json.load(sys.stdin)["instances"][0]["refusals"] < 1)' && break
    sleep 0.1
done
table=$("$MF_BIN" status --group plain)
echo "$table"
header=$(echo "$table" | head -1)
echo "$header" | grep -q "REFUSED *LEASES REFUSED" || fail "no separate REFUSED and LEASES REFUSED columns"
# the column a header word starts at, and the numbers of the rows below it
col() { echo "$header" | awk -v w="$1" '{ print index($0, w) }'; }
inst=$(echo "$table" | grep " holder ")
tot=$(echo "$table" | grep "^total ")
[ -n "$inst" ] && [ -n "$tot" ] || fail "missing rows"
# the values from the JSON; the cells under each header word must hold them
json=$("$MF_BIN" status --json --group plain)
inst_ref=$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["instances"][0]["refusals"])')
lease_ref=$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["groups"][0]["refusals"])')
[ "$inst_ref" -ge 1 ] && [ "$lease_ref" -ge 1 ] || fail "expected refusals: instance $inst_ref, group $lease_ref"
r=$(col REFUSED); l=$(col "LEASES REFUSED")
cell() { echo "$1" | cut -c"$2"-"$3" | tr -d ' '; }
expect_eq "$(cell "$inst" $((r - 2)) $((r + 6)))" "$inst_ref" "instance row, REFUSED"
expect_eq "$(cell "$inst" $((l)) $((l + 13)))" "-" "instance row, LEASES REFUSED"
expect_eq "$(cell "$tot" $((r - 2)) $((r + 6)))" "-" "total row, REFUSED"
expect_eq "$(cell "$tot" $((l)) $((l + 13)))" "$lease_ref" "total row, LEASES REFUSED"

timeout -s INT 2.6 "$MF_BIN" status --watch --group plain > "$MF_TMP/watch.out"
cat "$MF_TMP/watch.out"
grep -q $'\033' "$MF_TMP/watch.out" && fail "status --watch into a file wrote terminal escapes"
n=$(grep -c '^# memfence status at ' "$MF_TMP/watch.out")
[ "$n" -ge 2 ] || fail "status --watch into a file: $n snapshots in 2.6 s"
expect_eq "$(grep -c '^PID ' "$MF_TMP/watch.out")" "$n" "one header per snapshot"
echo quit >&"${H[1]}"
pass "plain snapshots into a pipe; allocation and lease refusals in their own columns"
