/* region.h — the region table: which address ranges memfence has seen mapped, with what
 * attributes, and how many of their bytes count against the budget.
 *
 * An interval map of disjoint [start, end) ranges, each carrying a flags word.  It stays exact
 * under splitting and merging: setting, clearing or re-flagging any sub-range splits the regions
 * it cuts, and neighbours with equal flags are merged again, so the table never holds two
 * adjacent regions with the same flags (unless MF_RG_NOMERGE).  The table also keeps `counted`,
 * the byte total of the regions flagged MF_RG_COUNTED, and every mutation reports what it added
 * to and removed from that total.  What the flags mean is the caller's business (src/map.c
 * decides what counts); this file is only the data structure.
 *
 * Structure: an AVL tree keyed by start, so a lookup, an insertion or a removal visits at most
 * 1.44·log2(n) nodes — 29 at a million regions — and a range operation touching k regions costs
 * O((k + 1) log n).  Nodes (40 bytes) come from chunks the table maps for itself with
 * mf_sys_mmap, never from the heap memfence fences; freed nodes are recycled.  The table is
 * bounded by `capacity` nodes (MF_REGION_CAP by default: 160 MiB of nodes at the most, mapped
 * one 1 MiB chunk at a time as needed; a million regions use 40 MiB).  When it is full, an
 * operation that needs a new node fails with -ENOMEM before changing anything, which the mmap
 * hooks turn into the same ENOMEM the kernel gives at vm.max_map_count.  mf_region_reserve()
 * lets a caller make sure of the nodes before it makes a system call it cannot take back.
 *
 * Locking: every function except init/fini expects the caller to hold t->lock (mf_region_lock),
 * which lets src/map.c hold it across the real system call so that the kernel's view and the
 * table change together.  Nothing here allocates through malloc or calls a hooked function.
 *
 * Error convention: 0 or a negative errno.
 */
#ifndef MF_REGION_H
#define MF_REGION_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "base/mf.h"

/* Flags.  The table interprets only COUNTED (bytes summed) and NOMERGE (never merged with a
 * neighbour: a System V segment whose extent shmdt must find again).  The rest are the map
 * module's record of the mapping, compared for merging. */
enum {
    MF_RG_COUNTED = 1u << 0,     /* its bytes count against the budget */
    MF_RG_NOMERGE = 1u << 1,
    MF_RG_PRIVATE = 1u << 2,     /* MAP_PRIVATE (else shared anonymous / System V) */
    MF_RG_WRITE = 1u << 3,       /* PROT_WRITE */
    MF_RG_NORESERVE = 1u << 4,   /* MAP_NORESERVE, not yet committed by an mprotect */
    MF_RG_FILE = 1u << 5,        /* backed by a file (private file mapping) */
    MF_RG_SHM = 1u << 6,         /* System V segment attached with shmat */
    MF_RG_SHARED_ANON = 1u << 7, /* MAP_SHARED | MAP_ANONYMOUS */
};

#define MF_REGION_CAP (1u << 22)          /* default bound: 4 194 304 regions */
#define MF_REGION_CHUNK (1u << 20)        /* bytes of nodes mapped at a time */
#define MF_REGION_CHUNKS_MAX 512          /* chunks the table can map (bounds capacity too) */

typedef struct mf_region {
    uintptr_t start, end;                /* [start, end), page aligned by the caller */
    struct mf_region *left, *right;
    uint32_t flags;
    int32_t height;                      /* AVL height; a free node links through `left` */
} mf_region_t;

typedef struct mf_region_table {
    pthread_mutex_t lock;
    mf_region_t *root;
    mf_region_t *free;                   /* recycled nodes */
    size_t nfree;
    char *bump;                          /* unused tail of the newest chunk */
    size_t bump_left;                    /* nodes left there */
    size_t count;                        /* regions in the tree */
    size_t made;                         /* nodes ever carved from chunks */
    size_t capacity;                     /* most nodes this table may make */
    uint64_t counted;                    /* bytes in MF_RG_COUNTED regions */
    void *chunks[MF_REGION_CHUNKS_MAX];
    unsigned nchunks;
} mf_region_table_t;

