/* test_levels.c — the level state machine: thresholds, hysteresis, the retained rule, action
 * lists, signal names and the throttle curve. */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "config/levels.h"
#include "base/stats.h"
#include "t.h"

static unsigned step(const mf_level_cfg_t *c, mf_level_state_t *st, double usage_pct)
{
    mf_level_in_t in = { .used = 100, .rss_anon = UINT64_MAX };
    in.ppm[MF_IN_USAGE] = (uint32_t)(usage_pct * 10000);
    mf_levels_step(c, st, &in);
    return st->level;
}

static void test_thresholds_and_hysteresis(void)
{
    mf_level_cfg_t c;
    mf_level_state_t st = { 0 };
    mf_levels_init(&c, 60, 75, 90);
    T_EQU(step(&c, &st, 10), MF_LEVEL_LOW);
    T_EQU(step(&c, &st, 59.9), MF_LEVEL_LOW);
    T_EQU(step(&c, &st, 60), MF_LEVEL_MODERATE);
    T_EQU(step(&c, &st, 76), MF_LEVEL_HIGH);
    /* hovering just under the HIGH threshold: stays HIGH (band 5 points) */
    T_EQU(step(&c, &st, 74), MF_LEVEL_HIGH);
    T_EQU(step(&c, &st, 70.1), MF_LEVEL_HIGH);
    T_EQU(step(&c, &st, 76), MF_LEVEL_HIGH);
    /* below the band: falls to MODERATE, which it holds down to 55 % */
    T_EQU(step(&c, &st, 69), MF_LEVEL_MODERATE);
    T_EQU(step(&c, &st, 56), MF_LEVEL_MODERATE);
    T_EQU(step(&c, &st, 54), MF_LEVEL_LOW);
    /* straight up to CRITICAL and a big drop goes straight to the level the value is in */
    T_EQU(step(&c, &st, 95), MF_LEVEL_CRITICAL);
    T_EQU(st.cause, MF_IN_USAGE);
    T_EQU(step(&c, &st, 86), MF_LEVEL_CRITICAL);
    T_EQU(step(&c, &st, 30), MF_LEVEL_LOW);
    T_EQU(step(&c, &st, 95), MF_LEVEL_CRITICAL);
    T_EQU(step(&c, &st, 72), MF_LEVEL_HIGH);     /* below CRITICAL's band, within HIGH's */
}

static void test_inputs(void)
{
    mf_level_cfg_t c;
    mf_level_state_t st = { 0 };
    mf_levels_init(&c, 60, 75, 90);
    mf_level_in_t in = { .used = 1 << 30, .rss_anon = 1 << 30 };
    in.ppm[MF_IN_USAGE] = 100000;
    in.ppm[MF_IN_HOST] = 800000;
    T_CHECK(mf_levels_step(&c, &st, &in));
    T_EQU(st.level, MF_LEVEL_HIGH);
    T_EQU(st.cause, MF_IN_HOST);
    /* an input that is not enabled does not count */
    c.inputs = (1u << MF_IN_USAGE) | (1u << MF_IN_RSS);
    T_CHECK(mf_levels_step(&c, &st, &in));
    T_EQU(st.level, MF_LEVEL_LOW);
    T_CHECK(!mf_levels_step(&c, &st, &in));
    /* thresholds out of order are raised */
    mf_levels_init(&c, 80, 50, 70);
    T_EQU(c.enter[MF_LEVEL_HIGH], 800000);
    T_EQU(c.enter[MF_LEVEL_CRITICAL], 800000);
}

