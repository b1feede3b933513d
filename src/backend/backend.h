/* backend.h — the allocator underneath memfence: the next malloc family in the symbol chain
 * (glibc, or jemalloc / tcmalloc / mimalloc preloaded after memfence), detected at run time,
 * with its usable-size function and its give-back-memory entry points.
 */
#ifndef MF_BACKEND_H
#define MF_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "base/proc.h"

enum mf_backend_kind { MF_BACKEND_GLIBC, MF_BACKEND_JEMALLOC, MF_BACKEND_TCMALLOC,
                       MF_BACKEND_MIMALLOC, MF_BACKEND_OTHER };

typedef struct mf_backend {
#define MF_HOOK(name, ret, params, req) ret (*name) params;
#include "backend/malloc.def"
#undef MF_HOOK
    /* optional give-back entry points, NULL when this allocator has none */
    int (*malloc_trim)(size_t);
    int (*mallctl)(const char *, void *, size_t *, void *, size_t);
    void (*tc_release)(void);            /* MallocExtension_ReleaseFreeMemory */
    void (*mi_collect)(int);
    int kind;
} mf_backend_t;

extern MF_INTERNAL mf_backend_t mf_backend;

/* Resolves the backend.  Return: 0, or -ENOENT when the malloc family cannot be found. */
int mf_backend_init(void);

/* The backend's name ("glibc", "jemalloc", ...). */
const char *mf_backend_name(void);

/* Gives free memory back to the system the way this allocator can.  Return: 0 or -ENOSYS. */
int mf_backend_trim(void);

/* An upper bound of usable size - requested size for a block of n bytes from this allocator:
 * glibc rounds to 16 bytes (heap) or a page (mmapped chunks); jemalloc, tcmalloc and mimalloc
 * round to size classes at most a quarter apart. */
#define MF_BACKEND_GLIBC_SLACK (4096 + 64)
static inline uint64_t mf_backend_slack(uint64_t n)
{
    return mf_backend.kind == MF_BACKEND_GLIBC ? MF_BACKEND_GLIBC_SLACK : n / 4 + 4096 + 64;
}

/* Free memory the allocator retains (bytes), or 0 when it cannot say. */
uint64_t mf_backend_retained(void);

/* The bootstrap buffer: serves allocations made while symbols are being resolved. */
#define MF_BOOT_SIZE (256 << 10)
extern MF_INTERNAL char mf_boot_buffer[MF_BOOT_SIZE];
void *mf_bootstrap_alloc(size_t n, size_t align);
size_t mf_bootstrap_usable(const void *p);

static inline int mf_bootstrap_owns(const void *p)
{
    return (uintptr_t)p - (uintptr_t)mf_boot_buffer < MF_BOOT_SIZE;
}

#endif
