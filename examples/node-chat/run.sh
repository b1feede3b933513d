#!/bin/bash
# run.sh — runs the chat worker (worker.js) one way and records its RSS over time.
#
# usage: examples/node-chat/run.sh MODE OUT [SECONDS]
#   MODE  fenced   under memfence (memfence run -c memfence.conf -i chat-worker)
#         cgroup   without memfence, in a fresh memory cgroup capped at the same budget
#                  (cgroup v1 memory.limit_in_bytes, or v2 memory.max); the kernel enforces it
#         plain    without any limit
#   OUT   the RSS record: OUT (lines "seconds rss_MiB"), OUT.log (the worker's and memfence's
#         output), and a last line on stdout:
#         "result MODE exit=N signal=NAME oom_kill=N peak_rss_mib=X samples=N seconds=S budget_mib=B"
# Environment: MEMFENCE (the memfence command, default build/memfence beside this tree),
#   CHAT_BUDGET (default: the limit in memfence.conf, 160M), CHAT_* (see worker.js),
#   MEMFENCE_CONFIG_FILE (a configuration to use instead of memfence.conf).  When this memfence
#   has no configuration files (`memfence check` not built), the file's keys are given as
#   MEMFENCE_<KEY> variables instead, and OUT.note says so.
# Exit: 0 when the run could be made (whatever happened to the worker), 77 when the mode cannot
# run here (the reason on the last line), 1 on a usage error.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mode=${1:-}; out=${2:-}; secs=${3:-${CHAT_SECONDS:-40}}
[ -n "$mode" ] && [ -n "$out" ] || { echo "usage: $0 fenced|cgroup|plain OUT [SECONDS]" >&2; exit 1; }
MEMFENCE=${MEMFENCE:-$root/build/memfence}
conf=${MEMFENCE_CONFIG_FILE:-$here/memfence.conf}
budget=${CHAT_BUDGET:-$(sed -n 's/^limit *= *//p' "$conf" | head -n 1)}
budget_b=$(numfmt --from=iec "${budget%B}" 2>/dev/null) || { echo "bad budget '$budget'" >&2; exit 1; }
command -v node >/dev/null || { echo "skipped: node is not installed"; exit 77; }
export CHAT_SECONDS=$secs
rm -f "$out.note"

cg=""
cleanup() {
    [ -n "${pid:-}" ] && kill -9 "$pid" 2>/dev/null
    if [ -n "$cg" ] && [ -d "$cg" ]; then
        for _ in $(seq 50); do rmdir "$cg" 2>/dev/null && break; sleep 0.1; done
    fi
}
trap cleanup EXIT

worker=(node --expose-gc "$here/worker.js")
case "$mode" in
fenced)
    [ -x "$MEMFENCE" ] || { echo "skipped: $MEMFENCE not built (make)"; exit 77; }
    if "$MEMFENCE" check --help 2>&1 | grep -q "not available in this build"; then
        # no INI support in this build: the same keys, as MEMFENCE_<KEY> environment variables
        echo "note: this memfence has no configuration files; $conf given as MEMFENCE_* variables" >"$out.note"
        while IFS='=' read -r k v; do
            k=$(echo "$k" | tr -d ' ' | tr a-z A-Z); v=$(echo "$v" | sed 's/^ *//; s/ *$//')
            export "MEMFENCE_$k=$v"
        done < <(grep -E '^[a-z_]+ *=' "$conf")
        cmd=("$MEMFENCE" run -i chat-worker -- "${worker[@]}")
    else
        # keys this build does not know (a module not built in) are left out, and said so
        known=$("$MEMFENCE" check --show 2>/dev/null | sed -n 's/^\([a-z_.0-9]*\) *=.*/\1/p')
        unknown=$(grep -E '^[a-z_]+ *=' "$conf" | sed 's/ *=.*//' | grep -vxF "$known")
        if [ -n "$unknown" ]; then
            grep -vE "^($(echo $unknown | tr ' ' '|')) *=" "$conf" >"$out.conf"
            echo "note: this memfence does not know $(echo $unknown | sed 's/ /, /g'): left out of $conf" >"$out.note"
            conf=$out.conf
        fi
        cmd=("$MEMFENCE" run -c "$conf" -i chat-worker -- "${worker[@]}")
    fi ;;
plain)
    cmd=("${worker[@]}") ;;
cgroup)
    [ "$(id -u)" -eq 0 ] || { echo "skipped: creating a memory cgroup needs root"; exit 77; }
    if [ -f /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
        cg=/sys/fs/cgroup/memory/memfence-chat-$$
        mkdir "$cg" 2>/dev/null || { cg=""; echo "skipped: cannot create a cgroup under /sys/fs/cgroup/memory"; exit 77; }
        echo "$budget_b" >"$cg/memory.limit_in_bytes" 2>/dev/null ||
            { echo "skipped: cannot set memory.limit_in_bytes"; exit 77; }
        [ -f "$cg/memory.memsw.limit_in_bytes" ] && echo "$budget_b" >"$cg/memory.memsw.limit_in_bytes" 2>/dev/null
    elif grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
        cg=/sys/fs/cgroup/memfence-chat-$$
        grep -qw memory /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null ||
            echo +memory >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
        mkdir "$cg" 2>/dev/null || { cg=""; echo "skipped: cannot create a cgroup under /sys/fs/cgroup"; exit 77; }
        echo "$budget_b" >"$cg/memory.max" 2>/dev/null || { echo "skipped: cannot set memory.max"; exit 77; }
        [ -f "$cg/memory.swap.max" ] && echo 0 >"$cg/memory.swap.max" 2>/dev/null
    else
        echo "skipped: no memory cgroup controller (v1 or v2) on this machine"; exit 77
    fi
    # the shell joins the cgroup, then becomes node: everything node does is inside it
    cmd=(sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cg" "${worker[@]}") ;;
*)
    echo "unknown mode '$mode' (fenced, cgroup, plain)" >&2; exit 1 ;;
esac

: >"$out"
# bash reports a killed background job on its own stderr ("Killed ..."): the result line says it
exec 3>&2 2>/dev/null
"${cmd[@]}" >"$out.log" 2>&1 &
pid=$!
t0=$(date +%s.%N)
peak=0 n=0
while kill -0 "$pid" 2>/dev/null; do
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    if [ -n "$rss" ]; then
        now=$(date +%s.%N)
        awk -v t="$now" -v t0="$t0" -v r="$rss" 'BEGIN { printf "%.2f %.1f\n", t - t0, r / 1024 }' >>"$out"
        [ "$rss" -gt "$peak" ] && peak=$rss
        n=$((n + 1))
    fi
    sleep 0.2
done
wait "$pid"
rc=$?
exec 2>&3 3>&-
pid=""
el=$(awk -v t="$(date +%s.%N)" -v t0="$t0" 'BEGIN { printf "%.1f", t - t0 }')
sig=none
[ $rc -gt 128 ] && sig=$(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128)))
oom=0
if [ -n "$cg" ]; then
    if [ -f "$cg/memory.oom_control" ]; then
        oom=$(awk '/^oom_kill / {print $2}' "$cg/memory.oom_control")
    elif [ -f "$cg/memory.events" ]; then
        oom=$(awk '/^oom_kill / {print $2}' "$cg/memory.events")
    fi
    oom=${oom:-0}
fi
echo "result $mode exit=$rc signal=$sig oom_kill=$oom peak_rss_mib=$((peak / 1024)) samples=$n seconds=$el budget_mib=$((budget_b >> 20))"
