#!/bin/bash
# A fork child has exactly its parent's descriptors, and bash's pipes and command substitutions
# work under profiling with the sampler running.  Regression: the sampler keeps its own descriptor
# table, and a fork child closed the number of the sampler's trigger descriptor in the program's
# table (fd 0, the child's stdin): bash subshells then wired one pipe to both ends and hung
# reading it (pyenv's bash shims, about 1 run in 10).
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "no python3"
py=$(python3 -c 'import sys; print(sys.executable)')
# 1. the descriptor list, parent against child, after the sampler has started (profiling keeps
#    it ticking without a budget); several forks, from the main thread and from a thread
out=$(fenced MEMFENCE_PROFILE=on MEMFENCE_PROFILE_RATE=4K -- timeout 60 "$py" -c '
import os, sys, threading, time
def fds():
    return sorted(int(f) for f in os.listdir("/proc/self/fd"))
time.sleep(0.3)                      # the sampler thread is up (first tick)
bad = 0
def one(tag):
    global bad
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(w, repr(fds()).encode())
        os._exit(0)
    want = fds()                     # the same table, listed the same way
    os.close(w)
    child = eval(os.read(r, 65536).decode())
    os.close(r)
    os.waitpid(pid, 0)
    if child != want:
        print("%s: parent had %s, child has %s" % (tag, want, child)); bad += 1
for i in range(5):
    one("main thread fork %d" % i)
t = threading.Thread(target=one, args=("fork from a thread",)); t.start(); t.join()
print("bad", bad)' 2>&1)
rc=$?
[ $rc -eq 124 ] && fail "timed out: $out"
echo "$out" | grep -qx "bad 0" || fail "a fork child lost descriptors (exit $rc): $out"

# 2. bash: pipelines and command substitutions, many forks, stdin read by subshells
script='
n=0
for i in $(seq 1 150); do
    x=$(echo "$i" | tr 0-9 a-j)
    y=$(printf "%s\n" "$x" | (read -r v; echo "${#v}"))
    [ "$y" -ge 1 ] && n=$((n + 1))
done
echo "lines $n"'
out=$(fenced MEMFENCE_PROFILE=on MEMFENCE_PROFILE_RATE=4K -- timeout 120 bash -c "sleep 0.3; $script" </dev/null 2>&1)
rc=$?
[ $rc -eq 124 ] && fail "bash hung under profiling"
echo "$out" | grep -qx "lines 150" || fail "bash under profiling (exit $rc): $out"
pass "fork children keep every descriptor; bash subshells under profiling"
