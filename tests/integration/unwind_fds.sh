#!/bin/bash
# libunwind's memory-check pipe: memfence refuses it (src/hooks/fd.c), so libunwind never reads
# or writes the program's descriptors and opens none of its own.  1: a program that closes every
# descriptor and opens a pipe of its own goes on profiling without a hang and without a stray or
# stolen byte (before the first fix it hung in libunwind's read, about 1 run in 3).
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

# 2: profiling leaves nothing a program can see: the descriptor table of a profiled process (and
# of a child it starts, which sets up its own profiler) is the same as without memfence.
cat > "$MF_TMP/fds.py" <<'PY'
import os, subprocess, sys
x = [bytes(1000) for i in range(3000)]      # profiling at work: stacks are taken
import decimal, email.parser, json
y = [json.dumps({"k": [i] * 10}) for i in range(20000)]
print(sorted(int(f) for f in os.listdir("/proc/self/fd")))
if len(sys.argv) < 2:
    sys.stdout.flush()
    subprocess.run([sys.executable, sys.argv[0], "child"], close_fds=True)
PY
want=$(timeout 60 "$py" "$MF_TMP/fds.py" </dev/null 2>&1)
out=$(fenced MEMFENCE_PROFILE=on MEMFENCE_PROFILE_RATE=4K -- timeout 60 "$py" "$MF_TMP/fds.py" </dev/null 2>&1)
expect_eq "$out" "$want" "descriptors of a profiled process and its child"
pass "profiling opens no descriptor; libunwind never touches the program's"
