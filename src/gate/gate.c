/* gate.c — pools, per-thread credit and the exact refusal decision (design in gate.h).
 *
 * Invariants:
 *  - pool.used <= the cap of every increase (a CAS that checks it): the limit, less the
 *    headroom (or half of it) for a large block or a mapping, plus the overdraft for a small
 *    block once a small one was refused (host pool only, see gate.h), so pool.used <= limit +
 *    overdraft;
 *  - credit is leased only below limit - headroom, and a slot holds at most
 *    mf_gate_credit_high < MF_GATE_SMALL after its owner's last free (a free returns the excess),
 *    so every large request is decided by the pool;
 *  - pool.used == Σ over slots of lease + what was charged to the pool directly (mappings,
 *    threads without a slot, slots given back); live bytes == Σ net + the direct part, so a
 *    slot's unused credit is lease - net;
 *  - the parent budget (a group) is charged with the same table as a margin on its own limit
 *    (margin_for), so a group's total passes its limit only by the overdraft, after a small
 *    block's refusal;
 *  - a charge is refused only by drain_take(), which holds the drain lock, has revoked every
 *    lease, waited for every owner inside the slow path and taken back every lease - net: at that
 *    moment pool.used is exactly the live usage (charges in flight excluded), so the refusal
 *    means usage + request > its cap.
 */
#include <errno.h>
#include <pthread.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>

#include "base/sys.h"
#include "gate/gate.h"

#define MF_SLOTS 1024

typedef struct pool {
    _Atomic uint64_t used;
    _Atomic uint64_t limit;
    _Atomic uint64_t peak;
} MF_ALIGNED pool_t;

static pool_t pools[MF_POOL_COUNT] = { [0 ... MF_POOL_COUNT - 1] = { .limit = MF_UNLIMITED } };
static mf_slot_t slots[MF_SLOTS];
static _Atomic unsigned slot_top;            /* slots[0 .. slot_top) have been used */
static _Atomic int drain_lock;
static __thread int lock_held;               /* this thread holds drain_lock (a handler must not wait) */
static _Atomic unsigned slots_in_use;
static uint64_t batch = 256 << 10;
uint64_t mf_gate_credit_high = 512 << 10;
static const mf_gate_parent_t *parent;
static bool (*_Atomic wake_fn)(uint64_t used);  /* see mf_gate_set_wake */
/* The host pool's room for small requests (see gate.h). */
static _Atomic uint64_t headroom, overdraft;
static _Atomic uint64_t parent_headroom, parent_overdraft;   /* the same, for the parent's limit */
/* A small host request has been refused (the overdraft is open), and the sizes of the last
 * REFUSED_SIZES small requests refused: a small block of one of those sizes does not get
 * the overdraft.  A program that retries the very request it was refused (V8 retries a Buffer's
 * backing store after each collection) or goes on growing with blocks of that size meets the
 * limit again, instead of eating the overdraft its own error path needs.  "That size" is the
 * charge, give or take a page from SIZE_NEAR on (same_size). */
#define REFUSED_SIZES 8
static _Atomic int grace;
static _Atomic uint64_t refused_size[REFUSED_SIZES];
static _Atomic unsigned refused_next;
static int barrier_kind;                     /* 0 unknown, 1 membarrier, 2 mprotect */
static void *barrier_page;

static void lock(void)
{
    unsigned spins = 0;
    int expected = 0;
    while (!atomic_compare_exchange_weak_explicit(&drain_lock, &expected, 1,
                                                  memory_order_acquire, memory_order_relaxed)) {
        expected = 0;
        if (++spins > 64)
            sched_yield();
        else
            __builtin_ia32_pause();
    }
}

static void unlock(void) { atomic_store_explicit(&drain_lock, 0, memory_order_release); }

static void lock_mine(void) { lock(); lock_held = 1; }
static void unlock_mine(void) { lock_held = 0; unlock(); }

/* A full memory barrier on every running thread of this process (the heavy side of the
 * asymmetric handshake).  membarrier(2) where the kernel has it; otherwise an mprotect that
 * forces a TLB shoot-down IPI on each CPU running this mm, which serialises those CPUs. */
