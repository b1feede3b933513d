/* test_leak.c — the least-squares leak trend: slope accuracy, steadiness, noise and plateaus,
 * the sliding window and the once-per-window report. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "sampler/leak.h"
#include "t.h"

#define MS 1000000ULL
#define S (1000 * MS)

static void test_steady_leak(void)
{
    static mf_leak_t lk;
    mf_trend_t tr;
    mf_leak_init(&lk, 60 * S, 100 * MS);
    T_EQ(mf_leak_fit(&lk, MF_LEAK_USAGE, &tr), -EAGAIN);
    /* 2 MiB/s with ±256 KiB noise, 100 ms samples for 90 s: the window keeps 60 s */
    srand(1);
    uint64_t base = 100 << 20;
    int added = 0;
    for (int i = 0; i <= 900; i++) {
        uint64_t t = 5 * S + (uint64_t)i * 100 * MS;
        double noise = ((rand() % 512) - 256) * 1024.0;
        uint64_t u = base + (uint64_t)(2.0 * (1 << 20) * (i / 10.0) + noise);
        added += mf_leak_add(&lk, t, u, u + (50 << 20));
    }
    T_CHECK(added < 901);                          /* points are spaced at window/128 */
    T_CHECK(lk.count <= MF_LEAK_POINTS);
    T_EQ(mf_leak_fit(&lk, MF_LEAK_USAGE, &tr), 0);
    T_CHECK(fabs(tr.slope / (2.0 * (1 << 20)) - 1) < 0.02);
    T_CHECK(tr.r2 > 0.99);
    T_CHECK(tr.span_s > 55 && tr.span_s <= 60.5);
    T_CHECK(mf_leak_steady(&lk, &tr, 1 << 20));
    T_CHECK(!mf_leak_steady(&lk, &tr, 1ULL << 40));  /* not significant against a huge floor */
    T_EQ(mf_leak_fit(&lk, MF_LEAK_RSS, &tr), 0);
    T_CHECK(fabs(tr.slope / (2.0 * (1 << 20)) - 1) < 0.02);
    /* at most once per window */
    T_CHECK(mf_leak_may_report(&lk, 100 * S));
    T_CHECK(!mf_leak_may_report(&lk, 130 * S));
    T_CHECK(mf_leak_may_report(&lk, 161 * S));
}

static void test_flat_and_noise(void)
{
    static mf_leak_t lk;
    mf_trend_t tr;
    mf_leak_init(&lk, 10 * S, 100 * MS);
    srand(2);
    for (int i = 0; i < 200; i++) {
        uint64_t u = (64 << 20) + (uint64_t)(rand() % (8 << 20));
        mf_leak_add(&lk, (uint64_t)i * 100 * MS, u, u);
    }
    T_EQ(mf_leak_fit(&lk, MF_LEAK_USAGE, &tr), 0);
    T_CHECK(!mf_leak_steady(&lk, &tr, 1 << 20));
}

static void test_plateau_and_short(void)
{
    static mf_leak_t lk;
    mf_trend_t tr;
    mf_leak_init(&lk, 10 * S, 100 * MS);
    /* grows for 2 s then flat for 8 s: a warm-up, not a leak */
    for (int i = 0; i <= 100; i++) {
        uint64_t u = (uint64_t)(i < 20 ? i : 20) * (4 << 20);
        mf_leak_add(&lk, (uint64_t)i * 100 * MS, u, u);
    }
    T_EQ(mf_leak_fit(&lk, MF_LEAK_USAGE, &tr), 0);
    T_CHECK(!mf_leak_steady(&lk, &tr, 1 << 20));
    /* a steady growth seen for less than half the window is not reported yet */
    mf_leak_init(&lk, 10 * S, 100 * MS);
    for (int i = 0; i < 40; i++) mf_leak_add(&lk, (uint64_t)i * 100 * MS, (uint64_t)i << 20, 0);
    T_EQ(mf_leak_fit(&lk, MF_LEAK_USAGE, &tr), 0);
    T_CHECK(tr.r2 > 0.99);
    T_CHECK(!mf_leak_steady(&lk, &tr, 1 << 20));
    /* a shrinking series is never a leak */
    mf_leak_init(&lk, 2 * S, 100 * MS);
    for (int i = 0; i < 40; i++) mf_leak_add(&lk, (uint64_t)i * 100 * MS, (uint64_t)(100 - i) << 20, 0);
    T_EQ(mf_leak_fit(&lk, MF_LEAK_USAGE, &tr), 0);
    T_CHECK(tr.slope < 0);
    T_CHECK(!mf_leak_steady(&lk, &tr, 1));
}

int main(void)
{
    test_steady_leak();
    test_flat_and_noise();
    test_plateau_and_short();
    return t_done();
}
