/* test_sites.c — the profiler's pure parts: sampling arithmetic and the unbiased estimator, the
 * site table, the sampled-block table (filter, backward-shift deletion), growth windows, stack
 * capture, ELF symbolization, and the report data the process writes. */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "lifecycle/modules.h"
#include "gate/policy.h"
#include "profile/profile.h"
#include "base/proc.h"
#include "profile/sites.h"
#include "profile/symbolize.h"
#include "t.h"
#include "profile/unwind.h"

static void test_math(void)
{
    double worst = 0;
    for (double x = 1e-9; x < 1e12; x *= 1.7) {
        double e = fabs(mf_ln(x) - log(x));
        worst = e > worst ? e : worst;
    }
    T_CHECK(worst < 1e-9);
    worst = 0;
    for (double x = 0; x < 50; x += 0.013) {
        double e = fabs(mf_exp_neg(x) - exp(-x)) / exp(-x);
        worst = e > worst ? e : worst;
    }
    T_CHECK(worst < 1e-9);
    T_CHECK(fabs(mf_sample_scale(1000, 1000) - 1 / (1 - exp(-1.0))) < 1e-9);
    T_CHECK(fabs(mf_sample_scale(16, 524288) - 1 / (1 - exp(-16.0 / 524288))) < 1e-3);
    T_CHECK(mf_sample_scale(100 << 20, 1 << 10) == 1.0);

    uint64_t rng = 12345;
    double sum = 0, n = 200000;
    for (int i = 0; i < n; i++) {
        int64_t v = mf_sample_interval(&rng, 65536);
        T_CHECK(v >= 1);
        sum += (double)v;
    }
    T_CHECK(fabs(sum / n / 65536 - 1) < 0.02);
}

/* The estimator, driven like the per-thread counter in profile.c, on a mix of sizes. */
static void test_estimator(void)
{
    uint64_t rng = 99, rate = 64 * 1024, truth[3] = { 0 }, est[3] = { 0 };
    static const uint64_t sizes[3] = { 24, 3000, 200000 };
    int64_t left = mf_sample_interval(&rng, rate);
    for (int i = 0; i < 3000000; i++) {
        int k = i % 7 == 0 ? 2 - (i % 5 == 0) : 0;
        if (i % 97 == 0)
            k = 2;
        uint64_t s = sizes[k];
        truth[k] += s;
        left -= (int64_t)s;
        if (left >= 0)
            continue;
        left = mf_sample_interval(&rng, rate);
        est[k] += (uint64_t)(mf_sample_scale(s, rate) * (double)s);
    }
    for (int k = 0; k < 3; k++) {
        double err = fabs((double)est[k] / (double)truth[k] - 1);
        if (err >= 0.05)
            fprintf(stderr, "size %llu: truth %llu estimate %llu\n", (unsigned long long)sizes[k],
                    (unsigned long long)truth[k], (unsigned long long)est[k]);
        T_CHECK(err < 0.05);
    }
}

static void test_site_table(void)
{
    T_EQ(mf_sites_init(), 0);
    mf_sites_reset();
    uintptr_t a[3] = { 0x1000, 0x2000, 0x3000 }, b[3] = { 0x1000, 0x2000, 0x3001 };
    uint32_t sa = mf_sites_find(a, 3), sb = mf_sites_find(b, 3);
    T_CHECK(sa != 0 && sb != 0 && sa != sb);
    T_EQU(mf_sites_find(a, 3), sa);
    T_EQU(mf_sites[sa].depth, 3);
    T_EQU(mf_sites[sa].frames[2], 0x3000);
    T_EQU(mf_sites_find(a, 0), 0);
    T_CHECK(mf_sites_bytes() > 0);

    /* fill: the rest goes to site 0 */
    uintptr_t f[1];
    uint32_t zero = 0;
    for (uintptr_t i = 0; i < MF_SITES_MAX; i++) {
        f[0] = 0x10000 + i;
        zero += mf_sites_find(f, 1) == 0;
    }
    T_CHECK(zero > 0 && zero < MF_SITES_MAX / 4);
    T_CHECK(mf_sites_stats.used <= MF_SITES_MAX / 8 * 7);
    mf_sites_reset();
}

