#!/bin/bash
# `memfence metrics` prints a valid Prometheus text exposition of live instances and groups:
# every sample belongs to a family announced by HELP and TYPE lines just before its samples,
# names and label names are valid, label values are escaped, values are numbers, counters end
# in _total, and the expected families and labels are there.  -o writes the file atomically.
. "$(dirname "$0")/lib.sh"
W=$MF_PROGS/ledger_worker
[ -x "$W" ] || skip "build/tests/progs/ledger_worker missing (make test-bins)"
export MEMFENCE_LEDGER_DIR=$MF_TMP

env LD_PRELOAD="$MF_LIB" MEMFENCE_GROUP=models MEMFENCE_GROUP_LIMIT=1G MEMFENCE_LIMIT=512M \
    MEMFENCE_INSTANCE='odd "name"\x' "$W" hold 8 >"$MF_TMP/a.out" &
a=$!
env LD_PRELOAD="$MF_LIB" MEMFENCE_INSTANCE=solo "$W" hold 2 >"$MF_TMP/b.out" &
b=$!
trap 'kill -9 $a $b' EXIT
for _ in $(seq 100); do
    grep -q ready "$MF_TMP/a.out" && grep -q ready "$MF_TMP/b.out" && break
    sleep 0.1
done

check() {
python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
name_re = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*$')
label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')
help_, type_, seen_done, current = {}, {}, set(), None
samples = []
assert text.endswith("\n"), "no final newline"
for n, line in enumerate(text.split("\n")[:-1], 1):
    where = f"line {n}: {line!r}"
    if line.startswith("# HELP "):
        _, _, name, doc = line.split(" ", 3)
        assert name_re.match(name) and doc, where
        assert name not in help_, "HELP twice " + where
        if current:
            seen_done.add(current)
        help_[name] = doc; current = name
    elif line.startswith("# TYPE "):
        _, _, name, typ = line.split(" ")
        assert name == current and name not in type_, "TYPE without its HELP " + where
        assert typ in ("gauge", "counter"), where
        type_[name] = typ
    else:
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        assert m, "not a sample " + where
        name, labels, value = m.group(1), m.group(3) or "", m.group(4)
        assert name == current and name in type_, "sample outside its family " + where
        float(value)
        if type_[name] == "counter":
            assert name.endswith("_total"), where
            assert float(value) >= 0, where
        pos, got = 0, {}
        while pos < len(labels):
            lm = label_re.match(labels, pos)
            assert lm, "bad labels " + where
            assert lm.group(1) not in got, "label twice " + where
            got[lm.group(1)] = lm.group(2); pos = lm.end()
        samples.append((name, got, float(value)))
fams = set(help_)
for want in ("memfence_usage_bytes", "memfence_budget_bytes", "memfence_rss_bytes",
             "memfence_pressure_level", "memfence_refusals_total", "memfence_trims_total",
             "memfence_trimmed_bytes_total", "memfence_group_usage_bytes",
             "memfence_group_limit_bytes", "memfence_group_members"):
    assert want in fams, "missing family " + want
usage = [s for s in samples if s[0] == "memfence_usage_bytes"]
assert {s[1]["instance"] for s in usage} >= {'odd \\"name\\"\\\\x', "solo"}, usage
for s in usage:
    assert set(s[1]) == {"instance", "group", "pid", "pool"}, s
odd = [s for s in samples if s[0] == "memfence_budget_bytes" and s[1]["group"] == "models"]
assert odd and odd[0][2] == 512 << 20 and odd[0][1]["pool"] == "host", odd
lim = [s for s in samples if s[0] == "memfence_group_limit_bytes"]
assert lim == [("memfence_group_limit_bytes", {"group": "models", "pool": "host"}, float(1 << 30))], lim
mem = [s for s in samples if s[0] == "memfence_group_members"]
assert mem == [("memfence_group_members", {"group": "models"}, 1.0)], mem
print(len(samples), "samples in", len(fams), "families: valid")
PY
}
"$MF_BIN" metrics >"$MF_TMP/metrics.txt" || fail "metrics failed"
check "$MF_TMP/metrics.txt" || { cat "$MF_TMP/metrics.txt"; fail "metrics output is not valid"; }
"$MF_BIN" metrics -o "$MF_TMP/node.prom" || fail "metrics -o failed"
check "$MF_TMP/node.prom" || fail "metrics -o output is not valid"
ls "$MF_TMP" | grep -q '\.tmp\.' && fail "a temporary file was left behind"
pass "metrics exposition valid"
