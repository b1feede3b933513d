/* memfence.h — the small public API for programs that want to cooperate with memfence.
 *
 * All functions live in libmemfence.so.  A program must still run when the library is not
 * preloaded, so the declarations are weak: when memfence is absent their addresses are NULL.
 * Use the inline helpers below (memfence_present(), memfence_get_stats_safe()), which check.
 * A program that prefers not to link with weak symbols can look the names up at run time with
 * dlsym(RTLD_DEFAULT, "memfence_get_stats").
 *
 * Stable ABI: struct memfence_stats only grows at its end; pass sizeof your struct.
 */
#ifndef MEMFENCE_H
#define MEMFENCE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Inside libmemfence itself the definitions are strong. */
#ifdef MEMFENCE_BUILDING
#define MEMFENCE_WEAK
#else
#define MEMFENCE_WEAK __attribute__((weak))
#endif

#define MEMFENCE_UNLIMITED UINT64_MAX
#define MEMFENCE_GPU_MAX 16

enum memfence_level { MEMFENCE_LOW = 0, MEMFENCE_MODERATE = 1, MEMFENCE_HIGH = 2,
                      MEMFENCE_CRITICAL = 3 };

enum memfence_pool { MEMFENCE_POOL_HOST = 0, MEMFENCE_POOL_GPU0 = 1 /* GPU n = 1 + n */ };

struct memfence_stats {
    uint64_t host_used;          /* bytes charged to the host budget (heap + mappings + pinned) */
    uint64_t host_limit;         /* MEMFENCE_UNLIMITED when counting only */
    uint64_t map_bytes;          /* of host_used: anonymous committed mappings */
    uint64_t rss;                /* resident set size at the last sample (0 before any) */
    uint32_t level;              /* enum memfence_level */
    uint32_t gpu_count;          /* devices with a pool in use */
    uint64_t gpu_used[MEMFENCE_GPU_MAX];
    uint64_t gpu_limit[MEMFENCE_GPU_MAX];
    uint64_t refusals;           /* allocations refused by a budget */
    uint64_t injected;           /* failures injected on purpose */
    uint64_t trims;              /* trims run by the sampler */
    uint64_t trimmed_bytes;      /* RSS given back by those trims */
    uint64_t throttled;          /* allocations delayed by throttling */
    uint64_t throttle_ns;        /* total delay */
    uint64_t signals;            /* signals sent to the process by the signal action */
    uint64_t level_ms[4];        /* time spent at each level */
    uint64_t refused_large;      /* of refusals: by refuse-large at CRITICAL */
    uint64_t map_refusals;       /* file mappings refused by the pre-flight check */
};

/* Fills *st (size = sizeof *st).  Return: 0, or a negative errno. */
int memfence_get_stats(struct memfence_stats *st, size_t size) MEMFENCE_WEAK;

/* Bytes charged to a pool, its limit, and the pressure level; MEMFENCE_UNLIMITED limit when none. */
uint64_t memfence_used(int pool) MEMFENCE_WEAK;
uint64_t memfence_limit(int pool) MEMFENCE_WEAK;
int memfence_level(void) MEMFENCE_WEAK;

/* What memfence charges for a live block of the malloc family: the bytes the allocator sets
 * aside for it (glibc: its chunk, the 8-byte header included, 16 for a mapped chunk; jemalloc,
 * tcmalloc, mimalloc: malloc_usable_size).  0 for NULL. */
uint64_t memfence_charge_of(void *block) MEMFENCE_WEAK;

/* The library's version string, e.g. "0.1.0". */
const char *memfence_version(void) MEMFENCE_WEAK;

/* Asks memfence to give free memory back to the system now (the trim action).  Return: 0 or
 * -ENOSYS when the allocator has no way to. */
int memfence_trim(void) MEMFENCE_WEAK;

/* True when libmemfence.so is loaded in this process. */
#ifndef MEMFENCE_BUILDING
static inline int memfence_present(void) { return memfence_get_stats != 0; }

/* memfence_get_stats, or -ENOSYS (as -38) when the library is absent. */
static inline int memfence_get_stats_safe(struct memfence_stats *st)
{
    return memfence_get_stats ? memfence_get_stats(st, sizeof *st) : -38;
}
#endif

#ifdef __cplusplus
}
#endif
#endif
