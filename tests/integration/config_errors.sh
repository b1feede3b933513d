# config_errors.sh — every kind of configuration error is reported as file:line: message: by
# `memfence check` (all of them, exit 2), by `memfence run` (exit 2, nothing started), and inside
# a fenced python3 (each printed once; the process runs; the broken key keeps its default).
. "$MF_ROOT/tests/integration/lib.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || skip "no /usr/bin/python3"
conf=$MF_TMP/bad.conf
cat > "$conf" <<'CONF'
[global]
limt = 1G
limit = 300M
high = 150
moderate = 50
moderate = 55
[proces python3]
this is not an ini line
[process python3*]
limit = 12X
[process python3]
[unterminated
group = nosuch
CONF
chmod 600 "$conf"
expected=(
    "bad.conf:2: unknown key 'limt' (did you mean 'limit'?)"
    "bad.conf:4: high: 150 is out of bounds"
    "bad.conf:6: duplicate key 'moderate' in \[global\] (first set on line 5)"
    "bad.conf:7: section \[proces python3\] matches nothing (did you mean \[process python3\]?)"
    "bad.conf:8: cannot parse this line"
    "bad.conf:10: limit: '12X' is not a size"
    "bad.conf:11: section \[process python3\] matches nothing: \[process python3\*\] on line 9 comes first"
    "bad.conf:12: section header without '\]'"
    "bad.conf:13: group 'nosuch' has no \[group nosuch\] section"
)

out=$("$MF_BIN" check -c "$conf" 2>&1); rc=$?
echo "$out"
expect_eq "$rc" 2 "memfence check exit status"
for e in "${expected[@]}"; do
    echo "$out" | grep -q -- "$e" || fail "check did not report: $e"
done
echo "$out" | grep -q '9 problems' || fail "check did not count 9 problems"

rm -f "$MF_TMP/started"
out=$(MEMFENCE_CONFIG=$conf "$MF_BIN" run -- touch "$MF_TMP/started" 2>&1); rc=$?
expect_eq "$rc" 2 "memfence run exit status"
[ -e "$MF_TMP/started" ] && fail "memfence run started the command despite the errors"
echo "$out" | grep -q "bad.conf:10: limit: '12X'" || fail "run did not print the errors"

# Inside a fenced process: each problem once, the program runs, the broken limit of
# [process python3*] falls back to the built-in default (unlimited), not to [global]'s 300M.
out=$(MEMFENCE_CONFIG=$conf LD_PRELOAD="$MF_LIB" "$PY" -c 'import ctypes
l = ctypes.CDLL(None); l.memfence_limit.restype = ctypes.c_uint64
v = l.memfence_limit(0); print("limit", "unlimited" if v == 2**64 - 1 else v >> 20)' 2>&1)
rc=$?
echo "$out"
expect_eq "$rc" 0 "fenced python3 exit status"
echo "$out" | grep -qx 'limit unlimited' || fail "broken limit did not keep the default"
for e in "${expected[@]}"; do
    n=$(echo "$out" | grep -c -- "$e")
    expect_eq "$n" 1 "times the fenced process printed '$e'"
done
pass "9 kinds of errors, each with file:line, in check, run and a fenced process"
