#!/bin/bash
# A group at scale (issue 20): 2,000 short-lived members started at once through a shell
# wrapper (bash running two helpers in subshells, then exec, like pyenv's shim) plus 200
# long-lived members holding 4 MiB each, 50 of them SIGKILLed mid-burst, all in one 2 GiB
# group; the same burst without memfence, interleaved, median of 3.  Then a check run with
# `memfence status` polled (bench/group_burst.sh says what it checks).  Target: within 1.3x,
# every member in the group, at most a handful of lines.
set -u
echo "## Group budget at scale: a burst of wrapped members"
echo
out=$(SHORT=${SHORT:-2000} LONG=${LONG:-200} HOLD=4 LIMIT=2G REPS=${REPS:-3} \
      bash "$MF_ROOT/bench/group_burst.sh" 2>"${TMPDIR:-/tmp}/mfburst.err")
rc=$?
if [ $rc -eq 77 ]; then echo "skipped: $(cat "${TMPDIR:-/tmp}/mfburst.err")"; exit 0; fi
v() { sed -n "s/^$1 //p" <<<"$out"; }
echo "${SHORT:-2000} short-lived members (each a bash wrapper with two helper processes, then"
echo "ledger_worker allocating 1 MiB) and ${LONG:-200} long-lived ones holding 4 MiB, started at once"
echo "in a group of 2 GiB; a quarter of the long-lived ones SIGKILLed mid-burst.  Time from the"
echo "first start until every short-lived member exited and every survivor holds its memory;"
echo "median of ${REPS:-3} runs each, interleaved.  CPU: user + system time of the processes each"
echo "burst waited for (the short-lived members, wrappers and helpers), median of the same runs."
echo
echo "| without memfence | with memfence | ratio | CPU without | CPU with | CPU ratio | stderr lines (worst run) | members failed |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
echo "| $(v plain_s) s | $(v mf_s) s | $(v ratio) | $(v plain_cpu_s) s | $(v mf_cpu_s) s | $(v cpu_ratio) | $(v mf_lines_max) | $(v mf_fails) |"
echo
echo "Check run (status polled every 0.2 s): group total at most $(v max_total) B of $(v limit) B;"
echo "members' own counts at most $(v max_members_sum) B; long-lived members got $(v holders_mib) MiB;"
echo "$(v group_lines) group lines, $(v turned_away) members turned away, $(v check_fails) failed;"
echo "$(v survivors_listed) survivors listed after the storm.  Checks: $([ $rc -eq 0 ] && echo "all passed" || echo "FAILED: $(grep FAIL "${TMPDIR:-/tmp}/mfburst.err" | head -3)")"
sed 's/^/    /' "${TMPDIR:-/tmp}/mfburst.err" | grep '^    run ' | sed 's/^    /    per run: /'
rm -f "${TMPDIR:-/tmp}/mfburst.err"
