/* api.c — the public API of include/memfence.h, exported from the preload. */
#include <errno.h>
#include <string.h>

#define MEMFENCE_BUILDING 1
#include "backend/backend.h"
#include "base/proc.h"
#include "base/stats.h"
#include "family/heap.h"
#include "gate/gate.h"
#include "memfence.h"

#define L(x) atomic_load_explicit(&(x), memory_order_relaxed)

MF_EXPORT int memfence_get_stats(struct memfence_stats *st, size_t size)
{
    if (!st || size < offsetof(struct memfence_stats, gpu_used))
        return -EINVAL;
    struct memfence_stats s;
    memset(&s, 0, sizeof s);
    s.host_used = mf_gate_used(MF_POOL_HOST);
    s.host_limit = mf_gate_limit(MF_POOL_HOST);
    s.map_bytes = L(mf_stats.map_bytes);
    s.rss = L(mf_stats.rss);
    s.level = L(mf_stats.level);
    for (unsigned d = 0; d < MEMFENCE_GPU_MAX && d < MF_GPU_MAX; d++) {
        s.gpu_used[d] = mf_gate_used(MF_POOL_GPU0 + d);
        s.gpu_limit[d] = mf_gate_limit(MF_POOL_GPU0 + d);
        if (s.gpu_used[d] || s.gpu_limit[d] != MF_UNLIMITED)
            s.gpu_count = d + 1;
    }
    s.refusals = L(mf_stats.refusals);
    s.injected = L(mf_stats.injected);
    s.trims = L(mf_stats.trims);
    s.trimmed_bytes = L(mf_stats.trimmed_bytes);
    s.throttled = L(mf_stats.throttled);
    s.throttle_ns = L(mf_stats.throttle_ns);
    s.signals = L(mf_stats.signals);
    for (int i = 0; i < 4; i++)
        s.level_ms[i] = L(mf_stats.level_ms[i]);
    s.refused_large = L(mf_stats.refused_large);
    s.map_refusals = L(mf_stats.map_refusals);
    memcpy(st, &s, size < sizeof s ? size : sizeof s);
    return 0;
}

MF_EXPORT uint64_t memfence_used(int pool)
{
    return pool >= 0 && pool < MF_POOL_COUNT ? mf_gate_used((unsigned)pool) : 0;
}

MF_EXPORT uint64_t memfence_limit(int pool)
{
    return pool >= 0 && pool < MF_POOL_COUNT ? mf_gate_limit((unsigned)pool) : MF_UNLIMITED;
}

MF_EXPORT uint64_t memfence_charge_of(void *p)
{
    if (!p)
        return 0;
    if (mf_bootstrap_owns(p))
        return 0;                              /* not charged (backend.h) */
    if (!mf_heap_glibc_inline && !mf_backend.malloc_usable_size)
        return 0;                              /* before memfence has resolved the allocator */
    return mf_heap_charge(p);
}

MF_EXPORT int memfence_level(void) { return (int)L(mf_stats.level); }

MF_EXPORT const char *memfence_version(void) { return MF_VERSION; }

MF_EXPORT int memfence_trim(void) { return mf_backend_trim(); }
