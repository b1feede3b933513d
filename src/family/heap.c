/* heap.c — the general path of the malloc family (see heap.h): initialisation, bootstrap,
 * nested calls, policy, profiling, refusal, and realloc's exact accounting.
 */
#include <string.h>

#include "base/log.h"
#include "base/stats.h"
#include "config/config.h"
#include "family/heap.h"
#include "gate/report.h"

uint64_t mf_heap_big = UINT64_MAX;
int mf_heap_warn_only;
int mf_heap_glibc_inline;

enum { GO, RAW, BOOT };

/* How to serve a call that missed the fast path. */
static int how(void)
{
    if (mf_tls.depth || mf_tls.in_usable)   /* memfence's own call, the loader's while it
                                                resolves symbols, or the allocator's own */
        return atomic_load(&mf_state) >= MF_STATE_COUNTING && mf_backend.malloc ? RAW : BOOT;
    int st = mf_runtime_ensure();
    if (st == MF_STATE_RESOLVING)
        return BOOT;
    if (st == MF_STATE_DISABLED)
        return mf_backend.malloc ? RAW : BOOT;
    return mf_tls.depth ? RAW : GO;
}

static unsigned flags(void) { return atomic_load_explicit(&mf_policy_flags, memory_order_relaxed); }

/* RAW blocks (memfence's own nested calls: its start-up, the view, a signal handler that runs
 * while its thread is inside memfence or before the thread has a slot) may outlive the call that
 * made them and be freed by the program, on the fast path or not, which credits them.  So they
 * are charged like any block, to the pool directly and never refused (memfence does not refuse
 * itself), and a RAW free or realloc credits the pool: every block is charged once and credited
 * once, whatever the paths (as nested calls on the fast path always were).  Not charged: in
 * pass-through (DISABLED); in memfence's own thread (the sampler, which frees what it makes);
 * inside mf_tls.uncounted (memfence's own blocks that only memfence's own code frees, such as
 * the sampler thread's TLS block, freed when that thread ends); inside a call into the allocator
 * (mf_tls.in_usable), whose own blocks are its own: its usable size cannot be asked there
 * (tcmalloc's malloc_usable_size allocates its MallocExtension on first use, through whatever
 * operator new the program has, which comes back to malloc). */
static bool raw_counts(void)
{
    return atomic_load_explicit(&mf_state, memory_order_relaxed) != MF_STATE_DISABLED &&
           !mf_tls.own_thread && !mf_tls.uncounted && !mf_tls.in_usable &&
           (mf_heap_glibc_inline || mf_backend.malloc_usable_size);
}

static void *raw_charged(void *p)
{
    if (p && raw_counts())
        mf_gate_charge_force(MF_POOL_HOST, mf_heap_charge(p));
    return p;
}

/* Bootstrap blocks (backend.h) are charged once they are known to be glibc's (before that,
 * what their header says is not known for sure): at the settling, or at once after it, like a
 * RAW block; then any path may free one, and the fast path credits its chunk. */
static void boot_adopt(void *p)
{
    mf_gate_charge_force(MF_POOL_HOST, mf_glibc_chunk(p));
}

static void *boot_charged(void *p)
{
    if (p && mf_bootstrap_glibc())
        boot_adopt(p);
    return p;
}

void mf_heap_settle_bootstrap(void)
{
    mf_bootstrap_settle(boot_adopt);
}

/* Policy before the backend.  Return: 0 or -ENOMEM (reported). */
static int admit(unsigned call, uint64_t req, const void *caller)
{
    if ((flags() & (MF_POLICY_FAIL | MF_POLICY_REFUSE_LARGE | MF_POLICY_THROTTLE)) &&
        mf_policy_admit(call, MF_POOL_HOST, req, caller) != 0)
        return -ENOMEM;
    if (req > mf_heap_big && !mf_heap_warn_only) {
        mf_report_refusal(call, MF_POOL_HOST, req, NULL);
        return -ENOMEM;
    }
    return 0;
}

