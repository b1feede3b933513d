/* gpu.c — the 'gpu' module: per-device budgets, the pointer/handle → size table, the memory view.
 *
 * The CUDA hooks (hooks/cuda.c, hooks/dl.c) call this module; it never calls CUDA.  Budgets come
 * from gpu_limit, overridden per device by gpu_limit.N or MEMFENCE_GPU_LIMIT_<N> (config.c parses
 * both; this module takes the result); a percentage is resolved once the hooks tell us the
 * device's physical memory (mf_gpu_set_total).
 *
 * The table maps (kind, key) → (size, device) for every counted allocation so that its free can
 * credit exactly what was charged.  It lives in one anonymous mapping of its own, made at the
 * first allocation, split into shards of open-addressed slots (linear probing, deletion by
 * backward shift, so no tombstones pile up); each shard has a small spin lock held for a few
 * probes.  Nothing on the hook path allocates.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "base/calls.h"
#include "base/log.h"
#include "base/proc.h"
#include "base/sys.h"
#include "config/config.h"
#include "family/gpu.h"
#include "gate/policy.h"
#include "gate/report.h"

/* ---- budgets ----------------------------------------------------------------------------- */

static mf_size_t dev_spec[MF_GPU_MAX];        /* the budget as configured (size or %) */
static _Atomic uint64_t dev_total[MF_GPU_MAX]; /* physical memory, 0 until the driver told us */
static bool warn_only;                        /* on_limit = warn */
static bool view_budget = true;               /* virtualize: memory info answered from the budget */

static void apply_spec(int dev)
{
    const mf_size_t *s = &dev_spec[dev];
    uint64_t total = atomic_load(&dev_total[dev]);
    if (!s->is_pct) {
        mf_gate_set_limit(MF_POOL_GPU0 + dev, s->bytes);
    } else if (total) {
        mf_gate_set_limit(MF_POOL_GPU0 + dev, mf_size_resolve(s, total));
    } else {
        /* Until the device's size is known the pool counts without a limit; the hooks ask the
         * driver before the first charge on a device, so this lasts only where they cannot. */
        mf_gate_set_limit(MF_POOL_GPU0 + dev, MF_UNLIMITED);
    }
}

int mf_gpu_set_total(int dev, uint64_t total)
{
    if (dev < 0 || dev >= MF_GPU_MAX) return -ERANGE;
    uint64_t zero = 0;
    if (total && atomic_compare_exchange_strong(&dev_total[dev], &zero, total) &&
        dev_spec[dev].is_pct)
        apply_spec(dev);
    return 0;
}

int mf_gpu_known(int dev)
{
    return dev >= 0 && dev < MF_GPU_MAX && atomic_load(&dev_total[dev]) != 0;
}

int mf_gpu_pct_pending(int dev)
{
    return dev >= 0 && dev < MF_GPU_MAX && dev_spec[dev].is_pct && !mf_gpu_known(dev);
}

uint64_t mf_gpu_budget(int dev)
{
    int pool = mf_gpu_pool(dev);
    return pool < 0 ? MF_UNLIMITED : mf_gate_limit((unsigned)pool);
}

void mf_gpu_view(int dev, uint64_t real_free, uint64_t real_total, uint64_t *free_out,
                 uint64_t *total_out)
{
    uint64_t budget = dev == MF_GPU_HOST || !view_budget ? MF_UNLIMITED : mf_gpu_budget(dev);
    uint64_t total = real_total, free_b = real_free;
    if (budget != MF_UNLIMITED) {
        uint64_t used = mf_gate_used((unsigned)mf_gpu_pool(dev));
        total = MF_MIN(budget, real_total);
        free_b = total > used ? total - used : 0;
        free_b = MF_MIN(free_b, real_free);
    }
    if (free_out) *free_out = free_b;
    if (total_out) *total_out = total;
}

