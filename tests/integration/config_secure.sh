# config_secure.sh — in secure-execution mode (a set-user-ID root copy of the memfence command
# run by an unprivileged user) MEMFENCE_CONFIG is ignored; the same copy without the set-user-ID
# bit, run by the same user, reads it.  (The preload itself is not loaded into set-user-ID
# programs from a non-system path, so the command stands in for it: both call the same loader.)
. "$MF_ROOT/tests/integration/lib.sh"
[ "$(id -u)" -eq 0 ] || skip "needs root to make a set-user-ID root copy"
command -v setpriv >/dev/null || skip "no setpriv"
id nobody >/dev/null 2>&1 || skip "no user nobody"
chmod 755 "$MF_TMP"
cp "$MF_BIN" "$MF_TMP/memfence-plain"
cp "$MF_BIN" "$MF_TMP/memfence-suid"
chmod 755 "$MF_TMP/memfence-plain"
chmod 4755 "$MF_TMP/memfence-suid"
conf=$MF_TMP/user.conf
printf '[global]\nlimit = 123M\n' > "$conf"
chmod 644 "$conf"
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups env MEMFENCE_CONFIG="$conf" "$@"; }

out=$(as_nobody "$MF_TMP/memfence-plain" check --show 2>&1)
echo "$out" | grep -Eq '^limit += 123M' || { echo "$out"; skip "nobody cannot read $conf here"; }
out=$(as_nobody "$MF_TMP/memfence-suid" check --show 2>&1)
echo "$out"
# nosuid mounts make the bit a no-op: then this proves nothing
stat -c %A "$MF_TMP/memfence-suid" | grep -q s || skip "set-user-ID bit did not stick"
findmnt -no OPTIONS -T "$MF_TMP" 2>/dev/null | grep -qw nosuid && skip "$MF_TMP is mounted nosuid"
echo "$out" | grep -Eq '^limit += 123M' && fail "secure-execution mode read MEMFENCE_CONFIG"
echo "$out" | grep -q "user.conf" && fail "secure-execution mode named MEMFENCE_CONFIG's file"
pass "MEMFENCE_CONFIG ignored in secure-execution mode, read without it"