static void *backend_alloc(int kind, size_t align, size_t n, size_t m)
{
    void *p = NULL;
    switch (kind) {
    case MF_ALLOC_MALLOC:
        return mf_backend.malloc(n);
    case MF_ALLOC_CALLOC:
        return mf_backend.calloc(n, m);
    case MF_ALLOC_ALIGNED:
        if (mf_backend.aligned_alloc)
            return mf_backend.aligned_alloc(align, n);
        /* fall through */
    case MF_ALLOC_MEMALIGN:
        if (mf_backend.memalign)
            return mf_backend.memalign(align, n);
        break;
    case MF_ALLOC_VALLOC:
        if (mf_backend.valloc)
            return mf_backend.valloc(n);
        break;
    case MF_ALLOC_PVALLOC:
        if (mf_backend.pvalloc)
            return mf_backend.pvalloc(n);
        n = (n + 4095) & ~(size_t)4095;
        break;
    }
    int rc = mf_backend.posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align,
                                       n ? n : 1);
    if (rc) {
        errno = rc;
        return NULL;
    }
    return p;
}

/* The request a tail reports: the fast path kept it in mf_tls (calloc's as its two factors,
 * multiplied here, off the fast path; glibc refused an overflowing product itself). */
static uint64_t tail_req(unsigned call)
{
    return call == MF_CALL_CALLOC ? mf_tls.req * mf_tls.req_m : mf_tls.req;
}

/* The inline path's block on a thread without a slot (mf_slot_none took the charge and keeps
 * none of it): served as the general path serves such a thread, after the backend.  The hooks
 * take the inline path only while no policy bit is set, so this process is initialised: memfence
 * inside itself passes RAW, any other thread gets a slot now or charges the pool directly. */
static void *grant_slotless(unsigned call, void *p, size_t charge, const void *caller)
{
    /* the scratch net back to 0, so that it never wraps round to the lease (INT64_MIN) */
    __atomic_store_n(&mf_slot_none.net, 0, __ATOMIC_RELAXED);
    if (how() != GO)
        return raw_charged(p);
    if (mf_gate_charge(mf_thread_slot(), charge) == 0)
        return p;
    return mf_heap_refuse(call, p, tail_req(call), charge, caller);
}

void *mf_heap_grant_tail(unsigned call, void *p, size_t charge, mf_slot_t *s)
{
    /* tail-called by the hooks: the return address is the program's call site (where it is
     * not, it is memfence's own, and only the dynamic loader's exemption is lost) */
    const void *caller = __builtin_return_address(0);
    if (mf_unlikely(s == &mf_slot_none))
        return grant_slotless(call, p, charge, caller);
    if (mf_gate_charge_slow(s, charge) == 0) {
        /* the countdown was charged already: sample only when it ran out */
        if ((flags() & MF_POLICY_PROFILE) && mf_tls.profile_left < 0)
            mf_profile_sample(p, tail_req(call), charge);
        return p;
    }
    return mf_heap_refuse(call, p, tail_req(call), charge, caller);
}

void mf_heap_free_tail(void *p, size_t charge)
{
    mf_gate_uncharge_slow(mf_tls.slot, charge);
    MF_BACKEND_VOID(mf_backend.free(p));
}

/* Why a request the budget cannot hold is granted past it anyway, or NULL: it is refused. */
static const char *past_budget_why(const void *caller)
{
    if (mf_heap_warn_only)
        return "on_limit = warn";
    if (mf_in_loader(caller))
        return "the dynamic loader cannot take a refusal";
    return NULL;
}

void *mf_heap_refuse(unsigned call, void *p, uint64_t req, uint64_t charge, const void *caller)
{
    const char *why = past_budget_why(caller);
    if (why) {
        mf_gate_charge_force(MF_POOL_HOST, charge);
        mf_report_over_budget(call, MF_POOL_HOST, req, why);
        return p;
    }
    MF_BACKEND_VOID(mf_backend.free(p));
    mf_report_refusal(call, MF_POOL_HOST, req, NULL);
    errno = ENOMEM;
    return NULL;
}

