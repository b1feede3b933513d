/* test_config.c — the key table's defaults, typed parsing and bounds, env overrides. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "config/config.h"
#include "t.h"

int main(void)
{
    mf_config_t c;
    mf_config_defaults(&c);
    T_EQU(c.limit.bytes, MF_UNLIMITED);
    T_CHECK(c.map_check);
    T_EQU(c.map_check_min.bytes, 64ull << 20);
    T_EQU(c.sample_interval, 100000000ull);
    T_CHECK(c.moderate == 60 && c.high == 75 && c.critical == 90);
    T_CHECK(!strcmp(c.log, "stderr"));
    T_CHECK(c.virtualize);                       /* on by default: it acts only under a budget */
    T_CHECK(c.headroom.is_pct && c.headroom.ppm == 30000);
    T_CHECK(c.overdraft.is_pct && c.overdraft.ppm == 10000);

    /* every default parses with its own type (a typo in config_keys.h fails here) */
    for (unsigned k = 0; k < MF_K_COUNT; k++) {
        char why[200];
        mf_config_t d;
        mf_config_defaults(&d);
        int rc = mf_config_set(&d, mf_config_key_name(k), mf_config_key_default(k), why, sizeof why);
        if (rc)
            fprintf(stderr, "default of %s: %s\n", mf_config_key_name(k), why);
        T_EQ(rc, 0);
    }

    char why[200];
    T_EQ(mf_config_set(&c, "limit", "2G", why, sizeof why), 0);
    T_EQU(c.limit.bytes, 2ull << 30);
    T_EQ(mf_config_set(&c, "limit", "lots", why, sizeof why), -EINVAL);
    T_EQU(c.limit.bytes, 2ull << 30);                        /* a bad value keeps the old one */
    T_CHECK(strstr(why, "limit") && strstr(why, "lots"));
    T_EQ(mf_config_set(&c, "limitt", "1G", why, sizeof why), -ENOENT);
    T_EQ(mf_config_set(&c, "high", "101", why, sizeof why), -ERANGE);
    T_EQ(mf_config_set(&c, "log_rate", "0", why, sizeof why), -ERANGE);
    T_EQ(mf_config_set(&c, "virtualize", "no", why, sizeof why), 0);
    T_CHECK(!c.virtualize);
    T_EQ(mf_config_set(&c, "virtualize", "yes", why, sizeof why), 0);
    T_CHECK(c.virtualize);
    T_EQ(mf_config_set(&c, "virtualize", "maybe", why, sizeof why), -EINVAL);
    T_EQ(mf_config_set(&c, "sample_interval", "2s", why, sizeof why), 0);
    T_EQU(c.sample_interval, 2000000000ull);
    T_EQ(mf_config_set(&c, "sample_interval", "2h", why, sizeof why), -ERANGE);
    T_EQ(mf_config_set(&c, "map_factor", "1.5", why, sizeof why), 0);
    T_CHECK(c.map_factor > 1.49 && c.map_factor < 1.51);

    char big[400];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    T_EQ(mf_config_set(&c, "log", big, why, sizeof why), -ERANGE);

    char out[64];
    mf_config_format(&c, MF_K_limit, out, sizeof out);
    T_CHECK(!strcmp(out, "2G"));                              /* as the user would write it */

    setenv("MEMFENCE_LIMIT", "300M", 1);
    setenv("MEMFENCE_HIGH", "80", 1);
    int problems = mf_config_load("unit", "/bin/unit");
    T_EQ(problems, 0);
    T_EQU(mf_config()->limit.bytes, 300ull << 20);
    T_CHECK(mf_config()->high == 80);
    T_EQ(mf_config()->origin[MF_K_limit], MF_FROM_ENV);
    T_EQ(mf_config()->origin[MF_K_critical], MF_FROM_DEFAULT);

    setenv("MEMFENCE_LIMIT", "12Q", 1);   /* malformed: reported, default kept */
    problems = mf_config_load("unit", "/bin/unit");
    T_EQ(problems, 1);
    T_EQU(mf_config()->limit.bytes, MF_UNLIMITED);
    return t_done();
}
