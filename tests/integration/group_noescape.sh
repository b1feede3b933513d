#!/bin/bash
# No escape (issue 20): a process of a group that the group cannot count when it starts is not
# admitted: the group grants it nothing (its allocation is refused, naming the group), instead
# of letting it run on its own budget outside the group.  Here the group's lock is held by a
# stopped process (what a full ledger does is the same path: 16,384 live members cannot be
# made in a test).  Two joiners: one line for the group, not one per process; once the holder
# goes on, the next joiner is admitted.
. "$(dirname "$0")/lib.sh"
W=$MF_PROGS/ledger_worker
[ -x "$W" ] || skip "build/tests/progs/ledger_worker missing (make test-bins)"
command -v gcc >/dev/null || skip "no gcc (the lock's offset in the header is compiled here)"
export MEMFENCE_LEDGER_DIR=$MF_TMP MEMFENCE_GROUP=gate MEMFENCE_GROUP_LIMIT=256M
env LD_PRELOAD="$MF_LIB" "$W" brief 1 || fail "a first member could not run"
f=$(ls "$MF_TMP"/memfence-v*-g-gate.ledger) || fail "no ledger file"
cat >"$MF_TMP/off.c" <<'C'
#include <stddef.h>
#include <stdio.h>
#include "ledger/ledger.h"
int main(void) { printf("%zu\n", offsetof(mf_ledger_hdr_t, u)); return 0; }
C
gcc -D_GNU_SOURCE -I"$MF_ROOT/src" -I"$MF_ROOT/include" -o "$MF_TMP/off" "$MF_TMP/off.c" ||
    skip "cannot compile the offset helper"
off=$("$MF_TMP/off")
# the holder: locks the group's mutex, says so, stops itself; unlocks when continued
python3 - "$f" "$off" >"$MF_TMP/holder.out" <<'PY' &
import ctypes, mmap, os, signal, sys
libc = ctypes.CDLL(None)
fd = os.open(sys.argv[1], os.O_RDWR)
m = mmap.mmap(fd, 0)
addr = ctypes.addressof(ctypes.c_char.from_buffer(m)) + int(sys.argv[2])
assert libc.pthread_mutex_lock(ctypes.c_void_p(addr)) in (0, 130)
print("locked", flush=True)
os.kill(os.getpid(), signal.SIGSTOP)
libc.pthread_mutex_unlock(ctypes.c_void_p(addr))
PY
holder=$!
trap 'kill -CONT $holder 2>/dev/null; kill $holder 2>/dev/null' EXIT
for i in $(seq 100); do grep -q locked "$MF_TMP/holder.out" 2>/dev/null && break; sleep 0.05; done
grep -q locked "$MF_TMP/holder.out" || fail "the holder did not take the lock"
for i in $(seq 100); do [ "$(ps -o stat= -p $holder)" = T ] && break; sleep 0.05; done

env LD_PRELOAD="$MF_LIB" "$W" brief 1 2>"$MF_TMP/err1"
rc1=$?
env LD_PRELOAD="$MF_LIB" "$W" brief 1 2>"$MF_TMP/err2"
rc2=$?
cat "$MF_TMP/err1" "$MF_TMP/err2"
[ $rc1 -ne 0 ] || fail "a member the group could not count ran anyway (on its own budget?)"
[ $rc2 -ne 0 ] || fail "the second such member ran anyway"
grep -q "fences alone" "$MF_TMP/err1" "$MF_TMP/err2" && fail "a member fenced alone"
expect_eq "$(grep -c 'is not admitted' "$MF_TMP/err1" "$MF_TMP/err2" | awk -F: '{ s += $2 } END { print s }')" 1 \
    "group lines for two turned-away members"
grep -q "group gate: this process was not admitted" "$MF_TMP/err1" || fail "the refusal does not name the group"
kill -CONT $holder
wait $holder
env LD_PRELOAD="$MF_LIB" "$W" brief 1 2>"$MF_TMP/err3" || fail "once the lock is free a member is still refused: $(cat "$MF_TMP/err3")"
turned=$("$MF_BIN" status --json --group gate | python3 -c 'import json,sys; print(json.load(sys.stdin)["groups"][0]["turned_away"])')
expect_eq "$turned" 2 "members turned away (status --json)"
pass "not admitted while the group cannot count it (one line for two), admitted again after"