void *mf_heap_alloc_past_budget(size_t align, size_t n)
{
    void *p = align ? (mf_backend.memalign ? MF_BACKEND(mf_backend.memalign(align, n)) : NULL)
                    : MF_BACKEND(mf_backend.malloc(n));
    if (!p)
        return NULL;
    mf_gate_charge_force(MF_POOL_HOST, mf_heap_charge(p));
    mf_report_over_budget(align ? MF_CALL_MEMALIGN : MF_CALL_MALLOC, MF_POOL_HOST, n,
                          "operator new cannot take a refusal without a C++ runtime");
    return p;
}

/* Charges a block the backend just returned.  Return: p, or NULL (refused, errno set). */
static void *grant(unsigned call, void *p, uint64_t req, const void *caller)
{
    if (!p)
        return NULL;
    size_t u = mf_heap_charge(p);
    if (mf_gate_charge(mf_thread_slot(), u) != 0)
        return mf_heap_refuse(call, p, req, u, caller);
    if (flags() & MF_POLICY_PROFILE)
        mf_profile_alloc(p, u);
    return p;
}

void *mf_heap_alloc_slow(unsigned call, int kind, size_t align, size_t n, size_t m,
                         const void *caller)
{
    size_t total = n * m;   /* calloc's overflow was checked by its hook */
    if (kind == MF_ALLOC_PVALLOC) {
        size_t r = (n + 4095) & ~(size_t)4095;
        if (r < n) {
            errno = ENOMEM;
            return NULL;
        }
        total = r ? r : 4096;
    }
    switch (how()) {
    case RAW:
        return raw_charged(backend_alloc(kind, align, n, m));
    case BOOT:
        return boot_charged(mf_bootstrap_alloc(total, align));
    }
    if (admit(call, total, caller) != 0) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = MF_BACKEND(backend_alloc(kind, align, n, m));
    return grant(call, p, total, caller);
}

