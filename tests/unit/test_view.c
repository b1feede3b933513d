/* test_view.c — the pure half of the view module: the cheap path test, normalisation,
 * classification, cgroup ownership, and the meminfo / cgroup / sysinfo / page rewriting. */
#include <errno.h>
#include <string.h>
#include <sys/sysinfo.h>

#include "t.h"
#include "family/view.h"

#define GiB (1024ull * 1024 * 1024)
#define MiB (1024ull * 1024)

static const char meminfo[] =
    "MemTotal:       24682416 kB\n"
    "MemFree:        24365064 kB\n"
    "MemAvailable:   24345932 kB\n"
    "Buffers:            3136 kB\n"
    "Cached:           212840 kB\n"
    "SwapCached:            0 kB\n"
    "Active:           117584 kB\n"
    "Inactive:          94420 kB\n"
    "SwapTotal:       2097148 kB\n"
    "SwapFree:        2097148 kB\n"
    "Committed_AS:    3363544 kB\n"
    "VmallocTotal:   34359738367 kB\n"
    "HugePages_Total:       0\n"
    "HugePages_Free:        0\n"
    "Hugepagesize:       2048 kB\n"
    "DirectMap1G:    24117248 kB\n";

/* The value of field `name` in meminfo text, or -1. */
static long long field(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, name, n) == 0 && p[n] == ':')
            return strtoll(p + n + 1, NULL, 10);
    return -1;
}

static void test_maybe(void)
{
    T_CHECK(mf_view_maybe("/proc/meminfo"));
    T_CHECK(mf_view_maybe("//proc//meminfo"));
    T_CHECK(mf_view_maybe("/proc/self/../meminfo"));
    T_CHECK(mf_view_maybe("/sys/fs/cgroup/memory.max"));
    T_CHECK(mf_view_maybe("/sys/fs/cgroup/memory/a/memory.limit_in_bytes"));
    T_CHECK(mf_view_maybe("meminfo"));
    T_CHECK(mf_view_maybe("../meminfo"));
    T_CHECK(mf_view_maybe("memory.current"));
    T_CHECK(!mf_view_maybe(NULL));
    T_CHECK(!mf_view_maybe(""));
    T_CHECK(!mf_view_maybe("/usr/lib/libc.so.6"));
    T_CHECK(!mf_view_maybe("/proc/self/stat"));
    T_CHECK(!mf_view_maybe("/proc/self/maps"));
    T_CHECK(!mf_view_maybe("/proc/meminfo2"));
    T_CHECK(!mf_view_maybe("/proc/mem"));
    T_CHECK(!mf_view_maybe("/proc/"));
    T_CHECK(!mf_view_maybe("/tmp/meminfo"));       /* absolute elsewhere: not even looked at */
    T_CHECK(!mf_view_maybe("cpu.max"));
}

static void norm_is(const char *path, const char *base, const char *want)
{
    char out[MF_VIEW_PATH_MAX];
    int n = mf_view_normalize(path, base, out, sizeof out);
    T_CHECK(n >= 0);
    if (n >= 0 && strcmp(out, want) != 0) {
        fprintf(stderr, "normalize(%s, %s) = %s, want %s\n", path, base ? base : "-", out, want);
        T_CHECK(0);
    }
    if (n >= 0)
        T_EQ(n, strlen(want));
}

static void test_normalize(void)
{
    char small[8];
    norm_is("/proc/meminfo", NULL, "/proc/meminfo");
    norm_is("//proc//meminfo", NULL, "/proc/meminfo");
    norm_is("/proc/./meminfo", NULL, "/proc/meminfo");
    norm_is("/proc/self/../meminfo", NULL, "/proc/meminfo");
    norm_is("/proc/1234/../meminfo/", NULL, "/proc/meminfo");
    norm_is("/../../proc/meminfo", NULL, "/proc/meminfo");
    norm_is("meminfo", "/proc", "/proc/meminfo");
    norm_is("../meminfo", "/proc/self", "/proc/meminfo");
    norm_is("./meminfo", "/proc/", "/proc/meminfo");
    norm_is("memory.max", "/sys/fs/cgroup", "/sys/fs/cgroup/memory.max");
    norm_is("/", NULL, "/");
    norm_is("/..", NULL, "/");
    norm_is("/a/b/../../..", NULL, "/");
    T_EQ(mf_view_normalize("meminfo", NULL, small, sizeof small), -EINVAL);
    T_EQ(mf_view_normalize("", NULL, small, sizeof small), -EINVAL);
    T_EQ(mf_view_normalize("/proc/meminfo", NULL, small, sizeof small), -ENAMETOOLONG);
    T_EQ(mf_view_normalize("/proc/m", NULL, small, sizeof small), 7);
}

