#!/bin/bash
# Waking on pressure instead of the timer: with systemd's $MEMORY_PRESSURE_WATCH naming a FIFO,
# a byte written to it makes the sampler sample at once (sample_interval is 60 s here, so only
# the wake can show the new level), and again for a second writer; without the variable the
# sampler holds a PSI trigger on memory.pressure where the kernel allows one.
. "$(dirname "$0")/lib.sh"
prog=$MF_PROGS/sampler_hold
[ -x "$prog" ] || fail "missing $prog (make test-bins)"
fifo=$MF_TMP/pressure.fifo
mkfifo "$fifo" || skip "cannot make a FIFO"
out=$(printf '%s\n' 'wait 300' 'hold 80' level "poke $fifo" level 'hold 92' "poke $fifo" level quit |
      fenced MEMFENCE_LIMIT=100M MEMFENCE_LEVEL_INPUTS=usage MEMFENCE_SAMPLE_INTERVAL=60s MEMFENCE_SAMPLER_WAIT=0 \
             MEMFENCE_HIGH_ACTIONS=none MEMFENCE_CRITICAL_ACTIONS=none MEMORY_PRESSURE_WATCH="$fifo" \
             -- "$prog" 2>"$MF_TMP/err")
echo "$out"; cat "$MF_TMP/err"
expect_eq "$(echo "$out" | sed -n 's/^level //p' | tr '\n' ' ')" "0 2 3 " "levels (timer idle, woken twice)"

# MEMORY_PRESSURE_WATCH=/dev/null: systemd's way to say "no watching"; the timer still runs
out=$(printf '%s\n' 'hold 80' level fds quit |
      fenced MEMFENCE_LIMIT=100M MEMFENCE_LEVEL_INPUTS=usage MEMORY_PRESSURE_WATCH=/dev/null -- "$prog" 2>/dev/null)
expect_eq "$(echo "$out" | sed -n 's/^level //p')" 2 "timer sampling with watching off"
expect_eq "$(echo "$out" | sed -n 's/^fds //p')" 0 "no trigger with MEMORY_PRESSURE_WATCH=/dev/null"

# the kernel's PSI trigger, where it can be had (a sampler from the first allocation: 1 MiB alone
# would not start it)
out=$(printf '%s\n' 'hold 1' 'wait 300' fds taskfds quit | fenced MEMFENCE_SAMPLER_WAIT=0 -- "$prog" 2>/dev/null)
# the trigger lives in the sampler thread's own descriptor table, never in the program's
expect_eq "$(echo "$out" | sed -n 's/^fds //p')" 0 "memfence descriptors in the program's table"
n=$(echo "$out" | sed -n 's/^taskfds //p')
psi=$(ls /sys/fs/cgroup/memory.pressure /sys/fs/cgroup/unified/memory.pressure /proc/pressure/memory 2>/dev/null | head -1)
if [ -n "$psi" ] && python3 -c "
import sys
try:
    f = open('$psi', 'r+b', buffering=0); f.write(b'some 200000 2000000\0')
except OSError: sys.exit(1)"; then
    expect_eq "$n" 1 "PSI trigger descriptor"
    pass "woken through MEMORY_PRESSURE_WATCH; PSI trigger on $psi"
fi
pass "woken through MEMORY_PRESSURE_WATCH (this kernel refuses PSI triggers here)"
