/* test_policy.c — the decisions taken before the backend (gate/policy.c), driven directly: the
 * fault injector's hook (set, refusing, accepting, unset), refuse-large on published pressure
 * with its re-check of live usage (the boundary to the byte), throttling (a real sleep of at
 * least the delay, counted), the sampler's start function, and the formatting helpers the level
 * and refusal lines use.  Everything here is pure: no preload, no sampler thread. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "base/calls.h"
#include "base/metrics.h"
#include "base/stats.h"
#include "config/levels.h"
#include "gate/gate.h"
#include "gate/policy.h"
#include "t.h"

#define MiB ((uint64_t)1 << 20)
static const void *const CALLER = (const void *)0x1234;

static void reset(void)
{
    mf_policy_reset();
    atomic_store(&mf_policy_flags, 0);
    mf_gate_reset();
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* ---- fault injection ------------------------------------------------------------------- */

static int inj_calls, inj_refuse;
static unsigned inj_call;
static uint64_t inj_req;
static const void *inj_caller;

static int injector(unsigned call, uint64_t req, const void *caller)
{
    inj_calls++;
    inj_call = call;
    inj_req = req;
    inj_caller = caller;
    return inj_refuse ? -ENOMEM : 0;
}

static void test_injector(void)
{
    reset();
    /* no bit: admitted, the injector not asked even when registered */
    T_EQ(mf_policy_admit(MF_CALL_MALLOC, MF_POOL_HOST, 100, CALLER), 0);
    mf_policy_set_injector(injector);
    inj_refuse = 1;
    T_EQ(mf_policy_admit(MF_CALL_MALLOC, MF_POOL_HOST, 100, CALLER), 0);
    T_EQ(inj_calls, 0);
    /* the bit set: the injector decides, and sees the call as made */
    mf_policy_set(MF_POLICY_FAIL, 1);
    T_EQ(mf_policy_admit(MF_CALL_CALLOC, MF_POOL_HOST, 777, CALLER), -ENOMEM);
    T_EQ(inj_calls, 1);
    T_EQU(inj_call, MF_CALL_CALLOC);
    T_EQU(inj_req, 777);
    T_CHECK(inj_caller == CALLER);
    inj_refuse = 0;
    T_EQ(mf_policy_admit(MF_CALL_MALLOC, MF_POOL_GPU0, 5, NULL), 0);
    T_EQ(inj_calls, 2);
    /* the bit set, nothing registered (disarmed between the two): admitted, no crash */
    mf_policy_set_injector(NULL);
    T_EQ(mf_policy_admit(MF_CALL_MALLOC, MF_POOL_HOST, 100, CALLER), 0);
    T_EQ(inj_calls, 2);
    /* reset unregisters it */
    mf_policy_set_injector(injector);
    inj_refuse = 1;
    mf_policy_reset();
    T_EQ(mf_policy_admit(MF_CALL_MALLOC, MF_POOL_HOST, 100, CALLER), 0);
    T_EQ(inj_calls, 2);
    /* other bits do not make a refusing injector run */
    mf_policy_set(MF_POLICY_FAIL, 0);
    mf_policy_set_injector(injector);
    mf_policy_set(MF_POLICY_PROFILE | MF_POLICY_GENERIC | MF_POLICY_NOT_READY, 1);
    T_EQ(mf_policy_admit(MF_CALL_MALLOC, MF_POOL_HOST, 100, CALLER), 0);
    T_EQ(inj_calls, 2);
    inj_refuse = 0;
}

/* ---- refuse-large ---------------------------------------------------------------------- */

/* Budget 128 MiB, CRITICAL's floor 87.5 % (112 MiB exactly), refuse-large from 1 MiB. */
static void setup_critical(unsigned cause)
{
    reset();
    mf_gate_set_limit(MF_POOL_HOST, 128 * MiB);
    mf_policy_pressure_t p = { .refuse_min = MiB, .critical_floor = 875000 };
    mf_policy_set_pressure(&p);
    mf_policy_publish(0, cause, 960000);
    mf_policy_set(MF_POLICY_REFUSE_LARGE, 1);
}