/* What one mutation did to the counted total. */
typedef struct mf_region_delta {
    uint64_t added;
    uint64_t removed;
} mf_region_delta_t;

/* A static table: MF_REGION_TABLE_INIT gives an empty table of the default capacity. */
#define MF_REGION_TABLE_INIT { .lock = PTHREAD_MUTEX_INITIALIZER, .capacity = MF_REGION_CAP }

/* Initialises an empty table bounded by `capacity` nodes (0: MF_REGION_CAP).  No memory is
 * mapped until the first node is needed.  Return: 0 or -EINVAL (capacity beyond the bound). */
int mf_region_init(mf_region_table_t *t, size_t capacity);

/* Unmaps every chunk and leaves the table empty (tests; never called with the lock held). */
void mf_region_fini(mf_region_table_t *t);

static inline void mf_region_lock(mf_region_table_t *t) { pthread_mutex_lock(&t->lock); }
static inline void mf_region_unlock(mf_region_table_t *t) { pthread_mutex_unlock(&t->lock); }

/* In a forked child (one thread): the lock the parent held around fork is made free again. */
void mf_region_fork_child(mf_region_table_t *t);

/* Makes sure the next operations can take `n` new nodes without failing.
 * Return: 0, or -ENOMEM when the table is at its capacity (or a chunk cannot be mapped). */
int mf_region_reserve(mf_region_table_t *t, size_t n);

/* Makes [start, end) one region with `flags`, replacing whatever the table held there, merging
 * with equal neighbours.  Needs at most 2 new nodes.  Return: 0 or -ENOMEM (table unchanged). */
int mf_region_set(mf_region_table_t *t, uintptr_t start, uintptr_t end, uint32_t flags,
                  mf_region_delta_t *d);

/* Removes [start, end) from the table, splitting regions it cuts.  Needs at most 1 new node.
 * Return: 0 or -ENOMEM (table unchanged). */
int mf_region_clear(mf_region_table_t *t, uintptr_t start, uintptr_t end, mf_region_delta_t *d);

/* Gives every region piece inside [start, end) the flags fn(old flags, ctx); gaps stay gaps.
 * Needs at most 2 new nodes.  Return: 0 or -ENOMEM (pieces before the failure are changed). */
typedef uint32_t (*mf_region_fn)(uint32_t flags, void *ctx);
int mf_region_update(mf_region_table_t *t, uintptr_t start, uintptr_t end, mf_region_fn fn,
                     void *ctx, mf_region_delta_t *d);

/* Copies the pieces of [src, src + len) to [dst, dst + len) (same offsets, same flags),
 * replacing what the destination held under each piece; under the gaps between pieces the
 * destination is left as it is (the kernel's mremap moves a range VMA by VMA the same way).
 * The ranges must not overlap.  Needs at most (pieces + 2) new nodes: reserve first.
 * Return: 0, -EINVAL (overlap) or -ENOMEM. */
int mf_region_copy(mf_region_table_t *t, uintptr_t src, uintptr_t len, uintptr_t dst,
                   mf_region_delta_t *d);

/* The region containing addr, or NULL.  Valid until the next mutation. */
const mf_region_t *mf_region_find(const mf_region_table_t *t, uintptr_t addr);

/* The first region ending after addr (the one containing it, or the next), or NULL. */
const mf_region_t *mf_region_next(const mf_region_table_t *t, uintptr_t addr);

/* Counted bytes inside [start, end). */
uint64_t mf_region_counted_in(const mf_region_table_t *t, uintptr_t start, uintptr_t end);

/* Number of region pieces inside [start, end) (how many nodes a copy of it needs). */
size_t mf_region_pieces(const mf_region_table_t *t, uintptr_t start, uintptr_t end);

/* Verifies the invariants: key order, disjointness, AVL balance and heights, merged
 * neighbours, count and counted total.  Return: 0, or -EUCLEAN with `why` describing the first
 * violation (tests and debugging). */
int mf_region_check(const mf_region_table_t *t, const char **why);

/* Height of the tree (0 when empty). */
int mf_region_height(const mf_region_table_t *t);

#endif