static void test_blocks(void)
{
    mf_sites_reset();
    uintptr_t st[1] = { 0x4242 };
    uint32_t s = mf_sites_find(st, 1);
    enum { N = 20000 };
    static uintptr_t ptrs[N];
    static char live[N];
    uint64_t rng = 7;
    for (int i = 0; i < N; i++)
        ptrs[i] = 0x7f0000000000ull + (uintptr_t)i * 48;
    /* random inserts and removes against a reference */
    int nlive = 0;
    for (int round = 0; round < 200000; round++) {
        rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
        int i = (int)(rng % N);
        if (round % 1000 == 0) {       /* the filter never forgets a live block */
            int missing = 0;
            for (int k = 0; k < N; k++)
                missing += live[k] && !mf_blocks_maybe(ptrs[k]);
            T_EQ(missing, 0);
        }
        if (live[i]) {
            T_CHECK(mf_blocks_maybe(ptrs[i]));
            T_EQ(mf_sites_record_free(ptrs[i]), 1);
            live[i] = 0;
            nlive--;
        } else if (nlive < (int)MF_BLOCKS_FILL) {
            T_EQ(mf_sites_record_alloc(ptrs[i], s, 100, MF_COUNT_ONE), 0);
            live[i] = 1;
            nlive++;
        }
    }
    T_EQU(mf_blocks_live(), nlive);
    int wrong = 0;
    for (int i = 0; i < N; i++)
        if (live[i]) {
            wrong += mf_sites_record_free(ptrs[i]) != 1;
        } else {
            wrong += mf_sites_record_free(ptrs[i]) != 0;
        }
    T_EQ(wrong, 0);
    T_EQU(mf_blocks_live(), 0);
    T_EQU(mf_site_live_bytes(&mf_sites[s]), 0);
    T_EQU(mf_site_live_count(&mf_sites[s]), 0);
    /* the filter is exact: it empties with the table */
    int maybe = 0;
    for (int i = 0; i < N; i++)
        maybe += mf_blocks_maybe(ptrs[i]);
    T_EQ(maybe, 0);
    T_EQ(mf_sites_record_free(0x1234), 0);
    /* a block seen twice (its free was missed) is closed, not double counted */
    mf_sites_record_alloc(0x5000, s, 100, MF_COUNT_ONE);
    mf_sites_record_alloc(0x5000, s, 100, MF_COUNT_ONE);
    T_EQU(mf_site_live_bytes(&mf_sites[s]), 100);
    T_EQU(mf_site_live_count(&mf_sites[s]), 1);
    mf_sites_reset();
}

static void test_growth(void)
{
    mf_sites_reset();
    uintptr_t g[1] = { 0x111 }, c[1] = { 0x222 };
    uint32_t sg = mf_sites_find(g, 1), sc = mf_sites_find(c, 1);
    uintptr_t p = 0x100000;
    for (int w = 0; w < 6; w++) {
        for (int k = 0; k < 10; k++)
            mf_sites_record_alloc(p += 64, sg, 1000, MF_COUNT_ONE);
        mf_sites_record_alloc(0x900000, sc, 5000, MF_COUNT_ONE);   /* steady */
        mf_sites_record_free(0x900000);
        mf_sites_snapshot((uint64_t)(w + 1) * 1000000000ull);
    }
    double r;
    char line[256];
    T_CHECK(mf_profile_top_growers_text(line, sizeof line, 3) > 0);
    T_CHECK(strstr(line, "0x111") && strstr(line, "/s") && !strstr(line, "0x222"));
    T_EQ(mf_site_growth(&mf_sites[sg], &r), 5);
    T_CHECK(fabs(r - 10000) < 1);
    T_EQ(mf_site_growth(&mf_sites[sc], &r), 0);
    T_CHECK(r == 0);
    /* a window without growth ends the streak */
    mf_sites_snapshot(7000000000ull);
    T_EQ(mf_site_growth(&mf_sites[sg], NULL), 0);
    mf_sites_reset();
}

static MF_NOINLINE int capture_here(uintptr_t *out)
{
    int n = mf_unwind_capture(out, MF_UNWIND_MAX, 0);
    __asm__ volatile("" ::: "memory");
    return n;
}

static MF_NOINLINE int symbol_target(int x) { return x * 3 + 1; }