int mf_heap_posix_memalign_slow(void **out, size_t align, size_t n, const void *caller)
{
    if (align < sizeof(void *) || (align & (align - 1)))
        return EINVAL;
    void *p;
    switch (how()) {
    case RAW: {
        int rc = mf_backend.posix_memalign(out, align, n);
        if (rc == 0)
            raw_charged(*out);
        return rc;
    }
    case BOOT:
        p = boot_charged(mf_bootstrap_alloc(n, align));
        if (!p)
            return ENOMEM;
        *out = p;
        return 0;
    }
    if (admit(MF_CALL_POSIX_MEMALIGN, n, caller) != 0)
        return ENOMEM;
    int saved = errno;
    p = NULL;
    int rc = MF_BACKEND(mf_backend.posix_memalign(&p, align, n));
    if (rc)
        return rc;
    p = grant(MF_CALL_POSIX_MEMALIGN, p, n, caller);
    errno = saved;   /* posix_memalign reports through its return value, not errno */
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

void mf_heap_free_slow(void *p)
{
    if (mf_bootstrap_owns(p)) {              /* not glibc's for sure: never charged */
        mf_bootstrap_release(p);
        return;
    }
    int h = how();
    if (h == BOOT && mf_bootstrap_glibc()) {
        /* glibc underneath, known already (the bootstrap settled): a bootstrap block */
        mf_gate_uncharge_pool(MF_POOL_HOST, mf_glibc_chunk(p));
        mf_backend.free(p);
        return;
    }
    if (h != GO) {
        if (h == RAW && raw_counts())
            mf_gate_uncharge_pool(MF_POOL_HOST, mf_heap_charge(p));
        if (mf_backend.free)
            mf_backend.free(p);
        return;
    }
    size_t u = mf_heap_charge(p);
    if (flags() & MF_POLICY_PROFILE)
        mf_profile_free(p, u);
    mf_gate_uncharge(mf_thread_slot(), u);
    MF_BACKEND_VOID(mf_backend.free(p));
}

static void note_move(void *p, size_t old_u, void *q, size_t new_u)
{
    if (flags() & MF_POLICY_PROFILE) {
        mf_profile_free(p, old_u);
        mf_profile_alloc(q, new_u);
    }
}

/* realloc(p, n) with p a live backend block and n > 0.
 * Far from the limit: reserve an upper bound of the growth (n + the backend's largest slack:
 * a page for glibc, a quarter of n for the size-class allocators), call the backend's realloc
 * (which may grow in place or mremap), then settle to the exact charge.  Near the limit: allocate the new
 * block, charge only its difference with the old one (which is freed right after), copy: exact,
 * and the old block stays intact when the new one does not fit. */
void *mf_heap_realloc(unsigned call, void *p, size_t n, const void *caller)
{
    int h = how();
    if (h != GO) {
        if (h != RAW || !raw_counts())
            return mf_backend.realloc(p, n);
        size_t old_u = mf_heap_charge(p);
        void *q = mf_backend.realloc(p, n);
        if (q) {
            size_t new_u = mf_heap_charge(q);
            if (new_u > old_u)
                mf_gate_charge_force(MF_POOL_HOST, new_u - old_u);
            else
                mf_gate_uncharge_pool(MF_POOL_HOST, old_u - new_u);
        }
        return q;
    }
    if (admit(call, n, caller) != 0) {
        errno = ENOMEM;
        return NULL;
    }
    mf_slot_t *slot = mf_thread_slot();
    size_t old_u = mf_heap_charge(p);
    uint64_t est = n > UINT64_MAX / 2 ? UINT64_MAX : n + mf_backend_slack(n);
    uint64_t reserve = est > old_u ? est - old_u : 0;
    if (reserve == 0 || mf_gate_charge_probe(slot, reserve) == 0) {
        void *q = MF_BACKEND(mf_backend.realloc(p, n));
        if (!q) {
            if (reserve)
                mf_gate_uncharge(slot, reserve);
            return NULL;
        }
        size_t new_u = mf_heap_charge(q);
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
    size_t new_u = mf_heap_charge(q);
    if (new_u > old_u && mf_gate_charge(slot, new_u - old_u) != 0) {
        const char *why = past_budget_why(caller);
        if (why) {
            mf_gate_charge_force(MF_POOL_HOST, new_u - old_u);
            mf_report_over_budget(call, MF_POOL_HOST, n, why);
        } else {
            MF_BACKEND_VOID(mf_backend.free(q));
            mf_report_refusal(call, MF_POOL_HOST, n, NULL);
            errno = ENOMEM;
            return NULL;
        }
    }
    size_t keep = mf_heap_usable(p);
    memcpy(q, p, keep < n ? keep : n);
    MF_BACKEND_VOID(mf_backend.free(p));
    if (new_u < old_u)
        mf_gate_uncharge(slot, old_u - new_u);
    note_move(p, old_u, q, new_u);
    return q;
}

/* Start-up self-check: the chunk header agrees with glibc's malloc_usable_size, for heap chunks
 * and for a mapped one.  The probes leave glibc as the program would have found it:
 *   - the heap probes are larger than any tcache or fastbin block and are freed in reverse
 *     order, so each merges back into the top chunk (no block is left cached where the
 *     program's first blocks would go);
 *   - the mapped probe is larger than glibc's largest dynamic mmap threshold (32 MiB on
 *     64-bit): freeing a mapped chunk below it raises the process's mmap and trim thresholds to
 *     its size, and the program would get heap blocks where it had mappings.  Untouched, it
 *     costs one page; if it cannot be mapped, the mapped case goes unchecked. */
void mf_heap_check_usable(void)
{
    if (mf_backend.kind != MF_BACKEND_GLIBC || !mf_backend.malloc_usable_size)
        return;
    static const size_t sizes[] = { 1100, 4000, 70000, (size_t)33 << 20 };
    void *p[MF_ARRAY_LEN(sizes)] = { 0 };
    int ok = 1, n = 0;
    for (; n < (int)MF_ARRAY_LEN(sizes); n++) {
        p[n] = mf_backend.malloc(sizes[n]);
        if (!p[n])
            break;
        size_t h = ((const size_t *)p[n])[-1];
        size_t inl = (h & ~(size_t)7) - 8 - ((h & 2) << 2);
        if (inl != mf_backend.malloc_usable_size(p[n]))
            ok = 0;
    }
    for (int i = n - 1; i >= 0; i--)
        mf_backend.free(p[i]);
    /* a heap probe that could not be had leaves the question open: the general path answers */
    mf_heap_glibc_inline = ok && n >= (int)MF_ARRAY_LEN(sizes) - 1;
}

void mf_heap_init_policy(void)
{
    /* The fast path reads glibc's chunk header; a known allocator's usable size is asked of its
     * malloc_usable_size on the fast path out of line; an allocator memfence does not know takes
     * the general path. */
    if (mf_heap_glibc_inline)
        return;
    if (mf_backend.malloc_usable_size && mf_backend.kind != MF_BACKEND_OTHER)
        mf_policy_set(MF_POLICY_USABLE_CALL, 1);
    else
        mf_policy_set(MF_POLICY_GENERIC, 1);
}

/* ---- missed the fast path ------------------------------------------------------------------ */

/* The fast path out of line, for the two policy bits it can serve: MF_POLICY_PROFILE (the
 * profiler's hooks ride along) and MF_POLICY_USABLE_CALL (the usable size comes from the
 * backend's malloc_usable_size: jemalloc, tcmalloc, mimalloc).  NULL: the general path. */
static mf_slot_t *fast_slot(unsigned f)
{
    mf_slot_t *s = mf_tls.slot;
    return s && !(f & ~(MF_POLICY_PROFILE | MF_POLICY_USABLE_CALL)) && !mf_tls.in_usable ? s
                                                                                       : NULL;
}

/* A request's profiling countdown: the hook (malloc, calloc) charged it already when profiling
 * was the only bit (and came here because it ran out: heap.h); else it is charged here.  True:
 * sample. */
static bool countdown(unsigned f, size_t n, bool charged)
{
    if (!(f & MF_POLICY_PROFILE))
        return false;
    if (!charged)
        mf_tls.profile_left -= (int64_t)n;
    return mf_tls.profile_left < 0;
}

void *mf_heap_malloc_other(size_t n, const void *caller)
{
    unsigned f = flags();
    mf_slot_t *s = fast_slot(f);
    if (!s)
        return mf_heap_alloc_slow(MF_CALL_MALLOC, MF_ALLOC_MALLOC, 0, n, 1, caller);
    bool sample = countdown(f, n, f == MF_POLICY_PROFILE);
    mf_tls.req = n;
    void *p = MF_BACKEND(mf_backend.malloc(n));   /* a chained allocator's own mmaps are its own */
    if (!p)
        return NULL;
    size_t u = mf_heap_charge(p);
    if (!mf_gate_try_charge(s, u))
        return mf_heap_grant_tail(MF_CALL_MALLOC, p, u, s);
    if (sample)
        mf_profile_sample(p, n, u);
    return p;
}

void *mf_heap_calloc_other(size_t n, size_t m, const void *caller)
{
    unsigned f = flags();
    mf_slot_t *s = fast_slot(f);
    if (!s)
        return mf_heap_alloc_slow(MF_CALL_CALLOC, MF_ALLOC_CALLOC, 0, n, m, caller);
    bool sample = countdown(f, n * m, f == MF_POLICY_PROFILE);
    mf_tls.req = n;
    mf_tls.req_m = m;
    void *p = MF_BACKEND(mf_backend.calloc(n, m));
    if (!p)
        return NULL;
    size_t u = mf_heap_charge(p);
    if (!mf_gate_try_charge(s, u))
        return mf_heap_grant_tail(MF_CALL_CALLOC, p, u, s);
    if (sample)
        mf_profile_sample(p, n * m, u);
    return p;
}

void mf_heap_free_other(void *p)
{
    unsigned f = flags();
    mf_slot_t *s = fast_slot(f);
    if (!s || mf_bootstrap_owns(p)) {
        mf_heap_free_slow(p);
        return;
    }
    if (f & MF_POLICY_PROFILE)
        mf_profile_free_fast(p);
    size_t u = mf_heap_charge(p);
    if (mf_gate_try_uncharge(s, u))
        MF_BACKEND_VOID(mf_backend.free(p));
    else
        mf_heap_free_tail(p, u);
}
