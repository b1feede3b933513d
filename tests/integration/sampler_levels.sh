#!/bin/bash
# The sampler's pressure levels on a real process with a small budget: each level is reached
# in turn, every transition is logged once with its numbers, and the hysteresis holds a level
# while usage stays within 5 points below its threshold.
. "$(dirname "$0")/lib.sh"
prog=$MF_PROGS/sampler_hold
[ -x "$prog" ] || fail "missing $prog (make test-bins)"
out=$(printf '%s\n' 'hold 50' level 'hold 65' level 'hold 80' level 'hold 92' level \
          'hold 87' level 'hold 80' level 'hold 71' level 'hold 69' level 'hold 30' level stats quit |
      fenced MEMFENCE_LIMIT=100M MEMFENCE_LEVEL_INPUTS=usage MEMFENCE_HIGH_ACTIONS=log \
             MEMFENCE_CRITICAL_ACTIONS=log -- "$prog" 2>"$MF_TMP/err")
echo "$out"; cat "$MF_TMP/err"
levels=$(echo "$out" | sed -n 's/^level //p' | tr '\n' ' ')
#               50 65 80 92 87(held) 80 71(held) 69 30
expect_eq "$levels" "0 1 2 3 3 2 2 1 0 " "levels"
# one line per transition, in order, with the numbers that caused it
trans=$(sed -n 's/.*level \([A-Z]*\) (was \([A-Z]*\)) by usage.*/\2>\1/p' "$MF_TMP/err" | tr '\n' ' ')
expect_eq "$trans" "LOW>MODERATE MODERATE>HIGH HIGH>CRITICAL CRITICAL>HIGH HIGH>MODERATE MODERATE>LOW " \
    "logged transitions"
grep -q 'level CRITICAL (was HIGH) by usage 9[0-9]\.[0-9]%: usage 9[0-9]\.[0-9] MiB of 100.0 MiB' "$MF_TMP/err" ||
    fail "the CRITICAL line does not carry its numbers"
# time per level is counted
st=$(echo "$out" | grep '^trims')
[[ "$st" == *"level 0"* ]] || fail "stats level: $st"
pass "levels LOW→CRITICAL→LOW with hysteresis, transitions logged"
