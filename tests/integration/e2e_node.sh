#!/bin/bash
# The Node chat worker story as a test (examples/node-chat): a real node worker whose sessions
# arrive faster than they idle out.  Under memfence with its INI section (160 MiB, SIGUSR2 at
# HIGH, trim, refuse-large at CRITICAL) it must get the signal, drop idle sessions, run to the
# end and keep its RSS inside the budget at every sample.  Without memfence, in a memory cgroup
# capped at the same 160 MiB, the kernel usually kills it; what it did is reported, not asserted
# (skipped, saying why, where no memory cgroup can be made).
. "$(dirname "$0")/lib.sh"
command -v node >/dev/null || skip "node is not installed"
grep -q -a -F "sent to the process at level" "$MF_LIB" ||
    skip "this build has no sampler (levels and signal:SIG actions): the story needs it"
run=$MF_ROOT/examples/node-chat/run.sh
export MEMFENCE=$MF_BIN MEMFENCE_LEDGER_DIR=$MF_TMP

line=$("$run" fenced "$MF_TMP/fenced.dat" 12 | tail -n 1)
log=$MF_TMP/fenced.dat.log
[[ "$line" == result* ]] || fail "fenced run did not run: $line"
sum=$(grep '^summary:' "$log")
grep -q "exit=0 " <<<"$line" || fail "the worker did not run to the end: $line; $(tail -n 5 "$log")"
signals=$(sed -n 's/.* signals=\([0-9]*\).*/\1/p' <<<"$sum")
dropped=$(sed -n 's/.* dropped=\([0-9]*\).*/\1/p' <<<"$sum")
[ "${signals:-0}" -ge 1 ] || fail "the worker got no SIGUSR2: $sum"
[ "${dropped:-0}" -ge 1 ] || fail "the worker dropped no session: $sum"
grep -q 'signal:SIGUSR2 sent to the process' "$log" || fail "memfence did not say it sent SIGUSR2"
over=$(awk '$2 > 160 { n++ } END { print n + 0 }' "$MF_TMP/fenced.dat")
samples=$(wc -l <"$MF_TMP/fenced.dat")
[ "$samples" -ge 20 ] || fail "only $samples RSS samples"
expect_eq "$over" 0 "RSS samples above the 160 MiB budget"
served=$(sed -n 's/.* served=\([0-9]*\).*/\1/p' <<<"$sum")
[ "${served:-0}" -gt 1000 ] || fail "the worker served only ${served:-0} messages"
msg="fenced: $signals SIGUSR2, $dropped sessions dropped, $served served, RSS <= 160 MiB in $samples samples"

line=$("$run" cgroup "$MF_TMP/cgroup.dat" 30 | tail -n 1)
case "$line" in
result*)
    # The kernel's choice, not memfence's: it OOM-kills the worker, or (no swap here) reclaims
    # node's own file pages over and over and the worker crawls on (seen once: 64 s for 30).
    # Either is reported; only memfence's half above is asserted.
    if grep -q "signal=KILL" <<<"$line"; then msg="$msg; cgroup: killed ($line)"
    else msg="$msg; cgroup: not killed, the kernel reclaimed instead ($line)"; fi ;;
*)  msg="$msg; cgroup comparison skipped: $line" ;;
esac
ls -d /sys/fs/cgroup/memory/memfence-chat-* /sys/fs/cgroup/memfence-chat-* 2>/dev/null | grep -q . &&
    fail "a test cgroup was left behind"
pass "$msg"
