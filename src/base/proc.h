/* proc.h — the process as memfence sees it: the state of initialisation, each thread's state,
 * the environment and its identity.
 *
 * States: NONE → RESOLVING (looking up the backend; nested allocations use the bootstrap
 * buffer) → COUNTING (every block charged, no limit yet) → READY (configuration applied).
 * Initialisation runs at the first allocation or in the constructor, whichever comes first.
 */
#ifndef MF_PROC_H
#define MF_PROC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/mf.h"

/* A thread's credit slot: the gate's (gate/gate.h says the protocol); defined here because the
 * thread state points at it, and starts out pointing at mf_slot_none.  net: owner only; lease
 * and floor: owner (slow path, CAS) and drainer. */
typedef struct mf_slot {
    int64_t net;                /* bytes charged - bytes credited through this slot */
    _Atomic int64_t lease;      /* bytes held from the host pool; MF_LEASE_REVOKED in a drain */
    _Atomic int64_t floor;      /* lease - credit_high: a free that takes net below it returns
                                   the excess (INT64_MIN while revoked) */
    _Atomic int slow;           /* owner inside the slow path (a counter: a handler may nest) */
    _Atomic int in_use;
    int tid;
} MF_ALIGNED mf_slot_t;

#define MF_LEASE_REVOKED INT64_MIN

/* The slot of a thread that has none (mf_tls.alloc_slot's start and end): a lease that covers no
 * charge, so malloc's inline path, which charges mf_tls.alloc_slot without testing it, always
 * leaves for its tail (heap.c), which never hands this slot to the gate.  Its net is scratch:
 * any thread adds to it, the tail sets it back to 0, none reads it. */
extern MF_INTERNAL mf_slot_t mf_slot_none;

enum mf_state { MF_STATE_NONE, MF_STATE_RESOLVING, MF_STATE_COUNTING, MF_STATE_READY,
                MF_STATE_DISABLED /* a required symbol was missing: pure pass-through */ };

/* Per-thread state.  Initial-exec TLS: no allocation, no __tls_get_addr. */
typedef struct mf_tls {
    int depth;              /* > 0: inside memfence; hooks pass nested calls straight through */
    int in_backend;         /* > 0: inside the allocator underneath: its mmaps are its own */
    int in_usable;          /* > 0: inside the allocator's malloc_usable_size, asked by memfence
                               (family/heap.h): a malloc meanwhile is the allocator's own */
    int exiting;            /* the thread's destructors ran: no slot any more */
    int own_thread;         /* a thread memfence started (the sampler): never reads `environ` */
    int uncounted;          /* > 0: memfence's own allocations at depth are not charged (heap.c) */
    int tid;
    struct mf_slot *slot;   /* this thread's credit slot (NULL until the first charge; gate.h) */
    struct mf_slot *alloc_slot;  /* what malloc's inline path charges: slot, or &mf_slot_none */
    struct mf_slot *free_slot;   /* what free's inline path credits: slot, when frees may go
                                    inline for good (mf_thread_slot_set), else NULL */
    struct mf_slot *filter_slot; /* the same after the profiler's filter: slot, when profiling
                                    is all free cares about, else NULL */
    int64_t profile_left;   /* profiler: bytes until the next sample */
    uint64_t fail_seen;     /* fault injection: per-thread scratch */
    size_t req;             /* the fast path's request size, kept here across the backend call */
    size_t req_m;           /* calloc's: its second factor (the request is req * req_m) */
} mf_tls_t;

extern MF_INTERNAL __thread mf_tls_t mf_tls;
extern _Atomic int mf_state;

/* Makes sure initialisation has run (or is running on this thread).  Return: the state.
 * Defined by the lifecycle (lifecycle/runtime.c): the one call that goes up the layers, made by
 * the hooks' families when an allocation comes before memfence's constructor. */
int mf_runtime_ensure(void);

/* At initialisation: snapshots the environment and reads the identity.  In a fork child:
 * refreshes the pid and the thread id. */
void mf_proc_init(void);
void mf_proc_fork_child(void);

/* Identity: the instance name (MEMFENCE_INSTANCE or the program name), the program's short
 * name, its executable path, and the pid (refreshed in a fork child). */
const char *mf_instance_name(void);
const char *mf_program_name(void);
const char *mf_exe_path(void);
pid_t mf_pid(void);

/* True when pc lies in the dynamic loader's (ld.so's) code, found at initialisation.  The
 * loader cannot take a refusal: glibc ends the process when it cannot allocate a thread's
 * storage for a library's thread-local variables (first touched by a thread, at any time). */
bool mf_in_loader(const void *pc);

/* Reads an environment variable without allocating; NULL in secure-execution mode when
 * `path_like` (it names a file memfence would open).  A program thread reads the live
 * `environ`, as its own getenv would; memfence's own threads read a snapshot of the environment
 * the program was started with (/proc/self/environ), because the program may free and replace
 * `environ` strings at any moment (bash does, all the time). */
const char *mf_getenv(const char *name, int path_like);

/* The environment's entries ("NAME=value") in turn, from the same place mf_getenv reads: *pos
 * starts at 0.  Return: the next entry, or NULL after the last. */
const char *mf_env_next(size_t *pos);

#endif
