/* test_config_file.c — the INI layer: parsing through inih, every kind of problem with its line,
 * precedence per key, groups, matching, value rules, formatting, and the file checks. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "config/config_file.h"
#include "t.h"

static char msgs[64][512];
static int nmsgs;

static void capture(const char *m)
{
    if (nmsgs < 64)
        snprintf(msgs[nmsgs++], sizeof msgs[0], "%s", m);
}

/* True when a captured message contains s. */
static int said(const char *s)
{
    for (int i = 0; i < nmsgs; i++)
        if (strstr(msgs[i], s))
            return 1;
    return 0;
}

static int parse(mf_cfg_file_t *f, const char *text)
{
    nmsgs = 0;
    return mf_cfg_file_parse(f, "t.conf", text, strlen(text));
}

static mf_config_t cfg;

static void compose(const mf_cfg_file_t *f, const char *inst, const char *prog, const char *exe,
                    int env)
{
    mf_config_defaults(&cfg);
    mf_config_compose(&cfg, f, mf_cfg_file_match(f, prog, exe), inst, env);
}

static void test_defaults(void)
{
    mf_config_defaults(&cfg);
    for (unsigned k = 0; k < MF_K_COUNT; k++) {
        char why[256];
        int rc = mf_config_check(k, mf_config_key_default(k), why, sizeof why);
        if (rc)
            fprintf(stderr, "default of %s: %s\n", mf_config_key_name(k), why);
        T_EQ(rc, 0);
        T_EQ(cfg.origin[k], MF_FROM_DEFAULT);
    }
}

static void test_precedence(void)
{
    mf_cfg_file_t f;
    T_EQ(parse(&f, "[global]\nlimit = 1G\nhigh = 80\nmoderate = 40\n"
                   "[process py*]\nlimit = 2G\nhigh = 85\n"
                   "[process python3]\nlimit = 9G\n"          /* shadowed by py* */
                   "[instance inst]\nlimit = 3G\n"), 0);
    T_EQ(f.errors, 1);
    T_CHECK(said("t.conf:8: section [process python3] matches nothing"));
    compose(&f, "inst", "python3", "/usr/bin/python3.11", 0);
    T_EQU(cfg.limit.bytes, 3ull << 30);
    T_EQ(cfg.origin[MF_K_limit], MF_FROM_INSTANCE);
    T_EQ(cfg.origin_line[MF_K_limit], 11);
    T_EQ(cfg.high, 85);
    T_EQ(cfg.origin[MF_K_high], MF_FROM_PROCESS);
    T_EQ(cfg.origin_line[MF_K_high], 7);
    T_EQ(cfg.moderate, 40);
    T_EQ(cfg.origin[MF_K_moderate], MF_FROM_GLOBAL);
    T_EQ(cfg.origin[MF_K_critical], MF_FROM_DEFAULT);
    T_CHECK(!strcmp(cfg.process, "py*"));
    T_EQ(cfg.process_line, 5);

    compose(&f, "other", "node", "/usr/bin/node", 0);
    T_EQU(cfg.limit.bytes, 1ull << 30);
    T_EQ(cfg.origin[MF_K_limit], MF_FROM_GLOBAL);
    T_EQ(cfg.process_line, 0);

    setenv("MEMFENCE_LIMIT", "5G", 1);
    setenv("MEMFENCE_GPU_LIMIT_2", "7G", 1);
    compose(&f, "inst", "python3", "/usr/bin/python3.11", 1);
    T_EQU(cfg.limit.bytes, 5ull << 30);
    T_EQ(cfg.origin[MF_K_limit], MF_FROM_ENV);
    T_CHECK(cfg.gpu_limit_dev_set[2]);
    T_EQU(cfg.gpu_limit_dev[2].bytes, 7ull << 30);
    T_EQ(cfg.gpu_dev_origin[2], MF_FROM_ENV);
    setenv("MEMFENCE_LIMIT", "lots", 1);
    nmsgs = 0;
    compose(&f, "inst", "python3", "/usr/bin/python3.11", 1);
    T_CHECK(said("MEMFENCE_LIMIT=lots: limit: 'lots' is not a size"));
    T_EQU(cfg.limit.bytes, 3ull << 30);          /* a bad env value leaves the file's */
    unsetenv("MEMFENCE_LIMIT");
    unsetenv("MEMFENCE_GPU_LIMIT_2");
    mf_cfg_file_free(&f);
}

