# code_sizes.sh — no source file under src/ is over 800 lines and no function over 100
# (scripts/sizes); and scripts/sizes does catch a long function planted in a copy of a file.
. "$MF_ROOT/tests/integration/lib.sh"
command -v python3 >/dev/null || skip "no python3"
sizes=$MF_ROOT/scripts/sizes
out=$("$sizes" "$MF_ROOT/src" 2>&1); rc=$?
[ $rc -eq 0 ] || fail "scripts/sizes src/ exited $rc: $out"
# the check itself: a small file of src/ plus a 120-line function must fail, naming it
mkdir -p "$MF_TMP/src/base"
small=$(ls -S "$MF_ROOT"/src/*/*.c | tail -n 1)
cp "$small" "$MF_TMP/src/base/planted.c"
"$sizes" "$MF_TMP/src" >/dev/null || fail "scripts/sizes fails on an unchanged copy of $small"
{
    printf '\nstatic int\nplanted_long(int x)\n{\n'
    for i in $(seq 1 115); do printf '    x += %d;\n' "$i"; done
    printf '    return x;\n}\n'
} >>"$MF_TMP/src/base/planted.c"
out=$("$sizes" "$MF_TMP/src" 2>&1); rc=$?
expect_eq "$rc" 1 "scripts/sizes on a planted 120-line function: exit status"
echo "$out" | grep -q "planted.c:[0-9]*: function planted_long 120 lines" \
    || fail "scripts/sizes does not name the planted function: $out"
pass "src/ within limits; a planted 120-line function is caught"
