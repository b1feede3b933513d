/* malloc.c — the exported malloc family.  Each hook is the fast path of heap.h or a call into
 * the general path; edge cases follow glibc's documentation, and where glibc decides (alignment
 * validity), the backend decides and memfence only charges what it granted.
 */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hooks/fast.h"

#define CALLER __builtin_return_address(0)

MF_EXPORT void *malloc(size_t n)
{
    MF_HEAP_POLICY_GOTO(policy);
    MF_ALLOC_FAST(MF_CALL_MALLOC, mf_backend.malloc(n), n, 1);
policy:
    if (mf_heap_profile_rides(n))
        MF_ALLOC_FAST(MF_CALL_MALLOC, mf_backend.malloc(n), n, 1);
    return mf_heap_malloc_other(n, CALLER);
}

void mf_hooks_free_filtered(mf_slot_t *s, void *p)
{
    mf_profile_forget(p);
    MF_FREE_FAST(s, p);
}

MF_EXPORT void free(void *p)
{
    mf_hooks_free(p);
}

MF_EXPORT void *calloc(size_t n, size_t m)
{
    /* the fast path serves glibc alone, which refuses an n * m that overflows itself (ENOMEM,
     * nothing to charge); the product is kept only for a report */
    MF_HEAP_POLICY_GOTO(policy);
    MF_ALLOC_FAST(MF_CALL_CALLOC, mf_backend.calloc(n, m), n, m);
policy:
    if (mf_heap_profile_rides(n * m))
        MF_ALLOC_FAST(MF_CALL_CALLOC, mf_backend.calloc(n, m), n, m);
    size_t total;
    if (__builtin_mul_overflow(n, m, &total)) {
        errno = ENOMEM;   /* nothing charged */
        return NULL;
    }
    return mf_heap_calloc_other(n, m, CALLER);
}

static void *realloc_common(unsigned call, void *p, size_t n, const void *caller)
{
    if (mf_unlikely(mf_bootstrap_owns(p))) {
        /* a bootstrap block (another allocator underneath) moves to that allocator's heap */
        size_t old = mf_bootstrap_usable(p);
        void *q = n ? malloc(n) : NULL;
        if (q || n == 0) {
            if (q)
                memcpy(q, p, old < n ? old : n);
            free(p);
        }
        return q;
    }
    if (n == 0) {   /* glibc: realloc(p, 0) frees p and returns NULL */
        free(p);
        return NULL;
    }
    return mf_heap_realloc(call, p, n, caller);
}

/* realloc_common for realloc, tail-called from the fast path (its return address is the
 * program's call site). */
static MF_NOINLINE void *realloc_general(void *p, size_t n)
{
    return realloc_common(MF_CALL_REALLOC, p, n, CALLER);
}

/* The fast path's rare ends, out of line and tail-called, so that nothing but the slot, the
 * charge and the reserve lives across the backend's call: q's charge settled beyond the
 * thread's credit (give back `back`, or take `more`), and a failed call's reserve given back. */
static MF_NOINLINE void *realloc_settle(mf_slot_t *s, void *q, uint64_t back, uint64_t more)
{
    if (back)
        mf_gate_uncharge_slow(s, back);
    else if (mf_gate_charge(s, more) != 0)
        mf_gate_charge_force(MF_POOL_HOST, more);   /* as mf_heap_realloc does */
    return q;
}

static MF_NOINLINE void *realloc_undo(mf_slot_t *s, uint64_t reserve)
{
    if (!mf_gate_try_uncharge(s, reserve))
        mf_gate_uncharge_slow(s, reserve);
    return NULL;
}

/* realloc's fast path, under the same conditions as malloc's, glibc
 * underneath (the only allocator whose chunk size the fast path reads inline): reserve the most
 * the block can grow to from the thread's credit, call the backend, settle to the exact charge.
 * glibc never grows a block whose usable size (its chunk less 8, or 16 when mapped) already
 * holds n (it splits it, or mremaps a mapped chunk smaller), so such a shrink reserves nothing;
 * a growth reserves n + glibc's largest slack (MF_BACKEND_GLIBC_SLACK, the header included).
 * A block glibc cannot grow is left as it was, so a failed call gives the reserve back whole.
 * Anything else (the reserve does not fit the credit, bootstrap blocks, huge sizes, n == 0,
 * and under profiling a block the profiler's filter may know) goes to the general path, which
 * is exact near the limit and tells the profiler.  Profiling counts the request down on the way
 * in, as malloc's fast path does, and a call that runs the countdown out goes to the general
 * path too, which samples the block it returns.  So nothing but the slot, the charge and the
 * reserve lives across the backend's call, profiled or not, and nothing follows it but the
 * settling. */
