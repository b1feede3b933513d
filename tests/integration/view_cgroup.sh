#!/bin/bash
# Virtualize and the cgroup memory files: the process's own memory cgroup (and its ancestors)
# reports at most the 1 GiB budget as its limits and the budget's usage as its usage; a cgroup
# the process is not in, and every file with virtualize off, reads as it really is.
. "$(dirname "$0")/lib.sh"
budget=$((1 << 30))
on() { fenced MEMFENCE_LIMIT=1G MEMFENCE_VIRTUALIZE=on -- cat "$1"; }
off() { fenced MEMFENCE_LIMIT=1G MEMFENCE_VIRTUALIZE=off -- cat "$1"; }
le_budget() { [ "$1" -le "$budget" ] || fail "$2 reads $1 (above the budget)"; }

v1=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' /proc/self/cgroup)
v2=$(awk -F: '$1 == "0" {print $3}' /proc/self/cgroup)
checked=0
if [ -n "$v1" ] && [ -d /sys/fs/cgroup/memory ]; then
    own=/sys/fs/cgroup/memory${v1%/}
    for d in /sys/fs/cgroup/memory "$own"; do
        for f in memory.limit_in_bytes memory.soft_limit_in_bytes; do
            [ -r "$d/$f" ] || continue
            v=$(on "$d/$f"); le_budget "$v" "$d/$f"
            expect_eq "$(off "$d/$f")" "$(cat "$d/$f")" "$d/$f with virtualize off"
            checked=$((checked + 1))
        done
        if [ -r "$d/memory.usage_in_bytes" ]; then
            le_budget "$(on "$d/memory.usage_in_bytes")" "$d/memory.usage_in_bytes"
        fi
        if [ -r "$d/memory.stat" ]; then
            v=$(on "$d/memory.stat" | awk '$1 == "hierarchical_memory_limit" {print $2}')
            [ -z "$v" ] || le_budget "$v" "$d/memory.stat hierarchical_memory_limit"
        fi
    done
    # a sibling cgroup (not an ancestor of ours): its real value
    parent=$(dirname "$own")
    for s in "$parent"/*/; do
        s=${s%/}
        [ "$s" = "$own" ] && continue
        [ -r "$s/memory.limit_in_bytes" ] || continue
        expect_eq "$(on "$s/memory.limit_in_bytes")" "$(cat "$s/memory.limit_in_bytes")" \
            "a sibling cgroup's limit"
        checked=$((checked + 1))
        break
    done
fi
for root in /sys/fs/cgroup /sys/fs/cgroup/unified; do
    [ -n "$v2" ] || break
    d=$root${v2%/}
    for f in memory.max memory.high; do
        [ -r "$d/$f" ] || continue
        le_budget "$(on "$d/$f")" "$d/$f"
        expect_eq "$(off "$d/$f")" "$(cat "$d/$f")" "$d/$f with virtualize off"
        checked=$((checked + 1))
    done
    [ -r "$d/memory.current" ] && le_budget "$(on "$d/memory.current")" "$d/memory.current"
done
[ $checked -gt 0 ] || skip "no readable cgroup memory limit files here"
pass "$checked cgroup limit files read through the view"
