#!/bin/bash
# A group at scale (issue 20), at a size that keeps `make test` short: 300 short-lived members
# through a shell wrapper (bash running helpers in subshells, then exec: every member brings a
# few helper processes into the group) plus 40 long-lived ones holding 4 MiB each, 10 of them
# SIGKILLed mid-burst, `memfence status` polled all along.  Checks (bench/group_burst.sh): the
# group total and the members' own counts never pass the limit, no member escapes or is turned
# away, no member fails, at most a handful of group lines, after the storm the total is exactly
# the survivors' shares and status lists exactly them, and at the end no row and no group total.
# The full size (2,000 + 200) and the time against the same burst without memfence are in
# bench/b-55-group-burst.sh.
. "$(dirname "$0")/lib.sh"
[ -x "$MF_PROGS/ledger_worker" ] || skip "build/tests/progs/ledger_worker missing (make test-bins)"
out=$(SHORT=${SHORT:-300} LONG=${LONG:-40} KILLS=${KILLS:-10} HOLD=4 LIMIT=1G REPS=0 \
      bash "$MF_ROOT/bench/group_burst.sh" 2>&1)
rc=$?
echo "$out"
[ $rc -eq 77 ] && skip "$out"
[ $rc -eq 0 ] || fail "$(grep FAIL <<<"$out" | head -3)"
pass "burst: $(grep -E '^(max_total|limit|survivors_listed|group_lines) ' <<<"$out" | tr '\n' ' ')"
