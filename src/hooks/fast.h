/* fast.h — the malloc family's inline paths, shared by the hooks that end in the same
 * allocator calls: malloc.c (malloc, calloc, free) and cxx.c (operator new and delete).
 * Everything here is the fast path of family/heap.h: the policy word is read once, the block's
 * chunk is charged to or credited from the thread's slot, and anything else leaves for heap.c.
 */
#ifndef MF_HOOKS_FAST_H
#define MF_HOOKS_FAST_H

#include "family/heap.h"

/* The fast path of an allocating call: backend, the block's chunk, a charge of the thread's
 * credit (mf_tls.alloc_slot: never NULL); the tail, heap.c's, settles a charge the credit did
 * not cover (refill, or refusal with its report of the request, n, or n * m for calloc). */
#define MF_ALLOC_FAST(call, backend_call, n, m)                                              \
    do {                                                                                     \
        mf_slot_t *s_ = mf_tls.alloc_slot;                                                   \
        mf_tls.req = (n);                                                                    \
        if ((call) == MF_CALL_CALLOC)                                                        \
            mf_tls.req_m = (m);                                                              \
        void *p_ = (backend_call);                                                           \
        if (mf_unlikely(p_ == NULL))                                                         \
            return NULL;                                                                     \
        size_t c_ = mf_heap_charge_glibc(p_);                                                \
        if (mf_likely(mf_gate_try_charge(s_, c_)))                                           \
            return p_;                                                                       \
        return mf_heap_grant_tail((call), p_, c_, s_);                                       \
    } while (0)

/* free's fast path: the block's chunk credited to s (a bootstrap block is glibc's too). */
#define MF_FREE_FAST(s, p)                                                                   \
    do {                                                                                     \
        size_t c_ = mf_heap_charge_glibc(p);                                                 \
        if (mf_likely(mf_gate_try_uncharge((s), c_))) {                                      \
            mf_backend.free(p);                                                              \
            return;                                                                          \
        }                                                                                    \
        mf_heap_free_tail((p), c_);                                                          \
        return;                                                                              \
    } while (0)

/* A block the profiler's filter may know: told to the profiler, then freed as on the fast path
 * (out of line, so that the inline path keeps nothing across a call).  In malloc.c. */
void mf_hooks_free_filtered(mf_slot_t *s, void *p);

/* free, whole: the slot free credits inline (no policy bit free cares about), or the same after
 * the profiler's filter (profiling alone), or heap.c's path for the rest. */
static inline __attribute__((always_inline)) void mf_hooks_free(void *p)
{
    mf_slot_t *s = mf_tls.free_slot;
    if (mf_likely(s != NULL) && mf_likely(p != NULL))
        MF_FREE_FAST(s, p);
    if (!p)
        return;
    s = mf_tls.filter_slot;
    if (mf_likely(s != NULL)) {
        if (mf_unlikely(mf_profile_may_know(p))) {
            mf_hooks_free_filtered(s, p);
            return;
        }
        MF_FREE_FAST(s, p);
    }
    mf_heap_free_other(p);
}

#endif
