/* heap.h — the malloc family's path through memfence, between the thin hooks and the gate.
 *
 *   hook ──► mf_heap_enter (bootstrap / nested / ready?) ──► mf_heap_admit (policy: fault
 *   injection, refuse-large, throttle) ──► backend ──► mf_heap_grant (charge the usable size;
 *   on refusal free the block and report)
 *
 * The fast path is inline: one TLS word, one global word, the backend, its usable size, and
 * the thread's credit slot.  Everything rare lives in heap.c.
 */
#ifndef MF_HEAP_H
#define MF_HEAP_H

#include <errno.h>
#include <stdatomic.h>

#include "backend.h"
#include "calls.h"
#include "gate.h"
#include "policy.h"
#include "runtime.h"

/* What a hook does with a call when memfence is not (yet) in charge of it. */
enum { MF_HEAP_GO = 0, MF_HEAP_RAW = 1, MF_HEAP_BOOT = 2 };

extern _Atomic int mf_heap_active;    /* 1 once the backend is resolved and counting runs */
extern uint64_t mf_heap_big;          /* requests above this cannot fit: refuse before the backend */
extern int mf_heap_warn_only;         /* on_limit = warn: log and grant instead of refusing */

/* Slow prologue: runs initialisation if needed.  Return: MF_HEAP_GO, MF_HEAP_RAW (memfence's
 * own nested call or disabled: straight to the backend) or MF_HEAP_BOOT (symbols are being
 * resolved on this thread: serve from the bootstrap buffer). */
int mf_heap_enter_slow(void);

static inline int mf_heap_enter(void)
{
    if (mf_likely(atomic_load_explicit(&mf_heap_active, memory_order_relaxed) && !mf_tls.depth))
        return MF_HEAP_GO;
    return mf_heap_enter_slow();
}

/* Policy before the backend.  Return: 0 or -ENOMEM (already reported). */
int mf_heap_admit_slow(unsigned call, uint64_t req, const void *caller);

static inline int mf_heap_admit(unsigned call, uint64_t req, const void *caller)
{
    if (mf_likely(!(atomic_load_explicit(&mf_policy_flags, memory_order_relaxed) &
                    (MF_POLICY_FAIL | MF_POLICY_REFUSE_LARGE | MF_POLICY_THROTTLE)) &&
                  req <= mf_heap_big))
        return 0;
    return mf_heap_admit_slow(call, req, caller);
}

/* The block p (or NULL) came back from the backend for a request of req bytes: charge it.
 * Return: p, or NULL with errno = ENOMEM after freeing it and reporting. */
void *mf_heap_refuse(unsigned call, void *p, uint64_t req, uint64_t usable);

static inline size_t mf_heap_usable(void *p)
{
    return mf_backend.malloc_usable_size(p);
}

static inline void *mf_heap_grant(unsigned call, void *p, uint64_t req)
{
    if (mf_unlikely(!p))
        return NULL;
    size_t u = mf_heap_usable(p);
    if (mf_likely(mf_gate_charge(mf_thread_slot(), u) == 0)) {
        if (mf_unlikely(atomic_load_explicit(&mf_policy_flags, memory_order_relaxed) &
                        MF_POLICY_PROFILE))
            mf_profile_alloc(p, u);
        return p;
    }
    return mf_heap_refuse(call, p, req, u);
}

/* Releases a live block's charge (before the backend frees it). */
static inline void mf_heap_release(void *p, size_t usable)
{
    if (mf_unlikely(atomic_load_explicit(&mf_policy_flags, memory_order_relaxed) &
                    MF_POLICY_PROFILE))
        mf_profile_free(p, usable);
    mf_gate_uncharge(mf_thread_slot(), usable);
}

/* realloc with exact accounting (heap.c). */
void *mf_heap_realloc(unsigned call, void *p, size_t n, const void *caller);

/* Hooks call the backend through this so the backend's own mmaps are not counted twice. */
#define MF_BACKEND(expr) ({ mf_tls.in_backend++; __typeof__(expr) r__ = (expr); \
                            mf_tls.in_backend--; r__; })
#define MF_BACKEND_VOID(expr) do { mf_tls.in_backend++; (expr); mf_tls.in_backend--; } while (0)

#endif
