#!/bin/bash
# The sampler thread: started lazily in a real program, named "memfence", every signal blocked
# (a process-directed signal never lands on it), restarted in a forked child, and not delaying
# exit.  Its start waits until the process is worth watching (usage past 1/256 of the budget,
# or sampler_wait of life): the first part checks that, the rest starts it at once
# (sampler_wait = 0).
. "$(dirname "$0")/lib.sh"
prog=$MF_PROGS/sampler_hold
[ -x "$prog" ] || fail "missing $prog (make test-bins)"
count='import os
def names(): return [open("/proc/self/task/%s/comm" % t).read().strip() for t in os.listdir("/proc/self/task")].count("memfence")'
# a small, short program never gets the thread (glibc keeps its single-threaded malloc paths)
py=$(fenced MEMFENCE_LIMIT=8G -- timeout 10 python3 -c "$count"'
import time
x = [bytearray(1000) for _ in range(1000)]
time.sleep(0.3)
print(names())')
expect_eq "$py" 0 "a small program: threads named memfence"
# usage past 1/256 of the budget starts it
py=$(fenced MEMFENCE_LIMIT=256M -- timeout 10 python3 -c "$count"'
import time
x = [bytearray(1000) for _ in range(3000)]
time.sleep(0.3)
print(names())')
expect_eq "$py" 1 "3 MB of a 256 MiB budget: threads named memfence"
# and so does sampler_wait of life, at the next allocation that leases credit
py=$(fenced MEMFENCE_LIMIT=8G MEMFENCE_SAMPLER_WAIT=200ms -- timeout 10 python3 -c "$count"'
import time
x = [bytearray(1000) for _ in range(1000)]
time.sleep(0.3)
a = names()
y = [bytearray(1000) for _ in range(1000)]
time.sleep(0.3)
print(a, names())')
expect_eq "$py" "0 1" "before and after sampler_wait: threads named memfence"
# a small group member is deferred too (a group's wrappers and helpers); a GPU charge is not
# tested here (tests/integration/gpu_fence_check.sh: its ledger row needs the thread)
py=$(fenced MEMFENCE_LEDGER_DIR="$MF_TMP" MEMFENCE_GROUP=st MEMFENCE_GROUP_LIMIT=2G -- timeout 10 python3 -c "$count"'
import time
x = [bytearray(1000) for _ in range(1000)]
time.sleep(0.3)
print(names())')
expect_eq "$py" 0 "a small group member: threads named memfence"

out=$(printf '%s\n' 'hold 1' 'wait 200' threads sigblk fork quit | timeout 10 env MEMFENCE_SAMPLER_WAIT=0 LD_PRELOAD="$MF_LIB" "$prog")
rc=$?
echo "$out"
[ $rc -eq 0 ] || fail "exit status $rc (a hang at exit times out)"
expect_eq "$(echo "$out" | sed -n 's/^threads //p')" 1 "threads named memfence"
blk=$(echo "$out" | sed -n 's/^SigBlk:[[:space:]]*//p')
[ -n "$blk" ] || fail "no SigBlk line"
# every catchable signal blocked: HUP INT QUIT USR1 USR2 PIPE ALRM TERM CHLD WINCH, RTMIN+2 (36)
for s in 1 2 3 10 12 13 14 15 17 28 36 64; do
    (( (16#$blk >> (s - 1)) & 1 )) || fail "signal $s not blocked in the sampler thread (SigBlk $blk)"
done
expect_eq "$(echo "$out" | sed -n 's/^child //p')" 0 "the forked child's own sampler thread"

# a real interpreter: the thread is there, and exits with it
py=$(fenced MEMFENCE_SAMPLER_WAIT=0 -- timeout 10 python3 -c '
import os, time
x = [bytearray(1000) for _ in range(1000)]
time.sleep(0.3)
names = [open("/proc/self/task/%s/comm" % t).read().strip() for t in os.listdir("/proc/self/task")]
print(names.count("memfence"))')
expect_eq "$py" 1 "python3: threads named memfence"

# the program's own SIGTERM handler still runs on a program thread, and exit is not delayed
# by the sampler's sleep (sample_interval 60 s here)
py=$(fenced MEMFENCE_SAMPLE_INTERVAL=60s MEMFENCE_SAMPLER_WAIT=0 -- timeout 10 python3 -c '
import os, signal, time
got = []
signal.signal(signal.SIGTERM, lambda s, f: got.append(s))
x = [bytearray(1000) for _ in range(1000)]
time.sleep(0.2)
os.kill(os.getpid(), signal.SIGTERM)
time.sleep(0.1)
print(len(got))')
rc=$?
[ $rc -eq 0 ] || fail "python3 with a 60 s interval: exit status $rc (hung at exit?)"
expect_eq "$py" 1 "the program's SIGTERM handler"
# setuid/setgid reach every thread through glibc's internal signal: the sampler's mask must
# leave it deliverable, or the call hangs
py=$(fenced MEMFENCE_SAMPLER_WAIT=0 -- timeout 10 python3 -c '
import os, time
x = [bytearray(1000) for _ in range(1000)]
time.sleep(0.3)
os.setgid(os.getgid()); os.setuid(os.getuid())
print("ok")')
expect_eq "$py" ok "setuid/setgid with the sampler running"
pass "thread named, signals blocked, restarted after fork, exit not delayed, setuid works"
