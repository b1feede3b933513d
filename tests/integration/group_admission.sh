#!/bin/bash
# Admission: `reserve` asks the group for a guaranteed share at start.  With 40 MiB of a 64 MiB
# group held, a 32 MiB reservation does not fit: under `memfence run` the command is not
# started (exit 2, a pre-flight report: needed, available, safety margin, what to change);
# under a bare LD_PRELOAD it runs fenced by its own budget and logs why.  16 MiB fits, and is
# then guaranteed: the holder cannot take it any more.
. "$(dirname "$0")/lib.sh"
W=$MF_PROGS/ledger_worker
[ -x "$W" ] || skip "build/tests/progs/ledger_worker missing (make test-bins)"
export MEMFENCE_LEDGER_DIR=$MF_TMP MEMFENCE_GROUP=adm MEMFENCE_GROUP_LIMIT=64M

coproc H { fenced MEMFENCE_INSTANCE=holder -- "$W" cmd 2>"$MF_TMP/h.err"; }
ask() { echo "$1" >&"${H[1]}"; local a; read -r -t 20 a <&"${H[0]}" || a=timeout; echo "$a"; }
expect_eq "$(ask "alloc 40")" ok "holder takes 40 MiB"

out=$(MEMFENCE_RESERVE=32M "$MF_BIN" run -i big -- "$W" hold 1 2>&1)
rc=$?
expect_eq "$rc" 2 "memfence run with a reservation that does not fit"
for w in "admission refused: group adm cannot reserve 32.0 MiB for instance big" \
         "needed: *32.0 MiB" "available: *2[34]\.[0-9] MiB" "holder\[" "safety margin: 15%" \
         "to change:" "nothing started"; do
    grep -q "$w" <<<"$out" || fail "pre-flight report lacks '$w': $out"
done
grep -q "^ready" <<<"$out" && fail "the command was started: $out"

# bare LD_PRELOAD: runs on its own budget, says why
env LD_PRELOAD="$MF_LIB" MEMFENCE_RESERVE=32M MEMFENCE_INSTANCE=bare "$W" hold 1 >"$MF_TMP/bare.out" 2>"$MF_TMP/bare.err" &
bare=$!
for _ in $(seq 100); do grep -q ready "$MF_TMP/bare.out" && break; sleep 0.1; done
grep -q "^ready 1" "$MF_TMP/bare.out" || fail "bare instance did not run: $(cat "$MF_TMP/bare.err")"
grep -q "group adm: admission refused: reserve 32.0 MiB > available 2[34].[0-9] MiB .*runs fenced by its own budget only" "$MF_TMP/bare.err" ||
    fail "bare instance did not say why: $(cat "$MF_TMP/bare.err")"
"$MF_BIN" status | grep -q "^$bare *bare *adm!" || fail "status does not flag the refused instance: $("$MF_BIN" status)"
kill -9 $bare

# 16 MiB fits: admitted, and guaranteed against the holder
env LD_PRELOAD="$MF_LIB" MEMFENCE_RESERVE=16M MEMFENCE_INSTANCE=small "$W" hold 0 >"$MF_TMP/small.out" 2>"$MF_TMP/small.err" &
small=$!
for _ in $(seq 100); do grep -q ready "$MF_TMP/small.out" && break; sleep 0.1; done
grep -q "^ready 0" "$MF_TMP/small.out" || fail "small instance did not run: $(cat "$MF_TMP/small.err")"
[ -s "$MF_TMP/small.err" ] && fail "small instance complained: $(cat "$MF_TMP/small.err")"
expect_eq "$(ask "alloc 8")" refused "holder asking for the reserved 16 MiB"
kill -9 $small
wait $small 2>/dev/null
sleep 0.1
"$MF_BIN" status >/dev/null    # reclaims the dead instance's reservation
expect_eq "$(ask "alloc 8")" ok "holder once the reservation is gone"
ask exit >/dev/null
pass "admission by reservation"
