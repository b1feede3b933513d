# docs_api.sh — the README's API block (the ```c block under "## The public API") compiles
# against include/memfence.h, with strict prototypes, and names every function the header
# declares; no prose shows a call without the argument it takes.
. "$MF_ROOT/tests/integration/lib.sh"
readme=$MF_ROOT/README.md
block=$(awk '/^## The public API/ { s = 1; next } /^## / { s = 0 } s && /^```c/ { c = 1; next }
             c && /^```/ { c = 0; exit } c' "$readme")
[ -n "$block" ] || fail "README: no \`\`\`c block under '## The public API'"
{ echo '#include <memfence.h>'; echo "$block" | grep -v '^#include'; echo 'int main(void) { return 0; }'; } > "$MF_TMP/api.c"
cat "$MF_TMP/api.c"
cc -std=gnu11 -Wall -Wextra -Wstrict-prototypes -Werror -I"$MF_ROOT/include" -c -o "$MF_TMP/api.o" "$MF_TMP/api.c" ||
    fail "the README's API block does not compile against include/memfence.h"
for f in $(grep -oE '\bmemfence_[a-z_]+\(' "$MF_ROOT/include/memfence.h" | sort -u); do
    echo "$block" | grep -q "$f" || fail "README's API block lacks ${f%(}"
done
bad=$(grep -nE 'memfence_(used|limit|get_stats|get_stats_safe)\(\)' "$readme")
[ -z "$bad" ] || fail "README shows a call without its argument: $bad"
pass "the README's API block compiles and is complete"
