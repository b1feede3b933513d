#!/bin/bash
# python3 at its budget with default settings: growing bytearrays of 4 KiB, 64 KiB and 1 MiB into
# -l 64M (bench/survival/grow.py bytes SIZE), a few runs each.  Every run must catch its
# MemoryError, drop half and carry on (SURVIVED): CPython's own error path allocates after the
# refusal (del a[n//2:] takes a block for the items it drops, larger than a 4 KiB one), which the
# overdraft serves.  Blocks of the size refused stay out of the overdraft (gate.h), but only that
# size: closing everything larger than it ended these runs with a second MemoryError inside the
# handler.  Last, 4 KiB bytearrays over tcmalloc and jemalloc: there CPython's 1 MiB arena
# mappings are refused (at B - H/2) before any block is, CPython falls back to malloc without a
# word, and when that refusal opened the overdraft the growth spent it, so the handler's `del`
# was refused again (5 runs of 5 over tcmalloc before; gate.c: open_grace).  Debian's python3
# where there is one (the one users run; a pyenv build lays its heap out otherwise).
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "python3 is not installed"
py=$MF_ROOT/bench/survival/grow.py
py3=$(command -v /usr/bin/python3 || command -v python3)
runs=${MF_SURVIVAL_PY_RUNS:-2}
bad=() summary=""
for case in system:4096 system:65536 system:1048576 tcmalloc:4096 jemalloc:4096; do
    a=${case%:*} size=${case#*:}
    ok=0
    for r in $(seq 1 "$runs"); do
        MEMFENCE_CONFIG=none timeout -k 5 60 "$MF_BIN" run --allocator $a -l 64M -- \
            "$py3" "$py" bytes $size > "$MF_TMP/out" 2> "$MF_TMP/err"
        rc=$?
        if [ $rc -ne 0 ] && grep -q "not installed\|cannot find" "$MF_TMP/err"; then
            echo "$a: not installed, left out"; continue 2
        fi
        if [ $rc -eq 0 ] && grep -q SURVIVED "$MF_TMP/out"; then
            ok=$((ok + 1))
        else
            bad+=("bytes $size over $a run $r: exit $rc")
            grep -a 'refused' "$MF_TMP/err" | tail -n 2 | cut -c 1-300
            grep -av '^memfence\[' "$MF_TMP/err" | tail -n 3
        fi
    done
    summary+="bytes $size over $a: $ok of $runs survived; "
done
echo "$summary"
[ ${#bad[@]} -eq 0 ] || fail "${#bad[@]} runs did not survive: ${bad[*]}"
pass "$summary"
