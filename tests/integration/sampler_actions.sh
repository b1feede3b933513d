#!/bin/bash
# The sampler's actions on real processes: throttle (a large allocation at HIGH/CRITICAL while
# usage grows waits at least the configured delay), refuse-large (at CRITICAL a large allocation fails with ENOMEM
# and a report while a small one succeeds), signal:SIG (the program's handler runs), and trim
# (RSS of a heap glibc cannot shrink by itself falls; without memfence it stays).
. "$(dirname "$0")/lib.sh"
prog=$MF_PROGS/sampler_hold
[ -x "$prog" ] || fail "missing $prog (make test-bins)"
base=(MEMFENCE_LIMIT=100M MEMFENCE_LEVEL_INPUTS=usage MEMFENCE_THROTTLE_MAX=40ms)

# ---- throttle and refuse-large ----
out=$(printf '%s\n' 'hold 92' level 'time 131072' 'time 2097152' 'time 1000' 'hold 10' 'time 2097152' \
          'hold 80' level 'wait 1100' 'time 131072' 'hold 84' 'wait 250' 'time 131072' stats quit |
      fenced "${base[@]}" MEMFENCE_HIGH_ACTIONS=throttle MEMFENCE_CRITICAL_ACTIONS=throttle,refuse-large \
          -- "$prog" 2>"$MF_TMP/err")
echo "$out"; cat "$MF_TMP/err"
mapfile -t t < <(echo "$out" | grep -E '^[0-9]+ (ok|ENOMEM|fail)$')
[ ${#t[@]} -eq 6 ] || fail "expected 6 timed allocations"
expect_eq "$(echo "$out" | sed -n 's/^level //p' | tr '\n' ' ')" "3 2 " "levels"
# CRITICAL: the full throttle_max (40 ms) for 128 KiB; 2 MiB refused; 1000 bytes granted
[ "${t[0]#* }" = ok ] && [ "${t[0]% *}" -ge 40000 ] || fail "128 KiB at CRITICAL: ${t[0]} (want ok, >= 40000 us)"
expect_eq "${t[1]#* }" ENOMEM "2 MiB at CRITICAL (refuse-large)"
expect_eq "${t[2]#* }" ok "1000 bytes at CRITICAL"
# the program recovers (frees down to 10 %): 2 MiB is granted at once, before the next sample
expect_eq "${t[3]#* }" ok "2 MiB right after freeing down to 10 %"
unset 't[3]'; t=("${t[@]}")
# HIGH at 80 % and not growing for a second: not throttled (a program sitting near its limit
# gains nothing from being slowed); growing again to 84 %: at least the curve's floor,
# throttle_max / 8 = 5 ms (14.4 ms by the curve)
[ "${t[3]#* }" = ok ] || fail "128 KiB at HIGH, steady: ${t[3]}"
[ "${t[4]#* }" = ok ] && [ "${t[4]% *}" -ge 5000 ] || fail "128 KiB at HIGH, growing: ${t[4]} (want ok, >= 5000 us)"
grep -q 'refused malloc(2.0 MiB).*refuse-large at CRITICAL' "$MF_TMP/err" || fail "no refuse-large report"
st=$(echo "$out" | grep '^trims')
thr=$(echo "$st" | sed 's/.*throttled \([0-9]*\).*/\1/'); ns=$(echo "$st" | sed 's/.*throttle_ns \([0-9]*\).*/\1/')
[ "$thr" -ge 2 ] && [ "$ns" -ge 45000000 ] || fail "throttle counters: $st"

# ---- signal ----
out=$(printf '%s\n' 'hold 80' level 'wait 200' sigs stats quit |
      fenced "${base[@]}" MEMFENCE_HIGH_ACTIONS=signal:SIGUSR1 -- "$prog" 2>"$MF_TMP/err")
echo "$out"; cat "$MF_TMP/err"
expect_eq "$(echo "$out" | sed -n 's/^sigs //p')" 1 "signal handler runs (once per entry to HIGH)"
echo "$out" | grep -q 'signals 1 ' || fail "signals counter"

# ---- trim: 150 MiB of 1000-byte blocks, all but every 64th freed ----
# The fenced run is asked for its counters until the trim has been counted (at most 20 s), not
# after a fixed wait: on a loaded machine the sampler thread can be descheduled between the
# trim and its bookkeeping, and the RSS read then saw the trim while the counters did not yet.
plain=$(printf '%s\n' 'frag 150' 'wait 1200' rss quit | "$prog")
coproc P { fenced -- "$prog" 2>"$MF_TMP/err"; }
say() { echo "$1" >&"${P[1]}"; local a; read -r -t 30 a <&"${P[0]}" || a=timeout; echo "$a"; }
m0=$(say 'frag 150'); m0=${m0#rss }
for _ in $(seq 200); do
    st=$(say stats)
    [ "$(echo "$st" | sed -n 's/^trims [0-9]* trimmed \([0-9]*\).*/\1/p')" -ge $((100 << 20)) ] 2>/dev/null && break
    sleep 0.1
done
m1=$(say rss); m1=${m1#rss }
out=$(printf 'rss %s\n%s\n' "$m1" "$(say stats)")
echo quit >&"${P[1]}"
wait
echo "plain: $plain"; echo "fenced: rss $m0 after frag; $out"; cat "$MF_TMP/err"
p0=$(echo "$plain" | sed -n 1p | cut -d' ' -f2); p1=$(echo "$plain" | sed -n 3p | cut -d' ' -f2)
[ "$p1" -gt $((p0 * 8 / 10)) ] || skip "glibc gave the fragmented heap back by itself (rss $p0 -> $p1)"
# (the trim may already run while the program is still freeing: compare with the plain run)
[ "$m1" -lt $((p1 / 2)) ] || fail "trim: rss $m1 with memfence, $p1 without (want < half)"
tb=$(echo "$out" | sed -n 's/^trims [0-9]* trimmed \([0-9]*\).*/\1/p')
[ "${tb:-0}" -ge $((100 << 20)) ] || fail "trimmed_bytes ${tb:-?} (want >= 100 MiB)"
grep -q 'level MODERATE (was LOW) by retained memory' "$MF_TMP/err" || fail "no MODERATE by retained memory"
echo "$out" | grep -qE '^trims [1-9]' || fail "trims counter"
pass "throttle ${t[0]% *}us/${t[4]% *}us (steady ${t[3]% *}us), refuse-large, signal, trim: rss $m1 (plain $p1), $tb bytes trimmed"