static void test_refuse_large(void)
{
    setup_critical(MF_IN_USAGE);
    T_EQ(mf_gate_charge_pool(MF_POOL_HOST, 120 * MiB), 0);
    uint64_t rl = mf_stats.refused_large, rf = mf_stats.refusals;
    T_EQ(mf_policy_admit(MF_CALL_MALLOC, MF_POOL_HOST, 2 * MiB, CALLER), -ENOMEM);
    T_EQU(mf_stats.refused_large, rl + 1);
    T_EQU(mf_stats.refusals, rf + 1);                 /* the report counts it as a refusal */
    T_EQU(mf_stats.last_refusal_size, 2 * MiB);
    T_EQ(mf_policy_admit(MF_CALL_MALLOC, MF_POOL_HOST, MiB, CALLER), -ENOMEM);  /* = refuse_min */
    T_EQU(mf_stats.refused_large, rl + 2);
    /* below refuse_min: admitted, whatever the pressure */
    T_EQ(mf_policy_admit(MF_CALL_MALLOC, MF_POOL_HOST, MiB - 1, CALLER), 0);
    T_EQ(mf_policy_admit(MF_CALL_MALLOC, MF_POOL_HOST, 64, CALLER), 0);
    /* another pool: not the host's level */
    T_EQ(mf_policy_admit(MF_CALL_MALLOC, MF_POOL_GPU0, 64 * MiB, CALLER), 0);
    T_EQU(mf_stats.refused_large, rl + 2);
    /* nothing is charged by the decision itself */
    T_EQU(mf_gate_used(MF_POOL_HOST), 120 * MiB);

    /* the re-check: usage fell since the sample; usage + request against the floor, to the byte */
    mf_gate_uncharge_pool(MF_POOL_HOST, 120 * MiB);
    T_EQ(mf_gate_charge_pool(MF_POOL_HOST, 110 * MiB), 0);
    T_EQ(mf_policy_admit(MF_CALL_MALLOC, MF_POOL_HOST, 2 * MiB, CALLER), -ENOMEM);     /* 112 */
    T_EQ(mf_policy_admit(MF_CALL_MALLOC, MF_POOL_HOST, 2 * MiB - 1, CALLER), 0);      /* below */
    mf_gate_uncharge_pool(MF_POOL_HOST, 100 * MiB);                                   /* 10 MiB */
    T_EQ(mf_policy_admit(MF_CALL_MALLOC, MF_POOL_HOST, 64 * MiB, CALLER), 0);
    T_EQU(mf_stats.refused_large, rl + 3);
    mf_gate_uncharge_pool(MF_POOL_HOST, 10 * MiB);

    /* a level set by host memory is trusted as sampled: no re-check against our usage */
    setup_critical(MF_IN_HOST);
    T_EQ(mf_policy_admit(MF_CALL_MALLOC, MF_POOL_HOST, 2 * MiB, CALLER), -ENOMEM);
    T_EQU(mf_stats.refused_large, rl + 4);
    /* the bit cleared: admitted */
    mf_policy_set(MF_POLICY_REFUSE_LARGE, 0);
    T_EQ(mf_policy_admit(MF_CALL_MALLOC, MF_POOL_HOST, 2 * MiB, CALLER), 0);
    T_EQU(mf_stats.refused_large, rl + 4);
    /* the injector comes first: its refusal is not a refuse-large one */
    setup_critical(MF_IN_HOST);
    mf_policy_set_injector(injector);
    inj_refuse = 1;
    mf_policy_set(MF_POLICY_FAIL, 1);
    T_EQ(mf_policy_admit(MF_CALL_MALLOC, MF_POOL_HOST, 2 * MiB, CALLER), -ENOMEM);
    T_EQU(mf_stats.refused_large, rl + 4);
    inj_refuse = 0;
    T_EQ(mf_policy_admit(MF_CALL_MALLOC, MF_POOL_HOST, 2 * MiB, CALLER), -ENOMEM);
    T_EQU(mf_stats.refused_large, rl + 5);
}

/* ---- throttle and the start function --------------------------------------------------- */

static int starts;
static void start_fn(void) { starts++; }
static void start_clears(void)
{
    starts++;
    mf_policy_set(MF_POLICY_THROTTLE, 0);
}

#define DELAY_NS 2000000u   /* 2 ms */