static void process_barrier(void)
{
    if (barrier_kind == 0)
        barrier_kind = mf_syscall6(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
                                   0, 0, 0, 0, 0) == 0 ? 1 : 2;
    if (barrier_kind == 1 &&
        mf_syscall6(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0, 0, 0, 0) == 0)
        return;
    barrier_kind = 2;
    if (!barrier_page) {
        void *p = mf_sys_mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                              -1, 0);
        barrier_page = mf_sys_mmap_failed(p) ? NULL : p;
    }
    if (barrier_page) {
        *(volatile char *)barrier_page = 1;
        mf_sys_mprotect(barrier_page, 4096, PROT_READ);
        mf_sys_mprotect(barrier_page, 4096, PROT_READ | PROT_WRITE);
    }
    atomic_thread_fence(memory_order_seq_cst);
}

/* Two charges for blocks of one size: equal, or both from SIZE_NEAR on and less than a page and
 * a header apart.  glibc serves one request either from its heap (the chunk: the request and
 * its 8-byte header, rounded up to 16) or, above its mmap threshold, as a mapping (the same
 * rounded up to a page), and the threshold moves: freeing a mapped chunk raises it to that
 * chunk's size.  So V8's retries of a refused 512 KiB Buffer were charged 4 KiB less than the
 * refusal, were not known as the same size, and spent the whole overdraft; its collector's
 * next unchecked work-list block was refused past it and the process died in SIGSEGV (node
 * growing 200 KB to 512 KiB Buffers in 64M: 4 runs of 5).  Different blocks are further apart
 * than that from SIZE_NEAR on: the size classes of jemalloc, tcmalloc and mimalloc there are
 * 8 KiB or more apart, and an error path's small blocks are far below it. */
#define SIZE_NEAR ((uint64_t)64 << 10)

static bool same_size(uint64_t a, uint64_t b)
{
    if (a == b)
        return true;
    if (a < SIZE_NEAR || b < SIZE_NEAR)
        return false;
    return (a > b ? a - b : b - a) < mf_page_size() + 16;
}

static bool refused_before(uint64_t n)
{
    for (unsigned i = 0; i < REFUSED_SIZES; i++)
        if (same_size(atomic_load_explicit(&refused_size[i], memory_order_relaxed), n))
            return true;
    return false;
}

/* A small block (gate.h's table): from the malloc family, under MF_GATE_SMALL. */
static bool small_block(uint64_t n, bool heap)
{
    return heap && n < MF_GATE_SMALL;
}

/* May a small block of n bytes use the overdraft (gate.h's table)? */
static bool overdraft_open(uint64_t n)
{
    return atomic_load_explicit(&grace, memory_order_relaxed) && !refused_before(n);
}

/* The most pool p may hold after granting a request of n bytes, from the malloc family (heap)
 * or a mapping (the table in gate.h): refusals land first on what programs check (large blocks,
 * then a runtime's own pages), last on the small blocks they allocate unchecked. */
static uint64_t cap_for(unsigned p, uint64_t n, bool heap)
{
    uint64_t lim = atomic_load_explicit(&pools[p].limit, memory_order_relaxed);
    if (p != MF_POOL_HOST || lim == MF_UNLIMITED)
        return lim;
    if (small_block(n, heap)) {
        uint64_t o = overdraft_open(n) ? atomic_load_explicit(&overdraft, memory_order_relaxed) : 0;
        return o < MF_UNLIMITED - 1 - lim ? lim + o : MF_UNLIMITED - 1;
    }
    uint64_t r = atomic_load_explicit(&headroom, memory_order_relaxed);
    if (!heap)
        r /= 2;
    return lim > r ? lim - r : 0;
}

/* The same table for the parent budget (gate.h): how far past (> 0) or short of (< 0) its own
 * limit a request of n bytes may take it; lease: a lease of credit. */
static int64_t margin_for(unsigned p, uint64_t n, bool heap, bool lease)
{
    if (p != MF_POOL_HOST)
        return 0;
    uint64_t r = atomic_load_explicit(&parent_headroom, memory_order_relaxed);
    if (!lease && small_block(n, heap)) {
        uint64_t o = atomic_load_explicit(&parent_overdraft, memory_order_relaxed);
        if (!overdraft_open(n))
            return 0;
        return (int64_t)MF_MIN(o, (uint64_t)INT64_MAX);
    }
    if (!lease && !heap)
        r /= 2;
    return -(int64_t)MF_MIN(r, (uint64_t)INT64_MAX);
}

