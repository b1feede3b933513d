# fail_python.sh — injected failures in a real interpreter: python3 raises MemoryError at the
# injected allocation and goes on; count= lets the next one through.
. "$MF_ROOT/tests/integration/lib.sh"
command -v python3 >/dev/null || skip "no python3"
out=$(fenced 'MEMFENCE_FAIL=size>=64M,count=1' MEMFENCE_FAIL_LOG=on -- python3 -c '
try:
    b = bytearray(100 * 1024 * 1024)
    print("no error")
except MemoryError:
    print("MemoryError")
c = bytearray(100 * 1024 * 1024)
print("second", len(c) >> 20)
try:
    x = [0] * (20 * 1000 * 1000)
    print("list", len(x))
except MemoryError:
    print("list MemoryError")
' 2>"$MF_TMP/err")
expect_eq "$out" "MemoryError
second 100
list 20000000" "python3 with size>=64M,count=1"
grep -q 'injected failure 1 at eligible call 1' "$MF_TMP/err" || fail "no injected-failure line: $(cat "$MF_TMP/err")"

# every 2nd large call: the 1st bytearray works, the 2nd raises, the 3rd works
out=$(fenced 'MEMFENCE_FAIL=size>=32M,every=2' -- python3 -c '
r = []
for i in range(4):
    try:
        b = bytearray(40 << 20); r.append("ok"); del b
    except MemoryError:
        r.append("MemoryError")
print(" ".join(r))
' 2>"$MF_TMP/err")
expect_eq "$out" "ok MemoryError ok MemoryError" "python3 with size>=32M,every=2"
pass "python3 raises MemoryError at the injected point"
