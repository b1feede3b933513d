#!/bin/bash
# b-95-robustness.sh — `memfence run --fail-sweep` on real programs from Debian: each run fails
# one allocation call (the Kth of each process, K spread over the whole clean run) and records
# whether the program survived with a clean error, crashed (signal, and the failed call) or hung.
# A finding for the programs' authors, and a test of memfence itself under many failing runs.
# Prints the summary; the full tables go to $MF_RESULTS/robustness.md.  ~1 min.
set -u
: "${MF_BIN:=build/memfence}" "${MF_RESULTS:=bench/results}"
SAMPLE=${MF_ROBUST_SAMPLE:-400}
mkdir -p "$MF_RESULTS"
tmp=$(mktemp -d /tmp/mfrobust.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
out=$MF_RESULTS/robustness.md

# inputs: a text file, a small git repository
seq 1 30000 > "$tmp/data.txt"
(cd "$tmp" && git init -q repo && cd repo &&
 for i in 1 2 3 4 5; do seq "$i" 500 > "f$i"; git add "f$i";
     git -c user.name=bench -c user.email=bench@example.org commit -qm "commit $i"; done) >/dev/null 2>&1
SQL="create table t(a integer primary key, b text); with recursive c(x) as (select 1 union all
select x+1 from c where x<2000) insert into t select x, hex(randomblob(16)) from c; create index
tb on t(b); select count(*), sum(length(b)) from t where b > '8';"
PY='import json, collections; d = {str(i): list(range(i % 50)) for i in range(2000)}; s = json.dumps(d); print(len(s), collections.Counter(s[:5000]).most_common(1))'

names=() cmds=()
add() { names+=("$1"); cmds+=("$2"); }
command -v gzip >/dev/null && add "gzip -9" "gzip -9 -c $tmp/data.txt"
command -v sqlite3 >/dev/null && add "sqlite3 :memory: (2000 rows, index, query)" "sqlite3 :memory: \"\$SQL\""
[ -x /usr/bin/python3 ] && add "python3 -c (json of 2000 lists)" "/usr/bin/python3 -c \"\$PY\""
command -v git >/dev/null && [ -d "$tmp/repo/.git" ] && add "git log --stat (5 commits)" "git --no-pager -C $tmp/repo log --stat"

{
    echo "# Robustness of real programs to one failed allocation"
    echo
    echo "Measured $(date -u +%Y-%m-%d) with \`memfence run --fail-sweep --sample $SAMPLE\`: a counting"
    echo "run, then one run per chosen call K failing the Kth allocation call (malloc family, mmap"
    echo "family) of each process, like a refusal (NULL / ENOMEM). \"error\" = a clean exit with an"
    echo "error status; CRASH = killed by a signal (the failed call and its stack when the profiler"
    echo "is in the build); HUNG = killed after the timeout."
    echo
} > "$out"

summary="| program | allocation calls | runs | exit 0 | clean error | crashed | hung | not reached |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
crashes=""
for i in "${!names[@]}"; do
    n=${names[$i]}
    eval "set -- ${cmds[$i]}"
    SQL=$SQL PY=$PY "$MF_BIN" run --fail-sweep --sample "$SAMPLE" --timeout 10 --markdown -- "$@" \
        > "$tmp/sweep" 2> "$tmp/err"
    rc=$?
    { echo "## $n"; echo; echo "\`${cmds[$i]}\`"; echo; cat "$tmp/sweep"; echo; } >> "$out"
    if [ $rc -eq 2 ]; then
        summary+=$'\n'"| $n | sweep failed: $(head -n 1 "$tmp/err") ||||||"
        continue
    fi
    calls=$(sed -n 's/.* \([0-9]*\) eligible allocation calls.*/\1/p' "$tmp/sweep")
    count() { grep -c "^| [0-9]* | $1 |" "$tmp/sweep"; }
    ok=$(count ok) err=$(count error) crash=$(count CRASH) hung=$(count HUNG) nr=$(count "not reached")
    runs=$((ok + err + crash + hung + nr))
    summary+=$'\n'"| $n | ${calls:-0} | $runs | $ok | $err | $crash | $hung | $nr |"
    c=$(grep "^| [0-9]* | \(CRASH\|HUNG\) |" "$tmp/sweep" | head -n 5)
    [ -n "$c" ] && crashes+=$'\n'"$n:"$'\n'"$c"
done

section() {
    echo "## Robustness: one failed allocation in real programs"
    echo
    echo "$summary"
    if [ -n "$crashes" ]; then
        echo
        echo "Crashes and hangs (first 5 per program; call, outcome, signal, failed call):"
        echo "$crashes" | sed "/^$/d; s/^/    /"
    fi
    echo
    echo "A program with 0 allocation calls (gzip keeps static buffers) has nothing to fail."
    echo "Full tables: robustness.md."
}
section
{ echo "## Summary"; echo; echo "$summary"; } >> "$out"
