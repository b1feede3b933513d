/* policy.h — decisions taken before an allocation reaches the backend: fault injection,
 * refuse-large, throttling.  The malloc fast path reads one word, mf_policy_flags, and leaves
 * everything to the general path while it is nonzero; a module that has something to decide
 * sets its bit.
 *
 * The allocation path calls nothing above this layer: what it decides on is published here.
 * The sampler publishes the pressure (mf_policy_set_pressure once, mf_policy_publish at each
 * tick) and registers the one thing an allocating thread does for it, starting its deferred
 * thread (`start`); fault injection registers its check when it is armed.
 */
#ifndef MF_POLICY_H
#define MF_POLICY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "base/mf.h"

enum {
    MF_POLICY_FAIL = 1u << 0,          /* fault injection armed */
    MF_POLICY_REFUSE_LARGE = 1u << 1,  /* sampler: refuse large allocations (CRITICAL) */
    MF_POLICY_THROTTLE = 1u << 2,      /* sampler: delay large allocations; or start its thread */
    MF_POLICY_PROFILE = 1u << 3,       /* profiler: sample allocations (post-grant) */
    MF_POLICY_USABLE_CALL = 1u << 29,  /* backend: usable size from its malloc_usable_size */
    MF_POLICY_GENERIC = 1u << 30,      /* backend: unknown allocator, every call general */
    MF_POLICY_NOT_READY = 1u << 31,    /* runtime: initialisation has not finished */
};

/* The bits free() cares about: while none is set it may credit a block inline.  None of them
 * comes on once a thread can have a slot (they are set, if at all, before initialisation ends). */
#define MF_POLICY_FREE_CARES (MF_POLICY_PROFILE | MF_POLICY_USABLE_CALL | MF_POLICY_GENERIC | \
                              MF_POLICY_NOT_READY)

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

/* Fault injection's decision for one call (0 or -ENOMEM), registered when it is armed (NULL
 * when disarmed); mf_policy_admit calls it while MF_POLICY_FAIL is set. */
typedef int (*mf_policy_check_fn)(unsigned call, uint64_t req, const void *caller);
void mf_policy_set_injector(mf_policy_check_fn check);

/* The sampler's fixed admission parameters, set once at its init:
 *   refuse_min, throttle_min   the smallest request refuse-large and throttling act on;
 *   critical_floor, throttle_floor   the value (ppm of the budget) below which the CRITICAL
 *                              level and the level that throttles no longer hold;
 *   start                      called first by an allocating thread while MF_POLICY_THROTTLE or
 *                              MF_POLICY_REFUSE_LARGE is set (THROTTLE alone is the sampler's
 *                              start trigger): starts the deferred sampler thread when it is due
 *                              (it must be cheap when it is not, and may clear the bit). */
typedef struct mf_policy_pressure {
    uint64_t refuse_min, throttle_min;
    uint32_t critical_floor, throttle_floor;
    void (*start)(void);
} mf_policy_pressure_t;
void mf_policy_set_pressure(const mf_policy_pressure_t *p);

/* Each tick: the throttle delay (0 for none) and what set the level (MF_IN_*) with its value
 * (ppm).  Published before the bits that act on them. */
void mf_policy_publish(uint64_t delay_ns, unsigned cause, uint32_t value);

/* What set the level and how far, as a level or refusal line says it ("anon rss 97.3%"). */
const char *mf_policy_cause_text(unsigned cause);
const char *mf_policy_pct(char *buf, size_t size, uint32_t ppm);

/* The host budget pressure is measured against, with its usage: this process's own, or, when it
 * has none, its parent's (its group: the usage of all members against the group's limit). */
void mf_policy_budget(uint64_t *used, uint64_t *limit);

/* a / b in ppm, 0 when either side is unknown or unlimited. */
uint32_t mf_policy_ratio_ppm(uint64_t a, uint64_t b);

/* Forgets what was published and registered (unit tests; mf_policy_flags is left as it is). */
void mf_policy_reset(void);

#endif
