#!/bin/bash
# A python3 script that leaks (a list of 64 KiB bytearrays growing every 20 ms) under profiling:
# `memfence report PID` shows the interpreter's allocation path (libpython / the python3
# binary) as the top site by live bytes and as the top growing site.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "python3 not installed"
out=$MF_TMP/out
fenced MEMFENCE_PROFILE=on MEMFENCE_PROFILE_RATE=128K MEMFENCE_LEAK_WINDOW=4s -- python3 -c '
import os, sys, time
leak = []
def grow():
    leak.append(bytearray(64 * 1024))
print("ready", os.getpid(), flush=True)
for i in range(200):
    grow()
    time.sleep(0.02)
' > "$out" &
bg=$!
for _ in $(seq 100); do grep -q ready "$out" 2>/dev/null && break; sleep 0.1; done
pid=$(awk '/ready/ {print $2}' "$out")
[ -n "$pid" ] || { kill $bg; fail "python did not start"; }
sleep 3
"$MF_BIN" report "$pid" --json --top 3 > "$MF_TMP/r.json" || { kill $bg; fail "report failed"; }
"$MF_BIN" report "$pid" --top 1 || true
wait $bg
python3 - "$MF_TMP/r.json" <<'PY' || fail "the interpreter's allocation path is not the top site"
import json, re, sys
r = json.load(open(sys.argv[1]))
def mods(site):
    return [f["module"] or "" for f in site["frames"]]
pat = re.compile(r"(libpython3|/python3)[^/]*$")
top = r["top_live"][0]
assert any(pat.search(m) for m in mods(top)), mods(top)
assert top["live_bytes"] > 4 << 20, top["live_bytes"]          # ~9 MiB leaked by then
grow = r["top_growing"]
assert grow and any(pat.search(m) for m in mods(grow[0])), grow
print("top site:", [f["function"] for f in top["frames"][:4]])
PY
pass "python3: libpython allocation paths are the top and growing sites"
