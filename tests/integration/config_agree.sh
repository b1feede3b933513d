#!/bin/bash
# One grammar for the configuration: `memfence check`, `memfence run` and a preloaded process
# judge every file of a corpus alike.  A file is good or bad; check and run must both accept a
# good one (exit 0, the program started) and both refuse a bad one; the preloaded process must
# start the program in every case, and say one line naming the file for each file that is bad
# in itself (a bad key or value), and none for a good one.  A file whose budget cannot fit this
# machine ("fit") is for check and run only: a preload never refuses to start.
# The cases of issue 17: actions the sampler did not know (`refuse`) or signals it did not know
# (`SIGSEGV`) passed check and run and were then replaced by the defaults in the process; a
# [global] limit beyond the machine passed check and failed run.
. "$(dirname "$0")/lib.sh"
d=$MF_TMP/corpus
mkdir -p "$d"
n=0
add() {   # add good|bad|fit TEXT
    n=$((n + 1))
    printf '%b\n' "$2" >"$d/$n.conf"
    echo "$1" >"$d/$n.want"
}
add good '[global]\nlimit = 1G\ncritical_actions = trim,signal:SIGUSR2,log,refuse-large'
add good '[global]\nlimit = 1G\ncritical_actions = TRIM, log'
add good '[global]\nlimit = 1G\ncritical_actions = trim,signal:SIGSEGV'
add good '[global]\nlimit = 1G\nhigh_actions = signal:RTMIN+2\nmoderate_actions = none'
add good '[global]\nlimit = 1G\nmoderate_actions = purge,signal:12'
add good '[process true]\nlimit = 512M\n[global]\nlimit = 1G'
add bad '[global]\nlimit = 1G\ncritical_actions = trim,refuse'
add bad '[global]\nlimit = 1G\ncritical_actions = trim,bogus'
add bad '[global]\nlimit = 1G\nmoderate_actions = signal:SIGFOO'
add bad '[global]\nlimit = 1G\nhigh_actions = signal:RTMIN+999'
add bad '[global]\nlimit = 12 parsecs'
add bad '[global]\nlimt = 1G'
add bad '[global]\nlimit = 1G\ngpu_limit.0 = abc'
add fit '[global]\nlimit = 100T'
bad=0
for i in $(seq "$n"); do
    f=$d/$i.conf want=$(cat "$d/$i.want")
    "$MF_BIN" check -c "$f" >"$d/$i.check" 2>&1; c=$?
    "$MF_BIN" run -c "$f" -- true >"$d/$i.run" 2>&1; r=$?
    env MEMFENCE_CONFIG="$f" MEMFENCE_LEDGER_DIR="$MF_TMP" LD_PRELOAD="$MF_LIB" true 2>"$d/$i.pre"; p=$?
    lines=$(grep -c -F "$f" "$d/$i.pre")
    verdict="check $c run $r preload $p (lines naming the file: $lines)"
    case $want in
    good) [ $c = 0 ] && [ $r = 0 ] && [ $p = 0 ] && [ "$lines" = 0 ] ;;
    bad)  [ $c != 0 ] && [ $r != 0 ] && [ $p = 0 ] && [ "$lines" -ge 1 ] ;;
    fit)  [ $c != 0 ] && [ $r != 0 ] && [ $p = 0 ] ;;
    esac || { echo "disagree ($want): $(tr '\n' '|' <"$f"): $verdict"; cat "$d/$i.pre"; bad=$((bad + 1)); }
done
[ $bad = 0 ] || fail "$bad of $n files judged differently"
# the environment form of gpu_limit.N is parsed once: one line, not two
out=$(env MEMFENCE_GPU_LIMIT_0=abc LD_PRELOAD="$MF_LIB" MEMFENCE_LEDGER_DIR="$MF_TMP" true 2>&1)
expect_eq "$(grep -c 'MEMFENCE_GPU_LIMIT_0' <<<"$out")" 1 "lines about MEMFENCE_GPU_LIMIT_0=abc"
pass "$n files: check, run and the preload agree on each"
