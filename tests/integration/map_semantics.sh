#!/bin/bash
# What counts, call by call (tests/progs/map_semantics.c): NORESERVE and PROT_NONE reservations,
# MAP_FIXED commit/uncommit (JVM), mprotect commit (V8), holes, mremap shrink/grow/move/FIXED/
# DONTUNMAP, shared anonymous, file mappings, System V segments, brk/sbrk, the allocator's own
# mappings, fork and threads — with the exact deltas of the public API's map_bytes.
. "$(dirname "$0")/lib.sh"
out=$(fenced -- "$MF_PROGS/map_semantics" 2>&1) || fail "$out"
expect_eq "$out" "map_semantics ok" "map_semantics output"
# the same under a budget that is generous: nothing is refused
out=$(fenced MEMFENCE_LIMIT=1G -- "$MF_PROGS/map_semantics" 2>&1) || fail "under 1G: $out"
expect_eq "$out" "map_semantics ok" "map_semantics output under 1G"
# with an allocator chained after memfence, its own mappings (jemalloc's extents, tcmalloc's
# spans) are heap blocks and never counted again as mappings
for a in libjemalloc.so.2 libtcmalloc_minimal.so.4 libmimalloc.so.2; do
    lib=$(ls /usr/lib/x86_64-linux-gnu/$a* 2>/dev/null | head -1)
    [ -n "$lib" ] || continue
    out=$(env LD_PRELOAD="$MF_LIB $lib" "$MF_PROGS/map_semantics" 2>&1) || fail "with $a: $out"
    expect_eq "$out" "map_semantics ok" "map_semantics with $a"
    echo "with $a: ok"
done
pass
