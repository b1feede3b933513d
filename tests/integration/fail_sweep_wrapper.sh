# fail_sweep_wrapper.sh — `memfence run --fail-sweep` through a shell-script wrapper (the way a
# pyenv shim reaches python: `#!/usr/bin/env bash`, subshells, then exec): the sweep names and
# sweeps the program the command finally runs; the wrapper's bash processes are never failed.
. "$MF_ROOT/tests/integration/lib.sh"
P=$MF_PROGS/fail_prog
[ -x "$P" ] || skip "build/tests/progs/fail_prog missing (make test-bins)"
mkdir -p "$MF_TMP/shims"
cat > "$MF_TMP/shims/fail_prog" <<SH
#!/usr/bin/env bash
set -e
mode=\$(echo "\$1" | tr A-Z a-z)        # subshells, as a pyenv shim runs
[ -n "\$(command -v tr)" ]
exec "$P" "\$mode" "\${@:2}"
SH
chmod +x "$MF_TMP/shims/fail_prog"
real=$(readlink -f "$P")

out=$(PATH=$MF_TMP/shims:$PATH "$MF_BIN" run --fail-sweep --fail calls=malloc --max 12 -- fail_prog ROBUST 5 2>&1)
rc=$?
echo "$out"
expect_eq "$rc" 0 "sweep exit status"
echo "$out" | grep -q "^swept: $real, the program fail_prog finally runs (through [0-9]* wrapper image" ||
    fail "the sweep does not say it sweeps $real"
echo "$out" | grep -Eqi 'xmalloc|bash|/usr/bin/env' && fail "a wrapper's process was failed"
rows=$(echo "$out" | grep -cE '^ +[0-9]+  (ok|error|CRASH|HUNG) ')
[ "$rows" -ge 5 ] || fail "expected rows for the swept calls, got $rows"
echo "$out" | grep -q 'fail_prog: out of memory' || fail "no run failed fail_prog's own allocations"
echo "$out" | grep -q 'did not reach' && ! echo "$out" | grep -q ', 0 did not reach the call' &&
    fail "calls counted in the wrappers, not reached in the program"

# without a wrapper the sweep says it sweeps every process, as before
out=$("$MF_BIN" run --fail-sweep --fail calls=malloc,from=fail_prog -- "$P" robust 3 2>&1) || fail "direct sweep: $out"
echo "$out" | grep -q "^swept: every process of $P" || fail "direct sweep: no 'swept:' line"
pass "the sweep targets $real through the wrapper"