/* Credit is leased only below the headroom: a slot's credit (less than MF_GATE_SMALL) serves
 * small requests without a look at the pool. */
static uint64_t lease_cap(void)
{
    uint64_t lim = atomic_load_explicit(&pools[MF_POOL_HOST].limit, memory_order_relaxed);
    uint64_t r = atomic_load_explicit(&headroom, memory_order_relaxed);
    return lim == MF_UNLIMITED ? lim : lim > r ? lim - r : 0;
}

static MF_COLD void wake_call(uint64_t used)
{
    bool (*fn)(uint64_t) = atomic_load_explicit(&wake_fn, memory_order_acquire);
    if (fn && fn(used))
        atomic_compare_exchange_strong(&wake_fn, &fn, NULL);
}

void mf_gate_set_wake(bool (*fn)(uint64_t used))
{
    atomic_store_explicit(&wake_fn, fn, memory_order_release);
}

/* Adds n to pool p's usage unless that takes it past `cap`, and to the parent's unless that
 * takes it past its limit + `margin`.  Return: 0 or -ENOMEM. */
static int pool_take_cap(unsigned p, uint64_t n, uint64_t cap, int64_t margin)
{
    pool_t *pl = &pools[p];
    uint64_t u = atomic_load_explicit(&pl->used, memory_order_relaxed);
    do {
        if (n > cap || u > cap - n)
            return -ENOMEM;
    } while (!atomic_compare_exchange_weak_explicit(&pl->used, &u, u + n, memory_order_relaxed,
                                                    memory_order_relaxed));
    if (parent && parent->charge(parent->ctx, p, n, margin) != 0) {
        atomic_fetch_sub_explicit(&pl->used, n, memory_order_relaxed);
        return -ENOMEM;
    }
    uint64_t now = u + n, pk = atomic_load_explicit(&pl->peak, memory_order_relaxed);
    while (now > pk && !atomic_compare_exchange_weak_explicit(&pl->peak, &pk, now,
                                                              memory_order_relaxed,
                                                              memory_order_relaxed))
        ;
    if (mf_unlikely(atomic_load_explicit(&wake_fn, memory_order_relaxed) != NULL))
        wake_call(p == MF_POOL_HOST ? now : UINT64_MAX);   /* device memory: always worth it */
    return 0;
}

/* A request of n bytes against its cap. */
static int pool_take(unsigned p, uint64_t n, bool heap)
{
    return pool_take_cap(p, n, cap_for(p, n, heap), margin_for(p, n, heap, false));
}

