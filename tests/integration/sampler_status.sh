#!/bin/bash
# The sampler's numbers reach the outside: `memfence status` shows the live level of a process
# the sampler drove to HIGH, and metrics_file is rewritten with it.
. "$(dirname "$0")/lib.sh"
prog=$MF_PROGS/sampler_hold
[ -x "$prog" ] || fail "missing $prog (make test-bins)"
[ -x "$MF_BIN" ] || fail "missing $MF_BIN"
prom=$MF_TMP/memfence.prom
export MEMFENCE_LEDGER_DIR=$MF_TMP
{ printf '%s\n' 'hold 80' level 'wait 1500'; sleep 3; echo quit; } |
    fenced MEMFENCE_LIMIT=100M MEMFENCE_LEVEL_INPUTS=usage MEMFENCE_METRICS_FILE="$prom" \
        MEMFENCE_HIGH_ACTIONS=none -- "$prog" >"$MF_TMP/out" 2>"$MF_TMP/err" &
pid=$!
for _ in $(seq 50); do grep -q waited "$MF_TMP/out" 2>/dev/null && break; sleep 0.1; done
st=$("$MF_BIN" status --json)
wait $pid
cat "$MF_TMP/out" "$MF_TMP/err"; echo "$st"
echo "$st" | grep -q '"instance":"sampler_hold".*"level":"high"' || fail "status does not show level high"
[ -f "$prom" ] || fail "no metrics_file"
grep -q '^memfence_pressure_level{instance="sampler_hold".*} 2$' "$prom" || fail "metrics_file: $(grep pressure_level "$prom")"
pass "status and metrics_file show HIGH"
