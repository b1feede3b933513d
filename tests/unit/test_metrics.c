/* test_metrics.c — the metric parsers on real-looking text (statm, meminfo, PSI, cgroup files,
 * mountinfo), and one live read of this process's own numbers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/metrics.h"
#include "t.h"

static void test_statm(void)
{
    uint64_t rss, anon;
    T_EQ(mf_metrics_parse_statm("2716 460 400 7 0 151 0\n", 4096, &rss, &anon), 0);
    T_EQU(rss, 460 * 4096ULL);
    T_EQU(anon, 60 * 4096ULL);
    T_EQ(mf_metrics_parse_statm("garbage", 4096, &rss, &anon), -EINVAL);
}

static void test_status(void)
{
    uint64_t rss, anon;
    const char *st = "Name:\tnode\nVmRSS:\t  100000 kB\nRssAnon:\t   40000 kB\n"
                     "RssFile:\t   59000 kB\nRssShmem:\t    1000 kB\nVmData:\t 5 kB\n";
    T_EQ(mf_metrics_parse_status(st, &rss, &anon), 0);
    T_EQU(rss, 100000 * 1024ULL);
    T_EQU(anon, 41000 * 1024ULL);          /* anonymous + shmem: never the mapped files */
    T_EQ(mf_metrics_parse_status("Name:\tx\nVmRSS:\t 5 kB\n", &rss, &anon), -EINVAL);
}

static void test_meminfo_and_stat(void)
{
    const char *mi = "MemTotal:       24681984 kB\nMemFree:        24226524 kB\n"
                     "MemAvailable:   24331508 kB\nBuffers:            2444 kB\n";
    uint64_t v = 0;
    T_EQ(mf_metrics_parse_kv(mi, "MemTotal", 1024, &v), 0);
    T_EQU(v, 24681984ULL * 1024);
    T_EQ(mf_metrics_parse_kv(mi, "MemAvailable", 1024, &v), 0);
    T_EQU(v, 24331508ULL * 1024);
    T_EQ(mf_metrics_parse_kv(mi, "Mem", 1024, &v), -ENOENT);
    T_EQ(mf_metrics_parse_kv(mi, "SwapTotal", 1024, &v), -ENOENT);
    const char *st = "anon 1000\nfile 2000\nactive_file 300\ninactive_file 1700\n";
    T_EQ(mf_metrics_parse_kv(st, "inactive_file", 1, &v), 0);
    T_EQU(v, 1700);
    T_EQ(mf_metrics_parse_kv(st, "file", 1, &v), 0);
    T_EQU(v, 2000);
}

static void test_psi(void)
{
    int s, f;
    T_EQ(mf_metrics_parse_psi("some avg10=12.34 avg60=1.00 avg300=0.00 total=123\n"
                              "full avg10=0.50 avg60=0.00 avg300=0.00 total=9\n", &s, &f), 0);
    T_EQ(s, 1234);
    T_EQ(f, 50);
    T_EQ(mf_metrics_parse_psi("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", &s, &f), 0);
    T_EQ(s, 0);
    T_EQ(f, -1);
    T_EQ(mf_metrics_parse_psi("nothing here\n", &s, &f), -EINVAL);
}

static void test_limits(void)
{
    uint64_t l;
    T_EQ(mf_metrics_parse_limit("max\n", &l), 0);
    T_EQU(l, MF_UNKNOWN);
    T_EQ(mf_metrics_parse_limit("9223372036854771712\n", &l), 0);
    T_EQU(l, MF_UNKNOWN);
    T_EQ(mf_metrics_parse_limit("536870912\n", &l), 0);
    T_EQU(l, 536870912);
    T_EQ(mf_metrics_parse_limit("x", &l), -EINVAL);
}