static void test_errors(void)
{
    mf_cfg_file_t f;
    parse(&f, "[global]\n"                          /* 1 */
              "limt = 1G\n"                         /* 2 unknown, did you mean */
              "limit = 12X\n"                       /* 3 bad value */
              "high = 150\n"                        /* 4 out of bounds */
              "high = 70\n"                         /* 5 (kept out: duplicate of a broken one) */
              "[proces x]\n"                        /* 6 section matches nothing */
              "nonsense line\n"                     /* 7 parse error */
              "[process a]\n"                       /* 8 */
              "on_limit = maybe\n"                  /* 9 rule */
              "high_actions = trim,signal:SIGFOO\n" /* 10 bad signal */
              "group = g\n"                         /* 11 no such group */
              "[group h]\n"                         /* 12 */
              "high = 50\n"                         /* 13 not a group key */
              "gpu_limit.16 = 1G\n"                 /* 14 no such device */
              "[open\n"                             /* 15 */
              "  continued\n");                     /* 16 continues line 14 */
    const char *want[] = {
        "t.conf:2: unknown key 'limt' (did you mean 'limit'?)",
        "t.conf:3: limit: '12X' is not a size",
        "t.conf:4: high: 150 is out of bounds",
        "t.conf:5: duplicate key 'high' in [global] (first set on line 4)",
        "t.conf:6: section [proces x] matches nothing (did you mean [process x]?)",
        "t.conf:7: cannot parse this line",
        "t.conf:9: on_limit: 'maybe' is not refuse or warn",
        "t.conf:10: high_actions: 'SIGFOO' is not a signal",
        "t.conf:11: group 'g' has no [group g] section",
        "t.conf:13: 'high' cannot be set in a [group] section",
        "t.conf:14: gpu_limit.16: no such device",
        "t.conf:15: section header without ']'",
        "t.conf:16: continuation lines are not supported",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (!said(want[i]))
            fprintf(stderr, "missing: %s\n", want[i]);
        T_CHECK(said(want[i]));
    }
    T_EQ(f.errors, (unsigned)(sizeof want / sizeof want[0]));
    /* in line order */
    for (int i = 1; i < nmsgs; i++)
        T_CHECK(atoi(strchr(msgs[i - 1], ':') + 1) <= atoi(strchr(msgs[i], ':') + 1));
    /* broken keys keep their built-in defaults; good ones apply */
    compose(&f, "a", "a", "/bin/a", 0);
    T_EQU(cfg.limit.bytes, MF_UNLIMITED);
    T_EQ(cfg.high, 75);
    T_CHECK(!strcmp(cfg.on_limit, "refuse"));
    T_CHECK(!strcmp(cfg.group, ""));
    mf_cfg_file_free(&f);

    /* moderate < high < critical, across layers */
    parse(&f, "[global]\nmoderate = 80\n");
    nmsgs = 0;
    mf_config_defaults(&cfg);
    T_EQ(mf_config_compose(&cfg, &f, -1, NULL, 0), 1);
    T_CHECK(said("must increase"));
    T_EQ(cfg.moderate, 60);
    mf_cfg_file_free(&f);
}

