/* heap.c — the rare parts of the malloc family's path: initialisation prologue, policy,
 * refusal, and realloc's exact accounting.
 */
#include <string.h>

#include "config.h"
#include "heap.h"
#include "log.h"
#include "report.h"
#include "stats.h"

_Atomic int mf_heap_active;
uint64_t mf_heap_big = UINT64_MAX;
int mf_heap_warn_only;

int mf_heap_enter_slow(void)
{
    if (mf_tls.depth) {
        /* memfence's own call, or the loader's while it resolves symbols for us */
        int st = atomic_load(&mf_state);
        return st >= MF_STATE_COUNTING ? MF_HEAP_RAW : MF_HEAP_BOOT;
    }
    int st = mf_runtime_ensure();
    if (st == MF_STATE_RESOLVING)
        return MF_HEAP_BOOT;
    if (st == MF_STATE_DISABLED)
        return mf_backend.malloc ? MF_HEAP_RAW : MF_HEAP_BOOT;
    return mf_tls.depth ? MF_HEAP_RAW : MF_HEAP_GO;
}

int mf_heap_admit_slow(unsigned call, uint64_t req, const void *caller)
{
    if (atomic_load_explicit(&mf_policy_flags, memory_order_relaxed) &&
        mf_policy_admit(call, MF_POOL_HOST, req, caller) != 0)
        return -ENOMEM;
    if (req > mf_heap_big && !mf_heap_warn_only) {
        mf_report_refusal(call, MF_POOL_HOST, req, NULL);
        return -ENOMEM;
    }
    return 0;
}

void *mf_heap_refuse(unsigned call, void *p, uint64_t req, uint64_t usable)
{
    if (mf_heap_warn_only) {
        mf_gate_charge_force(MF_POOL_HOST, usable);
        mf_report_refusal(call, MF_POOL_HOST, req, "granted anyway: on_limit = warn");
        return p;
    }
    MF_BACKEND_VOID(mf_backend.free(p));
    mf_report_refusal(call, MF_POOL_HOST, req, NULL);
    errno = ENOMEM;
    return NULL;
}

static void note_move(void *p, size_t old_u, void *q, size_t new_u)
{
    if (atomic_load_explicit(&mf_policy_flags, memory_order_relaxed) & MF_POLICY_PROFILE) {
        mf_profile_free(p, old_u);
        mf_profile_alloc(q, new_u);
    }
}

/* realloc(p, n) with p a live backend block and n > 0.
 * Far from the limit: reserve an upper bound of the growth (n + n/4 + 4 KiB covers the size
 * classes of glibc, jemalloc, tcmalloc and mimalloc), call the backend's realloc (which may grow
 * in place or mremap), then settle to the exact usable size.  Near the limit: allocate the new
 * block, charge only its difference with the old one (which is freed right after), copy: exact,
 * and the old block stays intact when the new one does not fit. */
void *mf_heap_realloc(unsigned call, void *p, size_t n, const void *caller)
{
    if (mf_heap_admit(call, n, caller) != 0) {
        errno = ENOMEM;
        return NULL;
    }
    mf_slot_t *slot = mf_thread_slot();
    size_t old_u = mf_heap_usable(p);
    uint64_t est = n > UINT64_MAX / 2 ? UINT64_MAX : n + n / 4 + 4096;
    uint64_t reserve = est > old_u ? est - old_u : 0;
    if (reserve == 0 || mf_gate_charge(slot, reserve) == 0) {
        void *q = MF_BACKEND(mf_backend.realloc(p, n));
        if (!q) {
            if (reserve)
                mf_gate_uncharge(slot, reserve);
            return NULL;
        }
        size_t new_u = mf_heap_usable(q);
        uint64_t charged = old_u + reserve;
        if (new_u <= charged) {
            mf_gate_uncharge(slot, charged - new_u);
        } else if (mf_gate_charge(slot, new_u - charged) != 0) {
            /* an allocator whose slack beats the estimate: keep the books true, say so */
            mf_gate_charge_force(MF_POOL_HOST, new_u - charged);
            mf_log_limited(MF_RL_MISC, 1, "realloc: the allocator returned %zu bytes for %zu; "
                           "the budget is exceeded by %zu", new_u, n, (size_t)(new_u - charged));
        }
        note_move(p, old_u, q, new_u);
        return q;
    }
    void *q = MF_BACKEND(mf_backend.malloc(n));
    if (!q)
        return NULL;
    size_t new_u = mf_heap_usable(q);
    if (new_u > old_u && mf_gate_charge(slot, new_u - old_u) != 0) {
        if (mf_heap_warn_only) {
            mf_gate_charge_force(MF_POOL_HOST, new_u - old_u);
            mf_report_refusal(call, MF_POOL_HOST, n, "granted anyway: on_limit = warn");
        } else {
            MF_BACKEND_VOID(mf_backend.free(q));
            mf_report_refusal(call, MF_POOL_HOST, n, NULL);
            errno = ENOMEM;
            return NULL;
        }
    }
    memcpy(q, p, old_u < n ? old_u : n);
    MF_BACKEND_VOID(mf_backend.free(p));
    if (new_u < old_u)
        mf_gate_uncharge(slot, old_u - new_u);
    note_move(p, old_u, q, new_u);
    return q;
}
