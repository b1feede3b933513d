# core_run: the memfence command — run with a budget, bad values refused with exit 2, the
# allocator chained after memfence, help and version; a malformed MEMFENCE_LIMIT under a bare
# preload gives one line and pass-through; the public header degrades without the library.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "python3 not installed"

out=$("$MF_BIN" run -l 64M -- python3 -c 'bytearray(100<<20)' 2>&1); rc=$?
[ $rc -eq 1 ] || fail "run -l 64M: exit $rc, expected 1: $out"
echo "$out" | grep -q MemoryError || fail "no MemoryError: $out"
"$MF_BIN" run -l 512M -- python3 -c 'bytearray(100<<20)' || fail "run -l 512M failed"

out=$("$MF_BIN" run -l 12Q -- true 2>&1); rc=$?
[ $rc -eq 2 ] || fail "run -l 12Q: exit $rc, expected 2"
echo "$out" | grep -q "not a size" || fail "no clear error for -l 12Q: $out"
out=$(MEMFENCE_LIMIT=lots "$MF_BIN" run -- true 2>&1); rc=$?
[ $rc -eq 2 ] || fail "MEMFENCE_LIMIT=lots under run: exit $rc, expected 2: $out"
out=$("$MF_BIN" run --allocator nosuch -- true 2>&1); rc=$?
[ $rc -eq 2 ] || fail "--allocator nosuch: exit $rc"
out=$("$MF_BIN" run -- /nonexistent/program 2>&1); rc=$?
[ $rc -eq 127 ] || fail "missing program: exit $rc, expected 127: $out"
"$MF_BIN" --version | grep -q "^memfence [0-9]" || fail "--version"
"$MF_BIN" run --help | grep -q -- "--allocator" || fail "run --help"
"$MF_BIN" nosuch >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown command: exit not 2"

# the exit status and signals are the command's own (run execs it)
"$MF_BIN" run -- sh -c 'exit 7'; [ $? -eq 7 ] || fail "exit status not passed through"
"$MF_BIN" run -- sh -c 'kill -TERM $$'; [ $? -eq 143 ] || fail "signal not passed through"
# LD_PRELOAD keeps what was there, memfence first, once
pre=$(LD_PRELOAD="$MF_TLIB/core_ctor.so" "$MF_BIN" run -- sh -c 'echo "$LD_PRELOAD"')
case "$pre" in "$MF_LIB $MF_TLIB/core_ctor.so") ;; *) fail "LD_PRELOAD became '$pre'" ;; esac
pre=$(LD_PRELOAD="$MF_LIB" "$MF_BIN" run -- sh -c 'echo "$LD_PRELOAD"')
[ "$pre" = "$MF_LIB" ] || fail "memfence preloaded twice: '$pre'"

# --allocator jemalloc: jemalloc becomes the process's allocator, memfence fences it
if [ -e /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 ]; then
    out=$("$MF_BIN" run -l 64M --allocator jemalloc -- python3 -c '
maps = open("/proc/self/maps").read()
print("jemalloc" if "libjemalloc" in maps else "no jemalloc")
try:
    bytearray(100 << 20)
except MemoryError:
    print("MemoryError")' 2>&1)
    echo "$out" | grep -q "^jemalloc" || fail "jemalloc not loaded: $out"
    echo "$out" | grep -q "^MemoryError" || fail "jemalloc-backed python3 not fenced: $out"
    echo "$out" | grep -q "refused malloc(100.0 MiB)" || fail "no refusal line under jemalloc: $out"
fi

# a malformed value under a bare preload: one clear line, then pass-through (the host lives).
# The interpreter itself, not a wrapper script (pyenv's shims exec several programs).
py=$(python3 -c 'import sys; print(sys.executable)')
out=$(fenced MEMFENCE_LIMIT=12Q -- "$py" -c 'print(len(bytearray(100<<20)))' 2>&1); rc=$?
[ $rc -eq 0 ] || fail "malformed MEMFENCE_LIMIT took the program down: $out"
[ "$(echo "$out" | grep -c 'MEMFENCE_LIMIT')" -eq 1 ] || fail "not exactly one line: $out"
echo "$out" | grep -q "^104857600$" || fail "program output lost: $out"

# include/memfence.h without the library: memfence_present() is false, the program runs
out=$("$MF_PROGS/core_edge" 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q "memfence is not loaded" || fail "weak API without the library: $rc $out"
pass
