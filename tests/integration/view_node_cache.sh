#!/bin/bash
# The shrink scenario: a node program sizes an in-memory cache from os.freemem() (half of it, in
# 8 MiB entries).  Under a 1 GiB budget with virtualize on it plans for the budget and stays
# inside it; with virtualize off it plans for the machine and memfence refuses it at the budget.
. "$(dirname "$0")/lib.sh"
command -v node >/dev/null || skip "node is not installed"
budget=$((1 << 30))
avail=$(( $(awk '/^MemAvailable:/ {print $2}' /proc/meminfo) * 1024 ))
[ "$avail" -gt $((4 * budget)) ] || skip "less than 4 GiB available: the unshrunk plan would fit"
cat > "$MF_TMP/cache.js" <<'JS'
const os = require('os');
const target = Math.floor(os.freemem() / 2);
const chunk = 8 << 20;
const cache = [];
let size = 0;
try {
    while (size + chunk <= target) {
        const b = Buffer.alloc(chunk);
        for (let i = 0; i < chunk; i += 65536) b[i] = 1;     // the cache holds data
        cache.push(b);
        size += chunk;
    }
} catch (e) {
    console.log(`refused ${size} ${target} ${e.message}`);
    process.exit(3);
}
console.log(`cached ${size} ${target}`);
JS
out=$(fenced MEMFENCE_LIMIT=1G MEMFENCE_VIRTUALIZE=on -- node "$MF_TMP/cache.js" 2>"$MF_TMP/on.err")
rc=$?
[ $rc -eq 0 ] || fail "virtualize on: exit $rc: $out $(tail -n 3 "$MF_TMP/on.err")"
read -r word size target <<<"$out"
expect_eq "$word" cached "virtualize on"
[ "$target" -le $((budget / 2)) ] || fail "the plan ($target) exceeds half the budget"
[ "$size" -gt $((budget / 4)) ] || fail "the cache ($size) is far below its plan ($target)"
grep -q refused "$MF_TMP/on.err" && fail "memfence refused with virtualize on: $(cat "$MF_TMP/on.err")"

out=$(fenced MEMFENCE_LIMIT=1G MEMFENCE_VIRTUALIZE=off -- node "$MF_TMP/cache.js" 2>"$MF_TMP/off.err")
rc=$?
[ $rc -ne 0 ] || fail "virtualize off: the cache fit ($out), expected a refusal"
grep -q "memfence\[[0-9]*\]: refused" "$MF_TMP/off.err" || fail "no refusal report: $(tail -n 3 "$MF_TMP/off.err")"
pass "virtualize on: cached $size of a $target plan; off: refused ($out)"
