#!/bin/bash
# An independent oracle: thousands of random mmap/mprotect/mremap/munmap calls in an arena, and
# after each few, memfence's map_bytes compared with the private writable anonymous regions the
# kernel shows in /proc/self/smaps (tests/progs/map_oracle.c).  Two seeds.
. "$(dirname "$0")/lib.sh"
for seed in 1 12345; do
    # the sampler thread from the start: started later, its stack could land in a hole of the
    # oracle's arena, a mapping that is not the oracle's (and never the program's usage)
    out=$(fenced MEMFENCE_SAMPLER_WAIT=0 -- "$MF_PROGS/map_oracle" 8000 $seed 2>&1) || fail "seed $seed: $out"
    echo "seed $seed: $out"
    case "$out" in "map_oracle ok:"*) ;; *) fail "seed $seed: $out" ;; esac
done
pass