static void test_retained(void)
{
    mf_level_cfg_t c;
    mf_level_state_t st = { 0 };
    mf_levels_init(&c, 60, 75, 90);
    c.retain_min = 8 << 20;
    mf_level_in_t in = { .used = 10 << 20, .rss_anon = 15 << 20 };
    mf_levels_step(&c, &st, &in);
    T_EQU(st.level, MF_LEVEL_LOW);                 /* 1.5×: not far above */
    in.rss_anon = 200 << 20;
    mf_levels_step(&c, &st, &in);
    T_EQU(st.level, MF_LEVEL_MODERATE);            /* 20×: trim even at low usage */
    T_EQU(st.cause, MF_IN_RETAINED);
    in.rss_anon = 18 << 20;                         /* 1.8×: still held (off below 1.5×) */
    mf_levels_step(&c, &st, &in);
    T_EQU(st.level, MF_LEVEL_MODERATE);
    in.rss_anon = 14 << 20;
    mf_levels_step(&c, &st, &in);
    T_EQU(st.level, MF_LEVEL_LOW);
    /* a small process: twice its usage but a tiny gap */
    in.used = 1 << 20;
    in.rss_anon = 4 << 20;
    mf_levels_step(&c, &st, &in);
    T_EQU(st.level, MF_LEVEL_LOW);
    /* with retain_samples 3: a passing moment (usage uncharged, RSS not yet unmapped) does not
     * count, three samples in a row do */
    c.retain_samples = 3;
    in.used = 10 << 20;
    in.rss_anon = 200 << 20;
    mf_levels_step(&c, &st, &in);
    mf_levels_step(&c, &st, &in);
    T_EQU(st.level, MF_LEVEL_LOW);
    in.rss_anon = 12 << 20;
    mf_levels_step(&c, &st, &in);
    in.rss_anon = 200 << 20;
    mf_levels_step(&c, &st, &in);
    mf_levels_step(&c, &st, &in);
    T_EQU(st.level, MF_LEVEL_LOW);
    mf_levels_step(&c, &st, &in);
    T_EQU(st.level, MF_LEVEL_MODERATE);
    c.retain_samples = 1;
    in.rss_anon = 12 << 20;
    mf_levels_step(&c, &st, &in);
    T_EQU(st.level, MF_LEVEL_LOW);
    /* off when the retained input is not enabled */
    c.inputs = 1u << MF_IN_USAGE;
    in.used = 10 << 20;
    in.rss_anon = 200 << 20;
    mf_levels_step(&c, &st, &in);
    T_EQU(st.level, MF_LEVEL_LOW);
    c.inputs = MF_IN_ALL;
    /* unknown RSS never triggers it */
    in.rss_anon = UINT64_MAX;
    mf_levels_step(&c, &st, &in);
    T_EQU(st.level, MF_LEVEL_LOW);
}

static void test_actions(void)
{
    unsigned a;
    int sig;
    char why[128], buf[128];
    T_EQ(mf_levels_parse_actions("trim,throttle,log,refuse-large", &a, &sig, why, sizeof why), 0);
    T_EQU(a, MF_ACT_TRIM | MF_ACT_THROTTLE | MF_ACT_LOG | MF_ACT_REFUSE_LARGE);
    T_EQ(sig, 0);
    T_EQ(mf_levels_parse_actions(" trim , signal:SIGUSR2", &a, &sig, why, sizeof why), 0);
    T_EQU(a, MF_ACT_TRIM | MF_ACT_SIGNAL);
    T_EQ(sig, SIGUSR2);
    T_CHECK(strcmp(mf_levels_format_actions(a, sig, buf, sizeof buf), "trim,signal:SIGUSR2") == 0);
    T_EQ(mf_levels_parse_actions("none", &a, &sig, why, sizeof why), 0);
    T_EQU(a, 0);
    T_CHECK(strcmp(mf_levels_format_actions(a, sig, buf, sizeof buf), "none") == 0);
    T_EQ(mf_levels_parse_actions("", &a, &sig, why, sizeof why), 0);
    T_EQU(a, 0);
    a = 99;
    T_EQ(mf_levels_parse_actions("trim,explode", &a, &sig, why, sizeof why), -EINVAL);
    T_CHECK(strstr(why, "explode") != NULL);
    T_EQU(a, 99);                                   /* untouched on error */
    T_EQ(mf_levels_parse_actions("signal:SIGFOO", &a, &sig, why, sizeof why), -EINVAL);
    T_CHECK(strstr(why, "SIGFOO") != NULL);
    T_EQ(mf_levels_parse_signal("USR1"), SIGUSR1);
    T_EQ(mf_levels_parse_signal("sigterm"), SIGTERM);
    T_EQ(mf_levels_parse_signal("10"), 10);
    T_EQ(mf_levels_parse_signal("0"), -EINVAL);
    T_EQ(mf_levels_parse_signal("SIGRTMIN+2"), SIGRTMIN + 2);
    T_EQ(mf_levels_parse_signal("RTMAX"), SIGRTMAX);
    T_EQ(mf_levels_parse_signal("RTMIN+999"), -EINVAL);
    unsigned m;
    T_EQ(mf_levels_parse_inputs("usage,rss", &m, why, sizeof why), 0);
    T_EQU(m, (1u << MF_IN_USAGE) | (1u << MF_IN_RSS));
    T_EQ(mf_levels_parse_inputs("all", &m, why, sizeof why), 0);
    T_EQU(m, MF_IN_ALL);
    T_EQ(mf_levels_parse_inputs("usage,retained", &m, why, sizeof why), 0);
    T_EQU(m, (1u << MF_IN_USAGE) | (1u << MF_IN_RETAINED));
    T_EQ(mf_levels_parse_inputs("usage,swap", &m, why, sizeof why), -EINVAL);
}

