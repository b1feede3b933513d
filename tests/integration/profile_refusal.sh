#!/bin/bash
# A refused allocation's log line carries its stack (log_backtrace = on, the default) and names
# the function that asked; with log_backtrace = off it does not.  The refusal site shows up in
# `memfence report` too (here via profile_at_exit).
. "$(dirname "$0")/lib.sh"
out=$(fenced MEMFENCE_LIMIT=64M MEMFENCE_PROFILE=on MEMFENCE_PROFILE_AT_EXIT=$MF_TMP/exit.prof \
      -- "$MF_PROGS/profile_refuse" 2>&1)
echo "$out"
echo "$out" | grep -q '^refused$' || fail "the allocation was not refused"
line=$(echo "$out" | grep 'refused malloc')
[ -n "$line" ] || fail "no refusal line"
echo "$line" | grep -q 'ask_too_much' || fail "the refusal line does not name ask_too_much"
echo "$line" | grep -q 'main' || fail "the refusal line does not show main"
echo "$line" | grep -q 'mf_' && fail "memfence's own frames leak into the stack"
"$MF_BIN" report "$MF_TMP/exit.prof" > "$MF_TMP/r.txt" || fail "cannot render the report"
grep -A2 '^refusal sites' "$MF_TMP/r.txt" | grep -q ask_too_much || fail "no refusal site in the report"

out=$(fenced MEMFENCE_LIMIT=64M MEMFENCE_LOG_BACKTRACE=off -- "$MF_PROGS/profile_refuse" 2>&1)
echo "$out" | grep 'refused malloc' | grep -q ask_too_much && fail "log_backtrace = off still prints the stack"
# without profiling, the line still names the caller (unwinding does not need the sampler)
out=$(fenced MEMFENCE_LIMIT=64M -- "$MF_PROGS/profile_refuse" 2>&1)
echo "$out" | grep 'refused malloc' | grep -q ask_too_much || fail "no stack without profile = on"
pass "refusal lines name the function that asked"