/* Budget 100 MiB, throttling from 64 KiB while usage is at least 50 %; 80 MiB in use. */
static void setup_throttle(uint64_t delay, void (*start)(void))
{
    reset();
    mf_gate_set_limit(MF_POOL_HOST, 100 * MiB);
    mf_policy_pressure_t p = { .throttle_min = 64 << 10, .throttle_floor = 500000,
                               .refuse_min = UINT64_MAX, .start = start };
    mf_policy_set_pressure(&p);
    mf_policy_publish(delay, MF_IN_USAGE, 800000);
    T_EQ(mf_gate_charge_pool(MF_POOL_HOST, 80 * MiB), 0);
    mf_policy_set(MF_POLICY_THROTTLE, 1);
}

static uint64_t timed_admit(uint64_t req, int *rc)
{
    uint64_t t0 = now_ns();
    *rc = mf_policy_admit(MF_CALL_MALLOC, MF_POOL_HOST, req, CALLER);
    return now_ns() - t0;
}

static void test_throttle(void)
{
    int rc;
    setup_throttle(DELAY_NS, NULL);
    uint64_t th = mf_stats.throttled, tns = mf_stats.throttle_ns;
    uint64_t dt = timed_admit(MiB, &rc);
    T_EQ(rc, 0);                                        /* slowed, never refused */
    T_CHECK(dt >= DELAY_NS);
    T_EQU(mf_stats.throttled, th + 1);
    T_CHECK(mf_stats.throttle_ns - tns >= DELAY_NS);
    T_CHECK(mf_stats.throttle_ns - tns <= dt);
    /* below throttle_min: not slowed, not counted */
    (void)timed_admit((64 << 10) - 1, &rc);
    T_EQ(rc, 0);
    T_EQU(mf_stats.throttled, th + 1);
    /* exactly throttle_min: slowed */
    dt = timed_admit(64 << 10, &rc);
    T_CHECK(dt >= DELAY_NS);
    T_EQU(mf_stats.throttled, th + 2);
    /* a GPU pool is not throttled by the host's level */
    (void)mf_policy_admit(MF_CALL_MALLOC, MF_POOL_GPU0, MiB, CALLER);
    T_EQU(mf_stats.throttled, th + 2);
    /* usage fell below the floor since the sample: not slowed (the re-check) */
    mf_gate_uncharge_pool(MF_POOL_HOST, 60 * MiB);      /* 20 MiB + 1 MiB < 50 % */
    (void)timed_admit(MiB, &rc);
    T_EQ(rc, 0);
    T_EQU(mf_stats.throttled, th + 2);
    /* ... but usage + request at the floor is: 49 MiB + 1 MiB = 50 % */
    T_EQ(mf_gate_charge_pool(MF_POOL_HOST, 29 * MiB), 0);
    dt = timed_admit(MiB, &rc);
    T_CHECK(dt >= DELAY_NS);
    T_EQU(mf_stats.throttled, th + 3);
    /* no delay published: nothing to wait */
    setup_throttle(0, NULL);
    (void)timed_admit(MiB, &rc);
    T_EQ(rc, 0);
    T_EQU(mf_stats.throttled, th + 3);
    /* the bit cleared: nothing to wait */
    setup_throttle(DELAY_NS, NULL);
    mf_policy_set(MF_POLICY_THROTTLE, 0);
    (void)timed_admit(MiB, &rc);
    T_EQU(mf_stats.throttled, th + 3);
}

static void test_start(void)
{
    /* called first, while the bit is set, whatever the request and the pool */
    setup_throttle(0, start_fn);
    starts = 0;
    T_EQ(mf_policy_admit(MF_CALL_MALLOC, MF_POOL_HOST, 16, CALLER), 0);
    T_EQ(starts, 1);
    T_EQ(mf_policy_admit(MF_CALL_MALLOC, MF_POOL_GPU0, 16, CALLER), 0);
    T_EQ(starts, 2);
    /* not called while no pressure bit is set */
    mf_policy_set(MF_POLICY_THROTTLE, 0);
    mf_policy_set(MF_POLICY_FAIL | MF_POLICY_PROFILE, 1);
    T_EQ(mf_policy_admit(MF_CALL_MALLOC, MF_POOL_HOST, 16, CALLER), 0);
    T_EQ(starts, 2);
    /* a start that clears the bit (its thread started) is not followed by a delay */
    setup_throttle(DELAY_NS, start_clears);
    starts = 0;
    uint64_t th = mf_stats.throttled;
    int rc;
    (void)timed_admit(MiB, &rc);
    T_EQ(rc, 0);
    T_EQ(starts, 1);
    T_EQU(mf_stats.throttled, th);
    T_EQU(mf_policy_flags & MF_POLICY_THROTTLE, 0);
    (void)timed_admit(MiB, &rc);                         /* the bit is gone: not called again */
    T_EQ(starts, 1);
    /* reset forgets it */
    setup_throttle(0, start_fn);
    mf_policy_reset();
    starts = 0;
    T_EQ(mf_policy_admit(MF_CALL_MALLOC, MF_POOL_HOST, 16, CALLER), 0);
    T_EQ(starts, 0);
}

