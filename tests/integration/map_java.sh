#!/bin/bash
# The JVM under the preload: `java -version` and a small program that allocates and drops
# arrays run exactly as without memfence under a budget well above their needs; under tight
# budgets the JVM stops with its own out-of-memory error (the heap commit, an mmap over its
# reservation, refused with ENOMEM), never a signal.
. "$(dirname "$0")/lib.sh"
command -v java >/dev/null && command -v javac >/dev/null || skip "no JDK (java, javac)"
cd "$MF_TMP"

java -version > plain.out 2>&1 || fail "java -version fails without memfence"
fenced MEMFENCE_LIMIT=4G -- java -version > fenced.out 2>&1 || fail "java -version under 4G: $(cat fenced.out)"
cmp -s plain.out fenced.out || fail "java -version differs under memfence: $(diff plain.out fenced.out)"

cat > Alloc.java <<'JAVA'
public class Alloc {
    public static void main(String[] a) {
        int mib = a.length > 0 ? Integer.parseInt(a[0]) : 64;
        long sum = 0;
        for (int round = 0; round < 4; round++) {
            byte[][] keep = new byte[mib][];
            for (int i = 0; i < mib; i++) { keep[i] = new byte[1 << 20]; keep[i][i % 4096] = (byte) (i + round); }
            for (int i = 0; i < mib; i++) sum += keep[i][i % 4096];
        }
        System.out.println("sum " + sum);
    }
}
JAVA
javac Alloc.java 2>&1 || fail "javac"
java -Xmx256m Alloc 64 > plain.out 2>&1 || fail "Alloc fails without memfence: $(cat plain.out)"
fenced MEMFENCE_LIMIT=4G -- java -Xmx256m Alloc 64 > fenced.out 2>&1
rc=$?
[ $rc -eq 0 ] || fail "Alloc under 4G exited $rc: $(cat fenced.out)"
cmp -s plain.out fenced.out || fail "Alloc differs under memfence: $(diff plain.out fenced.out)"

# tight budgets: without virtualize the default heap (1/64 of the machine) cannot be committed,
# and a heap allowed to grow past the budget stops when it tries
check_clean() {    # what, rc, output file
    [ "$2" -ne 0 ] || fail "$1: expected a failure"
    [ "$2" -lt 128 ] || fail "$1: killed by a signal (exit $2): $(head -20 "$3")"
    grep -q -e 'insufficient memory for the Java Runtime' -e 'OutOfMemoryError' "$3" ||
        fail "$1: no out-of-memory error from the JVM: $(head -20 "$3")"
    grep -q 'memfence\[[0-9]*\]: refused' "$3" || fail "$1: no refusal line from memfence"
}
fenced MEMFENCE_LIMIT=48M MEMFENCE_VIRTUALIZE=off -- java -version > tight.out 2>&1
check_clean "java -version under 48M, virtualize off" $? tight.out
# virtualize (the default under a budget): the JVM sizes its heap from the budget and runs
fenced MEMFENCE_LIMIT=48M -- java -version > tight.out 2>&1 ||
    fail "java -version under 48M with virtualize on: $(head -20 tight.out)"
fenced MEMFENCE_LIMIT=160M -- java -Xms16m -Xmx1g -XX:-UseAdaptiveSizePolicy Alloc 400 > tight.out 2>&1
check_clean "Alloc 400 MiB under 160M" $? tight.out
rm -f hs_err_pid*.log
pass "java -version and Alloc as without memfence; clean out-of-memory errors under tight budgets"
