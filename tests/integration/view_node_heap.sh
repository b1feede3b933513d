#!/bin/bash
# memfence sizes node's JavaScript heap under small budgets (src/family/view.c): V8 never sizes itself
# below about 256 MiB, so with virtualize on and a budget under 512 MiB node gets a heap limit of
# 5/8 of the budget in NODE_OPTIONS (kept when the command sets its own), under `memfence run`
# and a bare preload alike, and a JS heap that grows to the limit ends with V8's own "JavaScript
# heap out of memory", never a signal from memfence.
. "$(dirname "$0")/lib.sh"
command -v node >/dev/null || skip "no node"
export MEMFENCE_CONFIG=none
limit() { "$MF_BIN" run "$@" -- node -e 'console.log(require("v8").getHeapStatistics().heap_size_limit / 1048576 | 0)' 2>/dev/null; }
l=$(limit -l 64M)
[ -n "$l" ] && [ "$l" -ge 40 ] && [ "$l" -le 64 ] || fail "heap limit under 64M: '$l' MiB (want about 5/8 of it)"
l=$(NODE_OPTIONS=--max-old-space-size=20 limit -l 64M)
[ -n "$l" ] && [ "$l" -le 40 ] || fail "the command's own --max-old-space-size was not kept: '$l' MiB"
l=$(MEMFENCE_VIRTUALIZE=off limit -l 64M)
[ -n "$l" ] && [ "$l" -gt 200 ] || fail "virtualize off still sized the heap: '$l' MiB"
l=$(limit -l 1G)
[ -n "$l" ] && [ "$l" -gt 400 ] || fail "a 1G budget should leave V8's own sizing: '$l' MiB"
l=$(MEMFENCE_LIMIT=64M LD_PRELOAD=$MF_LIB node -e 'console.log(require("v8").getHeapStatistics().heap_size_limit / 1048576 | 0)' 2>/dev/null)
[ -n "$l" ] && [ "$l" -ge 40 ] && [ "$l" -le 64 ] || fail "heap limit under a bare preload of 64M: '$l' MiB"
for b in 64M 128M; do
    out=$("$MF_BIN" run -l "$b" -- node -e 'const a=[]; const s="y".repeat(1000); for (let i=0;;i++) a.push(s+i)' 2>&1)
    rc=$?
    [ $rc -ne 0 ] || fail "$b: the loop ended without an error"
    grep -q "JavaScript heap out of memory" <<<"$out" || fail "$b: not V8's own end (exit $rc): $(tail -5 <<<"$out")"
    [ $rc -ne 139 ] || fail "$b: SIGSEGV"
done
pass "node's heap limit follows a small budget (memfence run and a bare preload); growth ends at V8's own limit"
