#!/bin/bash
# A node script that leaks (Buffers kept in an array, 64 KiB every 20 ms) under profiling:
# `memfence report PID` shows node's allocation path (node / libnode: the ArrayBuffer
# allocator) as the top site by live bytes and as the top growing site.
. "$(dirname "$0")/lib.sh"
command -v node >/dev/null || skip "node not installed"
out=$MF_TMP/out
fenced MEMFENCE_PROFILE=on MEMFENCE_PROFILE_RATE=128K MEMFENCE_LEAK_WINDOW=4s -- node -e '
const leak = [];
console.log("ready", process.pid);
let n = 0;
const t = setInterval(() => {
  leak.push(Buffer.alloc(64 * 1024, 1));
  if (++n >= 200) clearInterval(t);
}, 20);
' > "$out" &
bg=$!
for _ in $(seq 100); do grep -q ready "$out" 2>/dev/null && break; sleep 0.1; done
pid=$(awk '/ready/ {print $2}' "$out")
[ -n "$pid" ] || { kill $bg; fail "node did not start"; }
sleep 3
"$MF_BIN" report "$pid" --json --top 3 > "$MF_TMP/r.json" || { kill $bg; fail "report failed"; }
"$MF_BIN" report "$pid" --top 1 | head -12 || true
wait $bg
python3 - "$MF_TMP/r.json" <<'PY' || fail "node's allocation path is not the top site"
import json, re, sys
r = json.load(open(sys.argv[1]))
pat = re.compile(r"/(node|nodejs|libnode[^/]*)$")
def ok(site):
    return any(pat.search(f["module"] or "") for f in site["frames"]) and \
           any("ArrayBuffer" in (f["function"] or "") or "BackingStore" in (f["function"] or "")
               for f in site["frames"])
top = r["top_live"][0]
assert ok(top), [(f["module"], f["function"]) for f in top["frames"][:6]]
grow = r["top_growing"]
assert grow and ok(grow[0]), grow
print("top site:", [f["function"] for f in top["frames"][:3]])
PY
pass "node: the ArrayBuffer allocation path is the top and growing site"
