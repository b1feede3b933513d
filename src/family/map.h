/* map.h — the map module's interface to the mmap-family hooks (src/hooks/mmap.c).
 *
 * Every hooked call is bracketed:
 *     mf_map_op_t op;
 *     if (mf_map_XXX_begin(&op, ...) < 0) { errno = ENOMEM; return failure; }
 *     result = real_XXX(...);
 *     mf_map_end(&op, succeeded, result address);
 * begin decides whether the call is tracked at all (not inside memfence or the allocator
 * underneath, runtime counting), runs the file pre-flight check and the policy, takes the
 * region table's lock, charges the host pool with what the call would add, and refuses with
 * -ENOMEM (already reported) when it does not fit.  The lock is held across the real call, so
 * the table changes together with the kernel's own map; end applies the change to the table,
 * settles the charge with what the table really gained or lost, and releases the lock.  When
 * begin returns 0, end must be called exactly once.  The real call itself stays in the hook.
 *
 * What counts is decided in src/map.c and follows the kernel's commit accounting; see there.
 */
#ifndef MF_MAP_H
#define MF_MAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/module.h"
#include "family/region.h"

enum mf_map_kind { MF_MAP_NONE, MF_MAP_MMAP, MF_MAP_MUNMAP, MF_MAP_MPROTECT, MF_MAP_MREMAP,
                   MF_MAP_SHMAT, MF_MAP_SHMDT, MF_MAP_BRK };

typedef struct mf_map_op {
    int kind;                  /* MF_MAP_NONE: untracked, end does nothing */
    uint32_t rflags;           /* region flags the call creates (0: none recorded) */
    uintptr_t addr, len;       /* page-aligned range the call works on */
    uintptr_t old_len;         /* mremap: the old length (rounded); brk: the old end */
    uintptr_t dest;            /* mremap with MREMAP_FIXED: the destination */
    int flags;                 /* mmap / mremap / shmat flags */
    int write;                 /* mprotect: the new protection has PROT_WRITE */
    uint64_t pre;              /* bytes charged to the host pool before the call */
    uint64_t before;           /* the table's counted total when begin took the lock */
} mf_map_op_t;

/* Each begin: return 0 (make the real call, then mf_map_end) or -ENOMEM (refused and reported:
 * fail the call with ENOMEM without making it).  `caller` is the hooked call's return address. */
int mf_map_mmap_begin(mf_map_op_t *op, void *addr, size_t len, int prot, int flags, int fd,
                      off_t off, const void *caller);
int mf_map_munmap_begin(mf_map_op_t *op, void *addr, size_t len);
int mf_map_mprotect_begin(mf_map_op_t *op, void *addr, size_t len, int prot, const void *caller);
int mf_map_mremap_begin(mf_map_op_t *op, void *old, size_t old_len, size_t new_len, int flags,
                        void *dest, const void *caller);
/* shmat: the segment's size is read with shmctl(IPC_STAT) (raw); unknown: untracked. */
int mf_map_shmat_begin(mf_map_op_t *op, int shmid, const void *addr, int shmflg,
                       const void *caller);
int mf_map_shmdt_begin(mf_map_op_t *op, const void *addr);
/* brk / sbrk called by the program: the break moves from old_end to new_end. */
int mf_map_brk_begin(mf_map_op_t *op, uintptr_t old_end, uintptr_t new_end, const void *caller);

/* After the real call: `ok` says whether it succeeded; `result` is the address it returned
 * (mmap, mremap, shmat), ignored otherwise.  Never fails. */
void mf_map_end(mf_map_op_t *op, int ok, uintptr_t result);

/* Bytes the table counts now (what mf_stats.map_bytes mirrors), and its number of regions. */
uint64_t mf_map_counted(void);
size_t mf_map_regions(void);

/* The file pre-flight check on its own (also used by begin): a mapping of `len` bytes of the
 * file open on fd at `off`.  Return: 0, or -ENOMEM after logging the refusal line (naming the
 * file, the bytes needed and the bytes available) and counting mf_stats.map_refusals. */
int mf_map_preflight(int fd, size_t len, off_t off);

/* The module's lifecycle (module.h). */
MF_MODULE_DECL(map);

#endif
