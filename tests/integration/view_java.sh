#!/bin/bash
# Virtualize with the JVM: the default max heap (MaxHeapSize, MaxRAMPercentage of physical
# memory) derives from the 1 GiB budget (on) and from the machine (off).
. "$(dirname "$0")/lib.sh"
command -v java >/dev/null || skip "java is not installed"
budget=$((1 << 30))
maxheap() { awk '$2 == "MaxHeapSize" {print $4}'; }
pct=$(java -XX:+PrintFlagsFinal -version 2>/dev/null | awk '$2 == "MaxRAMPercentage" {print int($4)}')
real=$(java -XX:+PrintFlagsFinal -version 2>/dev/null | maxheap)
[ -n "$real" ] || fail "no MaxHeapSize from java without memfence"
[ "$real" -gt $((budget * pct / 100)) ] || skip "the machine's default heap is already below the budget's"
on=$(fenced MEMFENCE_LIMIT=1G MEMFENCE_VIRTUALIZE=on -- java -XX:+PrintFlagsFinal -version 2>/dev/null | maxheap)
expect_eq "$on" $((budget * pct / 100)) "MaxHeapSize with virtualize on ($pct% of the budget)"
off=$(fenced MEMFENCE_LIMIT=1G MEMFENCE_VIRTUALIZE=off -- java -XX:+PrintFlagsFinal -version 2>/dev/null | maxheap)
expect_eq "$off" "$real" "MaxHeapSize with virtualize off"
pass "java: MaxHeapSize $on under a 1 GiB budget (machine: $real)"