static void test_lines(void)
{
    mf_cfg_file_t f;
    char big[600];
    memset(big, 'x', sizeof big);
    memcpy(big, "log = /", 7);
    big[sizeof big - 1] = 0;
    char text[1024];
    snprintf(text, sizeof text, "\xef\xbb\xbf[global]\r\nlimit = 1G ; inline comment\r\n%s\n"
             "high = 80\n", big);
    parse(&f, text);
    T_CHECK(said("t.conf:3: line longer than 197 characters"));
    T_EQ(f.errors, 1);
    compose(&f, NULL, NULL, NULL, 0);
    T_EQU(cfg.limit.bytes, 1ull << 30);
    T_EQ(cfg.high, 80);
    T_EQ(cfg.origin_line[MF_K_high], 4);
    T_CHECK(!strcmp(cfg.log, "stderr"));
    mf_cfg_file_free(&f);

    /* a NUL byte, keys before any section, key names in any case */
    static const char nul[] = "LIMIT = 2G\n[global]\nhigh = 7\x00" "0\nmoderate: 30\n";
    nmsgs = 0;
    mf_cfg_file_parse(&f, "t.conf", nul, sizeof nul - 1);
    T_CHECK(said("t.conf:3: line holds a NUL byte"));
    compose(&f, NULL, NULL, NULL, 0);
    T_EQU(cfg.limit.bytes, 2ull << 30);
    T_EQ(cfg.origin_line[MF_K_limit], 1);
    T_EQ(cfg.moderate, 30);
    T_EQ(cfg.high, 75);
    mf_cfg_file_free(&f);

    /* a long [process] pattern (inih keeps only 49 characters of a section name) */
    parse(&f, "[process /opt/some/very/long/path/to/the/runners/cuda_v12/ollama_llama_server]\n"
              "limit = 3G\n");
    T_EQ(f.errors, 0);
    compose(&f, NULL, "ollama_llama_server",
            "/opt/some/very/long/path/to/the/runners/cuda_v12/ollama_llama_server", 0);
    T_EQU(cfg.limit.bytes, 3ull << 30);
    mf_cfg_file_free(&f);

    /* an indented "[...]" after a key: inih continues the value; reported, section unchanged */
    parse(&f, "[global]\nhigh_actions = trim\n  [process x]\nlimit = 1G\n");
    T_CHECK(said("t.conf:3: continuation lines are not supported"));
    compose(&f, NULL, "x", NULL, 0);
    T_EQ(cfg.origin[MF_K_limit], MF_FROM_GLOBAL);
    mf_cfg_file_free(&f);
}

static void test_groups_and_match(void)
{
    mf_cfg_file_t f;
    parse(&f, "[group models]\nlimit = 30G\nreserve = 6G\ngpu_limit.1 = 10G\n"
              "[instance a]\ngroup = models\n"
              "[process /usr/local/bin/*]\nlimit = 1G\n"
              "[process node]\nlimit = 2G\n");
    T_EQ(f.errors, 0);
    compose(&f, "a", "x", "/usr/bin/x", 0);
    const mf_group_cfg_t *g = mf_config_group(&cfg, cfg.group);
    T_CHECK(g != NULL);
    if (g) {
        T_CHECK(g->limit_set && g->reserve_set && !g->gpu_limit_set);
        T_EQU(g->limit.bytes, 30ull << 30);
        T_EQU(g->reserve.bytes, 6ull << 30);
        T_CHECK(g->gpu_limit_dev_set[1]);
        T_EQ(g->line, 1);
    }
    T_CHECK(mf_config_group(&cfg, "nope") == NULL);
    T_EQ(mf_cfg_file_match(&f, "node", "/usr/bin/node"), 3);
    T_EQ(mf_cfg_file_match(&f, "tool", "/usr/local/bin/tool"), 2);
    T_EQ(mf_cfg_file_match(&f, "node", "/usr/local/bin/node"), 2); /* file order */
    T_EQ(mf_cfg_file_match(&f, "bash", "/bin/bash"), -1);
    mf_cfg_file_free(&f);
}

