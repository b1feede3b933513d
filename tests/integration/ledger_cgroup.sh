#!/bin/bash
# Containers: percentages resolve against min(RAM, cgroup limit).  A fake cgroup hierarchy
# (MEMFENCE_TEST_CGROUP_ROOT, tests only) with memory.max = 256 MiB (v2), then with v1's
# memory.limit_in_bytes = 128 MiB: `limit = 50%` and the group's `25%` follow it, as
# `memfence status` shows, and the group refuses at its share of the container.
. "$(dirname "$0")/lib.sh"
W=$MF_PROGS/ledger_worker
[ -x "$W" ] || skip "build/tests/progs/ledger_worker missing (make test-bins)"
export MEMFENCE_LEDGER_DIR=$MF_TMP MEMFENCE_LIMIT=50% MEMFENCE_GROUP_LIMIT=25%
export MEMFENCE_HEADROOM=0 MEMFENCE_OVERDRAFT=0    # strict: the budgets to the byte
ram=$(awk '/MemTotal/ { printf "%d", $2 * 1024 }' /proc/meminfo)
[ "$ram" -gt $((1 << 30)) ] || skip "less than 1 GiB of RAM: the fake limits would not be the minimum"

budgets() {     # group, cgroup root -> "process-budget group-limit"
    env LD_PRELOAD="$MF_LIB" MEMFENCE_GROUP="$1" MEMFENCE_TEST_CGROUP_ROOT="$2" "$W" hold 0 >"$MF_TMP/$1.out" &
    local pid=$!
    for _ in $(seq 100); do grep -q ready "$MF_TMP/$1.out" && break; sleep 0.1; done
    "$MF_BIN" status --json --group "$1" |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["instances"][0]["host_budget"], d["groups"][0]["host_limit"])'
    kill -9 $pid
    wait $pid 2>/dev/null
}

rel=$(awk -F: '$1 == 0 && $2 == "" { print $3 }' /proc/self/cgroup)
v2=$MF_TMP/cg2
mkdir -p "$v2$rel"
echo max >"$v2/memory.max"
echo $((256 << 20)) >"$v2$rel/memory.max"
expect_eq "$(budgets v2 "$v2")" "$((128 << 20)) $((64 << 20))" "budgets under a 256 MiB v2 cgroup"

v1=$MF_TMP/cg1
rel1=$(awk -F: '$2 == "memory" { print $3 }' /proc/self/cgroup)
rel1=${rel1:-$rel}
mkdir -p "$v1/memory$rel1"
echo 9223372036854771712 >"$v1/memory/memory.limit_in_bytes"
echo $((128 << 20)) >"$v1/memory$rel1/memory.limit_in_bytes"
if grep -q '^[0-9]*:memory:' /proc/self/cgroup; then
    expect_eq "$(budgets v1 "$v1")" "$((64 << 20)) $((32 << 20))" "budgets under a 128 MiB v1 cgroup"
else
    echo "(no v1 memory line in /proc/self/cgroup: the v1 case is not exercised here)"
fi

# the group refuses at 25% of the container (64 MiB)
out=$(printf 'alloc 60\nalloc 8\nexit\n' | fenced MEMFENCE_GROUP=v2b MEMFENCE_TEST_CGROUP_ROOT="$v2" -- "$W" cmd 2>/dev/null | tr '\n' ' ')
expect_eq "$out" "ok refused " "60 then 8 MiB in a group of 25% of 256 MiB"
pass "budgets follow the (fake) cgroup limit"
