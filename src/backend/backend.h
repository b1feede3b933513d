/* backend.h — the allocator underneath memfence: the next malloc family in the symbol chain
 * (glibc, or jemalloc / tcmalloc / mimalloc preloaded after memfence), detected at run time,
 * with its usable-size function and its give-back-memory entry points.
 */
#ifndef MF_BACKEND_H
#define MF_BACKEND_H

#include <stdatomic.h>
#include <stdbool.h>
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

/* An upper bound of charge - requested size for a block of n bytes from this allocator (the
 * charge: glibc's chunk, its header included; the usable size of the others, heap.h):
 * glibc rounds to 16 bytes (heap) or a page (mmapped chunks); jemalloc, tcmalloc and mimalloc
 * round to size classes at most a quarter apart. */
#define MF_BACKEND_GLIBC_SLACK (4096 + 64)
static inline uint64_t mf_backend_slack(uint64_t n)
{
    return mf_backend.kind == MF_BACKEND_GLIBC ? MF_BACKEND_GLIBC_SLACK : n / 4 + 4096 + 64;
}

/* Free memory the allocator retains (bytes), or 0 when it cannot say. */
uint64_t mf_backend_retained(void);

/* glibc's chunk header, read from a live block: the chunk's size, its header included
 * (malloc.c's chunksize()), and the bytes the program may use (musable(): 8 less, 16 for a
 * mapped chunk).  Only for blocks glibc handed out. */
static inline size_t mf_glibc_chunk(const void *p)
{
    return ((const size_t *)p)[-1] & ~(size_t)7;
}

static inline size_t mf_glibc_usable(const void *p)
{
    size_t h = ((const size_t *)p)[-1];
    return (h & ~(size_t)7) - ((h & 2) * 4 + 8);    /* IS_MMAPPED: header is 16 bytes */
}

/* Bootstrap: the allocations made before the backend is known (while it is being resolved:
 * dlsym may calloc) come from __libc_malloc (bound by the loader, no lookup of ours; glibc's own
 * malloc unless a preloaded allocator defines that name too).  Each is remembered (at most
 * MF_BOOT_MAX live; then NULL) and freed by __libc_free, until the backend turns out to be glibc
 * with __libc_malloc its malloc (mf_bootstrap_settle): from then on they are glibc blocks like
 * any other, whose headers may be read and which any path may free, and free() needs no test
 * for them.  adopt(p) is called for each block remembered then (the heap charges it). */
#define MF_BOOT_MAX 256
void *mf_bootstrap_alloc(size_t n, size_t align);  /* zeroed; NULL when the table is full */
void mf_bootstrap_release(void *p);                 /* frees a block mf_bootstrap_owns */
size_t mf_bootstrap_usable(const void *p);          /* the bytes asked; 0 when not remembered */
bool mf_bootstrap_find(const void *p);
void mf_bootstrap_settle(void (*adopt)(void *p));
bool mf_bootstrap_glibc(void);                      /* settled: bootstrap blocks are glibc's */

extern MF_INTERNAL _Atomic unsigned mf_boot_live;   /* blocks remembered */

static inline int mf_bootstrap_owns(const void *p)
{
    return mf_unlikely(atomic_load_explicit(&mf_boot_live, memory_order_relaxed) != 0) &&
           mf_bootstrap_find(p);
}

#endif
