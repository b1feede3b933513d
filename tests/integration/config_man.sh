# config_man.sh — memfence(1) and memfence.conf(5) render without warnings, and the key table of
# memfence.conf(5), generated from src/config/config_keys.h, names every key.
. "$MF_ROOT/tests/integration/lib.sh"
command -v man >/dev/null || skip "no man (apt-get install man-db)"
for p in "$MF_BUILD/man/memfence.1" "$MF_BUILD/man/memfence.conf.5"; do
    [ -f "$p" ] || fail "$p not built (make)"
    w=$(MANWIDTH=80 man --warnings -l "$p" 2>&1 >/dev/null)
    [ -z "$w" ] || fail "$p renders with warnings: $w"
done
text=$(MANWIDTH=200 man -l "$MF_BUILD/man/memfence.conf.5" 2>/dev/null)
for k in $(sed -nE 's/^ +X\(([a-z_]+),.*/\1/p' "$MF_ROOT/src/config/config_keys.h"); do
    echo "$text" | grep -Eq "^ +$k = " || fail "memfence.conf(5) lacks the key $k"
    up=$(echo "$k" | tr a-z A-Z)
    echo "$text" | grep -q "MEMFENCE_$up\b" || fail "memfence.conf(5) lacks MEMFENCE_$up"
done
for v in $(sed -nE 's/^ +E\(([A-Z_]+),.*/\1/p' "$MF_ROOT/src/config/config_keys.h"); do
    echo "$text" | grep -q "MEMFENCE_$v\b" || fail "memfence.conf(5) lacks the variable MEMFENCE_$v"
done
pass "both pages render cleanly; every key and variable is in memfence.conf(5)"
