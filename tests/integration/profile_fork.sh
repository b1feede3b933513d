#!/bin/bash
# Threads allocating while the main thread forks 40 children that allocate and start a thread,
# under profiling with a small sampling rate (many unwinds in flight at each fork): no deadlock,
# no crash; each child's exit path writes its own report file without trouble.
. "$(dirname "$0")/lib.sh"
out=$(fenced MEMFENCE_PROFILE=on MEMFENCE_PROFILE_RATE=2K \
      -- timeout 60 "$MF_PROGS/profile_forks" 40 2>&1)
rc=$?
[ $rc -eq 124 ] && fail "deadlock: timed out"
[ $rc -eq 0 ] || fail "exit $rc: $out"
echo "$out" | grep -q '^done$' || fail "did not finish: $out"
# python forks too (os.fork with threads running) under profiling
if command -v python3 >/dev/null; then
    out=$(fenced MEMFENCE_PROFILE=on MEMFENCE_PROFILE_RATE=4K -- timeout 60 python3 -c '
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
