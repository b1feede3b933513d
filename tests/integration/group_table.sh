# group_table.sh — a group's limit is met with the same at-the-limit table as a budget (README,
# "At the limit"): a member without a budget of its own stops large blocks at G - H, and once
# refused its small blocks may go past G, but never past G + O (H, O: shares of the group limit,
# here the floors 8 MiB and 4 MiB); and its sampler measures the pressure against the group's
# limit (a level line names it).  Before, a group's limit was strict and a member without its
# own budget had no levels at all.  The overdraft opens when a small block is refused (at G), not
# when a large one is: the 256 KiB blocks after the large refusal stop at G, and blocks of
# another small size (64 KiB) then go past it, never past G + O.
. "$MF_ROOT/tests/integration/lib.sh"
command -v python3 >/dev/null || skip "python3 not installed"
prog='
import ctypes
lib = ctypes.CDLL(None)
lib.memfence_used.restype = ctypes.c_uint64
M = 1 << 20
big, small = [], []
try:
    while True:
        big.append(bytearray(2 * M))
except MemoryError:
    pass
print("large", lib.memfence_used(0))
try:
    while True:
        small.append(bytearray(256 << 10))
except MemoryError:
    pass
print("small", lib.memfence_used(0))
more = []
try:
    while True:
        more.append(bytearray(64 << 10))
except MemoryError:
    pass
print("more", lib.memfence_used(0), flush=True)
import time
time.sleep(0.5)     # held at the limit: the sampler ticks and names its level'
out=$(fenced MEMFENCE_LEDGER_DIR="$MF_TMP" MEMFENCE_GROUP=tbl MEMFENCE_GROUP_LIMIT=64M \
      MEMFENCE_SAMPLER_WAIT=0 MEMFENCE_SAMPLE_INTERVAL=20ms -- python3 -c "$prog" 2>"$MF_TMP/err")
echo "$out"
M=$((1 << 20)); G=$((64 * M)); H=$((8 * M)); O=$((4 * M))
large=$(echo "$out" | sed -n 's/^large //p')
small=$(echo "$out" | sed -n 's/^small //p')
more=$(echo "$out" | sed -n 's/^more //p')
[ -n "$large" ] && [ -n "$small" ] && [ -n "$more" ] || fail "no figures: $out $(tail -3 "$MF_TMP/err")"
# large blocks: refused at G - H (the group total also holds the member's idle credit, at most
# two chunks of G/256), not at G
[ "$large" -le $((G - H)) ] || fail "large blocks went to $large, past G - H = $((G - H))"
[ "$large" -gt $((G - H - 4 * M)) ] || fail "large blocks stopped at $large, well before G - H"
# small blocks after the large refusal: up to G (that refusal left the overdraft shut)
[ "$small" -le "$G" ] || fail "small blocks went to $small, past G = $G after a large refusal"
[ "$small" -gt $((G - M)) ] || fail "small blocks stopped at $small, well before G = $G"
# once one was refused: other small sizes past G, never past G + O
[ "$more" -gt "$G" ] || fail "small blocks stopped at $more, not past the group limit $G"
[ "$more" -le $((G + O)) ] || fail "small blocks went to $more, past G + O = $((G + O))"
grep -q "group tbl: .* of 64.0 MiB held" "$MF_TMP/err" || fail "no group refusal line: $(head -3 "$MF_TMP/err")"
grep -qE "level [A-Z]+ .*usage [0-9.]+ MiB of 64.0 MiB" "$MF_TMP/err" ||
    fail "no level measured against the group's limit: $(grep level "$MF_TMP/err" | head -3)"
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
pass "large blocks stop at $(mib "$large") MiB (G - H = 56), small ones at $(mib "$small") MiB (G = 64), once refused at $(mib "$more") MiB (G + O = 68); levels on the group's 64 MiB"
