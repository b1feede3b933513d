#!/bin/bash
# The short form of the compatibility sweep (tests/compat/run --short): node (worker threads,
# streams, zlib, child processes), bash, perl, sqlite3, gcc and five python3 regression-test
# modules, each without memfence and under it with every feature on; the results must be the
# same.  The full sweep is `make compat`.
. "$(dirname "$0")/lib.sh"
for p in node perl sqlite3 gcc; do command -v $p >/dev/null || skip "$p is not installed"; done
out=$(COMPAT_DIR=$MF_TMP/compat "$MF_ROOT/tests/compat/run" --short 2>&1)
rc=$?
echo "$out"
[ $rc -eq 77 ] && skip "$(tail -n 1 <<<"$out")"
[ $rc -eq 0 ] || fail "results differ with memfence (above)"
n=$(grep -c '| same |' <<<"$out")
[ "$n" -ge 5 ] || fail "only $n checks compared"
pass "$n checks, the same results with and without memfence"
