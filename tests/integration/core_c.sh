# core_c: the malloc family's edge cases, exactness across threads, fork/exec/threads/dlopen,
# and C++ bad_alloc — C programs under the preload.
. "$(dirname "$0")/lib.sh"
# the gate's exactness alone: the sampler's pressure actions (throttle, refuse-large at
# CRITICAL, which refuses large requests that would still fit) are off here
quiet=(MEMFENCE_HIGH_ACTIONS=none MEMFENCE_CRITICAL_ACTIONS=none)
# and the strict budget (no headroom, no overdraft): exact to the byte
strict=(MEMFENCE_HEADROOM=0 MEMFENCE_OVERDRAFT=0)
out=$(fenced MEMFENCE_LIMIT=64M "${quiet[@]}" "${strict[@]}" -- "$MF_PROGS/core_edge" 2>&1) || fail "core_edge: $out"
echo "$out" | grep -q "refused malloc(100.0 MiB) in core_edge" || fail "no refusal line: $out"

out=$(fenced MEMFENCE_LIMIT=32M "${quiet[@]}" "${strict[@]}" -- "$MF_PROGS/core_stress" 4 10 2>/dev/null) || fail "stress: $out"
echo "$out"
echo "$out" | grep -q "over-limit=0 bad-refusals=0" || fail "stress: $out"
out=$(fenced MEMFENCE_LIMIT=16M "${quiet[@]}" "${strict[@]}" -- "$MF_PROGS/core_stress" 2 10 2>/dev/null) || fail "stress 2: $out"

# the same through C++'s operator new (nothrow) and delete: memfence's new undoes a charge the
# thread's credit does not cover and leaves the call to libstdc++'s; exact under threads too
for t in 2 8; do
    out=$(fenced MEMFENCE_LIMIT=32M "${quiet[@]}" "${strict[@]}" -- "$MF_PROGS/core_stress" $t 6 new 2>/dev/null) ||
        fail "stress, operator new, $t threads: $out"
    echo "$out" | grep -q "over-limit=0 bad-refusals=0" || fail "stress, operator new: $out"
done

# at the budget, a thread's first touch of a dlopen'ed library's thread-local variables: the
# dynamic loader allocates them and cannot take a refusal (glibc aborts); granted past the budget
out=$(fenced MEMFENCE_LIMIT=32M "${quiet[@]}" "${strict[@]}" -- "$MF_PROGS/core_tls" "$MF_TLIB/tls_block.so" 2>&1) ||
    fail "thread-local storage at the budget: $out"
echo "$out" | grep -q "thread ran; its thread-local block was there" || fail "core_tls: $out"
echo "$out" | grep -q "granted anyway (the dynamic loader cannot take a refusal)" || fail "core_tls: $out"

out=$(fenced MEMFENCE_LIMIT=64M "${quiet[@]}" "${strict[@]}" -- "$MF_PROGS/core_lifecycle" "$MF_TLIB" 2>&1) || fail "lifecycle: $out"

# blocks made inside memfence (a signal handler that interrupts it, before its thread has a slot;
# fault injection armed but never firing sends every call the general path) and freed by the
# program: charged once, credited once
for f in "" "MEMFENCE_FAIL=size>=1T"; do
    out=$(fenced MEMFENCE_LIMIT=1G $f -- "$MF_PROGS/core_nested" 2>&1) || fail "nested ($f): $out"
done
out=$(fenced MEMFENCE_LIMIT=1G -- "$MF_PROGS/core_nested" realloc 2>&1) || fail "realloc: $out"
out=$(fenced MEMFENCE_LIMIT=1G MEMFENCE_PROFILE=on -- "$MF_PROGS/core_nested" realloc 2>&1) ||
    fail "realloc, profiling: $out"

# memfence's start-up leaves glibc's decisions as they were: a 200 KiB block is still a mapping
# (a probe freed at start-up once raised the mmap threshold for the whole process)
want=$("$MF_PROGS/core_glibc_state" | head -1)
for e in "MEMFENCE_LIMIT=1G" "MEMFENCE_LIMIT=1G MEMFENCE_PROFILE=on"; do
    got=$(fenced $e -- "$MF_PROGS/core_glibc_state" 2>&1 | head -1)
    expect_eq "$got" "$want" "glibc's mmap threshold under $e"
done

out=$(fenced MEMFENCE_LIMIT=64M "${quiet[@]}" "${strict[@]}" -- "$MF_PROGS/core_cxx" 2>&1)
rc=$?
[ $rc -eq 0 ] || fail "core_cxx exit $rc: $out"
echo "$out" | grep -q "bad_alloc after" || fail "no bad_alloc: $out"
echo "$out" | grep -q "memfence\[[0-9]*\]: refused malloc(8.0 MiB) in core_cxx" || fail "no line: $out"
pass
