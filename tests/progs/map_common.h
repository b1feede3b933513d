/* map_common.h — shared by the map_* test programs: the public API looked up at run time,
 * and a CHECK macro that prints the failing line and exits 1. */
#ifndef MAP_COMMON_H
#define MAP_COMMON_H
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memfence.h"

#define MiB (1024ull * 1024)
#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: check failed: %s (errno %d)\n", \
    __FILE__, __LINE__, #c, errno); exit(1); } } while (0)
#define CHECK_EQ(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); if (a_ != b_) { \
    fprintf(stderr, "%s:%d: %s == %s: %lld != %lld\n", __FILE__, __LINE__, #a, #b, a_, b_); \
    exit(1); } } while (0)

static int (*api_get_stats)(struct memfence_stats *, size_t);
static uint64_t (*api_used)(int);

static inline void api_init(void)
{
    api_get_stats = (int (*)(struct memfence_stats *, size_t))dlsym(RTLD_DEFAULT, "memfence_get_stats");
    api_used = (uint64_t (*)(int))dlsym(RTLD_DEFAULT, "memfence_used");
    if (!api_get_stats || !api_used) {
        fprintf(stderr, "memfence is not preloaded\n");
        exit(77);
    }
}

static inline uint64_t map_bytes(void)
{
    struct memfence_stats st;
    CHECK(api_get_stats(&st, sizeof st) == 0);
    return st.map_bytes;
}

static inline uint64_t host_used(void) { return api_used(MEMFENCE_POOL_HOST); }
#endif
