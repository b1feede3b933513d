/* policy.c — decisions before an allocation reaches the backend (see policy.h): the checks run
 * in the allocating thread, on what the sampler and fault injection published here. */
#include <errno.h>

#include "base/log.h"
#include "base/metrics.h"
#include "base/proc.h"
#include "base/stats.h"
#include "base/sys.h"
#include "config/levels.h"
#include "gate/gate.h"
#include "gate/policy.h"
#include "gate/report.h"

_Atomic unsigned mf_policy_flags = MF_POLICY_NOT_READY;

static _Atomic(mf_policy_check_fn) injector;
static mf_policy_pressure_t P;               /* set once, before the bits that read it */
static _Atomic uint64_t p_delay_ns;          /* current throttle delay; 0 = none */
static _Atomic unsigned p_cause;             /* the input that set the current level */
static _Atomic uint32_t p_value;             /* its value, ppm */

void mf_policy_set_injector(mf_policy_check_fn check)
{
    atomic_store_explicit(&injector, check, memory_order_release);
}

void mf_policy_set_pressure(const mf_policy_pressure_t *p)
{
    P = *p;
}

void mf_policy_publish(uint64_t delay_ns, unsigned cause, uint32_t value)
{
    atomic_store_explicit(&p_cause, cause, memory_order_relaxed);
    atomic_store_explicit(&p_value, value, memory_order_relaxed);
    atomic_store_explicit(&p_delay_ns, delay_ns, memory_order_relaxed);
}

void mf_policy_reset(void)
{
    P = (mf_policy_pressure_t){ 0 };
    mf_policy_publish(0, 0, 0);
    mf_policy_set_injector(NULL);
}

uint32_t mf_policy_ratio_ppm(uint64_t a, uint64_t b)
{
    if (a == MF_UNKNOWN || b == 0 || b == MF_UNKNOWN || b == MF_UNLIMITED) return 0;
    double r = (double)a / (double)b * MF_PPM;
    return r > 4e9 ? 4000000000u : (uint32_t)r;
}

const char *mf_policy_cause_text(unsigned cause)
{
    switch (cause) {
    case MF_IN_RSS: return "anon rss";          /* anonymous + shmem: never file pages */
    case MF_IN_HOST: return "host memory in use";
    default: return mf_input_name(cause);
    }
}

const char *mf_policy_pct(char *buf, size_t size, uint32_t ppm)
{
    mf_fmt(buf, size, "%u.%u%%", ppm / 10000, (ppm / 1000) % 10);
    return buf;
}

void mf_policy_budget(uint64_t *used, uint64_t *limit)
{
    *used = mf_gate_used(MF_POOL_HOST);
    *limit = mf_gate_limit(MF_POOL_HOST);
    uint64_t pu, pl;
    if (*limit == MF_UNLIMITED && mf_gate_parent_view(MF_POOL_HOST, &pu, &pl) && pl != MF_UNLIMITED) {
        *used = pu;
        *limit = pl;
    }
}

/* The level is up to one interval old: a program that just freed most of its memory to recover
 * must not be refused or slowed on the strength of the last sample.  When usage or RSS set the
 * level, look again now (with the request added) against `floor` (ppm); host memory and PSI are
 * trusted as sampled. */
static MF_COLD bool still_above(uint64_t req, uint32_t floor)
{
    unsigned cause = atomic_load_explicit(&p_cause, memory_order_relaxed);
    uint64_t now, limit;
    mf_policy_budget(&now, &limit);
    if (cause == MF_IN_RSS) {
        uint64_t all;
        if (mf_metrics_rss(0, &all, &now) < 0) return true;
    } else if (cause != MF_IN_USAGE) {
        return true;
    }
    return mf_policy_ratio_ppm(now + req, limit) >= floor;
}

static MF_COLD int admit_pressure(unsigned call, unsigned pool, uint64_t req)
{
    if (P.start)
        P.start();
    if (pool != MF_POOL_HOST) return 0;
    unsigned flags = atomic_load_explicit(&mf_policy_flags, memory_order_relaxed);
    if ((flags & MF_POLICY_REFUSE_LARGE) && req >= P.refuse_min && still_above(req, P.critical_floor)) {
        char why[96], p[16];
        mf_fmt(why, sizeof why, "refuse-large at CRITICAL, by %s %s",
               mf_policy_cause_text(atomic_load_explicit(&p_cause, memory_order_relaxed)),
               mf_policy_pct(p, sizeof p, atomic_load_explicit(&p_value, memory_order_relaxed)));
        mf_stat_add(&mf_stats.refused_large, 1);
        mf_report_refused_large(call, pool, req, why);
        return -ENOMEM;
    }
    if ((flags & MF_POLICY_THROTTLE) && req >= P.throttle_min) {
        uint64_t d = atomic_load_explicit(&p_delay_ns, memory_order_relaxed);
        if (d && still_above(req, P.throttle_floor)) {
            uint64_t t0 = mf_now_ns();
            mf_sleep_until(t0 + d);
            mf_stat_add(&mf_stats.throttled, 1);
            mf_stat_add(&mf_stats.throttle_ns, mf_now_ns() - t0);
        }
    }
    return 0;
}

int mf_policy_admit(unsigned call, unsigned pool, uint64_t req, const void *caller)
{
    unsigned f = atomic_load_explicit(&mf_policy_flags, memory_order_relaxed);
    if (f & MF_POLICY_FAIL) {
        mf_policy_check_fn check = atomic_load_explicit(&injector, memory_order_acquire);
        if (check && check(call, req, caller) != 0)
            return -ENOMEM;
    }
    if ((f & (MF_POLICY_REFUSE_LARGE | MF_POLICY_THROTTLE)) && admit_pressure(call, pool, req) != 0)
        return -ENOMEM;
    return 0;
}
