# code_layers.sh — src/ is in rooms and its calls go only down: no .c file sits directly in src/,
# every folder is in src/README.md's layer order, the folder graph of #include lines has no
# cycle and no upward edge (scripts/layers), and the check does fail on a planted upward
# include (one that closes a cycle, and one that only goes up).
. "$MF_ROOT/tests/integration/lib.sh"
command -v python3 >/dev/null || skip "no python3"
src=$MF_ROOT/src
loose=$(find "$src" -maxdepth 1 -name '*.c' -printf '%f ')
[ -z "$loose" ] || fail "source files directly in src/: $loose"
out=$("$MF_ROOT/scripts/layers" "$src"); rc=$?
expect_eq "$rc" 0 "scripts/layers on src/ (output: $out)"
echo "$out" | grep -q "^no cycle, every edge goes down: base < " || fail "no declared order checked: $out"
for d in "$src"/*/; do
    r=$(basename "$d")
    grep -qE "^Layers, bottom first:.* $r( |$)" "$src/README.md" || fail "folder $r is not in src/README.md's layers"
    grep -q "^| \`$r/\` |" "$src/README.md" || fail "folder $r has no line in src/README.md's table"
done

# planted: base/log.c includes the sampler (a cycle and an upward edge)
cp -r "$src" "$MF_TMP/src"
sed -i '0,/#include "base\/log.h"/s//#include "base\/log.h"\n#include "sampler\/sampler.h"/' "$MF_TMP/src/base/log.c"
grep -q '"sampler/sampler.h"' "$MF_TMP/src/base/log.c" || fail "could not plant the include"
out=$("$MF_ROOT/scripts/layers" "$MF_TMP/src"); rc=$?
expect_eq "$rc" 1 "scripts/layers with base -> sampler planted"
echo "$out" | grep -q "^cycle (" || fail "the planted cycle is not reported: $out"
echo "$out" | grep -q "^upward: base -> sampler goes up (base/log.c: #include \"sampler/sampler.h\")" ||
    fail "the planted upward include is not named: $out"

# planted: cli -> lifecycle goes down (passes); hooks -> cli goes up without closing a cycle
# (nothing below cli includes hooks), which only the declared order catches
rm -rf "$MF_TMP/src" && cp -r "$src" "$MF_TMP/src"
printf '#include "lifecycle/modules.h"\n' >> "$MF_TMP/src/cli/cli.h"
out=$("$MF_ROOT/scripts/layers" "$MF_TMP/src"); rc=$?
expect_eq "$rc" 0 "cli -> lifecycle is downward (output: $out)"
printf '#include "cli/cli.h"\n' >> "$MF_TMP/src/hooks/elfdyn.h"
out=$("$MF_ROOT/scripts/layers" "$MF_TMP/src"); rc=$?
expect_eq "$rc" 1 "scripts/layers with hooks -> cli planted"
echo "$out" | grep -q "^upward: hooks -> cli goes up (hooks/elfdyn.h: " || fail "hooks -> cli not named: $out"
echo "$out" | grep -q "^cycle (" && fail "hooks -> cli is no cycle, yet one is reported: $out"
pass "$(ls -d "$src"/*/ | wc -l) rooms, every include goes down; planted upward includes fail the check"
