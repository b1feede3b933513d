#!/bin/bash
# group_burst.sh — a group at scale: SHORT short-lived members started at once through a shell
# wrapper (a shim like pyenv's: bash that runs helpers in subshells, then execs the program, so
# every member brings a few helper processes with it) plus LONG long-lived members holding HOLD
# MiB each, all in one group of LIMIT; KILLS of the long-lived ones are SIGKILLed in the middle
# of the burst.  Not a test or a bench by itself: bench/b-55-group-burst.sh runs it at full size
# (2,000 + 200), tests/integration/group_burst.sh at a smaller one.
#
# Timed runs: the same burst without memfence and with it, interleaved, REPS of each; the time
# is from the first start until every short-lived member has exited and every surviving
# long-lived one holds its memory.  Then one check run under memfence with `memfence status
# --json` polled all along:
#   - the group's total never passes LIMIT, nor does the sum of the members' own counts
#     (their published usage), nor the memory the long-lived members report they got;
#   - no member escapes: no "not admitted" / "fences alone" line, the group turned nobody
#     away, every member exited 0 (none refused);
#   - after the storm the total is exactly the sum of the live members' shares, status lists
#     exactly the survivors, and once they are gone status shows no row and no group total.
# Each timed run also records the CPU time (user + system) of the burst's processes that the
# burst waited for (every short-lived member with its wrapper and helpers; not the long-lived
# ones): on a shared machine the wall time moves with other work, the CPU time far less.
# Prints "key value" lines (times in seconds, lines = stderr lines of all members of a run);
# exit 1 when a check fails (the reason on stderr).
# Environment: MF_LIB MF_BIN MF_PROGS (as bench/run and tests/run set them), SHORT (2000),
# LONG (200), HOLD (4), LIMIT (2G), REPS (3), KILLS (LONG/4).
set -u
SHORT=${SHORT:-2000} LONG=${LONG:-200} HOLD=${HOLD:-4} LIMIT=${LIMIT:-2G} REPS=${REPS:-3}
KILLS=${KILLS:-$((LONG / 4))}
W=$MF_PROGS/ledger_worker
[ -x "$W" ] || { echo "skipped: $W not built (make test-bins)" >&2; exit 77; }
work=$(mktemp -d /tmp/mfburst.XXXXXX)
mkdir -p "$work/ledger"
poller=
cleanup() {
    [ -n "$poller" ] && kill "$poller" 2>/dev/null
    [ -f "$work/hpids" ] && kill -9 $(cat "$work/hpids") 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT       # KEEP=1: leave $work for a look
bad() { echo "FAIL: $*" >&2; failed=1; }
failed=0

# The wrapper: what pyenv's shim does, smaller (two helpers in subshells, then exec).
cat >"$work/shim" <<EOF
#!/bin/bash
set -e
root=\$(dirname "\$0")
version=\$(cat "\$root/version")
[ -n "\$version" ]
exec "$W" "\$@"
EOF
chmod +x "$work/shim"
echo 1 >"$work/version"
now() { date +%s.%N; }

# burst MODE DIR: one burst; writes DIR/time, DIR/cpu (user + system seconds of the processes
# it waited for), DIR/fails (short-lived members that did not exit 0), DIR/err (every member's
# stderr), DIR/h.I (holder I's "ready N").
burst() {
    local mode=$1 d=$2 i t0 t1 TIMEFORMAT='%U %S'
    mkdir -p "$d"
    : >"$d/err"
    : >"$d/killed"
    : >"$work/hpids"
    t0=$(now)
    { time { (
        if [ "$mode" = mf ]; then
            export LD_PRELOAD=$MF_LIB MEMFENCE_LEDGER_DIR=$work/ledger MEMFENCE_GROUP=burst \
                MEMFENCE_GROUP_LIMIT=$LIMIT
        fi
        hp=() bp=()
        for ((i = 0; i < LONG; i++)); do
            "$work/shim" hold "$HOLD" >"$d/h.$i" 2>>"$d/err" &
            hp+=($!)
        done
        echo "${hp[*]}" >"$work/hpids"
        RANDOM=7
        for ((i = 0; i < SHORT; i++)); do
            "$work/shim" brief 1 >/dev/null 2>>"$d/err" &
            bp+=($!)
            if [ $i -eq $((SHORT / 2)) ]; then     # the SIGKILL storm, mid-burst
                for ((k = 0; k < KILLS; k++)); do
                    j=$((k * LONG / (KILLS > 0 ? KILLS : 1)))
                    kill -9 "${hp[$j]}" 2>/dev/null
                    echo "$j" >>"$d/killed"
                done
            fi
        done
        fails=0
        for p in "${bp[@]}"; do wait "$p" || fails=$((fails + 1)); done
        echo "$fails" >"$d/fails"
        # every survivor holds its memory
        surv=()
        for ((i = 0; i < LONG; i++)); do
            grep -qx "$i" "$d/killed" 2>/dev/null || surv+=("$d/h.$i")
        done
        for ((t = 0; t < 6000; t++)); do
            [ "$(cat "${surv[@]}" | grep -c '^ready')" -ge ${#surv[@]} ] && break
            sleep 0.01
        done
    ) 2>/dev/null; }; } 2>"$d/cpu.raw"    # (bash's "Killed" notices of the storm go nowhere)
    t1=$(now)
    echo "$t0 $t1" | awk '{ printf "%.2f\n", $2 - $1 }' >"$d/time"
    awk 'NF == 2 { printf "%.2f\n", $1 + $2 }' "$d/cpu.raw" >"$d/cpu"
}

stop_holders() {
    kill -9 $(cat "$work/hpids") 2>/dev/null
    for p in $(cat "$work/hpids"); do while kill -0 "$p" 2>/dev/null; do sleep 0.01; done; done
}

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR) print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

for ((r = 1; r <= REPS; r++)); do
    burst plain "$work/plain$r"; stop_holders
    burst mf "$work/mf$r"; stop_holders
    echo "run $r plain_s $(cat "$work/plain$r/time") mf_s $(cat "$work/mf$r/time")" \
         "mf_lines $(grep -c . "$work/mf$r/err")" \
         "plain_cpu_s $(cat "$work/plain$r/cpu") mf_cpu_s $(cat "$work/mf$r/cpu")" \
         "load $(cut -d' ' -f1 /proc/loadavg)" >&2
done
if [ "$REPS" -gt 0 ]; then
    p=$(cat "$work"/plain*/time | median); m=$(cat "$work"/mf*/time | median)
    echo "plain_s $p"
    echo "mf_s $m"
    echo "ratio $(awk -v p="$p" -v m="$m" 'BEGIN { printf "%.2f", m / p }')"
    pc=$(cat "$work"/plain*/cpu | median); mc=$(cat "$work"/mf*/cpu | median)
    echo "plain_cpu_s $pc"
    echo "mf_cpu_s $mc"
    echo "cpu_ratio $(awk -v p="$pc" -v m="$mc" 'BEGIN { printf "%.2f", (p > 0 ? m / p : 0) }')"
    echo "mf_lines_max $(for f in "$work"/mf*/err; do grep -c . "$f"; done | sort -n | tail -1)"
    echo "plain_fails $(cat "$work"/plain*/fails | awk '{ s += $1 } END { print s }')"
    echo "mf_fails $(cat "$work"/mf*/fails | awk '{ s += $1 } END { print s }')"
fi

# The check run: status polled all along.
d=$work/check
mkdir -p "$d"
(
    while :; do
        "$MF_BIN" status --json --group burst --dir "$work/ledger" >>"$d/poll.jsonl" 2>/dev/null
        sleep 0.2
    done
) &
poller=$!
burst mf "$d"
sleep 0.5           # a last poll with every survivor settled
kill "$poller" 2>/dev/null; wait "$poller" 2>/dev/null; poller=
"$MF_BIN" status --json --group burst --dir "$work/ledger" >"$d/after.json"
python3 - "$d" "$LIMIT" "$LONG" "$KILLS" "$HOLD" <<'PY' || failed=1
import json, os, re, sys
d, limit, long_, kills, hold = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
m = re.fullmatch(r"(\d+)([KMGT]?)", limit)
limit = int(m[1]) << {"": 0, "K": 10, "M": 20, "G": 30, "T": 40}[m[2]]
bad = []
polls = max_total = max_sum = turned = 0
for line in open(os.path.join(d, "poll.jsonl")):
    try:
        doc = json.loads(line)
    except ValueError:
        continue
    if not doc["groups"]:
        continue
    g = doc["groups"][0]
    polls += 1
    own = sum(i["host_used"] or 0 for i in doc["instances"])
    max_total = max(max_total, g["host_used"])
    max_sum = max(max_sum, own)
    turned = max(turned, g.get("turned_away", 0))
    if g["host_limit"] != limit:
        bad.append("group limit %s, expected %d" % (g["host_limit"], limit))
got = sum(int(open(os.path.join(d, f)).read().split()[1] or 0)
          for f in os.listdir(d) if f.startswith("h.") and open(os.path.join(d, f)).read().startswith("ready"))
err = open(os.path.join(d, "err")).read().splitlines()
escaped = [l for l in err if re.search(r"not admitted|fences alone|every slot", l)]
group_lines = [l for l in err if re.search(r"group|ledger", l)]
fails = int(open(os.path.join(d, "fails")).read())
after = json.load(open(os.path.join(d, "after.json")))
g = after["groups"][0] if after["groups"] else None
alive = long_ - kills
share = sum(max(i["group_charged"], i["reserve"]) for i in after["instances"])
print("polls", polls)
print("limit", limit)
print("max_total", max_total)
print("max_members_sum", max_sum)
print("holders_mib", got)
print("check_lines", len(err))
print("group_lines", len(group_lines))
print("turned_away", turned)
print("check_fails", fails)
print("survivors_listed", len(after["instances"]))
if polls < 3: bad.append("only %d polls of the group" % polls)
if max_total > limit: bad.append("group total %d passed the limit %d" % (max_total, limit))
if max_sum > limit: bad.append("the members' own counts (%d) passed the limit %d" % (max_sum, limit))
if got << 20 > limit: bad.append("the holders got %d MiB, past the limit" % got)
if escaped: bad.append("%d members escaped the group: %s" % (len(escaped), escaped[0]))
if turned: bad.append("the group turned %d members away" % turned)
if fails: bad.append("%d short-lived members failed" % fails)
if len(group_lines) > 5: bad.append("%d group lines (at most a handful): %s" % (len(group_lines), group_lines[:3]))
if not g: bad.append("no group after the storm")
else:
    if g["members"] != alive or len(after["instances"]) != alive:
        bad.append("status lists %d members (%d rows) after the storm, %d alive" % (g["members"], len(after["instances"]), alive))
    if g["host_used"] != share: bad.append("after the storm the total %d != the sum of live shares %d" % (g["host_used"], share))
    for i in after["instances"]:
        if i["program"] != "ledger_worker" or i["group"] != "burst" or not i["admitted"]:
            bad.append("unexpected row %s" % i)
            break
for b in bad: print("FAIL:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
stop_holders
"$MF_BIN" status --json --group burst --dir "$work/ledger" >"$d/end.json"
"$MF_BIN" status --dir "$work/ledger" >"$d/end.txt"
python3 - "$d/end.json" <<'PY' || failed=1
import json, sys
d = json.load(open(sys.argv[1]))
g = d["groups"][0] if d["groups"] else None
bad = []
if d["instances"]: bad.append("%d stale rows once every member is gone" % len(d["instances"]))
if g and (g["members"] or g["host_used"]): bad.append("group not empty at the end: %s" % g)
for b in bad: print("FAIL:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
grep -q '^total' "$d/end.txt" && bad "status shows a total row for a group with no live member: $(cat "$d/end.txt")"
grep -q "no fenced process" "$d/end.txt" || bad "status after the end: $(cat "$d/end.txt")"
exit $failed
