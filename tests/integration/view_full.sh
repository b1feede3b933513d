#!/bin/bash
# The view is built without the fenced heap: with the 64 MiB budget filled to its last bytes
# (malloc refuses even 64 bytes), /proc/meminfo still comes from the view (a memfd) with the
# budget as MemTotal and less than a page of room.
. "$(dirname "$0")/lib.sh"
P=$MF_PROGS/view_full
[ -x "$P" ] || fail "$P not built"
read -r total avail kind <<<"$(fenced MEMFENCE_LIMIT=64M MEMFENCE_VIRTUALIZE=on MEMFENCE_LOG=off -- "$P")" \
    || fail "view_full did not fill its budget"
expect_eq "$kind" memfd "the descriptor with the heap full"
expect_eq "$total" $((64 << 20)) "MemTotal with the heap full"
[ "$avail" -lt 4096 ] || fail "MemAvailable $avail with the heap full"
pass "heap full: MemTotal $total, MemAvailable $avail, from the view"
