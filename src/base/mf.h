/* mf.h — definitions every memfence module shares: attributes, branch hints, error convention.
 *
 * Error convention (everywhere in memfence): functions that can fail return 0 on success or a
 * negative errno value; functions returning a size or pointer document their own failure value.
 */
#ifndef MF_MF_H
#define MF_MF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MF_EXPORT      __attribute__((visibility("default")))
#define MF_INTERNAL    __attribute__((visibility("hidden")))
#define mf_likely(x)   __builtin_expect(!!(x), 1)
#define mf_unlikely(x) __builtin_expect(!!(x), 0)
#define MF_CACHELINE   64
#define MF_ALIGNED     __attribute__((aligned(MF_CACHELINE)))
#define MF_NOINLINE    __attribute__((noinline))
#define MF_COLD        __attribute__((cold, noinline))
#define MF_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MF_MIN(a, b)   ((a) < (b) ? (a) : (b))
#define MF_MAX(a, b)   ((a) > (b) ? (a) : (b))

/* True when this object is built into an ordinary program (unit tests, the memfence command)
 * rather than into the preload library: no constructors, no interposition. */
#ifdef MF_ARCHIVE
static const bool mf_in_preload = false;
#else
static const bool mf_in_preload = true;
#endif

#define MF_GPU_MAX 16        /* CUDA devices tracked per process */
#define MF_NAME_MAX 64       /* instance, group and program names */

#endif