int mf_gpu_charge(unsigned call, int dev, uint64_t n)
{
    int pool = mf_gpu_pool(dev);
    if (pool < 0) {
        mf_log_limited(MF_RL_GPU, 1, "device %d is beyond the %d devices memfence fences; "
                       "its allocations are not counted", dev, MF_GPU_MAX);
        return -ERANGE;
    }
    if (mf_unlikely(atomic_load_explicit(&mf_policy_flags, memory_order_relaxed) != 0) &&
        mf_policy_admit(call, (unsigned)pool, n, __builtin_return_address(0)) != 0)
        return -ENOMEM;
    if (mf_gate_charge_pool((unsigned)pool, n) == 0) return 0;
    if (warn_only) {                  /* on_limit = warn: log and grant */
        mf_gate_charge_force((unsigned)pool, n);
        mf_report_over_budget(call, (unsigned)pool, n, "on_limit = warn");
        return 0;
    }
    mf_report_refusal(call, (unsigned)pool, n, dev == MF_GPU_HOST ? "pinned memory" : NULL);
    return -ENOMEM;
}

void mf_gpu_uncharge(int dev, uint64_t n)
{
    int pool = mf_gpu_pool(dev);
    if (pool >= 0 && n) mf_gate_uncharge_pool((unsigned)pool, n);
}

/* ---- the table --------------------------------------------------------------------------- */

#define SHARD_BITS 6
#define SHARDS (1u << SHARD_BITS)
#define SHARD_SLOTS 8192u                  /* 512 Ki entries in all: 12 MiB of address space */

typedef struct entry {
    uint64_t key;
    uint64_t size;
    int16_t dev;
    uint8_t kind;                          /* 0: empty */
} entry_t;

typedef struct shard {
    _Atomic int lock;
    uint32_t count;
    entry_t *slot;
} MF_ALIGNED shard_t;

static shard_t shards[SHARDS];
static _Atomic(entry_t *) table_mem;
static _Atomic uint64_t table_live;

static entry_t *table_map(void)
{
    entry_t *t = atomic_load_explicit(&table_mem, memory_order_acquire);
    if (mf_likely(t != NULL)) return t;
    size_t bytes = (size_t)SHARDS * SHARD_SLOTS * sizeof(entry_t);
    void *p = mf_sys_mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mf_sys_mmap_failed(p)) return NULL;
    entry_t *expected = NULL;
    if (!atomic_compare_exchange_strong(&table_mem, &expected, (entry_t *)p)) {
        mf_sys_munmap(p, bytes);           /* another thread won the race */
        return expected;
    }
    return (entry_t *)p;
}

static inline uint64_t hash(unsigned kind, uint64_t key)
{
    uint64_t h = (key ^ ((uint64_t)kind << 61)) * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 29);
}

static void shard_lock(shard_t *s)
{
    for (unsigned spins = 0;; spins++) {
        if (!atomic_exchange_explicit(&s->lock, 1, memory_order_acquire)) return;
        while (atomic_load_explicit(&s->lock, memory_order_relaxed)) {
            if (spins++ < 200) __builtin_ia32_pause();
            else mf_syscall6(SYS_sched_yield, 0, 0, 0, 0, 0, 0);
        }
    }
}

static void shard_unlock(shard_t *s) { atomic_store_explicit(&s->lock, 0, memory_order_release); }

/* Locks the shard of a hash and makes sure it knows its slots.  Return: the shard, or NULL
 * when the table cannot be mapped. */
static shard_t *shard_lock_of(uint64_t h)
{
    entry_t *t = table_map();
    if (!t) return NULL;
    unsigned i = (unsigned)(h >> (64 - SHARD_BITS));
    shard_t *s = &shards[i];
    shard_lock(s);
    s->slot = t + (size_t)i * SHARD_SLOTS;     /* under the lock: the same value every time */
    return s;
}

/* Empties slot i of a locked shard by backward shift: later entries of the probe run move
 * into the hole when their home slot does not lie cyclically in (hole, j]. */
static void remove_at(shard_t *s, uint32_t i)
{
    uint32_t hole = i, j = i;
    for (;;) {
        j = (j + 1) & (SHARD_SLOTS - 1);
        if (s->slot[j].kind == 0) break;
        uint32_t home = (uint32_t)hash(s->slot[j].kind, s->slot[j].key) & (SHARD_SLOTS - 1);
        int between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!between) {
            s->slot[hole] = s->slot[j];
            hole = j;
        }
    }
    s->slot[hole].kind = 0;
    s->count--;
    atomic_fetch_sub_explicit(&table_live, 1, memory_order_relaxed);
}

