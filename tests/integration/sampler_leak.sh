#!/bin/bash
# The leak trend on a real process that leaks steadily: one "possible leak" line, with a rate
# within 20 % of the true one and a projected time to the limit.
. "$(dirname "$0")/lib.sh"
prog=$MF_PROGS/sampler_leak
[ -x "$prog" ] || fail "missing $prog (make test-bins)"
out=$(fenced MEMFENCE_LIMIT=1G MEMFENCE_LEAK_WINDOW=4s -- "$prog" 4 7 2>"$MF_TMP/err")
echo "$out"; cat "$MF_TMP/err"
true_rate=$(echo "$out" | sed -n 's/^true rate \([0-9.]*\) MiB\/h.*/\1/p')
[ -n "$true_rate" ] || fail "the program did not finish"
lines=$(grep -c 'possible leak: usage grows' "$MF_TMP/err")
[ "$lines" -ge 1 ] || fail "no leak line"
# 7 s with a 4 s window: at most twice (once per window)
[ "$lines" -le 2 ] || fail "leak line repeated $lines times within two windows"
rate=$(grep -m1 'possible leak: usage grows' "$MF_TMP/err" | sed 's/.*grows \([0-9.]*\) MiB\/h.*/\1/')
awk -v r="$rate" -v t="$true_rate" 'BEGIN { d = (r - t) / t; if (d < 0) d = -d; exit !(d <= 0.20) }' ||
    fail "reported $rate MiB/h, true $true_rate MiB/h (more than 20 % off)"
grep -q 'possible leak: usage grows .*the limit 1.0 GiB is reached in about [0-9]' "$MF_TMP/err" ||
    fail "no projected time to the limit"
# no false alarm from a program that does not leak
fenced MEMFENCE_LIMIT=1G MEMFENCE_LEAK_WINDOW=2s -- "$MF_PROGS/sampler_leak" 0 3 2>"$MF_TMP/err2" >/dev/null
! grep -q 'possible leak' "$MF_TMP/err2" || fail "leak line for a program that does not leak"
# with profiling on, the line names the growing allocation site (the leaking function)
fenced MEMFENCE_LIMIT=1G MEMFENCE_LEAK_WINDOW=4s MEMFENCE_PROFILE=on MEMFENCE_PROFILE_RATE=64K \
    -- "$prog" 4 6 2>"$MF_TMP/err3" >/dev/null
grep -q 'possible leak: usage grows .*; growing sites: main+0x[0-9a-f]* (sampler_leak) +[0-9.]* MiB/s' \
    "$MF_TMP/err3" || fail "the profiled leak line does not name the site: $(cat "$MF_TMP/err3")"
pass "reported $rate MiB/h for a true $true_rate MiB/h"
