/* gate.h — budgets: pools, per-thread credit, the exact refusal decision.
 *
 * A pool (host, or one per GPU) has a limit and `used`: the bytes granted to live blocks plus the
 * credit leased to threads.  A thread charges an allocation against its own slot without any
 * shared atomic: the slot holds `net`, the bytes charged minus the bytes credited through it,
 * which only its owner changes, with one add or subtract instruction (so a signal handler that
 * allocates on the same thread composes with it), and `lease`, the bytes it holds from the pool:
 * a charge is granted while net <= lease.  When it is not, the slow path leases a batch from the
 * pool (an atomic CAS that never lets `used` pass the limit); near the limit leases shrink to
 * exactly what is needed.  A free that leaves more than `credit_high` unused returns the excess.
 *
 * Before anything is refused, every slot's unused credit goes back to the pool (like the memcg's
 * drain_all_stock), so a refusal means that live usage + request really does not fit.  The drain
 * needs no cooperation from the fast path: it swaps each lease for MF_LEASE_REVOKED (every charge
 * then fails over to the slow path, which waits), runs a process-wide membarrier(2) (or an
 * mprotect TLB shoot-down where membarrier is missing) that supplies the store-load fence the
 * owner skips between its `net` update and its `lease` read (an asymmetric Dekker handshake),
 * waits for owners inside the slow path, reads each `net`, and takes back lease - net.
 *
 * Room for small blocks (host pool).  Runtimes allocate on their error paths (a garbage
 * collector's work lists and vectors, an exception object, an out-of-memory report) and do not
 * check those allocations; what they do check is a large block (a Buffer, a KV cache, a
 * bytearray) and their own pages (V8's and CPython's heaps are mappings).  So, like the kernel's
 * watermarks, refusals land on those first, and, like the kernel's OOM victim, a process that
 * was refused a small block may go deeper from then on (like the victim, it is expected to
 * unwind or end).  A large block or a mapping is refused with room still left below the limit
 * for the small blocks of the error path, so its refusal does not open the overdraft (a program
 * may not even see it: CPython falls back from a refused arena mapping to malloc):
 *
 *     request                                   normally              once a small one is refused
 *     malloc family, under MF_GATE_SMALL        limit                 limit + overdraft (*)
 *     a mapping (mmap, mprotect, pinned)        limit - headroom/2    limit - headroom/2
 *     malloc family, larger                     limit - headroom      limit - headroom
 *
 * (a realloc's request is its growth).  (*) Not for a block of the size of one of the last few
 * small blocks refused (from 64 KiB on, give or take a page: gate.c's same_size): a program
 * that retries what it was refused, or grows on with blocks of that size, meets the limit again
 * instead of eating the overdraft its own error path needs.  Usage therefore never passes
 * limit + overdraft, and passes the limit only after a small block's refusal; headroom and
 * overdraft 0 is the strict budget.
 *
 * Error convention: 0 or a negative errno (-ENOMEM when a charge does not fit).
 */
#ifndef MF_GATE_H
#define MF_GATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "base/mf.h"
#include "base/proc.h"
#include "base/size.h"
#include "gate/policy.h"

enum { MF_POOL_HOST = 0, MF_POOL_GPU0 = 1, MF_POOL_COUNT = 1 + MF_GPU_MAX };

/* Small blocks (the table above) are those under this: one of exactly 1 MiB is large under
 * every allocator (glibc's chunk for malloc(1 MiB) is 16 bytes more; a size class is not). */
#define MF_GATE_SMALL (1u << 20)

/* A parent budget a pool also charges (a group in the shared ledger).  charge returns 0 or
 * -ENOMEM; uncharge cannot fail.  Called at lease granularity, never per allocation.  `margin`
 * applies the table above to the parent: the charge may take the parent's usage up to its limit
 * + margin (a small block once one was refused: + overdraft; a lease or a large block:
 * - headroom; a mapping: - headroom/2; GPU pools: 0). */
typedef struct mf_gate_parent {
    int (*charge)(void *ctx, unsigned pool, uint64_t n, int64_t margin);
    /* its usage (all its members) and limit now; lock-free, allocation-free */
    void (*view)(void *ctx, unsigned pool, uint64_t *used, uint64_t *limit);
    void (*uncharge)(void *ctx, unsigned pool, uint64_t n);
    void *ctx;
} mf_gate_parent_t;

/* mf_slot_t (one thread's credit: lease - net) and MF_LEASE_REVOKED are in base/proc.h. */

/* Sets a pool's limit (MF_UNLIMITED = counting only).  Usage above a lowered limit stays granted;
 * later charges are refused until it falls below.  Return: 0 or -EINVAL (bad pool). */
