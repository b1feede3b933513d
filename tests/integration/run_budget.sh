# run_budget.sh — a process started by `memfence run` keeps the budget it was promised, and the
# messages name where a value came from:
#   - a relative -c is exported as an absolute path: a child that changes directory is fenced;
#   - a child that cannot read the file keeps the budget run computed (MEMFENCE_RUN_LIMIT);
#   - an unknown MEMFENCE_* variable gets one line with a "did you mean" (run: nothing started);
#   - run with no budget from any source says once that memfence only counts;
#   - --allocator and --limit errors name the flag, not the variable run set.
. "$MF_ROOT/tests/integration/lib.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || skip "no /usr/bin/python3"
mkdir -p "$MF_TMP/cfg"
printf '[global]\nlimit = 64M\n' > "$MF_TMP/cfg/v.conf"
chmod 644 "$MF_TMP/cfg/v.conf"
grow='import sys
try:
    b = bytearray(200 << 20)
    print("GREW")
except MemoryError:
    print("REFUSED")'

# 1. relative -c, then the child leaves the directory
out=$(cd "$MF_TMP/cfg" && "$MF_BIN" run -c v.conf -- sh -c "cd / && exec $PY -c '$grow'" 2>&1)
echo "$out"
echo "$out" | grep -q "cannot open the configuration file" && fail "the child lost the file"
echo "$out" | grep -qx REFUSED || fail "relative -c: the child that changed directory was not fenced"

# 2. the file disappears before the child reads it: the budget run computed is kept
cp "$MF_TMP/cfg/v.conf" "$MF_TMP/cfg/w.conf"
out=$("$MF_BIN" run -c "$MF_TMP/cfg/w.conf" -- sh -c "rm -f '$MF_TMP/cfg/w.conf'; exec $PY -c '$grow'" 2>&1)
echo "$out"
echo "$out" | grep -q "keeping the limit memfence run computed: 64M" || fail "no word about the kept budget"
echo "$out" | grep -qx REFUSED || fail "unreadable file: the child was left without its budget"

# 3. a misspelt variable
out=$(MEMFENCE_LIMT=64M "$MF_BIN" run -- $PY -c 'print("STARTED")' 2>&1); rc=$?
echo "$out"
expect_eq "$rc" 2 "run with MEMFENCE_LIMT: exit status"
echo "$out" | grep -q "MEMFENCE_LIMT: not a memfence variable (did you mean MEMFENCE_LIMIT?)" ||
    fail "no did-you-mean for MEMFENCE_LIMT"
echo "$out" | grep -q STARTED && fail "run started the command despite the unknown variable"
out=$(fenced MEMFENCE_CONFG=/x MEMFENCE_LIMIT=1G -- $PY -c 'print("STARTED")' 2>&1)
echo "$out"
expect_eq "$(echo "$out" | grep -c 'MEMFENCE_CONFG: not a memfence variable (did you mean MEMFENCE_CONFIG?)')" 1 \
    "lines about MEMFENCE_CONFG under the preload"
echo "$out" | grep -q STARTED || fail "the fenced program did not run"
out=$(MEMFENCE_GPU_LIMIT_3=1G MEMFENCE_RUN_LIMIT=1G MEMFENCE_INSTANCE=x "$MF_BIN" run -l 1G -- true 2>&1) ||
    fail "known variables refused: $out"

# 4. no budget from any source: said once, children say nothing
out=$(MEMFENCE_CONFIG=none "$MF_BIN" run -- sh -c 'true; sh -c true; echo DONE' 2>&1)
echo "$out"
expect_eq "$(echo "$out" | grep -c 'memfence only counts')" 1 "lines saying run only counts"
echo "$out" | grep -q DONE || fail "the command did not run"
out=$(MEMFENCE_CONFIG=none "$MF_BIN" run -l 1G -- true 2>&1)
echo "$out" | grep -q 'only counts' && fail "run with a budget said it only counts"

# 5. messages name the flag
out=$(MEMFENCE_CONFIG=none "$MF_BIN" run --allocator bogus -- true 2>&1)
echo "$out"
echo "$out" | grep -q -- "--allocator bogus" || fail "--allocator error does not name the flag"
echo "$out" | grep -q "MEMFENCE_ALLOCATOR" && fail "--allocator error names MEMFENCE_ALLOCATOR"
out=$(MEMFENCE_CONFIG=none "$MF_BIN" run -l 100T -- true 2>&1)
echo "$out"
echo "$out" | grep -q -- "--limit" || fail "the pre-flight does not name --limit"
echo "$out" | grep -q "MEMFENCE_LIMIT" && fail "the pre-flight names MEMFENCE_LIMIT for -l"
pass "absolute config path, kept budget, unknown variables, no-budget notice, flag names"
