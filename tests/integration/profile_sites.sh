#!/bin/bash
# Profiling a program with three allocation sites of known live sizes and one steady leak:
# `memfence report PID` ranks the sites right with estimates within 20 % of the truth, names the
# leaking function as the top grower, prints valid JSON and folded stacks; profile_at_exit writes
# the same data at exit.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "python3 is needed to read the JSON report"
out=$MF_TMP/out
fenced MEMFENCE_PROFILE=on MEMFENCE_PROFILE_RATE=16K MEMFENCE_LEAK_WINDOW=4s \
       MEMFENCE_PROFILE_AT_EXIT=$MF_TMP/exit.prof -- "$MF_PROGS/profile_sites" 5 > "$out" &
bg=$!
for _ in $(seq 100); do grep -q ready "$out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$out" || { kill $bg; fail "the program did not start"; }
pid=$(awk '/ready/ {print $2}' "$out")
sleep 2.5      # leak_step runs: at least 4 windows of 0.5 s
"$MF_BIN" report "$pid" --json --top 5 > "$MF_TMP/r.json" || fail "report --json failed"
"$MF_BIN" report "$pid" > "$MF_TMP/r.txt" || fail "report (text) failed"
"$MF_BIN" report "$pid" --folded > "$MF_TMP/r.folded" || fail "report --folded failed"
wait $bg || fail "the profiled program failed (exit $?)"

python3 - "$MF_TMP/r.json" <<'PY' || fail "JSON report: wrong ranking, estimate or grower"
import json, sys
r = json.load(open(sys.argv[1]))
MiB = 1 << 20
def fn(site):
    for f in site["frames"]:
        if f["function"]:
            return f["function"]
    return None
top = r["top_live"]
names = [fn(s) for s in top[:3]]
assert names == ["site_big", "site_mid", "site_small"], names
for s, truth in zip(top[:3], [32 * MiB, 16 * MiB, 32768 * 248]):
    err = abs(s["live_bytes"] / truth - 1)
    assert err < 0.20, (fn(s), s["live_bytes"], truth)
grow = r["top_growing"]
assert grow and fn(grow[0]) == "leak_step", [fn(s) for s in grow]
assert grow[0]["growth_windows"] >= 2
# leak_step adds 32 KiB every 50 ms (plus churn's time): roughly 0.3 to 0.7 MiB/s
assert 0.15 * MiB < grow[0]["growth_bytes_per_s"] < 1.0 * MiB, grow[0]["growth_bytes_per_s"]
assert r["table_bytes"] > 0 and r["sites_used"] <= r["sites_max"]
f = top[0]["frames"][0]
assert f["file"] and f["file"].startswith("profile_sites.c:"), f
print("json ok")
PY

grep -q "top growing sites" "$MF_TMP/r.txt" || fail "text report lacks the growth section"
grep -A2 "top growing" "$MF_TMP/r.txt" | grep -q leak_step || fail "text report: leak_step is not the top grower"

# folded: "frame;frame;...;frame COUNT" — what flamegraph.pl and speedscope read
[ -s "$MF_TMP/r.folded" ] || fail "no folded output"
bad=$(grep -cvE '^[^ ;]+(;[^ ;]+)* [0-9]+$' "$MF_TMP/r.folded")
[ "$bad" = 0 ] || fail "folded output has $bad malformed lines: $(head -3 "$MF_TMP/r.folded")"
grep -qE '(^|;)main;site_big [0-9]+$' "$MF_TMP/r.folded" || fail "folded: no main;site_big stack"

# the at-exit file renders like the live report
[ -s "$MF_TMP/exit.prof" ] || fail "profile_at_exit wrote nothing"
"$MF_BIN" report "$MF_TMP/exit.prof" --top 3 > "$MF_TMP/exit.txt" || fail "cannot render the at-exit file"
grep -A1 '#1 ' "$MF_TMP/exit.txt" | grep -q site_big || fail "at-exit report: site_big is not first"
ls /dev/shm/memfence-report-*-"$pid".* 2>/dev/null && fail "request files left behind"
# a process that is not fenced: one clear line at once, exit 1
msg=$("$MF_BIN" report $$ 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$msg" | grep -q "not running under memfence" || fail "unfenced pid: rc $rc, '$msg'"
pass "ranks, estimates, grower, JSON, folded and at-exit report"
