/* stats.h — the process's counters, one struct, updated with relaxed atomics off the fast path.
 * Read by the public API (memfence_get_stats), the sampler, the ledger and `memfence status`. */
#ifndef MF_STATS_H
#define MF_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "base/mf.h"

typedef struct mf_stats {
    _Atomic uint64_t refusals;          /* allocations refused by the budget */
    _Atomic uint64_t refusals_gpu;
    _Atomic uint64_t map_refusals;      /* file mappings refused by the pre-flight check */
    _Atomic uint64_t injected;          /* failures injected by `fail` */
    _Atomic uint64_t trims;             /* trim actions run */
    _Atomic uint64_t trimmed_bytes;     /* bytes given back by trims (RSS before - after) */
    _Atomic uint64_t throttled;         /* allocations delayed */
    _Atomic uint64_t throttle_ns;       /* total time of those delays */
    _Atomic uint64_t signals;           /* signals sent by the signal action */
    _Atomic uint64_t refused_large;     /* refusals by refuse-large */
    _Atomic uint64_t map_bytes;         /* anonymous committed bytes counted from mappings */
    _Atomic uint64_t rss;               /* last RSS the sampler read */
    _Atomic uint32_t level;             /* enum mf_level */
    _Atomic uint64_t level_ms[4];       /* time spent in each level */
    _Atomic uint64_t last_refusal_size;
} mf_stats_t;

extern mf_stats_t mf_stats;

static inline void mf_stat_add(_Atomic uint64_t *c, uint64_t n)
{ atomic_fetch_add_explicit(c, n, memory_order_relaxed); }

enum mf_level { MF_LEVEL_LOW, MF_LEVEL_MODERATE, MF_LEVEL_HIGH, MF_LEVEL_CRITICAL };

#endif
