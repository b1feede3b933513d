#!/bin/bash
# libunwind's pipe (its memory checks read and write one byte through it) never touches the
# program's descriptors.  1: a program that closes every descriptor and opens a pipe of its own
# (which takes libunwind's old numbers) goes on profiling without a hang and without a stray or
# stolen byte (before the fix it hung in libunwind's read, about 1 run in 3).  2: a program that
# puts its own pipe on the numbers memfence moved libunwind's to: memfence says once that it
# takes no more stacks, and the program's bytes stay where they are.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "no python3"
py=$(python3 -c 'import sys; print(sys.executable)')
cat > "$MF_TMP/closeall.py" <<'PY'
import os, sys
x = [bytes(1000) for i in range(3000)]      # profiling at work: libunwind is set up
os.closerange(3, 4096)                      # a daemon-style clean slate
r, w = os.pipe()                            # takes the lowest numbers again
f = open(sys.argv[1], "wb")
import decimal, email.parser, http.client, xml.dom.minidom, json, csv, argparse, unittest
y = [json.dumps({"k": [i] * 10}) for i in range(20000)]
f.write(b"program data\n"); f.close()
os.write(w, b"keep")
os.set_blocking(r, False)
print("pipe:", os.read(r, 100000), "file:", open(sys.argv[1], "rb").read())
PY
for i in 1 2 3 4; do
    out=$(fenced MEMFENCE_PROFILE=on MEMFENCE_PROFILE_RATE=4K -- timeout 60 "$py" "$MF_TMP/closeall.py" "$MF_TMP/f$i" </dev/null 2>&1)
    rc=$?
    [ $rc -eq 124 ] && fail "run $i hung (libunwind reading the program's pipe?)"
    [ "$out" = "pipe: b'keep' file: b'program data\n'" ] || fail "run $i (exit $rc): $out"
done

cat > "$MF_TMP/takeover.py" <<'PY'
import os, time
x = [bytes(1000) for i in range(3000)]
def link(f):
    try: return os.readlink("/proc/self/fd/%d" % f)
    except OSError: return ""
fds = sorted(int(f) for f in os.listdir("/proc/self/fd"))
# both ends of one pipe on two adjacent high numbers (whatever else the caller left open)
theirs = [f for f in fds if f >= 100 and link(f).startswith("pipe:") and link(f) == link(f + 1)]
theirs = [theirs[0], theirs[0] + 1] if len(theirs) == 1 else []
print("libunwind's pipe moved high:", len(theirs) == 2)
r, w = os.pipe()
os.write(w, b"keep")
os.dup2(r, theirs[0]); os.dup2(w, theirs[1])   # the program's pipe on both numbers
time.sleep(0.005)     # memfence looks at most once a millisecond: the next stack looks
import decimal, email.parser, http.client, xml.dom.minidom, json
y = [json.dumps({"k": [i] * 10}) for i in range(20000)]
os.set_blocking(r, False)
print("pipe:", os.read(r, 100))
PY
out=$(fenced MEMFENCE_PROFILE=on MEMFENCE_PROFILE_RATE=4K -- timeout 60 "$py" "$MF_TMP/takeover.py" </dev/null 2>"$MF_TMP/err")
rc=$?
[ $rc -eq 0 ] || fail "takeover: exit $rc: $out $(cat "$MF_TMP/err")"
expect_eq "$out" "libunwind's pipe moved high: True
pipe: b'keep'" "takeover output"
grep -q "no more stacks are taken" "$MF_TMP/err" || fail "no line about the stacks: $(cat "$MF_TMP/err")"
[ "$(grep -c "no more stacks" "$MF_TMP/err")" = 1 ] || fail "said more than once: $(cat "$MF_TMP/err")"
pass "libunwind's pipe kept apart from the program's descriptors"
