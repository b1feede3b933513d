# docs_man.sh — memfence(1) documents every subcommand and every option its --help lists; every
# subcommand's --help prints its full usage on standard output and exits 0; report takes PID|FILE.
. "$MF_ROOT/tests/integration/lib.sh"
command -v man >/dev/null || skip "no man (apt-get install man-db)"
page=$MF_BUILD/man/memfence.1
[ -f "$page" ] || fail "$page not built (make)"
text=$(MANWIDTH=200 man -l "$page" 2>/dev/null)
cmds=$("$MF_BIN" --help | sed -nE 's/^  ([a-z]+) +[a-z].*/\1/p' | grep -v '^memfence$')
[ -n "$cmds" ] || fail "memfence --help lists no commands"
missing=()
for c in $cmds; do
    echo "$text" | grep -Eq "^ +memfence $c\b" || missing+=("synopsis: memfence $c")
    help=$("$MF_BIN" "$c" --help 2>"$MF_TMP/err"); rc=$?
    expect_eq "$rc" 0 "memfence $c --help: exit status"
    [ -s "$MF_TMP/err" ] && fail "memfence $c --help wrote to stderr: $(cat "$MF_TMP/err")"
    [ "$(echo "$help" | wc -l)" -ge 3 ] || fail "memfence $c --help prints no option list: $help"
    # the part of the page about this subcommand: from its COMMANDS entry to the next one
    sect=$(echo "$text" | awk -v c="$c" '/^COMMANDS/ { in_c = 1 } /^[A-Z]/ && !/^COMMANDS/ { in_c = 0 }
        in_c && $0 ~ "^       [a-z]+ *( |$)" { cur = $1 } in_c && cur == c')
    [ -n "$sect" ] || { missing+=("COMMANDS entry for $c"); continue; }
    for o in $(echo "$help" | grep -oE '(^|[ ,\[])--?[a-zA-Z][a-z-]*' | sed 's/^[ ,[]//' | sort -u); do
        # run's sweep options may be given as `run --fail-sweep`; man-keys is check's too
        echo "$sect" | grep -q -- "$o\b" || missing+=("$c $o")
    done
done
[ ${#missing[@]} -eq 0 ] || fail "memfence(1) lacks: ${missing[*]}"
echo "$text" | grep -Eq "memfence report PID\|FILE" || fail "memfence(1) does not say report PID|FILE"
echo "$text" | grep -q -- "--version" || fail "memfence(1) lacks --version"
pass "memfence(1) names $(echo $cmds | wc -w) commands and every option of their --help"