static void pool_give(unsigned p, uint64_t n)
{
    if (!n)
        return;
    /* Saturating: a block memfence did not charge (allocated by its own nested call, freed by
     * the program) must not wrap `used` around and refuse everything after it. */
    uint64_t u = atomic_load_explicit(&pools[p].used, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&pools[p].used, &u, u > n ? u - n : 0,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
    if (parent)
        parent->uncharge(parent->ctx, p, n);
}

static void wait_not_slow(mf_slot_t *s)
{
    unsigned spins = 0;
    while (atomic_load_explicit(&s->slow, memory_order_acquire)) {
        if (++spins > 64)
            sched_yield();
        else
            __builtin_ia32_pause();
    }
}

static void wait_not_revoked(mf_slot_t *s)
{
    unsigned spins = 0;
    while (atomic_load_explicit(&s->lease, memory_order_acquire) == MF_LEASE_REVOKED) {
        if (++spins > 64)
            sched_yield();
        else
            __builtin_ia32_pause();
    }
}

static int64_t net_of(const mf_slot_t *s) { return __atomic_load_n(&s->net, __ATOMIC_RELAXED); }

static void set_lease(mf_slot_t *s, int64_t lease)
{
    atomic_store_explicit(&s->floor, lease - (int64_t)mf_gate_credit_high, memory_order_relaxed);
    atomic_store_explicit(&s->lease, lease, memory_order_release);
}

/* A drain's view of one slot: the lease it revoked and the lease it gives back. */
static int64_t revoked[MF_SLOTS], kept[MF_SLOTS];

/* With the lock held: takes every slot's unused credit back into the host pool and leaves the
 * slots revoked (drain_release_locked gives them their new leases).  `own` is the caller's slot
 * (or NULL), with `pending` bytes of a charge in flight in its net, which stay out of its live
 * usage. */
static void drain_locked(mf_slot_t *own, uint64_t pending)
{
    unsigned top = atomic_load(&slot_top);
    for (unsigned i = 0; i < top; i++) {
        revoked[i] = MF_LEASE_REVOKED;
        if (!atomic_load(&slots[i].in_use))
            continue;
        atomic_store_explicit(&slots[i].floor, INT64_MIN, memory_order_relaxed);
        revoked[i] = atomic_exchange(&slots[i].lease, MF_LEASE_REVOKED);
    }
    unsigned others = atomic_load(&slots_in_use) - (own && atomic_load(&own->in_use) ? 1 : 0);
    if (others)
        process_barrier();
    uint64_t total = 0;
    for (unsigned i = 0; i < top; i++) {
        if (revoked[i] == MF_LEASE_REVOKED)
            continue;
        if (&slots[i] != own)
            wait_not_slow(&slots[i]);
        int64_t live = net_of(&slots[i]) - (&slots[i] == own ? (int64_t)pending : 0);
        kept[i] = live < revoked[i] ? live : revoked[i];
        total += (uint64_t)(revoked[i] - kept[i]);
    }
    pool_give(MF_POOL_HOST, total);
}

static void drain_release_locked(mf_slot_t *own, int64_t own_extra)
{
    unsigned top = atomic_load(&slot_top);
    for (unsigned i = 0; i < top; i++)
        if (revoked[i] != MF_LEASE_REVOKED)
            set_lease(&slots[i], kept[i] + (&slots[i] == own ? own_extra : 0));
}

/* What this thread's last refusal saw, until its report takes it (mf_gate_take_refusal). */
static __thread uint64_t refused_used, refused_cap;
static __thread bool refused_seen;
/* Inside mf_gate_charge_probe: a charge that does not fit is no refusal.  (A signal handler that
 * is refused in the moment its thread spends there is not recorded either: its report then says
 * the budget without the cap it met, and the overdraft opens at the next refusal.) */
static __thread int probing;

/* After a host refusal of n bytes (heap: from the malloc family): when the request was a small
 * block, refused at the limit itself, its size is remembered and the overdraft opens.  A large
 * block or a mapping is refused with the headroom (or half of it) still free below the limit for
 * the small blocks of the program's error path, and a program may not even see it: CPython falls
 * back from a refused 1 MiB arena mapping to malloc and grows on, and when such a refusal opened
 * the overdraft, that growth spent it before the first error the program saw (python3 growing
 * 4 KiB bytearrays over tcmalloc: its `del` after the MemoryError was refused in 5 runs of 5). */
static void open_grace(uint64_t n, bool heap)
{
    if (!small_block(n, heap))
        return;
    if (!refused_before(n)) {   /* only small sizes are ever asked about (overdraft_open) */
        unsigned i = atomic_fetch_add_explicit(&refused_next, 1, memory_order_relaxed);
        atomic_store_explicit(&refused_size[i % REFUSED_SIZES], n, memory_order_relaxed);
    }
    atomic_store_explicit(&grace, 1, memory_order_relaxed);
}

/* The refusal path: drain every credit, then decide exactly.  own: the caller's slot, whose net
 * holds the request n (granted: its lease covers it; refused: the caller takes n back out). */
static int drain_take(mf_slot_t *own, unsigned p, uint64_t n, bool heap)
{
    lock_mine();
    drain_locked(own, own ? n : 0);
    int rc = pool_take(p, n, heap);
    bool refusal = rc != 0 && !probing;
    if (refusal) {
        refused_cap = cap_for(p, n, heap);
        refused_used = atomic_load_explicit(&pools[p].used, memory_order_relaxed);
        refused_seen = true;
    }
    drain_release_locked(own, own && rc == 0 ? (int64_t)n : 0);
    unlock_mine();
    if (refusal && p == MF_POOL_HOST)
        open_grace(n, heap);
    return rc;
}

int mf_gate_charge_probe(mf_slot_t *s, uint64_t n)
{
    probing++;
    int rc = mf_gate_charge(s, n);
    probing--;
    return rc;
}

void mf_gate_drain(void)
{
    if (lock_held)
        return;
    lock_mine();
    drain_locked(NULL, 0);
    drain_release_locked(NULL, 0);
    unlock_mine();
}

/* A charge on a slot whose owner is already in the slow path or holds the drain lock (a signal
 * handler that interrupted it): the slot is left alone and the pool charged directly, without
 * waiting (waiting would be on the interrupted frame).  The handler's request is decided against
 * the pool as it is; the interrupted frame's lease in flight is not drained for it. */
static int charge_nested(mf_slot_t *s, uint64_t n)
{
    mf_gate_net_add(s, -(int64_t)n);
    return pool_take(MF_POOL_HOST, n, true);
}

int mf_gate_charge_slow(mf_slot_t *s, uint64_t n)
{
    if (!s) {
        if (pool_take(MF_POOL_HOST, n, true) == 0)
            return 0;
        return lock_held ? -ENOMEM : drain_take(NULL, MF_POOL_HOST, n, true);
    }
    if (atomic_load_explicit(&s->slow, memory_order_relaxed) || lock_held)
        return charge_nested(s, n);
    for (;;) {
        atomic_fetch_add(&s->slow, 1);         /* a full barrier before the lease is read */
        int64_t lease = atomic_load(&s->lease);
        if (lease == MF_LEASE_REVOKED) {
            atomic_fetch_sub(&s->slow, 1);
            wait_not_revoked(s);
            continue;
        }
        int64_t net = net_of(s);
        if (net <= lease) {                    /* covered meanwhile (a handler leased) */
            atomic_fetch_sub(&s->slow, 1);
            return 0;
        }
        uint64_t need = (uint64_t)(net - lease);
        uint64_t take = need;
        /* a lease (with its batch of credit) never reaches into the headroom */
        if (need <= UINT64_MAX - batch &&
            pool_take_cap(MF_POOL_HOST, need + batch, lease_cap(),
                          margin_for(MF_POOL_HOST, need + batch, true, true)) == 0) {
            take = need + batch;
        } else if (pool_take_cap(MF_POOL_HOST, need, cap_for(MF_POOL_HOST, n, true),
                                 margin_for(MF_POOL_HOST, n, true, false)) != 0) {
            /* not counted as inside the slow path while it waits for the lock: a drainer that
             * holds it waits for every slot's slow path to end */
            atomic_fetch_sub(&s->slow, 1);
            int rc = drain_take(s, MF_POOL_HOST, n, true);
            if (rc != 0)
                mf_gate_net_add(s, -(int64_t)n);
            return rc;
        }
        int64_t expect = lease;
        if (atomic_compare_exchange_strong(&s->lease, &expect, lease + (int64_t)take)) {
            atomic_store_explicit(&s->floor, lease + (int64_t)take - (int64_t)mf_gate_credit_high,
                                  memory_order_relaxed);
            atomic_fetch_sub(&s->slow, 1);
            return 0;
        }
        pool_give(MF_POOL_HOST, take);         /* a drain revoked the lease meanwhile */
        atomic_fetch_sub(&s->slow, 1);
    }
}

void mf_gate_uncharge_slow(mf_slot_t *s, uint64_t n)
{
    if (!s) {
        pool_give(MF_POOL_HOST, n);
        return;
    }
    if (atomic_load_explicit(&s->slow, memory_order_relaxed) || lock_held)
        return;                                /* n stays with the slot as credit */
    atomic_fetch_add(&s->slow, 1);
    int64_t lease = atomic_load(&s->lease);
    int64_t credit = lease - net_of(s);
    if (lease != MF_LEASE_REVOKED && credit > (int64_t)mf_gate_credit_high) {
        int64_t give = credit - (int64_t)MF_MIN(batch, (uint64_t)credit);
        int64_t expect = lease;
        if (atomic_compare_exchange_strong(&s->lease, &expect, lease - give)) {
            atomic_store_explicit(&s->floor, lease - give - (int64_t)mf_gate_credit_high,
                                  memory_order_relaxed);
            pool_give(MF_POOL_HOST, (uint64_t)give);
        }
    }
    atomic_fetch_sub(&s->slow, 1);
}

uint64_t mf_gate_slot_credit(const mf_slot_t *s)
{
    int64_t lease = atomic_load_explicit(&s->lease, memory_order_relaxed);
    int64_t c = lease - net_of(s);
    return lease == MF_LEASE_REVOKED || c < 0 ? 0 : (uint64_t)c;
}

int mf_gate_charge_pool(unsigned p, uint64_t n)
{
    if (p >= MF_POOL_COUNT)
        return -EINVAL;
    if (pool_take(p, n, false) == 0)
        return 0;
    if (p != MF_POOL_HOST || lock_held)
        return -ENOMEM;
    return drain_take(NULL, p, n, false);
}

void mf_gate_uncharge_pool(unsigned p, uint64_t n)
{
    if (p < MF_POOL_COUNT)
        pool_give(p, n);
}

int mf_gate_set_limit(unsigned p, uint64_t limit)
{
    if (p >= MF_POOL_COUNT)
        return -EINVAL;
    atomic_store(&pools[p].limit, limit);
    if (p == MF_POOL_HOST) {
        /* Batches small against the budget, so credit parked in idle threads stays a small
         * fraction of it (and the drain stays rare); large when only counting.  Under a budget
         * a slot's credit stays below MF_GATE_SMALL, so the pool decides every large request. */
        uint64_t b = limit == MF_UNLIMITED ? (256u << 10) : limit / 512;
        b = MF_MAX(b, 4096u);
        b = MF_MIN(b, limit == MF_UNLIMITED ? (256u << 10) : MF_GATE_SMALL / 4);
        batch = b;
        mf_gate_credit_high = 2 * b;
    }
    return 0;
}

void mf_gate_set_headroom(uint64_t room, uint64_t over)
{
    atomic_store(&headroom, room);
    atomic_store(&overdraft, over);
    for (unsigned i = 0; i < REFUSED_SIZES; i++)
        atomic_store(&refused_size[i], 0);
    atomic_store(&grace, 0);
}

bool mf_gate_take_refusal(uint64_t *used, uint64_t *cap)
{
    if (!refused_seen)
        return false;
    refused_seen = false;
    *used = refused_used;
    *cap = refused_cap;
    return true;
}

bool mf_gate_in_grace(void) { return atomic_load_explicit(&grace, memory_order_relaxed) != 0; }

uint64_t mf_gate_limit(unsigned p)
{
    return p < MF_POOL_COUNT ? atomic_load_explicit(&pools[p].limit, memory_order_relaxed) : 0;
}

uint64_t mf_gate_used(unsigned p)
{
    if (p >= MF_POOL_COUNT)
        return 0;
    uint64_t used = atomic_load_explicit(&pools[p].used, memory_order_relaxed);
    if (p == MF_POOL_HOST) {
        unsigned top = atomic_load(&slot_top);
        uint64_t credit = 0;
        for (unsigned i = 0; i < top; i++)
            if (atomic_load_explicit(&slots[i].in_use, memory_order_relaxed))
                credit += mf_gate_slot_credit(&slots[i]);
        used = credit > used ? 0 : used - credit;
    }
    return used;
}

uint64_t mf_gate_peak(unsigned p)
{
    return p < MF_POOL_COUNT ? atomic_load_explicit(&pools[p].peak, memory_order_relaxed) : 0;
}

uint64_t mf_gate_room(unsigned p)
{
    uint64_t lim = mf_gate_limit(p), used = mf_gate_used(p);
    if (lim == MF_UNLIMITED)
        return MF_UNLIMITED;
    return used >= lim ? 0 : lim - used;
}

mf_slot_t *mf_gate_slot_acquire(int tid)
{
    lock_mine();   /* never concurrent with a drain: a fresh slot must not lease mid-decision */
    mf_slot_t *found = NULL;
    for (unsigned i = 0; i < MF_SLOTS; i++) {
        if (atomic_load_explicit(&slots[i].in_use, memory_order_relaxed))
            continue;
        found = &slots[i];
        found->net = 0;
        found->tid = tid;
        atomic_store(&found->slow, 0);
        set_lease(found, 0);
        atomic_store(&found->in_use, 1);
        atomic_fetch_add(&slots_in_use, 1);
        if (i + 1 > atomic_load(&slot_top))
            atomic_store(&slot_top, i + 1);
        break;
    }
    unlock_mine();
    return found;
}

void mf_gate_slot_release(mf_slot_t *s)
{
    if (!s)
        return;
    /* The blocks charged through the slot stay charged to the pool (freed later through other
     * slots, they become those slots' credit); the unused credit goes back. */
    lock_mine();
    uint64_t c = mf_gate_slot_credit(s);
    set_lease(s, net_of(s));
    atomic_store(&s->in_use, 0);
    atomic_fetch_sub(&slots_in_use, 1);
    unlock_mine();
    pool_give(MF_POOL_HOST, c);
}

void mf_gate_set_parent(const mf_gate_parent_t *p) { parent = p; }

void mf_gate_set_parent_room(uint64_t room, uint64_t over)
{
    atomic_store(&parent_headroom, room);
    atomic_store(&parent_overdraft, over);
}

int64_t mf_gate_lease_margin(void)
{
    return margin_for(MF_POOL_HOST, 0, true, true);
}

bool mf_gate_parent_view(unsigned pool, uint64_t *used, uint64_t *limit)
{
    const mf_gate_parent_t *pa = parent;
    if (!pa || !pa->view || pool >= MF_POOL_COUNT)
        return false;
    pa->view(pa->ctx, pool, used, limit);
    return true;
}

void mf_gate_fork_prepare(void) { lock_mine(); }
void mf_gate_fork_parent(void) { unlock_mine(); }

void mf_gate_fork_child(mf_slot_t *own)
{
    /* Only the forking thread exists here; the others' credit is this child's to take back.
     * The parent budget (a group) is re-attached by the ledger, so plain subtraction here. */
    unsigned top = atomic_load(&slot_top);
    uint64_t total = 0;
    for (unsigned i = 0; i < top; i++) {
        if (&slots[i] == own || !atomic_load(&slots[i].in_use))
            continue;
        total += mf_gate_slot_credit(&slots[i]);
        atomic_store(&slots[i].slow, 0);
        set_lease(&slots[i], net_of(&slots[i]));
        atomic_store(&slots[i].in_use, 0);
        atomic_fetch_sub(&slots_in_use, 1);
    }
    atomic_fetch_sub(&pools[MF_POOL_HOST].used, total);
    barrier_kind = 0;   /* membarrier registration does not survive fork */
    lock_held = 0;
    unlock();
}

void mf_gate_reset(void)
{
    memset(pools, 0, sizeof pools);
    memset(slots, 0, sizeof slots);
    atomic_store(&slot_top, 0);
    atomic_store(&slots_in_use, 0);
    for (unsigned p = 0; p < MF_POOL_COUNT; p++)
        atomic_store(&pools[p].limit, MF_UNLIMITED);
    mf_gate_set_limit(MF_POOL_HOST, MF_UNLIMITED);
    parent = NULL;
    atomic_store(&wake_fn, NULL);
    mf_gate_set_headroom(0, 0);
    mf_gate_set_parent_room(0, 0);
}

void mf_gate_charge_force(unsigned p, uint64_t n)
{
    if (p < MF_POOL_COUNT)
        atomic_fetch_add_explicit(&pools[p].used, n, memory_order_relaxed);
}

static pthread_key_t exit_key;
static int exit_key_ok;

/* ---- threads' slots -------------------------------------------------------------------- */

static void thread_exit(void *arg)
{
    (void)arg;
    mf_slot_t *s = mf_tls.slot;
    mf_tls.exiting = 1;
    mf_thread_slot_set(NULL);
    mf_gate_slot_release(s);
}

mf_slot_t *mf_thread_slot_get(void)
{
    if (mf_tls.exiting || mf_tls.depth || atomic_load(&mf_state) != MF_STATE_READY ||
        (atomic_load_explicit(&mf_policy_flags, memory_order_relaxed) & MF_POLICY_NOT_READY))
        return NULL;
    if (!mf_tls.tid)
        mf_tls.tid = mf_sys_gettid();
    mf_slot_t *s = mf_gate_slot_acquire(mf_tls.tid);
    if (s) {
        mf_thread_slot_set(s);
        if (exit_key_ok) {
            mf_tls.depth++;
            pthread_setspecific(exit_key, s);
            mf_tls.depth--;
        }
    }
    return s;
}

void mf_gate_thread_init(void)
{
    if (pthread_key_create(&exit_key, thread_exit) == 0)
        exit_key_ok = 1;
}
