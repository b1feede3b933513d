/* policy.h — decisions taken before an allocation reaches the backend: fault injection,
 * refuse-large, throttling.  The malloc fast path reads one word, mf_policy_flags, and leaves
 * everything to the general path while it is nonzero; a module that has something to decide
 * sets its bit.
 */
#ifndef MF_POLICY_H
#define MF_POLICY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "mf.h"

enum {
    MF_POLICY_FAIL = 1u << 0,          /* fault injection armed */
    MF_POLICY_REFUSE_LARGE = 1u << 1,  /* sampler: refuse large allocations (CRITICAL) */
    MF_POLICY_THROTTLE = 1u << 2,      /* sampler: delay large allocations */
    MF_POLICY_PROFILE = 1u << 3,       /* profiler: sample allocations (post-grant) */
    MF_POLICY_USABLE_CALL = 1u << 29,  /* backend: usable size from its malloc_usable_size */
    MF_POLICY_GENERIC = 1u << 30,      /* backend: unknown allocator, every call general */
    MF_POLICY_NOT_READY = 1u << 31,    /* runtime: initialisation has not finished */
};

extern MF_INTERNAL _Atomic unsigned mf_policy_flags;

static inline void mf_policy_set(unsigned bit, int on)
{
    if (on) atomic_fetch_or_explicit(&mf_policy_flags, bit, memory_order_relaxed);
    else atomic_fetch_and_explicit(&mf_policy_flags, ~bit, memory_order_relaxed);
}

/* Before the backend is called: may sleep (throttle) or decide a refusal.
 * `pool` is MF_POOL_*, `caller` the return address of the hooked call.
 * Return: 0 to go on, -ENOMEM to refuse (the reason is already logged and counted). */
int mf_policy_admit(unsigned call, unsigned pool, uint64_t req, const void *caller);

/* Module entry points called by mf_policy_admit when their bit is set.  Each returns 0 or
 * -ENOMEM.  fail: src/fail.c; refuse-large and throttle: src/sampler.c. */
int mf_fail_check(unsigned call, uint64_t req, const void *caller);
int mf_sampler_admit(unsigned call, unsigned pool, uint64_t req);

/* Profiler hooks on granted and released blocks (src/profile.c), when MF_POLICY_PROFILE. */
void mf_profile_alloc(void *p, uint64_t usable);
void mf_profile_free(void *p, uint64_t usable);

#endif
