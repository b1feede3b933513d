# core_cxx: C++'s operator new and delete under the preload, over each allocator memfence runs
# on.  jemalloc, tcmalloc and mimalloc define the operators too: before memfence exported its
# own, a C++ program's `new` over them was never fenced (core_cxx allocated past any budget).
. "$(dirname "$0")/lib.sh"
quiet=(MEMFENCE_HIGH_ACTIONS=none MEMFENCE_CRITICAL_ACTIONS=none MEMFENCE_HEADROOM=0
       MEMFENCE_OVERDRAFT=0)
libdir=/usr/lib/x86_64-linux-gnu
for a in system jemalloc tcmalloc mimalloc; do
    case $a in
    jemalloc) [ -e $libdir/libjemalloc.so.2 ] || continue ;;
    tcmalloc) [ -e $libdir/libtcmalloc_minimal.so.4 ] || continue ;;
    mimalloc) [ -e $libdir/libmimalloc.so.2 ] || continue ;;
    esac
    # every form exact, refused with bad_alloc or nullptr, the new handler called
    arg=; [ $a = mimalloc ] && arg=unaligned-ok   # its aligned_alloc(256, 256): core_cxx_ops.cc
    out=$(env "${quiet[@]}" timeout 60 "$MF_BIN" run --allocator $a -l 64M -- \
          "$MF_PROGS/core_cxx_ops" $arg 2>&1) || fail "core_cxx_ops over $a: $out"
    echo "$out" | grep -q "^operators ok" || fail "core_cxx_ops over $a: $out"
    [ "$(echo "$out" | grep -c 'refused malloc(128.0 MiB)')" -eq 4 ] ||
        fail "over $a: not one refusal line for each plain form: $out"
    # a program growing with new[] gets std::bad_alloc at the budget
    out=$(timeout 60 "$MF_BIN" run --allocator $a -l 64M -- "$MF_PROGS/core_cxx" 2>&1)
    rc=$?
    [ $rc -eq 0 ] || fail "core_cxx over $a: exit $rc: $out"
    echo "$out" | grep -q "bad_alloc after [1-7] blocks" || fail "core_cxx over $a not fenced: $out"
    echo "$out" | grep -q "refused malloc(8.0 MiB) in core_cxx" || fail "over $a: no line: $out"
    # a program with its own operator new and delete keeps them for every form
    out=$(timeout 60 "$MF_BIN" run --allocator $a -l 64M -- "$MF_PROGS/core_cxx_replace" 2>&1) ||
        fail "core_cxx_replace over $a: $out"
    echo "$out" | grep -q "delete 4000$" || fail "core_cxx_replace over $a: $out"
    # a C program that opens a C++ library with dlopen(RTLD_LOCAL): the runtime came in with it
    out=$(timeout 60 "$MF_BIN" run --allocator $a -l 64M -- "$MF_PROGS/cxx_host" \
          "$MF_TLIB/cxx_plugin.so" 2>&1) || fail "cxx_host over $a: $out"
    echo "$out" | grep -q "^bad_alloc after 200000 bytes" || fail "cxx_host over $a: $out"
    echo "over $a: ok"
done
# no C++ runtime loaded (a C program calling memfence's operator new): the nothrow form answers
# NULL past the budget; the throwing one, which cannot throw, is granted past it and says why
out=$(fenced MEMFENCE_LIMIT=64M -- "$MF_PROGS/cxx_host" orphan 2>&1) || fail "no runtime: $out"
echo "$out" | grep -q "small granted; nothrow past the budget NULL; throwing past the budget granted" ||
    fail "no runtime: $out"
echo "$out" | grep -q "granted anyway (operator new cannot take a refusal without a C++ runtime)" ||
    fail "no runtime, no line: $out"

# profiling on: the operators' fast path samples and forgets as malloc and free do
out=$(fenced MEMFENCE_LIMIT=64M MEMFENCE_PROFILE=on "${quiet[@]}" -- "$MF_PROGS/core_cxx_ops" 2>&1) ||
    fail "core_cxx_ops with profiling: $out"
pass
