/* malloc.c — the exported malloc family.  Each hook is the fast path of heap.h or a call into
 * the general path; edge cases follow glibc's documentation, and where glibc decides (alignment
 * validity), the backend decides and memfence only charges what it granted.
 */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "family/heap.h"

#define CALLER __builtin_return_address(0)

MF_EXPORT void *malloc(size_t n)
{
    mf_slot_t *s = mf_tls.slot;
    uint32_t f = mf_heap_policy();
    if (mf_likely(s != NULL) && (mf_likely(f == 0) || mf_heap_profile_rides(f, n))) {
        mf_tls.req = n;
        void *p = mf_backend.malloc(n);
        if (mf_unlikely(p == NULL))
            return NULL;
        size_t u = mf_heap_usable_glibc(p);
        if (mf_likely(mf_gate_try_charge(s, u)))   /* a thread's slot lives as long as it */
            return p;
        return mf_heap_grant_tail(MF_CALL_MALLOC, p, u);
    }
    return mf_heap_malloc_other(n, CALLER);
}

MF_EXPORT void free(void *p)
{
    mf_slot_t *s = mf_tls.slot;
    uint32_t f = mf_heap_policy();
    if (mf_unlikely(s == NULL) || (mf_unlikely(f != 0) && !mf_heap_profile_free_rides(f, p))) {
        if (p)
            mf_heap_free_other(p);
        return;
    }
    if (mf_likely(p != NULL && !mf_bootstrap_owns(p))) {
        size_t u = mf_heap_usable_glibc(p);
        if (mf_likely(mf_gate_try_uncharge(s, u))) {
            mf_backend.free(p);
            return;
        }
        mf_heap_free_tail(p, u);
        return;
    }
    if (p)
        mf_heap_free_other(p);
}

MF_EXPORT void *calloc(size_t n, size_t m)
{
    size_t total;
    if (__builtin_mul_overflow(n, m, &total)) {
        errno = ENOMEM;   /* nothing charged */
        return NULL;
    }
    mf_slot_t *s = mf_tls.slot;
    uint32_t f = mf_heap_policy();
    if (mf_likely(s != NULL) && (mf_likely(f == 0) || mf_heap_profile_rides(f, total))) {
        mf_tls.req = total;
        void *p = mf_backend.calloc(n, m);
        if (mf_unlikely(p == NULL))
            return NULL;
        size_t u = mf_heap_usable_glibc(p);
        if (mf_likely(mf_gate_try_charge(s, u)))
            return p;
        return mf_heap_grant_tail(MF_CALL_CALLOC, p, u);
    }
    return mf_heap_calloc_other(n, m, CALLER);
}

static void *realloc_common(unsigned call, void *p, size_t n, const void *caller)
{
    if (mf_unlikely(mf_bootstrap_owns(p))) {
        /* a bootstrap block moves to the real heap through the full malloc path */
        size_t old = mf_bootstrap_usable(p);
        void *q = n ? malloc(n) : NULL;
        if (q)
            memcpy(q, p, old < n ? old : n);
        return q;
    }
    if (n == 0) {   /* glibc: realloc(p, 0) frees p and returns NULL */
        free(p);
        return NULL;
    }
    return mf_heap_realloc(call, p, n, caller);
}

/* realloc's fast path, under the same conditions as malloc's (profiling sees the move), glibc
 * underneath (the only allocator whose usable size the fast path reads inline): reserve the most
 * the block can grow to from the thread's credit, call the backend, settle to the exact usable
 * size.  glibc never grows a block whose usable size already holds n (it splits it, or mremaps a
 * mapped chunk smaller), so a shrink reserves nothing; a growth reserves n + glibc's largest
 * slack (mf_backend_slack).  Anything else (the reserve does not fit the credit, bootstrap
 * blocks, huge sizes, n == 0) goes to the general path, which is exact near the limit. */
static void *realloc_fast(mf_slot_t *s, uint32_t f, void *p, size_t n)
{
    size_t old_u = mf_heap_usable_glibc(p);
    uint64_t reserve = n > old_u ? n + MF_BACKEND_GLIBC_SLACK - old_u : 0;
    if (reserve && !mf_gate_try_charge(s, reserve)) {
        mf_gate_net_sub(s, (int64_t)reserve);   /* not from credit: the general path decides */
        return realloc_common(MF_CALL_REALLOC, p, n, CALLER);
    }
    void *q = mf_backend.realloc(p, n);
    if (mf_unlikely(q == NULL)) {
        if (reserve && !mf_gate_try_uncharge(s, reserve))
            mf_gate_uncharge_slow(s, reserve);
        return NULL;
    }
    size_t new_u = mf_heap_usable_glibc(q);
    uint64_t charged = old_u + reserve;        /* below 2^41: no step too large for a slot */
    if (mf_likely(new_u <= charged)) {
        if (new_u != charged && !mf_gate_try_uncharge(s, charged - new_u))
            mf_gate_uncharge_slow(s, charged - new_u);
    } else if (mf_gate_charge(s, new_u - charged) != 0) {
        mf_gate_charge_force(MF_POOL_HOST, new_u - charged);   /* as mf_heap_realloc does */
    }
    if (mf_unlikely(f != 0)) {          /* profiling: the block moved, as mf_heap_realloc says */
        mf_profile_free(p, old_u);
        mf_profile_alloc(q, new_u);
    }
    return q;
}

MF_EXPORT void *realloc(void *p, size_t n)
{
    if (!p)
        return malloc(n);
    mf_slot_t *s = mf_tls.slot;
    uint32_t f = mf_heap_policy();
    if (mf_likely(s != NULL) && (f & ~(uint32_t)MF_POLICY_PROFILE) == 0 &&
        n - 1 < ((size_t)1 << 40) && !mf_bootstrap_owns(p))
        return realloc_fast(s, f, p, n);
    return realloc_common(MF_CALL_REALLOC, p, n, CALLER);
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
    return mf_backend.malloc_usable_size ? mf_backend.malloc_usable_size(p) : 0;
}
