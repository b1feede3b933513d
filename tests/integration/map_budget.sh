#!/bin/bash
# The mmap family under a 64 MiB budget: an 8 GiB PROT_NONE reservation succeeds, committing
# 100 MiB of it with mprotect fails with ENOMEM, 32 MiB succeeds, munmapping half returns
# exactly that half (public API), mremap grow beyond the budget fails with the old mapping
# intact (all in tests/progs/map_budget.c); and a 200 MiB sparse file mapped read-only is
# refused by the pre-flight check with a line naming the file, and accepted with map_check off.
. "$(dirname "$0")/lib.sh"
out=$(fenced MEMFENCE_LIMIT=64M -- "$MF_PROGS/map_budget" 2>"$MF_TMP/err")
rc=$?
cat "$MF_TMP/err"
[ $rc -eq 0 ] || fail "map_budget exited $rc: $out"
expect_eq "$out" "map_budget ok" "map_budget output"
grep -q 'refused mprotect(100.0 MiB)' "$MF_TMP/err" || fail "no refusal line for the mprotect"
grep -q 'refused mremap(' "$MF_TMP/err" || fail "no refusal line for the mremap"

f=$MF_TMP/model.bin
out=$(cd "$MF_TMP" && fenced MEMFENCE_LIMIT=64M -- "$MF_PROGS/map_file" "$f" 200 2>"$MF_TMP/err")
rc=$?
cat "$MF_TMP/err"
[ $rc -eq 3 ] || fail "map_check on: expected the mapping refused with ENOMEM (exit 3), got $rc: $out"
[ "$(grep -c 'refused' "$MF_TMP/err")" -eq 1 ] || fail "expected exactly one refusal line"
grep -q "mmap of $f refused: it needs 200.0 MiB (209715200 bytes), only 64.0 MiB (67108864 bytes) left in the budget" \
    "$MF_TMP/err" || fail "the refusal line does not name the file, the bytes needed and available"

out=$(fenced MEMFENCE_LIMIT=64M MEMFENCE_MAP_CHECK=off -- "$MF_PROGS/map_file" "$f" 200 2>"$MF_TMP/err")
rc=$?
[ $rc -eq 0 ] || fail "map_check off: expected the mapping to succeed, got $rc: $out $(cat "$MF_TMP/err")"
[ -s "$MF_TMP/err" ] && fail "map_check off: unexpected output: $(cat "$MF_TMP/err")"

# below map_check_min nothing is checked; a factor scales the need
out=$(fenced MEMFENCE_LIMIT=64M MEMFENCE_MAP_CHECK_MIN=256M -- "$MF_PROGS/map_file" "$f" 200 2>&1)
[ $? -eq 0 ] || fail "map_check_min = 256M: a 200 MiB file should not be checked: $out"
out=$(fenced MEMFENCE_LIMIT=64M MEMFENCE_MAP_FACTOR=0.25 -- "$MF_PROGS/map_file" "$f" 200 2>&1)
[ $? -eq 0 ] || fail "map_factor = 0.25: 50 MiB needed fits in 64 MiB: $out"
pass "budget refusals and the file pre-flight check"
