#!/bin/bash
# Node at its budget with default settings (issue 15): growing 1 MiB Buffers (the issue's
# one-liner, whose RangeError ends it with exit 1, and grow.js, which catches it and carries
# on), and growing small objects on the JS heap, under 32M and 64M, a few runs each: odd runs
# under `memfence run -l`, even runs under plain MEMFENCE_LIMIT + LD_PRELOAD as the issue ran
# them (either way memfence gives node a heap limit under the budget: src/family/view.c).  Every run
# must end as
# the script or V8 intends: SURVIVED (the Buffer refusal caught and the script carried on),
# the uncaught RangeError ("Array buffer allocation failed", exit 1), or V8's own documented
# end ("JavaScript heap out of memory", SIGABRT).  Never SIGSEGV, never another signal: after a
# refusal V8's garbage collector allocates small blocks it does not check
# (Worklist::PublishPushSegment), so the budget must keep room for them.  The workloads are
# bench/survival/grow.js (the survival table's).  MF_SURVIVAL_NODE_RUNS=20: the issue's 20.
# Buffers of 64 KiB and 16 KiB are small blocks, which may use the overdraft once refused: V8
# retries a refused backing store after each collection, and those retries (and the growth after
# them) ate the overdraft its collector needed until the size refused was kept out of it
# (SIGSEGV in 2 runs of 2 each before, at 64M).  Buffers of 512 KiB too: glibc serves one as a
# mapping or from its heap, 4 KiB apart, as its mmap threshold moves, and the retries were not
# known as the size refused until sizes a page apart counted as one (SIGSEGV in 4 runs of 5 at
# 64M before).  Last, the Buffer loop over jemalloc and tcmalloc (below).
. "$(dirname "$0")/lib.sh"
command -v node >/dev/null || skip "node is not installed"
js=$MF_ROOT/bench/survival/grow.js
runs=${MF_SURVIVAL_NODE_RUNS:-3}
bad=() summary=""
oneliner='const a=[]; for(;;) a.push(Buffer.alloc(1<<20))'
# three rounds of growth, each caught and dropped: each round's refusal meets glibc's mmap
# threshold where the last one left it
rounds='const sz=+process.argv[1]; let n=0; for (let r=0; r<3; r++) {
  let a=[]; try { for(;;) a.push(Buffer.alloc(sz)) } catch (e) { n++; a=null } }
console.log("SURVIVED", n)'
bad_run() {   # what: a run that did not end as intended, with memfence's and node's last lines
    bad+=("$1")
    echo "== $1"
    grep -a 'refused' "$MF_TMP/err" | tail -n 2 | cut -c 1-700
    grep -av '^memfence\[' "$MF_TMP/err" | grep -avE '^ *[0-9]+: 0x' | tail -n 4
}
for mode in oneliner buffers objects buffers:65536 buffers:16384 rounds:524288; do
    budgets="32M 64M"
    [[ $mode == *:* ]] && budgets=64M
    for budget in $budgets; do
        a=0 b=0
        for r in $(seq 1 "$runs"); do
            if [ $mode = oneliner ]; then set -- -e "$oneliner"
            elif [[ $mode == rounds:* ]]; then set -- -e "$rounds" ${mode#rounds:}
            else set -- "$js" ${mode/:/ }; fi
            if [ $((r % 2)) -eq 1 ]; then     # odd runs: memfence run; even: the issue's LD_PRELOAD
                MEMFENCE_CONFIG=none timeout -k 5 60 "$MF_BIN" run -l $budget -- node "$@" \
                    > "$MF_TMP/out" 2> "$MF_TMP/err"
            else
                MEMFENCE_CONFIG=none MEMFENCE_LIMIT=$budget LD_PRELOAD=$MF_LIB timeout -k 5 60 \
                    node "$@" > "$MF_TMP/out" 2> "$MF_TMP/err"
            fi
            rc=$?
            if [ $rc -eq 0 ] && grep -q SURVIVED "$MF_TMP/out"; then a=$((a + 1))
            elif [ $rc -eq 1 ] && grep -q 'RangeError: Array buffer allocation failed' "$MF_TMP/err"; then a=$((a + 1))
            elif { [ $rc -eq 134 ] || [ $rc -eq 1 ]; } && grep -q 'JavaScript heap out of memory' "$MF_TMP/err"; then b=$((b + 1))
            else bad_run "$mode $budget run $r: exit $rc"
            fi
        done
        summary+="$mode $budget: $a clean error, $b V8 heap OOM; "
    done
done
# Over jemalloc and tcmalloc a Buffer of 1 MiB counts its size class, exactly 1 MiB: it must be
# a large block there too (gate.h), or the growth spends the overdraft V8's collector needs after
# the first refusal and every run ends in "JavaScript heap out of memory" (12 of 12 before).  Here
# the Buffer loop must survive, as it does over glibc.
for a in jemalloc tcmalloc; do
    for budget in 32M 64M; do
        ok=0
        for r in $(seq 1 "$runs"); do
            MEMFENCE_CONFIG=none timeout -k 5 60 "$MF_BIN" run --allocator $a -l $budget -- \
                node "$js" buffers > "$MF_TMP/out" 2> "$MF_TMP/err"
            rc=$?
            if grep -q "not installed\|cannot find" "$MF_TMP/err" && [ $rc -ne 0 ]; then
                echo "$a: not installed, left out"; continue 3
            fi
            if [ $rc -eq 0 ] && grep -q SURVIVED "$MF_TMP/out"; then ok=$((ok + 1))
            else bad_run "buffers over $a $budget run $r: exit $rc"
            fi
        done
        summary+="buffers over $a $budget: $ok survived; "
    done
done
echo "$summary"
[ ${#bad[@]} -eq 0 ] || fail "${#bad[@]} runs did not end as intended: ${bad[*]}"
pass "$summary"