static void test_values(void)
{
    char why[256], buf[64];
    int dev;
    T_EQ(mf_config_key_find("gpu_limit.3", &dev), MF_K_gpu_limit);
    T_EQ(dev, 3);
    T_EQ(mf_config_key_find("gpu_limit.16", &dev), -ERANGE);
    T_EQ(mf_config_key_find("gpu_limit.", &dev), -ENOENT);
    T_EQ(mf_config_key_find("High", &dev), MF_K_high);
    T_CHECK(!strcmp(mf_config_suggest("limt"), "limit"));
    T_CHECK(!strcmp(mf_config_suggest("sample_intervall"), "sample_interval"));
    T_CHECK(mf_config_suggest("zzzzzz") == NULL);
    T_EQ(mf_config_check(MF_K_high_actions, "trim, signal:SIGUSR2,log", why, sizeof why), 0);
    T_EQ(mf_config_check(MF_K_high_actions, "signal:12", why, sizeof why), 0);
    T_EQ(mf_config_check(MF_K_high_actions, "trim,explode", why, sizeof why), -EINVAL);
    T_EQ(mf_config_check(MF_K_allocator, "jemalloc", why, sizeof why), 0);
    T_EQ(mf_config_check(MF_K_allocator, "hoard", why, sizeof why), -EINVAL);
    T_EQ(mf_config_check(MF_K_log, "/var/log/mf.log", why, sizeof why), 0);
    T_EQ(mf_config_check(MF_K_log, "stdout", why, sizeof why), -EINVAL);
    T_EQ(mf_config_check(MF_K_fail, "every=10,size>=1M", why, sizeof why), 0);
    T_EQ(mf_config_check(MF_K_fail, "often=1", why, sizeof why), -EINVAL);
    T_EQ(mf_config_check(MF_K_log_rate, "0", why, sizeof why), -ERANGE);
    T_EQ(mf_config_check(MF_K_log_rate, "99999999999999999999999", why, sizeof why), -EINVAL);
    T_EQ(mf_config_check(MF_K_sample_interval, "2m", why, sizeof why), -ERANGE);
    static const char *sizes[] = { "12G", "1536M", "50%", "12.5%", "unlimited", "0", "1023" };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        mf_size_t s;
        T_EQ(mf_size_parse(sizes[i], &s), 0);
        mf_config_format_size(&s, buf, sizeof buf);
        if (strcmp(buf, sizes[i]))
            fprintf(stderr, "format %s -> %s\n", sizes[i], buf);
        T_CHECK(!strcmp(buf, sizes[i]));
    }
    mf_config_defaults(&cfg);
    T_EQ(mf_config_set(&cfg, "gpu_limit.0", "40G", why, sizeof why), 0);
    T_CHECK(cfg.gpu_limit_dev_set[0]);
    T_EQ(mf_config_set(&cfg, "sample_interval", "2s", why, sizeof why), 0);
    mf_config_format(&cfg, MF_K_sample_interval, buf, sizeof buf);
    T_CHECK(!strcmp(buf, "2s"));
}

static void test_file_checks(void)
{
    char dir[] = "/tmp/mfcfgXXXXXX";
    T_CHECK(mkdtemp(dir) != NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/m.conf", dir);
    FILE *fp = fopen(path, "w");
    fputs("[global]\nlimit = 42M\n", fp);
    fclose(fp);
    chmod(path, 0644);
    mf_cfg_file_t f;
    nmsgs = 0;
    T_EQ(mf_cfg_file_load(&f, path), 0);
    mf_cfg_file_free(&f);
    chmod(path, 0666);
    T_EQ(mf_cfg_file_load(&f, path), -EPERM);
    T_CHECK(said("refused: other users can write it (mode 666)"));
    T_CHECK(f.mem == NULL);
    /* the whole build: refused file, defaults */
    T_EQ(mf_config_build(&cfg, path, "x", "x", NULL, false), 1);
    T_EQU(cfg.limit.bytes, MF_UNLIMITED);
    chmod(path, 0600);
    T_EQ(mf_config_build(&cfg, path, "x", "x", NULL, false), 0);
    T_EQU(cfg.limit.bytes, 42ull << 20);
    T_CHECK(!strcmp(cfg.file, path));
    T_EQ(mf_cfg_file_load(&f, dir), -EINVAL);    /* a directory */
    T_CHECK(said("not a regular file"));
    unlink(path);
    T_EQ(mf_cfg_file_load(&f, path), -ENOENT);
    rmdir(dir);
    /* MEMFENCE_CONFIG=none: no file */
    setenv("MEMFENCE_CONFIG", "none", 1);
    T_EQ(mf_cfg_file_locate(path, sizeof path), -ENOENT);
    setenv("MEMFENCE_CONFIG", "/x/y.conf", 1);
    T_EQ(mf_cfg_file_locate(path, sizeof path), 0);
    T_CHECK(!strcmp(path, "/x/y.conf"));
    unsetenv("MEMFENCE_CONFIG");
}

int main(void)
{
    mf_config_set_reporter(capture);
    test_defaults();
    test_precedence();
    test_errors();
    test_lines();
    test_groups_and_match();
    test_values();
    test_file_checks();
    return t_done();
}
