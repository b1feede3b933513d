#!/bin/bash
# check.sh — the compatibility sweep's bash workload: arrays, associative arrays, here-docs,
# pipes, subshells, command substitution, process substitution, coprocesses, traps and a
# background job.  Deterministic output; exits non-zero when a check fails.
fail=0
check() { if [ "$2" = "$3" ]; then echo "$1 ok $2"; else echo "$1 FAIL got '$2' want '$3'"; fail=$((fail + 1)); fi; }
a=(); for i in $(seq 1 20000); do a+=("$i"); done
s=0; for v in "${a[@]}"; do s=$((s + v)); done
check arrays "$s" 200010000
declare -A h; for i in $(seq 1 5000); do h[k$i]=$((i * 2)); done
check assoc "${#h[@]}:${h[k4999]}" 5000:9998
check pipes "$(seq 1 100000 | awk '{s += $1} END {printf "%.0f\n", s}')" 5000050000
check subshell "$( (cd /; pwd) ; pwd >/dev/null)" /
check heredoc "$(cat <<X | wc -l
one
two
three
X
)" 3
check procsubst "$(diff <(seq 1 1000) <(seq 1 1000) && echo same)" same
coproc C { while read -r x; do echo $((x * x)); done; }
echo 12 >&"${C[1]}"; read -r sq <&"${C[0]}"; kill "$C_PID" 2>/dev/null; wait "$C_PID" 2>/dev/null
check coproc "$sq" 144
out=$(trap 'echo trapped' EXIT; echo body)
check trap "$(echo $out)" "body trapped"
sleep 0.2 & wait $!; check background $? 0
str=$(printf '%*s' 100000 '' | tr ' ' x); check bigstring "${#str}" 100000
[ $fail -eq 0 ] && echo "bash_check: all passed" || echo "bash_check: $fail FAILED"
exit $fail