int mf_gate_set_limit(unsigned pool, uint64_t limit);
uint64_t mf_gate_limit(unsigned pool);

/* Sets the host pool's headroom and overdraft (the table above) and leaves the refused state.
 * Both 0: a strict budget.  Given as shares of a budget (the keys headroom and overdraft), they
 * are at least these (the parent's: mf_gate_set_parent_room): */
void mf_gate_set_headroom(uint64_t headroom, uint64_t overdraft);
#define MF_GATE_HEADROOM_FLOOR (8u << 20)
#define MF_GATE_OVERDRAFT_FLOOR (4u << 20)

/* What the calling thread's last refusal by the gate saw: the usage then (exact: every credit
 * drained) and the cap the request met (the table above).  Each refusal is taken once; false
 * when there is none (a request refused before the gate, larger than the whole budget). */
bool mf_gate_take_refusal(uint64_t *used, uint64_t *cap);

/* True once a small host request (malloc family) has been refused: the overdraft is open. */
bool mf_gate_in_grace(void);

/* Live bytes granted in a pool (credit excluded).  Exact when no allocation is in flight. */
uint64_t mf_gate_used(unsigned pool);

/* Highest live usage seen at lease time (an upper estimate of the peak). */
uint64_t mf_gate_peak(unsigned pool);

/* Host pool, per-thread fast path.  `slot` is the caller's own slot (may be NULL: then every
 * call goes to the pool directly).  Return: 0 or -ENOMEM. */
static inline int mf_gate_charge(mf_slot_t *slot, uint64_t n);
static inline void mf_gate_uncharge(mf_slot_t *slot, uint64_t n);

/* As mf_gate_charge, for an estimate the caller can do without (realloc's reserve, an upper
 * bound of its growth): when it does not fit, that is no refusal: the overdraft stays shut and
 * nothing is recorded for a report.  Return: 0 or -ENOMEM. */
int mf_gate_charge_probe(mf_slot_t *slot, uint64_t n);

/* Any pool, straight to the pool (mappings, GPU, pinned memory): an exact CAS, draining every
 * thread's credit before refusing.  Return: 0 or -ENOMEM. */
int mf_gate_charge_pool(unsigned pool, uint64_t n);
void mf_gate_uncharge_pool(unsigned pool, uint64_t n);

/* Charges without checking the limit: only for on_limit = warn and the documented realloc
 * corner.  The pool may then exceed its limit. */
void mf_gate_charge_force(unsigned pool, uint64_t n);

/* True when n bytes would fit in the pool now (a hint for checks made before an operation). */
uint64_t mf_gate_room(unsigned pool);

/* Per-thread slots: acquire one for the calling thread (NULL when all are taken: the thread
 * then charges the pool directly), and give one back with its credit. */
mf_slot_t *mf_gate_slot_acquire(int tid);
void mf_gate_slot_release(mf_slot_t *slot);

/* The calling thread's slot, acquiring one on its first charge once the process is READY (NULL
 * when none can be had, or inside memfence); its exit gives it back (mf_gate_thread_init
 * registers the thread destructor that does, once, at initialisation). */
mf_slot_t *mf_thread_slot_get(void);
void mf_gate_thread_init(void);

/* Attaches slot s (NULL: none) to the calling thread as the hooks see it: mf_tls.slot, the slot
 * malloc's inline path charges (&mf_slot_none for none), the one free's inline path credits
 * (s while no bit of MF_POLICY_FREE_CARES is set, else NULL) and the one free credits after the
 * profiler's filter (s while MF_POLICY_PROFILE is the only such bit, else NULL).  The fields a
 * free may read go to NULL before the slot changes, and to s after it. */
static inline void mf_thread_slot_set(mf_slot_t *s)
{
    unsigned cares = atomic_load_explicit(&mf_policy_flags, memory_order_relaxed) &
                     MF_POLICY_FREE_CARES;
    if (!s) {
        mf_tls.free_slot = NULL;
        mf_tls.filter_slot = NULL;
    }
    mf_tls.slot = s;
    mf_tls.alloc_slot = s ? s : &mf_slot_none;
    if (s && cares == 0)
        mf_tls.free_slot = s;
    if (s && cares == MF_POLICY_PROFILE)
        mf_tls.filter_slot = s;
}

static inline mf_slot_t *mf_thread_slot(void)
{
    mf_slot_t *s = mf_tls.slot;
    return mf_likely(s != NULL) ? s : mf_thread_slot_get();
}

/* Returns every thread's credit to the pool (the drain), e.g. before a report. */
void mf_gate_drain(void);

