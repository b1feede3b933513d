# group_ini: a [group NAME] section of the INI file gives the group its budget (and a member that
# sets no reserve the group's), with MEMFENCE_GROUP_LIMIT still winning over the file.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "python3 not installed"
cat > "$MF_TMP/m.conf" <<'C'
[global]
group = models
[group models]
limit = 40M
C
chmod 600 "$MF_TMP/m.conf"
# the strict budget (no headroom, no overdraft): the group's limit to the byte (group_table.sh
# checks the at-the-limit table against a group's limit)
export MEMFENCE_HEADROOM=0 MEMFENCE_OVERDRAFT=0
prog='
a = bytearray(30 << 20)
try:
    b = bytearray(20 << 20)
    print("granted")
except MemoryError:
    print("refused")'
out=$(fenced MEMFENCE_CONFIG="$MF_TMP/m.conf" MEMFENCE_LEDGER_DIR="$MF_TMP" -- python3 -c "$prog" 2>&1)
echo "$out"
echo "$out" | grep -q "^refused" || fail "the [group models] limit of 40M did not refuse 50M"
echo "$out" | grep -q "group models: .* of 40.0 MiB held" || fail "no group refusal line"
out=$(fenced MEMFENCE_CONFIG="$MF_TMP/m.conf" MEMFENCE_LEDGER_DIR="$MF_TMP" MEMFENCE_GROUP_LIMIT=200M \
      -- python3 -c "$prog" 2>&1)
echo "$out" | grep -q "^granted" || fail "MEMFENCE_GROUP_LIMIT=200M did not win over the file: $out"
pass
