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
pass
