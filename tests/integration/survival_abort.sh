#!/bin/bash
# A program that tests its own memory in its SIGABRT handler, as redis-server's crash report
# does (tests/progs/abort_memtest.c: patterns over every private anonymous mapping, memfence's
# state and the allocator's among them).  memfence's sampler thread, ticking every 10 ms here,
# must have stopped at abort(): every run ends as the program means to (exit 42 from its
# handler), over glibc and jemalloc (the tick calls into jemalloc, whose state is under test
# too).  Before hooks/abort.c, 1 run in 10 ended in SIGSEGV or SIGBUS.  (redis's own
# out-of-memory panic tests memory before it calls abort(): README, "Limits of the method".)
. "$(dirname "$0")/lib.sh"
runs=${MF_ABORT_RUNS:-6}
summary="" bad=()
for a in system jemalloc; do
    ok=0
    for r in $(seq 1 "$runs"); do
        MEMFENCE_CONFIG=none MEMFENCE_SAMPLER_WAIT=0 MEMFENCE_SAMPLE_INTERVAL=10ms \
            timeout -k 5 60 "$MF_BIN" run --allocator $a -l 1G -- "$MF_PROGS/abort_memtest" 200 \
            > "$MF_TMP/out" 2> "$MF_TMP/err"
        rc=$?
        if [ $rc -ne 0 ] && grep -q "not installed\|cannot find" "$MF_TMP/err"; then
            echo "$a: not installed, left out"; continue 2
        fi
        if [ $rc -eq 42 ] && grep -q "tested [1-9][0-9]* regions" "$MF_TMP/err"; then ok=$((ok + 1))
        else bad+=("over $a run $r: exit $rc"); tail -n 3 "$MF_TMP/err"
        fi
    done
    summary+="over $a: $ok of $runs ran their handler to its end; "
done
# the sampler really runs in these processes: its thread is there before the abort
MEMFENCE_CONFIG=none MEMFENCE_SAMPLER_WAIT=0 MEMFENCE_SAMPLE_INTERVAL=10ms LD_PRELOAD=$MF_LIB \
    "$MF_PROGS/abort_memtest" 200 2>/dev/null &
pid=$!
sleep 0.1
threads=$(cat /proc/$pid/task/*/comm 2>/dev/null | tr '\n' ' ')
wait $pid
echo "$threads" | grep -q memfence || fail "the sampler was not running before abort(): $threads"
echo "$summary"
[ ${#bad[@]} -eq 0 ] || fail "${#bad[@]} runs did not end as the program meant: ${bad[*]}"
pass "$summary"
