# fail_sweep.sh — `memfence run --fail-sweep`: a program that checks every allocation survives
# each injected failure with a clean error; one that does not check crashes with SIGSEGV and the
# table names the failed call; one that waits forever is reported hung.
. "$MF_ROOT/tests/integration/lib.sh"
P=$MF_PROGS/fail_prog
F='calls=malloc,from=fail_prog'

out=$("$MF_BIN" run --fail-sweep --fail "$F" -- "$P" robust 5) || fail "robust sweep exit $?: $out"
echo "$out"
echo "$out" | grep -q '5 eligible allocation calls' || fail "counting run: $out"
[ "$(echo "$out" | grep -c 'error .*exit 3: "fail_prog: out of memory"')" = 5 ] || fail "robust rows"
echo "$out" | grep -q '5 runs: 5 survived (0 exit 0, 5 clean error), 0 crashed, 0 hung' ||
    fail "robust summary"

out=$("$MF_BIN" run --fail-sweep --fail "$F" --markdown -- "$P" crashy 4)
rc=$?
echo "$out"
expect_eq "$rc" 1 "exit status when something crashed"
[ "$(echo "$out" | grep -c '| CRASH | SIGSEGV | malloc(128 B) from fail_prog')" = 4 ] || fail "crash rows"

out=$("$MF_BIN" run --fail-sweep --fail "$F" --max 1 --timeout 1 -- "$P" hangy 3)
expect_eq "$?" 1 "exit status when something hung"
echo "$out"
echo "$out" | grep -q 'HUNG' || fail "no hung row"

"$MF_BIN" run --fail-sweep --fail 'every=3' -- "$P" robust 3 2>"$MF_TMP/err"
expect_eq "$?" 2 "a trigger in the sweep's filters is a usage error"
grep -q 'takes only filters' "$MF_TMP/err" || fail "no usage message"
pass "survived, crashed and hung runs told apart"
