#!/bin/bash
# python3 at its budget with default settings: growing bytearrays of 4 KiB, 64 KiB and 1 MiB into
# -l 64M (bench/survival/grow.py bytes SIZE), a few runs each.  Every run must catch its
# MemoryError, drop half and carry on (SURVIVED): CPython's own error path allocates after the
# refusal (del a[n//2:] takes a block for the items it drops, larger than a 4 KiB one), which the
# overdraft serves.  Blocks of the size refused stay out of the overdraft (gate.h), but only that
# size: closing everything larger than it ended these runs with a second MemoryError inside the
# handler.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "python3 is not installed"
py=$MF_ROOT/bench/survival/grow.py
runs=${MF_SURVIVAL_PY_RUNS:-2}
bad=() summary=""
for size in 4096 65536 1048576; do
    ok=0
    for r in $(seq 1 "$runs"); do
        MEMFENCE_CONFIG=none timeout -k 5 60 "$MF_BIN" run -l 64M -- python3 "$py" bytes $size \
            > "$MF_TMP/out" 2> "$MF_TMP/err"
        rc=$?
        if [ $rc -eq 0 ] && grep -q SURVIVED "$MF_TMP/out"; then
            ok=$((ok + 1))
        else
            bad+=("bytes $size run $r: exit $rc")
            grep -av '^memfence\[' "$MF_TMP/err" | tail -n 3
        fi
    done
    summary+="bytes $size: $ok of $runs survived; "
done
echo "$summary"
[ ${#bad[@]} -eq 0 ] || fail "${#bad[@]} runs did not survive: ${bad[*]}"
pass "$summary"