/* A module that sleeps until the process is worth watching (the sampler) asks to be woken: after
 * every charge the host pool grants on its slow path (a lease, a charge straight to the pool, at
 * most once per lease batch on the fast path), fn is called with the pool's usage (leases
 * included) until it returns true, then cleared; a charge to a GPU pool calls it with
 * UINT64_MAX (a process holding device memory is always watched: its ledger row shows it).
 * fn runs in the allocating thread, maybe in a signal handler or under the drain lock: it must
 * be async-signal-safe and not call the gate.  NULL clears it. */
void mf_gate_set_wake(bool (*fn)(uint64_t used));

/* Installs (or clears, with NULL) the parent budget.  Call before threads allocate. */
void mf_gate_set_parent(const mf_gate_parent_t *parent);

/* The headroom and overdraft of the parent's table (its margins): shares of the parent's own
 * limit, whatever the pool's own budget (a member's 1 GiB budget must not take a 64 MiB group's
 * headroom to 30 MiB).  0 and 0 (the default): the parent's limit is strict. */
void mf_gate_set_parent_room(uint64_t headroom, uint64_t overdraft);

/* The margin a lease of credit meets at the parent: - its headroom.  A parent that keeps credit of
 * its own (the ledger's chunks) leases it with this margin, whatever the request that made it
 * lease, so that the credit never serves a request past the request's own margin. */
int64_t mf_gate_lease_margin(void);

/* The parent budget's usage and limit.  Return: false (nothing written) when there is none. */
bool mf_gate_parent_view(unsigned pool, uint64_t *used, uint64_t *limit);

/* In a forked child: every slot but the caller's belongs to a thread that does not exist here;
 * their credit goes back to the pool and the slots are freed. */
void mf_gate_fork_child(mf_slot_t *own);
void mf_gate_fork_prepare(void);
void mf_gate_fork_parent(void);

/* Resets the gate to its initial state (unit tests only). */
void mf_gate_reset(void);

/* Credit held by a slot now (0 while revoked or with a charge in flight); for tests. */
uint64_t mf_gate_slot_credit(const mf_slot_t *slot);

/* ---- inline fast path ------------------------------------------------------------------- */
/* The slow paths.  With a slot, n is already in slot->net (the fast path put it there):
 * charge_slow makes the lease cover it or takes it back out and refuses; uncharge_slow returns
 * excess credit.  Without a slot, straight to the pool. */
int mf_gate_charge_slow(mf_slot_t *slot, uint64_t n);
void mf_gate_uncharge_slow(mf_slot_t *slot, uint64_t n);

/* net += n, as one instruction (a signal handler on this thread sees all of it or none). */
static inline int64_t mf_gate_net_add(mf_slot_t *s, int64_t n)
{
    __asm__ volatile("addq %1, %0" : "+m"(s->net) : "er"(n) : "memory");
    return s->net;
}

/* The credit-only parts: true when done without touching the pool.  False: n is in s->net and
 * the caller must finish with mf_gate_charge_slow / mf_gate_uncharge_slow (same s, same n). */
static inline int mf_gate_try_charge(mf_slot_t *s, uint64_t n)
{
    int64_t net = mf_gate_net_add(s, (int64_t)n);
    return mf_likely(net <= atomic_load_explicit(&s->lease, memory_order_relaxed));
}

/* net -= n, as one instruction. */
static inline int64_t mf_gate_net_sub(mf_slot_t *s, int64_t n)
{
    __asm__ volatile("subq %1, %0" : "+m"(s->net) : "er"(n) : "memory");
    return s->net;
}

static inline int mf_gate_try_uncharge(mf_slot_t *s, uint64_t n)
{
    int64_t net = mf_gate_net_sub(s, (int64_t)n);
    return mf_likely(net >= atomic_load_explicit(&s->floor, memory_order_relaxed));
}

/* Above this, a charge goes to the pool directly (it cannot be an int64_t step of net). */
#define MF_GATE_SLOT_MAX ((uint64_t)1 << 62)

static inline int mf_gate_charge(mf_slot_t *s, uint64_t n)
{
    if (mf_unlikely(n >= MF_GATE_SLOT_MAX))
        s = NULL;
    if (mf_likely(s != NULL) && mf_likely(mf_gate_try_charge(s, n)))
        return 0;
    return mf_gate_charge_slow(s, n);
}

static inline void mf_gate_uncharge(mf_slot_t *s, uint64_t n)
{
    if (mf_unlikely(n >= MF_GATE_SLOT_MAX))
        s = NULL;
    if (mf_likely(s != NULL) && mf_likely(mf_gate_try_uncharge(s, n)))
        return;
    mf_gate_uncharge_slow(s, n);
}

#endif