static void test_classify(void)
{
    T_EQ(mf_view_classify("/proc/meminfo"), MF_VIEW_MEMINFO);
    T_EQ(mf_view_classify("/proc/meminfo2"), MF_VIEW_NONE);
    T_EQ(mf_view_classify("/proc/self/meminfo"), MF_VIEW_NONE);
    T_EQ(mf_view_classify("/sys/fs/cgroup/memory.max"), MF_VIEW_CG_MAX);
    T_EQ(mf_view_classify("/sys/fs/cgroup/a/b/memory.high"), MF_VIEW_CG_HIGH);
    T_EQ(mf_view_classify("/sys/fs/cgroup/a/memory.current"), MF_VIEW_CG_CURRENT);
    T_EQ(mf_view_classify("/sys/fs/cgroup/memory/memory.limit_in_bytes"), MF_VIEW_CG1_LIMIT);
    T_EQ(mf_view_classify("/sys/fs/cgroup/memory/x/memory.soft_limit_in_bytes"), MF_VIEW_CG1_SOFT);
    T_EQ(mf_view_classify("/sys/fs/cgroup/memory/x/memory.usage_in_bytes"), MF_VIEW_CG1_USAGE);
    T_EQ(mf_view_classify("/sys/fs/cgroup/memory/x/memory.stat"), MF_VIEW_CG_STAT);
    T_EQ(mf_view_classify("/sys/fs/cgroup/memory/x/memory.max_usage_in_bytes"), MF_VIEW_NONE);
    T_EQ(mf_view_classify("/sys/fs/cgroup/x/memory.swap.max"), MF_VIEW_NONE);
    T_EQ(mf_view_classify("/sys/fs/cgroupx/memory.max"), MF_VIEW_NONE);
    T_EQ(mf_view_classify("/tmp/memory.max"), MF_VIEW_NONE);
}

static void test_cgroup_own(void)
{
    const char *v1 = "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/abc\n1:cpu:/\n0::/\n";
    const char *v2 = "0::/user.slice/app.scope\n";
    const char *v1c = "3:cpu,memory:/a/b\n";

    T_CHECK(mf_view_cgroup_own("/sys/fs/cgroup/memory/process_api/abc/memory.limit_in_bytes", v1));
    T_CHECK(mf_view_cgroup_own("/sys/fs/cgroup/memory/process_api/memory.limit_in_bytes", v1));
    T_CHECK(mf_view_cgroup_own("/sys/fs/cgroup/memory/memory.limit_in_bytes", v1));
    T_CHECK(!mf_view_cgroup_own("/sys/fs/cgroup/memory/process_api/abd/memory.limit_in_bytes", v1));
    T_CHECK(!mf_view_cgroup_own("/sys/fs/cgroup/memory/process_api/ab/memory.limit_in_bytes", v1));
    T_CHECK(!mf_view_cgroup_own("/sys/fs/cgroup/memory/process_api/abc/d/memory.limit_in_bytes", v1));
    T_CHECK(!mf_view_cgroup_own("/sys/fs/cgroup/pids/memory.limit_in_bytes", v1));
    /* hybrid: the v2 tree (root here) in unified/ */
    T_CHECK(mf_view_cgroup_own("/sys/fs/cgroup/unified/memory.max", v1));
    T_CHECK(!mf_view_cgroup_own("/sys/fs/cgroup/unified/x/memory.max", v1));
    T_CHECK(mf_view_cgroup_own("/sys/fs/cgroup/user.slice/app.scope/memory.max", v2));
    T_CHECK(mf_view_cgroup_own("/sys/fs/cgroup/user.slice/memory.high", v2));
    T_CHECK(mf_view_cgroup_own("/sys/fs/cgroup/memory.max", v2));
    T_CHECK(!mf_view_cgroup_own("/sys/fs/cgroup/system.slice/memory.max", v2));
    T_CHECK(!mf_view_cgroup_own("/sys/fs/cgroup/user.slice/app/memory.max", v2));
    T_CHECK(!mf_view_cgroup_own("/sys/fs/cgroup/memory/memory.limit_in_bytes", v2));
    T_CHECK(mf_view_cgroup_own("/sys/fs/cgroup/cpu,memory/a/memory.usage_in_bytes", v1c));
    /* pure v2 with a cgroup named "memory": not a v1 hierarchy after all */
    T_CHECK(mf_view_cgroup_own("/sys/fs/cgroup/memory/x/memory.max", "0::/memory/x/y\n"));
    T_CHECK(!mf_view_cgroup_own("/sys/fs/cgroup/memory/z/memory.max", "0::/memory/x/y\n"));
    T_CHECK(!mf_view_cgroup_own("/proc/meminfo", v1));
    T_CHECK(!mf_view_cgroup_own("/sys/fs/cgroup/memory.max", NULL));
}