static void test_throttle(void)
{
    mf_level_cfg_t c;
    mf_levels_init(&c, 60, 75, 90);
    c.actions[MF_LEVEL_HIGH] = MF_ACT_THROTTLE;
    c.actions[MF_LEVEL_CRITICAL] = MF_ACT_THROTTLE | MF_ACT_REFUSE_LARGE;
    const uint64_t max = 40000000;
    T_EQU(mf_levels_throttle_ns(&c, MF_LEVEL_MODERATE, 700000, max), 0);
    T_EQU(mf_levels_throttle_ns(&c, MF_LEVEL_HIGH, 750000, max), max / 8);   /* floor */
    uint64_t mid = mf_levels_throttle_ns(&c, MF_LEVEL_HIGH, 870000, max);
    T_CHECK(mid > max / 8 && mid < max);
    T_EQU(mf_levels_throttle_ns(&c, MF_LEVEL_CRITICAL, 900000, max), max);
    T_EQU(mf_levels_throttle_ns(&c, MF_LEVEL_CRITICAL, 990000, max), max);
    /* grows with pressure */
    T_CHECK(mf_levels_throttle_ns(&c, MF_LEVEL_HIGH, 800000, max) <
            mf_levels_throttle_ns(&c, MF_LEVEL_HIGH, 850000, max));
    /* throttling only at CRITICAL ramps from 90 % to 100 % */
    c.actions[MF_LEVEL_HIGH] = 0;
    T_EQU(mf_levels_throttle_ns(&c, MF_LEVEL_CRITICAL, 1000000, max), max);
    T_EQU(mf_levels_throttle_ns(&c, MF_LEVEL_CRITICAL, 900000, max), max / 8);
}

static void test_psi(void)
{
    T_EQU(mf_levels_psi_ppm(-1, -1), 0);
    T_EQU(mf_levels_psi_ppm(2000, 0), 600000);        /* some 20 % → 60 % */
    T_EQU(mf_levels_psi_ppm(0, 1000), 900000);        /* full 10 % → 90 % */
    T_EQU(mf_levels_psi_ppm(9000, 9000), MF_PPM);
}

int main(void)
{
    test_thresholds_and_hysteresis();
    test_inputs();
    test_retained();
    test_actions();
    test_throttle();
    test_psi();
    T_CHECK(strcmp(mf_level_name(MF_LEVEL_CRITICAL), "CRITICAL") == 0);
    T_CHECK(strcmp(mf_input_name(MF_IN_RETAINED), "retained") == 0);
    return t_done();
}
