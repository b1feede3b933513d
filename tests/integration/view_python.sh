#!/bin/bash
# Virtualize with python3: os.sysconf('SC_PHYS_PAGES') × page size is the 1 GiB budget (on),
# the machine (off); SC_AVPHYS_PAGES stays within the budget.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "python3 is not installed"
budget=$((1 << 30))
py='import os
ps = os.sysconf("SC_PAGE_SIZE")
print(os.sysconf("SC_PHYS_PAGES") * ps, os.sysconf("SC_AVPHYS_PAGES") * ps)'
read -r real _ <<<"$(python3 -c "$py")" || fail "python3 without memfence"
[ "$real" -gt "$budget" ] || skip "the machine has less than 1 GiB: nothing to shrink"
read -r phys avphys <<<"$(fenced MEMFENCE_LIMIT=1G MEMFENCE_VIRTUALIZE=on -- python3 -c "$py")" \
    || fail "python3 under memfence"
expect_eq "$phys" "$budget" "SC_PHYS_PAGES × page size with virtualize on"
[ "$avphys" -gt 0 ] && [ "$avphys" -le "$budget" ] || fail "SC_AVPHYS_PAGES × page size = $avphys"
read -r phys_off _ <<<"$(fenced MEMFENCE_LIMIT=1G MEMFENCE_VIRTUALIZE=off -- python3 -c "$py")"
expect_eq "$phys_off" "$real" "SC_PHYS_PAGES × page size with virtualize off"
pass "python3: physical memory $phys (machine $real), available $avphys"