static void test_meminfo(void)
{
    char out[4096];
    long n = mf_view_meminfo(meminfo, sizeof meminfo - 1, out, sizeof out, GiB, 100 * MiB);
    T_CHECK(n > 0);
    T_EQ(strlen(out), n);
    T_EQ(field(out, "MemTotal"), GiB / 1024);
    T_EQ(field(out, "MemFree"), (GiB - 100 * MiB) / 1024);
    T_EQ(field(out, "MemAvailable"), (GiB - 100 * MiB) / 1024);
    T_EQ(field(out, "Buffers"), 0);
    T_EQ(field(out, "Cached"), 0);
    T_EQ(field(out, "SwapTotal"), 0);
    T_EQ(field(out, "SwapFree"), 0);
    T_EQ(field(out, "Active"), 117584);               /* below MemTotal: kept */
    T_EQ(field(out, "Committed_AS"), GiB / 1024);     /* above: clamped */
    T_EQ(field(out, "VmallocTotal"), GiB / 1024);
    T_EQ(field(out, "DirectMap1G"), GiB / 1024);
    T_EQ(field(out, "Hugepagesize"), 2048);
    T_EQ(field(out, "HugePages_Total"), 0);
    T_CHECK(strstr(out, "HugePages_Free:        0\n") != NULL);   /* copied verbatim */
    T_CHECK(strncmp(out, "MemTotal:        1048576 kB\nMemFree:          946176 kB\n", 54) == 0);
    T_CHECK(out[n - 1] == '\n');

    /* The budget above the machine: the machine's own values. */
    n = mf_view_meminfo(meminfo, sizeof meminfo - 1, out, sizeof out, 64 * GiB, 0);
    T_EQ(field(out, "MemTotal"), 24682416);
    T_EQ(field(out, "MemFree"), 24365064);
    T_EQ(field(out, "MemAvailable"), 24345932);

    /* Used above the limit (a lowered limit): no room, never negative. */
    n = mf_view_meminfo(meminfo, sizeof meminfo - 1, out, sizeof out, GiB, 2 * GiB);
    T_EQ(field(out, "MemFree"), 0);
    T_EQ(field(out, "MemAvailable"), 0);

    /* Room above the host's free memory: the host's figure. */
    {
        static const char tight[] = "MemTotal: 4000000 kB\nMemFree: 1000 kB\nMemAvailable: 2000 kB\n";
        n = mf_view_meminfo(tight, sizeof tight - 1, out, sizeof out, GiB, 0);
        T_CHECK(n > 0);
        T_EQ(field(out, "MemTotal"), GiB / 1024);
        T_EQ(field(out, "MemFree"), 1000);
        T_EQ(field(out, "MemAvailable"), 2000);
    }
    T_EQ(mf_view_meminfo(meminfo, sizeof meminfo - 1, out, 64, GiB, 0), -ENOSPC);
    T_EQ(mf_view_meminfo("garbage\n", 8, out, sizeof out, GiB, 0), -EINVAL);
    /* Last line without newline, and one without a colon: kept. */
    {
        static const char odd[] = "MemTotal: 4000000 kB\nweird line\nMemFree: 3000000 kB";
        n = mf_view_meminfo(odd, sizeof odd - 1, out, sizeof out, GiB, 0);
        T_CHECK(strstr(out, "\nweird line\n") != NULL);
        T_EQ(field(out, "MemFree"), GiB / 1024);
    }
}

