# config_perms.sh — a configuration file another user could have written is refused with a clear
# line (world-writable, group-writable by a foreign group, owned by another user, in a directory
# others can write), and the process runs on the defaults.
. "$MF_ROOT/tests/integration/lib.sh"
[ "$(id -u)" -eq 0 ] || skip "needs root to create files owned by another user"
dir=$MF_TMP/etc
mkdir -p "$dir"
chmod 755 "$dir"
conf=$dir/memfence.conf
printf '[global]\nlimit = 123M\n' > "$conf"

probe() {   # the limit a fenced process gets, as `memfence check --show` says
    MEMFENCE_CONFIG=$conf "$MF_BIN" check --show 2>&1
}
chmod 644 "$conf"
probe | grep -Eq '^limit += 123M' || fail "a clean file was not read"

chmod 666 "$conf"
out=$(probe); rc=$?
echo "$out"
expect_eq "$rc" 2 "check on a world-writable file"
echo "$out" | grep -q "memfence.conf: refused: other users can write it (mode 666)" || fail "no refusal line"
echo "$out" | grep -Eq '^limit += 123M' && fail "a world-writable file was used"
# inside a fenced process: one line, and the program runs with the defaults
out=$(MEMFENCE_CONFIG=$conf LD_PRELOAD="$MF_LIB" sh -c 'echo ran' 2>&1)
echo "$out" | grep -q '^ran$' || fail "the fenced program did not run"
echo "$out" | grep -q 'refused: other users can write it' || fail "the fenced program did not say why"

chmod 664 "$conf"; chgrp nogroup "$conf" 2>/dev/null || chgrp 65534 "$conf"
out=$(probe); echo "$out"
echo "$out" | grep -q "refused: other users can write it (mode 664)" || fail "group-writable (foreign group) not refused"

chmod 644 "$conf"; chown 65534 "$conf"
out=$(probe); echo "$out"
echo "$out" | grep -q "refused: owned by uid 65534, neither root nor this user" || fail "foreign owner not refused"

chown 0:0 "$conf"; chmod 777 "$dir"
out=$(probe); echo "$out"
echo "$out" | grep -q "refused: its directory .*/etc can be written by other users" || fail "writable directory not refused"
chmod 1777 "$dir"
probe | grep -Eq '^limit += 123M' || fail "a sticky world-writable directory should be fine"
pass "world/group-writable, foreign-owned files and writable directories refused"
