# core_shell_gcc: bash and gcc under the preload — identical results with a generous budget; a
# tight budget gives their own out-of-memory errors and a normal exit, never a signal.
. "$(dirname "$0")/lib.sh"
command -v gcc >/dev/null || skip "gcc not installed"
cd "$MF_TMP"
script='s=""; for i in $(seq 1 2000); do s="$s$i,"; done; echo ${#s}; declare -A m; for i in $(seq 1 3000); do m[$i]=$((i*i)); done; echo ${#m[@]} ${m[77]}'
want=$(bash -c "$script")
got=$(fenced MEMFENCE_LIMIT=256M -- bash -c "$script") || fail "bash under memfence failed"
expect_eq "$got" "$want" "bash output"

out=$(fenced MEMFENCE_LIMIT=24M -- bash -c 'x=$(head -c 60000000 /dev/zero | tr "\0" a); echo ${#x}' 2>&1)
rc=$?
[ $rc -lt 128 ] || fail "bash died of a signal ($rc): $out"
[ $rc -ne 0 ] || fail "bash did not run out of memory under 24M: $out"
echo "$out" | grep -qi "cannot allocate\|out of memory\|xmalloc\|xrealloc" || fail "no bash OOM message: $out"

cat > prog.c <<'C'
#include <stdio.h>
static int sq(int x) { return x * x; }
int main(void) { int s = 0; for (int i = 0; i < 100; i++) s += sq(i); printf("%d\n", s); return 0; }
C
gcc -O2 -o plain prog.c || fail "gcc alone failed"
fenced MEMFENCE_LIMIT=512M -- gcc -O2 -o fenced prog.c || fail "gcc under memfence failed"
expect_eq "$(./fenced)" "$(./plain)" "compiled program output"
# a translation unit that needs far more than 16 MiB to compile
python3 -c '
print("int big[] = {" + ",".join(str(i) for i in range(400000)) + "};")
print("int main(void){return big[7];}")' > big.c
out=$(fenced MEMFENCE_LIMIT=16M -- gcc -O0 -c big.c -o big.o 2>&1)
rc=$?
[ $rc -ne 0 ] || fail "gcc compiled a 400000-element initializer in 16 MiB?"
[ $rc -lt 128 ] || fail "gcc died of a signal ($rc): $out"
echo "$out" | grep -qi "out of memory\|cannot allocate\|memory exhausted" || fail "no gcc OOM message: $out"
pass
