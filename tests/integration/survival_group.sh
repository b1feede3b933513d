# survival_group.sh — node at its group's limit, as at its own budget (survival_node.sh): a
# member without a budget of its own grows 1 MiB Buffers into a 256 MiB group, catches the
# RangeError, drops half and carries on (bench/survival/grow.js buffers prints SURVIVED).  The
# group's limit is met with the at-the-limit table and the member's levels follow the group
# (group_table.sh); before, the group's limit was strict, V8's unchecked small allocations and
# its semi-space commits were refused at it, and node aborted in 4 runs of 4.
. "$(dirname "$0")/lib.sh"
command -v node >/dev/null || skip "node is not installed"
js=$MF_ROOT/bench/survival/grow.js
runs=${MF_SURVIVAL_NODE_RUNS:-3}
ok=0
for r in $(seq 1 "$runs"); do
    MEMFENCE_CONFIG=none MEMFENCE_LEDGER_DIR=$MF_TMP MEMFENCE_GROUP=surv MEMFENCE_GROUP_LIMIT=256M \
        LD_PRELOAD=$MF_LIB timeout -k 5 60 node "$js" buffers > "$MF_TMP/out" 2> "$MF_TMP/err"
    rc=$?
    if [ $rc -eq 0 ] && grep -q SURVIVED "$MF_TMP/out"; then
        ok=$((ok + 1))
    else
        echo "== run $r: exit $rc"
        grep -a 'refused' "$MF_TMP/err" | tail -n 2 | cut -c 1-400
        grep -av '^memfence\[' "$MF_TMP/err" | grep -avE '^ *[0-9]+: 0x' | grep . | tail -n 3
    fi
done
# The refusal is the group's limit, or refuse-large when the sampler saw the group CRITICAL first
# (its tick decides which comes first; both are measured against the group)
grep -q "group surv: .* of 256.0 MiB held\|refuse-large at CRITICAL, by usage" "$MF_TMP/err" ||
    fail "no group refusal line: $(head -c 300 "$MF_TMP/err")"
expect_eq "$ok" "$runs" "runs that caught the refusal and carried on"
pass "$ok of $runs runs carried on past the group's refusal ($(cat "$MF_TMP/out"))"
