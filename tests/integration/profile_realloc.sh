#!/bin/bash
# realloc under profiling, over each allocator memfence runs: blocks sampled at a high rate
# (4 KiB) and then grown, shrunk and moved by realloc (tests/progs/profile_realloc.c) leave the
# budget exactly where it was once freed (memfence_used), and the profile holds only what is
# really live: kept_site's 16 MiB within 10 %, nothing of churn_site.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "python3 is needed to read the JSON report"
for a in system jemalloc tcmalloc mimalloc; do
    prof=$MF_TMP/$a.prof
    out=$(MEMFENCE_PROFILE=on MEMFENCE_PROFILE_RATE=4K MEMFENCE_PROFILE_AT_EXIT=$prof \
          timeout 120 "$MF_BIN" run --allocator $a -l 1G -- "$MF_PROGS/profile_realloc" 2>&1)
    rc=$?
    if [ $rc -ne 0 ] && echo "$out" | grep -q "not installed\|cannot find"; then
        echo "$a: not installed, left out"
        continue
    fi
    [ $rc -eq 0 ] || fail "$a: exit $rc: $out"
    read -r _ before after <<< "$(echo "$out" | grep '^used ')"
    [ -n "$before" ] && [ "$before" = "$after" ] ||
        fail "$a: the budget moved across churn_site: $(echo "$out" | grep '^used ')"
    "$MF_BIN" report "$prof" --json --top 10 > "$MF_TMP/$a.json" || fail "$a: cannot read the profile"
    python3 - "$MF_TMP/$a.json" "$a" <<'PY' || fail "$a: the profile is wrong"
import json, sys
r = json.load(open(sys.argv[1]))
def fn(s):
    return next((f["function"] for f in s["frames"] if f["function"]), None)
live = {}
for s in r["top_live"]:
    live[fn(s)] = live.get(fn(s), 0) + s["live_bytes"]
assert "churn_site" not in live, (sys.argv[2], live)
kept = live.get("kept_site", 0)
assert abs(kept / (16 << 20) - 1) < 0.10, (sys.argv[2], kept)
print(sys.argv[2], "ok", live)
PY
done
pass "sampled blocks realloc'd and freed leave the budget and the profile exact"
