# config_check.sh — `memfence check`'s pre-flight report: the example file gives a PASSED or FAILED
# report with its numbers; a group larger than the machine, reserves above their group's limit
# and GPU budgets above a device's memory each give FAILED and exit 1; a small file PASSED and 0;
# `memfence run` refuses to start a process whose budget alone cannot fit; --show lists every key.
. "$MF_ROOT/tests/integration/lib.sh"
export MEMFENCE_TEST_GPU_MEM=   # no GPU, whatever this machine has, unless a test sets one

out=$("$MF_BIN" check -c "$MF_ROOT/conf/memfence.conf" 2>&1); rc=$?
echo "$out"
[ "$rc" = 0 ] || [ "$rc" = 1 ] || fail "check of conf/memfence.conf exited $rc (configuration errors?)"
echo "$out" | grep -Eq '^(PASSED|FAILED): [0-9.]+ [KMGT]?i?B at once' || fail "no verdict line with the total"
echo "$out" | grep -q '^machine: .* usable' || fail "no machine line"
echo "$out" | grep -q '\[group models\]  limit 30.0 GiB; 3 members' || fail "the models group is not summed"
echo "$out" | grep -q '^total at once: ' || fail "no total"
echo "$out" | grep -q '^GPU: no device visible; GPU budgets not checked' || fail "no GPU line"

f=$MF_TMP/big.conf
printf '[global]\nlimit = 64M\n[group huge]\nlimit = 64T\n[instance a]\ngroup = huge\nlimit = 1G\n' > "$f"
out=$("$MF_BIN" check -c "$f" 2>&1); rc=$?
echo "$out"
expect_eq "$rc" 1 "exit status of a file whose group needs more than the machine has"
echo "$out" | grep -q '^FAILED' || fail "no FAILED line"
echo "$out" | grep -q 'lower the limit of \[group huge\] (line 3) from 64.0 TiB' || fail "no recommendation for the group"

printf '[global]\nlimit = 64M\nsafety_margin = 20\n[process a]\nlimit = 10M\n' > "$f"
out=$("$MF_BIN" check -c "$f" 2>&1); rc=$?
echo "$out"
expect_eq "$rc" 0 "exit status of a small file"
echo "$out" | grep -q '^PASSED: 10.0 MiB at once fit in' || fail "no PASSED line"
echo "$out" | grep -q 'safety margin 20 %' || fail "safety_margin not used"

printf '[group g]\nlimit = 1G\n[instance a]\ngroup = g\nreserve = 700M\n[instance b]\ngroup = g\nreserve = 700M\n' > "$f"
out=$("$MF_BIN" check -c "$f" 2>&1); rc=$?
echo "$out"
expect_eq "$rc" 1 "reserves above the group's limit"
echo "$out" | grep -q 'reserves in \[group g\] add up to 1.3 GiB, more than its limit 1.0 GiB' || fail "reserves not compared"

printf '[process trainer]\nlimit = 1G\ngpu_limit = 20G\n[process infer]\nlimit = 1G\ngpu_limit.0 = 50%%\n' > "$f"
out=$(MEMFENCE_TEST_GPU_MEM=16G "$MF_BIN" check -c "$f" 2>&1); rc=$?
echo "$out"
expect_eq "$rc" 1 "GPU budgets above the device"
echo "$out" | grep -q '^GPU 0: budgets 28.0 GiB (2 set) against 13.5 GiB usable of 16.0 GiB: does not fit' || fail "GPU not checked"
out=$(MEMFENCE_TEST_GPU_MEM=80G "$MF_BIN" check -c "$f" 2>&1) || fail "GPU budgets that fit: $out"

# memfence run: a budget that alone cannot fit is refused before anything starts
out=$(MEMFENCE_CONFIG=none "$MF_BIN" run -l 64T -- touch "$MF_TMP/started" 2>&1); rc=$?
echo "$out"
expect_eq "$rc" 1 "memfence run with a 64T budget"
[ -e "$MF_TMP/started" ] && fail "run started a process whose budget cannot fit"
echo "$out" | grep -q 'lower limit (64.0 TiB, --limit) to at most' || fail "no recommendation from run"
MEMFENCE_CONFIG=none "$MF_BIN" run -l 64M -- touch "$MF_TMP/started" || fail "run with a small budget"
[ -e "$MF_TMP/started" ] || fail "run did not start the command"

# --show: one line per key of src/config/config_keys.h, each with its origin
keys=$(grep -cE '^ +X\(' "$MF_ROOT/src/config/config_keys.h")
shown=$(MEMFENCE_CONFIG=none "$MF_BIN" check --show 2>/dev/null | grep -cE '^[a-z_]+ += .*# default$')
expect_eq "$shown" "$keys" "keys shown by --show"
pass "PASSED/FAILED reports with totals, group, reserve and GPU checks, run's pre-flight"
