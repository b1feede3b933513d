#!/bin/bash
# Virtualize with node: under a 1 GiB budget os.totalmem() is the budget, libuv's constrained
# memory (cgroup files) at most the budget, and V8 sizes a smaller heap than without memfence;
# with virtualize off node sees the machine.
. "$(dirname "$0")/lib.sh"
command -v node >/dev/null || skip "node is not installed"
budget=$((1 << 30))
real=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) * 1024 ))
[ "$real" -gt "$budget" ] || skip "the machine has less than 1 GiB: nothing to shrink"
js='const v8 = require("v8"), os = require("os");
console.log(os.totalmem(), v8.getHeapStatistics().heap_size_limit,
            process.constrainedMemory ? process.constrainedMemory() : 0, os.freemem());'

read -r total0 heap0 _ _ <<<"$(node -e "$js")" || fail "node without memfence"
read -r total heap constrained free <<<"$(fenced MEMFENCE_LIMIT=1G MEMFENCE_VIRTUALIZE=on -- node -e "$js")" \
    || fail "node under memfence (virtualize on)"
expect_eq "$total" "$budget" "os.totalmem() with virtualize on"
[ "$heap" -lt "$heap0" ] || fail "heap_size_limit $heap not below $heap0 (without memfence)"
[ "$free" -gt 0 ] && [ "$free" -le "$budget" ] || fail "os.freemem() = $free not in (0, budget]"
# libuv reads the cgroup's memory files; 0 means it found none it could read.
[ "$constrained" = 0 ] || [ "$constrained" -le "$budget" ] \
    || fail "process.constrainedMemory() = $constrained above the budget"

read -r total_off heap_off _ _ <<<"$(fenced MEMFENCE_LIMIT=1G MEMFENCE_VIRTUALIZE=off -- node -e "$js")" \
    || fail "node under memfence (virtualize off)"
expect_eq "$total_off" "$total0" "os.totalmem() with virtualize off"
expect_eq "$heap_off" "$heap0" "heap_size_limit with virtualize off"
pass "node: totalmem $total, heap limit $heap (machine: $total0, $heap0), constrained $constrained"
