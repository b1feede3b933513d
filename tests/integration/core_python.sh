# core_python: python3 under the preload — identical output with a generous budget, MemoryError
# (exit 1, no signal) with a tight one, and the issue's two command lines.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "python3 not installed"
script='import json, hashlib, collections
d = collections.Counter(str(i % 977) for i in range(200000))
print(len(d), hashlib.sha256(json.dumps(sorted(d.items())).encode()).hexdigest())
print(sum(len(bytes(1000)) for _ in range(10000)))'
want=$(python3 -c "$script") || fail "python3 alone failed"
got=$(fenced MEMFENCE_LIMIT=512M -- python3 -c "$script") || fail "python3 under memfence failed"
expect_eq "$got" "$want" "generous budget output"
got=$(fenced -- python3 -c "$script") || fail "python3 counting-only failed"
expect_eq "$got" "$want" "counting-only output"

cd "$MF_ROOT"
out=$(MEMFENCE_LIMIT=64M LD_PRELOAD=build/libmemfence.so python3 -c 'bytearray(100<<20)' 2>&1)
rc=$?
[ $rc -eq 1 ] || fail "64M: exit $rc, expected 1: $out"
echo "$out" | grep -q MemoryError || fail "64M: no MemoryError: $out"
echo "$out" | grep -q "refused malloc(100.0 MiB) in python3" || fail "64M: no refusal line: $out"
MEMFENCE_LIMIT=512M LD_PRELOAD=build/libmemfence.so python3 -c 'bytearray(100<<20)' || fail "512M failed"

# a program that handles the error and goes on
out=$(fenced MEMFENCE_LIMIT=100M -- python3 -c '
blocks = []
try:
    while True:
        blocks.append(bytearray(8 << 20))
except MemoryError:
    n = len(blocks)
    blocks.clear()
    x = bytearray(50 << 20)
    print("recovered after", n, "blocks")
' 2>/dev/null) || fail "recovery run failed: $out"
echo "$out" | grep -q "recovered after" || fail "no recovery: $out"
pass
