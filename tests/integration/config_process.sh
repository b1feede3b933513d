# config_process.sh — `[process python3*]` gives real python3 processes their own budget while a
# real node keeps the [global] one, under the preload.
. "$MF_ROOT/tests/integration/lib.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || skip "no /usr/bin/python3"
command -v node >/dev/null || skip "no node"
conf=$MF_TMP/memfence.conf
printf '[global]\nlimit = 256M\n\n[process python3*]\nlimit = 1G\n' > "$conf"
chmod 644 "$conf"
export MEMFENCE_CONFIG=$conf

out=$(LD_PRELOAD="$MF_LIB" "$PY" -c 'import ctypes
l = ctypes.CDLL(None); l.memfence_limit.restype = ctypes.c_uint64
b = bytearray(600 << 20)
print(l.memfence_limit(0) >> 20, len(b) >> 20)' 2>&1) || fail "python3 under its own 1G budget failed: $out"
expect_eq "$out" "1024 600" "python3: budget MiB and the 600 MiB it got"

out=$(LD_PRELOAD="$MF_LIB" node -e '
const small = Buffer.alloc(64 << 20); small.fill(1);
try { Buffer.alloc(600 << 20); console.log("big granted"); }
catch (e) { console.log("big refused"); }' 2>&1)
echo "$out"
echo "$out" | grep -q '^big refused$' || fail "node was not held to the global 256M budget"
echo "$out" | grep -q 'budget 256.0 MiB' || fail "node's refusal does not name the 256 MiB budget"
pass "python3 got 1G from [process python3*]; node kept the global 256M"
