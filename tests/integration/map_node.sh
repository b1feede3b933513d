#!/bin/bash
# node under the preload: a script that allocates and frees large ArrayBuffers (V8 maps its heap
# with mmap/mprotect) prints the same as without memfence under a generous budget; under a tight
# one it ends with V8's own "RangeError: Array buffer allocation failed", never a signal.
. "$(dirname "$0")/lib.sh"
command -v node >/dev/null || skip "no node"
cd "$MF_TMP"
cat > ab.js <<'JS'
let sum = 0;
for (let round = 0; round < 4; round++) {
  const bufs = [];
  for (let i = 0; i < 6; i++) {
    const b = new ArrayBuffer(32 * 1024 * 1024);
    new Uint8Array(b).fill(i + 1);
    bufs.push(b);
  }
  for (const b of bufs) sum += new Uint8Array(b)[12345];
}
const big = process.argv[2] ? parseInt(process.argv[2]) : 0;
if (big) { const b = new ArrayBuffer(big * 1024 * 1024); new Uint8Array(b).fill(1); sum += b.byteLength; }
console.log('sum', sum);
JS
node ab.js > plain.out 2>&1 || fail "node fails without memfence"
fenced MEMFENCE_LIMIT=2G -- node ab.js > fenced.out 2>&1 || fail "node under 2G: $(cat fenced.out)"
cmp -s plain.out fenced.out || fail "output differs: $(diff plain.out fenced.out)"

fenced MEMFENCE_LIMIT=400M -- node ab.js 1024 > tight.out 2>&1
rc=$?
[ $rc -ne 0 ] && [ $rc -lt 128 ] || fail "tight budget: expected a clean failure, got exit $rc: $(tail -5 tight.out)"
grep -q 'RangeError: Array buffer allocation failed' tight.out || fail "no RangeError: $(tail -20 tight.out)"
grep -q 'memfence\[[0-9]*\]: refused' tight.out || fail "no refusal line"
pass
