/* test_config_env.c — the environment layer's edges: an unknown MEMFENCE_* variable gets one line
 * with the closest name of the key table or of MF_ENV_VARS; a value set by a `memfence run` flag
 * is named by the flag; a file that cannot be read keeps the budget `memfence run` computed
 * (MEMFENCE_RUN_LIMIT), below the variables and flags. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "t.h"

static char msgs[16][512];
static int nmsgs;

static void capture(const char *m)
{
    if (nmsgs < 16)
        snprintf(msgs[nmsgs++], sizeof msgs[0], "%s", m);
}

static int said(const char *s)
{
    for (int i = 0; i < nmsgs; i++)
        if (strstr(msgs[i], s))
            return 1;
    return 0;
}

static mf_config_t cfg;

static int build(const char *path)
{
    nmsgs = 0;
    return mf_config_build(&cfg, path, NULL, "prog", NULL, true);
}

static void test_unknown(void)
{
    setenv("MEMFENCE_LIMT", "64M", 1);
    setenv("MEMFENCE_CONFG", "/x", 1);
    setenv("MEMFENCE_ZZZZZZZZZZZZ", "1", 1);
    T_EQ(build(""), 3);
    T_EQ(nmsgs, 3);
    T_CHECK(said("MEMFENCE_LIMT: not a memfence variable (did you mean MEMFENCE_LIMIT?)"));
    T_CHECK(said("MEMFENCE_CONFG: not a memfence variable (did you mean MEMFENCE_CONFIG?)"));
    T_CHECK(said("MEMFENCE_ZZZZZZZZZZZZ: not a memfence variable (see memfence.conf(5))"));
    T_EQU(cfg.limit.bytes, MF_UNLIMITED);
    unsetenv("MEMFENCE_LIMT");
    unsetenv("MEMFENCE_CONFG");
    unsetenv("MEMFENCE_ZZZZZZZZZZZZ");
    /* the known ones: keys, gpu_limit's device form, MF_ENV_VARS */
    setenv("MEMFENCE_LIMIT", "1G", 1);
    setenv("MEMFENCE_GPU_LIMIT_3", "1G", 1);
    setenv("MEMFENCE_INSTANCE", "x", 1);
    setenv("MEMFENCE_FAIL_REPORT", "/nonexistent", 1);
    T_EQ(build(""), 0);
    setenv("MEMFENCE_GPU_LIMIT_99", "1G", 1);
    T_EQ(build(""), 1);
    T_CHECK(said("MEMFENCE_GPU_LIMIT_99: not a memfence variable"));
    unsetenv("MEMFENCE_GPU_LIMIT_99");
    unsetenv("MEMFENCE_GPU_LIMIT_3");
    unsetenv("MEMFENCE_INSTANCE");
    unsetenv("MEMFENCE_FAIL_REPORT");
    unsetenv("MEMFENCE_LIMIT");
}

static void test_flags(void)
{
    char buf[128];
    setenv("MEMFENCE_ALLOCATOR", "bogus", 1);
    mf_config_flag(MF_K_allocator, "--allocator");
    T_EQ(build(""), 1);
    T_CHECK(said("--allocator bogus: allocator: 'bogus' is not system"));
    T_CHECK(!said("MEMFENCE_ALLOCATOR"));
    setenv("MEMFENCE_LIMIT", "2G", 1);
    mf_config_flag(MF_K_limit, "--limit");
    setenv("MEMFENCE_ALLOCATOR", "system", 1);
    T_EQ(build(""), 0);
    T_EQ(cfg.origin[MF_K_limit], MF_FROM_FLAG);
    T_CHECK(!strcmp(mf_config_origin_text(&cfg, MF_K_limit, buf, sizeof buf), "--limit"));
    mf_config_flag(MF_K_limit, NULL);
    mf_config_flag(MF_K_allocator, NULL);
    T_EQ(build(""), 0);
    T_EQ(cfg.origin[MF_K_limit], MF_FROM_ENV);
    T_CHECK(!strcmp(mf_config_origin_text(&cfg, MF_K_limit, buf, sizeof buf), "MEMFENCE_LIMIT"));
    unsetenv("MEMFENCE_LIMIT");
    unsetenv("MEMFENCE_ALLOCATOR");
}

static void test_run_budget(void)
{
    setenv("MEMFENCE_RUN_LIMIT", "64M", 1);
    /* the file is read: its values (here none) count, not run's */
    T_EQ(build(""), 0);
    T_EQU(cfg.limit.bytes, MF_UNLIMITED);
    /* the file cannot be read: run's budget is kept, and said */
    T_EQ(build("/nonexistent/memfence.conf"), 1);
    T_EQU(cfg.limit.bytes, 64ull << 20);
    T_EQ(cfg.origin[MF_K_limit], MF_FROM_RUN);
    T_CHECK(said("cannot open the configuration file"));
    T_CHECK(said("keeping the limit memfence run computed: 64M"));
    /* a variable still wins */
    setenv("MEMFENCE_LIMIT", "1G", 1);
    build("/nonexistent/memfence.conf");
    T_EQU(cfg.limit.bytes, 1ull << 30);
    T_EQ(cfg.origin[MF_K_limit], MF_FROM_ENV);
    unsetenv("MEMFENCE_LIMIT");
    unsetenv("MEMFENCE_RUN_LIMIT");
}

int main(void)
{
    mf_config_set_reporter(capture);
    /* only the variables this test sets */
    for (char **e = environ; *e;)
        if (!strncmp(*e, "MEMFENCE_", 9)) {
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)strcspn(*e, "="), *e);
            unsetenv(name);
        } else {
            e++;
        }
    test_unknown();
    test_flags();
    test_run_budget();
    return t_done();
}