/* ---- helpers --------------------------------------------------------------------------- */

static void test_ratio(void)
{
    T_EQU(mf_policy_ratio_ppm(1, 2), 500000);
    T_EQU(mf_policy_ratio_ppm(7, 8), 875000);
    T_EQU(mf_policy_ratio_ppm(0, 8), 0);
    T_EQU(mf_policy_ratio_ppm(8, 8), MF_PPM);
    T_EQU(mf_policy_ratio_ppm(3, 2), 1500000);
    T_EQU(mf_policy_ratio_ppm(5, 0), 0);                          /* no budget */
    T_EQU(mf_policy_ratio_ppm(5, MF_UNLIMITED), 0);               /* counting only */
    T_EQU(mf_policy_ratio_ppm(MF_UNKNOWN, 100), 0);               /* unread value */
    T_EQU(mf_policy_ratio_ppm(4000, 1), 4000000000u);             /* exactly the cap */
    T_EQU(mf_policy_ratio_ppm(4001, 1), 4000000000u);             /* capped, not wrapped */
    T_EQU(mf_policy_ratio_ppm(UINT64_MAX - 1, 1), 4000000000u);
    T_EQU(mf_policy_ratio_ppm(UINT64_MAX - 1, UINT64_MAX - 1), MF_PPM);
}

static void test_text(void)
{
    char b[16];
    T_CHECK(!strcmp(mf_policy_pct(b, sizeof b, 973000), "97.3%"));
    T_CHECK(!strcmp(b, "97.3%"));                      /* returns its buffer */
    T_CHECK(mf_policy_pct(b, sizeof b, 1) == b);
    T_CHECK(!strcmp(mf_policy_pct(b, sizeof b, 0), "0.0%"));
    T_CHECK(!strcmp(mf_policy_pct(b, sizeof b, 999), "0.0%"));
    T_CHECK(!strcmp(mf_policy_pct(b, sizeof b, 5000), "0.5%"));
    T_CHECK(!strcmp(mf_policy_pct(b, sizeof b, 999999), "99.9%"));   /* truncated, not rounded */
    T_CHECK(!strcmp(mf_policy_pct(b, sizeof b, MF_PPM), "100.0%"));
    T_CHECK(!strcmp(mf_policy_pct(b, sizeof b, 4000000000u), "400000.0%"));
    char small[4];
    mf_policy_pct(small, sizeof small, 973000);        /* cut, terminated */
    T_CHECK(memchr(small, 0, sizeof small) != NULL);
    T_CHECK(!strncmp(small, "97.", 3));

    T_CHECK(!strcmp(mf_policy_cause_text(MF_IN_RSS), "anon rss"));
    T_CHECK(!strcmp(mf_policy_cause_text(MF_IN_HOST), "host memory in use"));
    T_CHECK(!strcmp(mf_policy_cause_text(MF_IN_USAGE), mf_input_name(MF_IN_USAGE)));
    T_CHECK(!strcmp(mf_policy_cause_text(MF_IN_PSI), mf_input_name(MF_IN_PSI)));
    T_CHECK(!strcmp(mf_policy_cause_text(MF_IN_RETAINED), mf_input_name(MF_IN_RETAINED)));
    T_CHECK(mf_policy_cause_text(1000) != NULL);       /* out of range: a name, not a crash */
}

int main(void)
{
    /* the initial word: initialisation has not finished */
    T_EQU(mf_policy_flags, MF_POLICY_NOT_READY);
    test_injector();
    test_refuse_large();
    test_throttle();
    test_start();
    test_ratio();
    test_text();
    reset();
    return t_done();
}