static void cg_is(int kind, const char *in, uint64_t limit, uint64_t used, const char *want)
{
    char out[256];
    long n = mf_view_cgroup(kind, in, strlen(in), out, sizeof out, limit, used);
    T_EQ(n, strlen(want));
    if (n >= 0 && strcmp(out, want) != 0) {
        fprintf(stderr, "cgroup(%d, %s) = '%s', want '%s'\n", kind, in, out, want);
        T_CHECK(0);
    }
}

static void test_cgroup(void)
{
    char out[16];
    cg_is(MF_VIEW_CG_MAX, "max\n", GiB, 0, "1073741824\n");
    cg_is(MF_VIEW_CG_MAX, "536870912\n", GiB, 0, "536870912\n");
    cg_is(MF_VIEW_CG_HIGH, "max\n", GiB, 0, "1073741824\n");
    cg_is(MF_VIEW_CG1_LIMIT, "9223372036854771712\n", GiB, 0, "1073741824\n");
    cg_is(MF_VIEW_CG1_SOFT, "9223372036854771712\n", GiB, 0, "1073741824\n");
    cg_is(MF_VIEW_CG1_LIMIT, "268435456\n", GiB, 0, "268435456\n");
    cg_is(MF_VIEW_CG_CURRENT, "5000000000\n", GiB, 12345, "12345\n");
    cg_is(MF_VIEW_CG1_USAGE, "5000000000\n", GiB, 2 * GiB, "1073741824\n");
    cg_is(MF_VIEW_CG_STAT, "cache 10\nhierarchical_memory_limit 9223372036854771712\n"
          "hierarchical_memsw_limit 9223372036854771712\nrss 5\n", GiB, 0,
          "cache 10\nhierarchical_memory_limit 1073741824\n"
          "hierarchical_memsw_limit 1073741824\nrss 5\n");
    cg_is(MF_VIEW_CG_STAT, "anon 4096\nfile 0\n", GiB, 0, "anon 4096\nfile 0\n");
    T_EQ(mf_view_cgroup(MF_VIEW_CG_MAX, "junk\n", 5, out, sizeof out, GiB, 0), -EINVAL);
    T_EQ(mf_view_cgroup(MF_VIEW_MEMINFO, "1\n", 2, out, sizeof out, GiB, 0), -EINVAL);
    T_EQ(mf_view_cgroup(MF_VIEW_CG_MAX, "max\n", 4, out, 4, GiB, 0), -ENOSPC);
}

static void test_sysinfo_pages(void)
{
    struct sysinfo si = { .totalram = 25274793984ul, .freeram = 24950816768ul,
                          .sharedram = 13082624, .bufferram = 3211264, .mem_unit = 1 };
    mf_view_sysinfo_apply(&si, GiB, 100 * MiB);
    T_EQU(si.totalram, GiB);
    T_EQU(si.freeram, GiB - 100 * MiB);
    T_EQU(si.sharedram, 13082624);          /* untouched */
    T_EQU(si.bufferram, 3211264);

    si = (struct sysinfo){ .totalram = 6000000, .freeram = 10, .mem_unit = 4096 };
    mf_view_sysinfo_apply(&si, GiB, 0);
    T_EQU(si.totalram, GiB / 4096);
    T_EQU(si.freeram, 10);                   /* the host's smaller figure */
    si = (struct sysinfo){ .totalram = 1000, .freeram = 900, .mem_unit = 0 };
    mf_view_sysinfo_apply(&si, GiB, 0);
    T_EQU(si.totalram, 1000);                /* the budget above the machine */
    T_EQU(si.freeram, 900);

    T_EQ(mf_view_pages(6170604, 4096, GiB), GiB / 4096);
    T_EQ(mf_view_pages(1000, 4096, GiB), 1000);
    T_EQ(mf_view_pages(-1, 4096, GiB), -1);
    T_EQ(mf_view_pages(1000, 0, GiB), 1000);
}

int main(void)
{
    test_maybe();
    test_normalize();
    test_classify();
    test_cgroup_own();
    test_meminfo();
    test_cgroup();
    test_sysinfo_pages();
    return t_done();
}