static inline __attribute__((always_inline)) void *
realloc_fast(mf_slot_t *s, void *p, size_t n, bool profiled)
{
    if (profiled) {
        if (mf_unlikely(mf_profile_may_know(p)))
            return realloc_general(p, n);   /* maybe a sampled block: the general path tells it */
        if (mf_unlikely(!mf_heap_profile_counts(n)))
            return realloc_general(p, n);   /* the countdown ran out: the general path samples */
    }
    size_t old_c = mf_heap_charge_glibc(p);
    uint64_t reserve = n + 16 > old_c ? n + MF_BACKEND_GLIBC_SLACK - old_c : 0;
    if (reserve && !mf_gate_try_charge(s, reserve)) {
        mf_gate_net_sub(s, (int64_t)reserve);   /* not from credit: the general path decides */
        if (profiled)
            mf_tls.profile_left += (int64_t)n;  /* and counts the block it returns */
        return realloc_general(p, n);
    }
    uint64_t charged = old_c + reserve;        /* below 2^41: no step too large for a slot */
    void *q = mf_backend.realloc(p, n);
    if (mf_unlikely(q == NULL))
        return reserve ? realloc_undo(s, reserve) : NULL;
    size_t new_c = mf_heap_charge_glibc(q);
    if (mf_likely(new_c <= charged)) {
        uint64_t back = charged - new_c;
        if (mf_likely(back == 0 || mf_gate_try_uncharge(s, back)))
            return q;
        return realloc_settle(s, q, back, 0);
    }
    return realloc_settle(s, q, 0, new_c - charged);
}

/* Out of line: a policy bit is set.  Profiling alone keeps the fast path (the block's move is
 * told to the profiler); mf_tls.filter_slot is the thread's slot only then, with glibc
 * underneath, whose bootstrap blocks are glibc blocks as on the hook's path (backend.h).
 * Tail-called: its return address is the program's call site. */
static MF_NOINLINE void *realloc_other(void *p, size_t n)
{
    MF_HEAP_POLICY_NE_GOTO(MF_POLICY_PROFILE, general);
    mf_slot_t *s = mf_tls.filter_slot;
    if (s != NULL && n - 1 < ((size_t)1 << 40))
        return realloc_fast(s, p, n, true);
general:
    return realloc_general(p, n);
}

/* With the policy word zero, mf_tls.free_slot is the thread's slot (gate.h), and a bootstrap
 * block is a glibc block like any (backend.h).  The fast path is inline here: no second call,
 * no arguments moved for one; every other way out is a tail call that finds the program's call
 * site as its own return address, so nothing here reads the frame before the policy test (and
 * the profiled path pays for one function's registers, not two). */
MF_EXPORT void *realloc(void *p, size_t n)
{
    if (!p)
        return malloc(n);
    MF_HEAP_POLICY_GOTO(policy);
    mf_slot_t *s = mf_tls.free_slot;
    if (mf_likely(s != NULL) && mf_likely(n - 1 < ((size_t)1 << 40)))
        return realloc_fast(s, p, n, false);
policy:
    return realloc_other(p, n);
}

MF_EXPORT void *reallocarray(void *p, size_t n, size_t m)
{
    size_t total;
    if (__builtin_mul_overflow(n, m, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    if (!p)
        return malloc(total);
    return realloc_common(MF_CALL_REALLOCARRAY, p, total, CALLER);
}

MF_EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    return mf_heap_posix_memalign_slow(out, align, n, CALLER);
}

MF_EXPORT void *aligned_alloc(size_t align, size_t n)
{
    return mf_heap_alloc_slow(MF_CALL_ALIGNED_ALLOC, MF_ALLOC_ALIGNED, align, n, 1, CALLER);
}

MF_EXPORT void *memalign(size_t align, size_t n)
{
    return mf_heap_alloc_slow(MF_CALL_MEMALIGN, MF_ALLOC_MEMALIGN, align, n, 1, CALLER);
}

MF_EXPORT void *valloc(size_t n)
{
    return mf_heap_alloc_slow(MF_CALL_VALLOC, MF_ALLOC_VALLOC, 4096, n, 1, CALLER);
}

MF_EXPORT void *pvalloc(size_t n)
{
    return mf_heap_alloc_slow(MF_CALL_PVALLOC, MF_ALLOC_PVALLOC, 4096, n, 1, CALLER);
}

MF_EXPORT size_t malloc_usable_size(void *p)
{
    if (!p)
        return 0;
    if (mf_bootstrap_owns(p))
        return mf_bootstrap_usable(p);
    if (!mf_backend.malloc_usable_size)
        mf_runtime_ensure();
    /* the program's own question: not one asked inside memfence (heap.h) */
    return mf_backend.malloc_usable_size ? mf_backend.malloc_usable_size(p) : 0;
}
