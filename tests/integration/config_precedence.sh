# config_precedence.sh — each level of the precedence env > [instance] > first matching [process]
# > [global] > default wins, both in `memfence check --show` (with its origin file:line) and in a
# real python3 under the preload (its budget read back through memfence_limit()).
. "$MF_ROOT/tests/integration/lib.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || skip "no /usr/bin/python3"
conf=$MF_TMP/memfence.conf
cat > "$conf" <<'CONF'
[global]
limit = 300M
moderate = 50
[process node]
limit = 200M
[process python3*]
limit = 400M
high = 70
[instance probe]
limit = 500M
CONF
chmod 600 "$conf"
noproc=$MF_TMP/global-only.conf
printf '[global]\nlimit = 300M\n[process node]\nlimit = 200M\n' > "$noproc"
chmod 600 "$noproc"

show() { env MEMFENCE_CONFIG="$conf" "$MF_BIN" check --show "$@"; }
has() { echo "$1" | grep -Eq "$2" || { echo "$1"; fail "$3: no line matching '$2'"; }; }

out=$(show --for python3) || fail "check --show failed"
has "$out" '^limit +\= 400M +# .*memfence.conf:7 \[process python3\*\]' "process level"
has "$out" '^moderate +\= 50 +# .*memfence.conf:3 \[global\]' "global level"
has "$out" '^high +\= 70 +# .*memfence.conf:8 \[process python3\*\]' "process level (high)"
has "$out" '^virtualize +\= on +# default' "default level"
out=$(show --for python3 --instance probe)
has "$out" '^limit +\= 500M +# .*memfence.conf:10 \[instance probe\]' "instance level"
has "$out" '^high +\= 70 +# .*\[process python3\*\]' "process below instance"
out=$(MEMFENCE_LIMIT=600M show --for python3 --instance probe)
has "$out" '^limit +\= 600M +# env MEMFENCE_LIMIT' "env level"
out=$(MEMFENCE_GPU_LIMIT_1=3G show --for node)
has "$out" '^limit +\= 200M +# .*memfence.conf:5 \[process node\]' "[process node]"
has "$out" '^gpu_limit.1 +\= 3G +# env MEMFENCE_GPU_LIMIT_1' "gpu_limit.N from env"

# The same levels inside a fenced python3: its budget in MiB.
limit_mib() {
    env "$@" LD_PRELOAD="$MF_LIB" "$PY" -c 'import ctypes
l = ctypes.CDLL(None); l.memfence_limit.restype = ctypes.c_uint64
v = l.memfence_limit(0); print("unlimited" if v == 2**64 - 1 else v >> 20)'
}
expect_eq "$(limit_mib MEMFENCE_CONFIG=none)" unlimited "default"
expect_eq "$(limit_mib MEMFENCE_CONFIG="$noproc")" 300 "[global]"
expect_eq "$(limit_mib MEMFENCE_CONFIG="$conf")" 400 "[process python3*]"
expect_eq "$(limit_mib MEMFENCE_CONFIG="$conf" MEMFENCE_INSTANCE=probe)" 500 "[instance probe]"
expect_eq "$(limit_mib MEMFENCE_CONFIG="$conf" MEMFENCE_INSTANCE=probe MEMFENCE_LIMIT=600M)" 600 "env"
pass "default, [global], [process], [instance] and env each win in turn"
