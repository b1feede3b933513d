#!/bin/bash
# Threads allocating while the main thread forks 40 children that allocate and start a thread,
# under profiling with a small sampling rate (many unwinds in flight at each fork): no deadlock,
# no crash; each child's exit path writes its own report file without trouble.
. "$(dirname "$0")/lib.sh"
out=$(fenced MEMFENCE_PROFILE=on MEMFENCE_PROFILE_RATE=2K MEMFENCE_PROFILE_AT_EXIT="$MF_TMP/f.%p.prof" \
      -- timeout 60 "$MF_PROGS/profile_forks" 40 2>&1)
rc=$?
[ $rc -eq 124 ] && fail "deadlock: timed out"
[ $rc -eq 0 ] || fail "exit $rc: $out"
echo "$out" | grep -q '^done$' || fail "did not finish: $out"
# every process (timeout, the program, its 40 children) wrote its own at-exit report
n=$(ls "$MF_TMP"/f.*.prof | wc -l)
[ "$n" -ge 41 ] || fail "expected 41+ at-exit reports (one per process), found $n"
for f in "$MF_TMP"/f.*.prof; do
    tail -n 1 "$f" | grep -qx end || fail "$f is cut short"
done
"$MF_BIN" report "$(ls "$MF_TMP"/f.*.prof | tail -n 1)" --top 1 >/dev/null || fail "a child's report does not render"
# python forks too (os.fork with threads running) under profiling
if command -v python3 >/dev/null; then
    # the interpreter itself (a wrapper script such as pyenv's bash shims is a different
    # program; bash under profiling is fork_fds.sh)
    py=$(python3 -c 'import sys; print(sys.executable)')
    out=$(fenced MEMFENCE_PROFILE=on MEMFENCE_PROFILE_RATE=4K -- timeout 60 "$py" -c '
import os, threading
stop = False
def work():
    while not stop:
        x = [bytes(100) for _ in range(100)]
ts = [threading.Thread(target=work) for _ in range(3)]
for t in ts: t.start()
for i in range(20):
    pid = os.fork()
    if pid == 0:
        y = [bytearray(1000) for _ in range(1000)]
        os._exit(0)
    os.waitpid(pid, 0)
stop = True
for t in ts: t.join()
print("done")' 2>&1)
    rc=$?
    [ $rc -eq 124 ] && fail "python: deadlock: timed out"
    echo "$out" | grep -q '^done$' || fail "python: exit $rc: $out"
fi
pass "threads + fork under profiling"
