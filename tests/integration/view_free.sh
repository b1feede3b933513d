#!/bin/bash
# Virtualize with procps: `free -b` shows the 1 GiB budget as total (on), the machine (off).
. "$(dirname "$0")/lib.sh"
command -v free >/dev/null || skip "free (procps) is not installed"
budget=$((1 << 30))
real=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) * 1024 ))
[ "$real" -gt "$budget" ] || skip "the machine has less than 1 GiB: nothing to shrink"
row() { awk '$1 == "Mem:" {print $2, $3, $4, $7}'; }
read -r total used freeb avail <<<"$(fenced MEMFENCE_LIMIT=1G MEMFENCE_VIRTUALIZE=on -- free -b | row)"
expect_eq "$total" "$budget" "free -b total with virtualize on"
[ "$avail" -le "$budget" ] && [ "$freeb" -le "$budget" ] || fail "free $freeb / available $avail above the budget"
[ $((used + avail)) -le "$budget" ] || fail "used $used + available $avail above the budget"
read -r total_off _ <<<"$(fenced MEMFENCE_LIMIT=1G MEMFENCE_VIRTUALIZE=off -- free -b | row)"
expect_eq "$total_off" "$real" "free -b total with virtualize off"
pass "free -b: total $total (machine $total_off), available $avail"