static void test_unwind_and_symbols(void)
{
    uintptr_t fr[MF_UNWIND_MAX];
    T_EQ(mf_unwind_init(), 0);
    int n = capture_here(fr);
    T_CHECK(n >= 2);
    /* frame 0: inside capture_here (the caller of mf_unwind_capture); frame 1: in this test */
    mf_symfile_t *sf = mf_sym_file_open("/proc/self/exe");
    T_CHECK(sf != NULL);
    uint64_t off = 0;
    Dl_info di;
    T_CHECK(dladdr((void *)&test_unwind_and_symbols, &di) != 0);
    uint64_t bias = (uint64_t)(uintptr_t)di.dli_fbase;
    const char *name = mf_sym_file_lookup(sf, fr[0] - 1 - bias, &off);
    T_CHECK(name && strcmp(name, "capture_here") == 0);
    name = mf_sym_file_lookup(sf, fr[1] - 1 - bias, &off);
    T_CHECK(name && strcmp(name, "test_unwind_and_symbols") == 0);
    name = mf_sym_file_lookup(sf, (uintptr_t)&symbol_target - bias + 2, &off);
    T_CHECK(name && strcmp(name, "symbol_target") == 0);
    T_EQU(off, 2);
    T_CHECK(mf_sym_file_lookup(sf, 1, &off) == NULL);
    mf_sym_file_close(sf);
    T_CHECK(mf_sym_file_open("/nonexistent") == NULL);
    char buf[128];
    T_CHECK(mf_sym_frame_text(buf, sizeof buf, fr[0]) > 0);
}

/* The module end to end, without the preload: samples recorded, the data file written. */
static void test_module(void)
{
    mf_config_t cfg;
    mf_config_defaults(&cfg);
    cfg.profile = true;
    cfg.profile_rate.bytes = 4096;
    mf_sites_reset();
    T_EQ(mf_profile_init(&cfg), 0);
    T_EQU(mf_profile_rate(), 4096);
    T_CHECK(atomic_load(&mf_policy_flags) & MF_POLICY_PROFILE);
    static char blocks[2000][64];
    for (int i = 0; i < 2000; i++)
        mf_profile_alloc(blocks[i], 1024);      /* 2000 KiB "live" from one site */
    uint64_t live = 0;
    for (uint32_t i = 0; i < MF_SITES_MAX; i++)
        live += mf_sites[i].key ? mf_site_live_bytes(&mf_sites[i]) : 0;
    T_CHECK(live > 2000 * 1024 * 0.8 && live < 2000 * 1024 * 1.2);
    /* nested (depth > 0) calls are never sampled */
    uint64_t before = mf_sites_stats.samples;
    mf_tls.depth++;
    for (int i = 0; i < 1000; i++)
        mf_profile_alloc(blocks[i], 1 << 20);
    mf_tls.depth--;
    T_EQU(mf_sites_stats.samples, before);

    char path[] = "/tmp/mf-test-sites-XXXXXX";
    int fd = mkstemp(path);
    T_CHECK(fd >= 0);
    T_EQ(mf_profile_write(fd), 0);
    close(fd);
    FILE *f = fopen(path, "r");
    char line[4096];
    int sites = 0, header = 0, end = 0;
    while (f && fgets(line, sizeof line, f)) {
        header += strcmp(line, "memfence-profile 1\n") == 0;
        sites += strncmp(line, "site ", 5) == 0;
        end += strcmp(line, "end\n") == 0;
    }
    if (f)
        fclose(f);
    unlink(path);
    T_EQ(header, 1);
    T_CHECK(sites >= 1);
    T_EQ(end, 1);

    for (int i = 0; i < 2000; i++)
        mf_profile_free(blocks[i], 1024);
    live = 0;
    for (uint32_t i = 0; i < MF_SITES_MAX; i++)
        live += mf_sites[i].key ? mf_site_live_bytes(&mf_sites[i]) : 0;
    T_EQU(live, 0);
    char text[256];
    T_EQU(mf_profile_top_growers_text(text, sizeof text, 3), 0);
    mf_policy_set(MF_POLICY_PROFILE, 0);
}

int main(void)
{
    test_math();
    test_estimator();
    test_site_table();
    test_blocks();
    test_growth();
    test_unwind_and_symbols();
    test_module();
    return t_done();
}
