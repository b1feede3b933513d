#!/bin/bash
# Safe signals (issue 15): with `high_actions = trim,signal:SIGUSR2,log` (conf/memfence.conf's
# node section, the README's example), a process that reaches HIGH without a SIGUSR2 handler
# must not be killed by the signal's default action (memfence skips it and says so once); one
# with a handler still receives it.  python3 and node have no SIGUSR2 handler by default.
. "$(dirname "$0")/lib.sh"
cat > "$MF_TMP/mf.conf" <<'CONF'
[global]
limit = 100M
level_inputs = usage
high_actions = trim,signal:SIGUSR2,log
CONF
chmod 600 "$MF_TMP/mf.conf"
# 80 MiB of 100 held (HIGH is 75-90 %), then a second and a half for the sampler to act
py_plain='import time; b = bytearray(80 << 20); time.sleep(1.5); print("alive", len(b) >> 20)'
py_handler='import signal, time
n = 0
def h(s, f):
    global n; n += 1
signal.signal(signal.SIGUSR2, h)
b = bytearray(80 << 20); time.sleep(1.5); print("alive", len(b) >> 20, "signals", n)'
js_plain='const b = Buffer.alloc(80 << 20); setTimeout(() => console.log("alive", b.length >> 20), 1500)'

run() {    # name, command...
    local name=$1; shift
    MEMFENCE_CONFIG=$MF_TMP/mf.conf timeout -k 5 60 "$MF_BIN" run -- "$@" > "$MF_TMP/$name.out" 2> "$MF_TMP/$name.err"
    echo $? > "$MF_TMP/$name.rc"
    echo "== $name: exit $(cat "$MF_TMP/$name.rc")"; cat "$MF_TMP/$name.out" "$MF_TMP/$name.err"
}
run py_plain python3 -c "$py_plain"
run py_handler python3 -c "$py_handler"
command -v node >/dev/null && run js_plain node -e "$js_plain"

grep -q 'level HIGH' "$MF_TMP/py_plain.err" || fail "python3 (no handler) never reached HIGH"
expect_eq "$(cat "$MF_TMP/py_plain.rc")" 0 "python3 without a SIGUSR2 handler at HIGH: exit status"
grep -q '^alive 80' "$MF_TMP/py_plain.out" || fail "python3 without a handler did not finish"
grep -Eqi 'sigusr2.*(skip|no handler|not sent)' "$MF_TMP/py_plain.err" ||
    fail "no line saying the signal action was skipped"
if [ -f "$MF_TMP/js_plain.rc" ]; then
    expect_eq "$(cat "$MF_TMP/js_plain.rc")" 0 "node without a SIGUSR2 handler at HIGH: exit status"
    grep -q '^alive 80' "$MF_TMP/js_plain.out" || fail "node without a handler did not finish"
fi
expect_eq "$(cat "$MF_TMP/py_handler.rc")" 0 "python3 with a SIGUSR2 handler: exit status"
grep -q '^alive 80 signals [1-9]' "$MF_TMP/py_handler.out" || fail "python3's SIGUSR2 handler never ran"
pass "no handler: not killed (python3$([ -f "$MF_TMP/js_plain.rc" ] && echo ", node")); with a handler: $(cat "$MF_TMP/py_handler.out")"