int mf_gpu_track(unsigned kind, uint64_t key, uint64_t size, int dev)
{
    uint64_t h = hash(kind, key);
    shard_t *s = shard_lock_of(h);
    if (!s) return -ENOSPC;
    int rc = -ENOSPC;
    if (s->count < SHARD_SLOTS - 1) {      /* keep one empty slot: probes always end */
        uint32_t i = (uint32_t)h & (SHARD_SLOTS - 1);
        while (s->slot[i].kind != 0 && !(s->slot[i].kind == kind && s->slot[i].key == key))
            i = (i + 1) & (SHARD_SLOTS - 1);
        if (s->slot[i].kind == 0) {
            s->count++;
            atomic_fetch_add_explicit(&table_live, 1, memory_order_relaxed);
        }
        /* A key seen again replaces its entry: the driver reused an address whose free we did
         * not see (made before memfence watched); the old size was never ours to credit. */
        s->slot[i] = (entry_t){ .key = key, .size = size, .dev = (int16_t)dev, .kind = (uint8_t)kind };
        rc = 0;
    }
    shard_unlock(s);
    if (rc) mf_log_limited(MF_RL_GPU, 1, "the CUDA allocation table is full; new allocations "
                           "are not counted");
    return rc;
}

int mf_gpu_untrack(unsigned kind, uint64_t key, uint64_t *size, int *dev)
{
    uint64_t h = hash(kind, key);
    if (!atomic_load_explicit(&table_mem, memory_order_acquire)) return -ENOENT;
    shard_t *s = shard_lock_of(h);
    if (!s) return -ENOENT;
    int rc = -ENOENT;
    uint32_t i = (uint32_t)h & (SHARD_SLOTS - 1);
    while (s->slot[i].kind != 0) {
        if (s->slot[i].kind == kind && s->slot[i].key == key) {
            if (size) *size = s->slot[i].size;
            if (dev) *dev = s->slot[i].dev;
            rc = 0;
            break;
        }
        i = (i + 1) & (SHARD_SLOTS - 1);
    }
    if (rc == 0) remove_at(s, i);
    shard_unlock(s);
    return rc;
}

uint64_t mf_gpu_tracked(void) { return atomic_load_explicit(&table_live, memory_order_relaxed); }

/* ---- lifecycle --------------------------------------------------------------------------- */

int mf_gpu_init(const mf_config_t *cfg)
{
    for (int d = 0; d < MF_GPU_MAX; d++)
        dev_spec[d] = cfg->gpu_limit_dev_set[d] ? cfg->gpu_limit_dev[d] : cfg->gpu_limit;
    warn_only = !strcmp(cfg->on_limit, "warn");
    view_budget = cfg->virtualize;
    for (int d = 0; d < MF_GPU_MAX; d++) apply_spec(d);
    return 0;
}

void mf_gpu_fork_prepare(void)
{
    for (unsigned i = 0; i < SHARDS; i++) shard_lock(&shards[i]);
}

void mf_gpu_fork_parent(void)
{
    for (unsigned i = SHARDS; i-- > 0;) shard_unlock(&shards[i]);
}

/* The child has no CUDA context: the parent's device memory is not its own.  Its device
 * entries and their charges go; pinned host blocks stay (the child keeps those mappings). */
void mf_gpu_fork_child(void)
{
    for (unsigned i = 0; i < SHARDS; i++) {
        shard_t *s = &shards[i];
        for (uint32_t j = 0; s->slot && j < SHARD_SLOTS;) {
            entry_t *e = &s->slot[j];
            if (e->kind == 0 || e->kind == MF_GPU_HOSTPTR) { j++; continue; }
            mf_gpu_uncharge(e->dev, e->size);
            remove_at(s, j);            /* may shift a later entry into j: look again */
        }
        shard_unlock(s);
    }
}

void mf_gpu_fini(void) {}

void mf_gpu_reset(void)
{
    entry_t *t = atomic_exchange(&table_mem, NULL);
    if (t) mf_sys_munmap(t, (size_t)SHARDS * SHARD_SLOTS * sizeof(entry_t));
    for (unsigned i = 0; i < SHARDS; i++) {
        shards[i].slot = NULL;
        shards[i].count = 0;
        atomic_store(&shards[i].lock, 0);
    }
    atomic_store(&table_live, 0);
    for (int d = 0; d < MF_GPU_MAX; d++) {
        dev_spec[d] = (mf_size_t){ .bytes = MF_UNLIMITED };
        atomic_store(&dev_total[d], 0);
    }
    warn_only = false;
    view_budget = true;
}
