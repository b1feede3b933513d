# core_node: node under the preload — same output with a generous budget; with a tight one the
# Buffer allocation fails with node's own RangeError and the process exits normally.
. "$(dirname "$0")/lib.sh"
command -v node >/dev/null || skip "node not installed"
script='const crypto = require("crypto"); const m = new Map();
for (let i = 0; i < 100000; i++) m.set("k" + i, "v".repeat(i % 50));
let h = crypto.createHash("sha256"); for (const [k, v] of m) h.update(k + v);
console.log(m.size, h.digest("hex"));'
want=$(node -e "$script") || fail "node alone failed"
got=$(fenced MEMFENCE_LIMIT=1G -- node -e "$script") || fail "node under memfence failed"
expect_eq "$got" "$want" "generous budget output"
out=$(fenced MEMFENCE_LIMIT=256M -- node -e '
const keep = [];
try { for (;;) keep.push(Buffer.alloc(16 << 20)); }
catch (e) { console.log("caught", e.constructor.name, "after", keep.length); }' 2>&1)
rc=$?
[ $rc -eq 0 ] || fail "tight node exit $rc: $out"
echo "$out" | grep -q "caught RangeError" || fail "no RangeError: $out"
echo "$out" | grep -q "refused calloc(16.0 MiB) in node" || fail "no refusal line: $out"
pass