static void test_cgroup_paths(void)
{
    char v2[128], v1[128], root[128], mnt[128], dir[256];
    mf_metrics_parse_cgroup("9:name=systemd:/\n4:memory:/process_api/2ac8\n3:cpuset:/\n0::/\n",
                            v2, sizeof v2, v1, sizeof v1);
    T_CHECK(strcmp(v2, "/") == 0);
    T_CHECK(strcmp(v1, "/process_api/2ac8") == 0);
    mf_metrics_parse_cgroup("0::/user.slice/user-1000.slice/session-3.scope\n", v2, sizeof v2, v1,
                            sizeof v1);
    T_CHECK(strcmp(v2, "/user.slice/user-1000.slice/session-3.scope") == 0);
    T_CHECK(v1[0] == '\0');
    mf_metrics_parse_cgroup("5:cpu,memory:/a/b\n", v2, sizeof v2, v1, sizeof v1);
    T_CHECK(v2[0] == '\0');
    T_CHECK(strcmp(v1, "/a/b") == 0);

    const char *l1 = "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n";
    const char *l2 = "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n";
    const char *l3 = "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
    const char *l4 = "28 22 0:26 /kubepods/pod1 /sys/fs/cgroup rw shared:4 - cgroup2 cgroup2 rw\n";
    T_CHECK(mf_metrics_parse_mount(l1, false, root, sizeof root, mnt, sizeof mnt));
    T_CHECK(strcmp(mnt, "/sys/fs/cgroup/memory") == 0 && strcmp(root, "/") == 0);
    T_CHECK(!mf_metrics_parse_mount(l2, false, root, sizeof root, mnt, sizeof mnt));
    T_CHECK(!mf_metrics_parse_mount(l1, true, root, sizeof root, mnt, sizeof mnt));
    T_CHECK(mf_metrics_parse_mount(l3, true, root, sizeof root, mnt, sizeof mnt));
    T_CHECK(strcmp(mnt, "/sys/fs/cgroup/unified") == 0);
    T_CHECK(mf_metrics_parse_mount(l4, true, root, sizeof root, mnt, sizeof mnt));
    T_CHECK(strcmp(root, "/kubepods/pod1") == 0);

    T_EQ(mf_metrics_cg_join("/sys/fs/cgroup/memory", "/", "/process_api/2ac8", dir, sizeof dir), 0);
    T_CHECK(strcmp(dir, "/sys/fs/cgroup/memory/process_api/2ac8") == 0);
    T_EQ(mf_metrics_cg_join("/sys/fs/cgroup/unified", "/", "/", dir, sizeof dir), 0);
    T_CHECK(strcmp(dir, "/sys/fs/cgroup/unified") == 0);
    T_EQ(mf_metrics_cg_join("/sys/fs/cgroup", "/kubepods/pod1", "/kubepods/pod1/c1", dir, sizeof dir), 0);
    T_CHECK(strcmp(dir, "/sys/fs/cgroup/c1") == 0);
    T_EQ(mf_metrics_cg_join("/sys/fs/cgroup", "/kubepods/pod1", "/other", dir, sizeof dir), -ENOENT);
    T_EQ(mf_metrics_cg_join("/sys/fs/cgroup", "/kubepods/pod1", "/kubepods/pod10", dir, sizeof dir), -ENOENT);
    T_EQ(mf_metrics_cg_join("/m", "/", "/x", dir, 4), -ENAMETOOLONG);
}

static void test_live(void)
{
    mf_metrics_src_t src;
    mf_metrics_t m;
    mf_metrics_discover(&src);
    T_CHECK(src.page_size >= 4096);
    T_EQ(mf_metrics_read(&src, &m), 0);
    /* touch 32 MiB and see RSS follow */
    uint64_t before = m.rss;
    char *p = malloc(32 << 20);
    memset(p, 1, 32 << 20);
    T_EQ(mf_metrics_read(&src, &m), 0);
    T_CHECK(m.rss >= before + (30 << 20));
    T_CHECK(m.rss_anon >= (30 << 20) && m.rss_anon <= m.rss);
    T_CHECK(m.mem_total != MF_UNKNOWN && m.mem_avail != MF_UNKNOWN && m.mem_avail <= m.mem_total);
    if (src.cg_version) T_CHECK(m.cg_usage != MF_UNKNOWN);
    free(p);
}

int main(void)
{
    test_statm();
    test_status();
    test_meminfo_and_stat();
    test_psi();
    test_limits();
    test_cgroup_paths();
    test_live();
    return t_done();
}
