#!/bin/bash
# The JVM under a plain budget (issue 15): `memfence run -l 256M -- java Grow` with default
# settings, Grow allocating byte[1 MiB] until OutOfMemoryError.  The JVM must size its heap to
# the budget (virtualize is on whenever a budget is set), throw OutOfMemoryError, which Grow
# catches, and exit 0 — not die committing its heap ("Native memory allocation (mmap) failed",
# hs_err).  The workload is bench/survival/Grow.java (the survival table's).
. "$(dirname "$0")/lib.sh"
command -v javac >/dev/null && command -v java >/dev/null || skip "java/javac are not installed"
javac -d "$MF_TMP" "$MF_ROOT/bench/survival/Grow.java" || fail "javac Grow.java"
for size in 1048576 1024; do
    (cd "$MF_TMP" && MEMFENCE_CONFIG=none timeout -k 5 120 "$MF_BIN" run -l 256M -- \
        java -cp "$MF_TMP" Grow $size > "$MF_TMP/out" 2> "$MF_TMP/err")
    rc=$?
    cat "$MF_TMP/out"; grep -a refused "$MF_TMP/err" | tail -n 3 | cut -c 1-500
    grep -av '^memfence\[' "$MF_TMP/err" | tail -n 5
    ls "$MF_TMP"/hs_err_pid*.log 2>/dev/null && fail "Grow $size: the JVM wrote a fatal-error report (hs_err)"
    [ $rc -eq 0 ] || fail "Grow $size under 256M: exit $rc (want 0: OutOfMemoryError caught)"
    grep -q '^SURVIVED.*Java heap space' "$MF_TMP/out" || fail "Grow $size: no caught OutOfMemoryError"
done
pass "java Grow under 256M: OutOfMemoryError caught, exit 0 ($(head -c 60 "$MF_TMP/out"))"
