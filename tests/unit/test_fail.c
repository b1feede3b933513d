/* test_fail.c — fault injection without preloading: the spec parser (good and bad specs), the
 * triggers, and mf_fail_check's exact choice of calls for every mode (every, count, size>=,
 * calls=, after, prob+seed, from=MODULE including an object loaded later). */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <string.h>

#include "base/calls.h"
#include "config/config.h"
#include "fail/fail.h"
#include "gate/gate.h"
#include "lifecycle/modules.h"
#include "gate/policy.h"
#include "base/stats.h"
#include "t.h"

static void test_parse_good(void)
{
    mf_fail_spec_t s;
    char why[160];
    T_EQ(mf_fail_parse("every=100,size>=1M", &s, why, sizeof why), 0);
    T_EQU(s.every, 100);
    T_EQU(s.size_min, 1 << 20);
    T_EQU(s.count, MF_FAIL_NO_COUNT);
    T_EQU(s.families, MF_FAM_MALLOC | MF_FAM_MMAP | MF_FAM_CUDA);
    T_CHECK(!s.has_prob && !s.has_after && !s.from[0]);

    T_EQ(mf_fail_parse(" prob=0.25 , seed=7 ,count=3, calls=malloc+cuda, from=libfoo ", &s, why,
                       sizeof why), 0);
    T_CHECK(s.has_prob && s.has_seed);
    T_EQU(s.prob32, 1ull << 30);
    T_EQU(s.seed, 7);
    T_EQU(s.count, 3);
    T_EQU(s.families, MF_FAM_MALLOC | MF_FAM_CUDA);
    T_CHECK(strcmp(s.from, "libfoo") == 0);

    T_EQ(mf_fail_parse("after=64M", &s, why, sizeof why), 0);
    T_CHECK(s.has_after);
    T_EQU(s.after, 64ull << 20);
    T_EQ(mf_fail_parse("count=0", &s, why, sizeof why), 0);
    T_EQU(s.count, 0);
    T_EQ(mf_fail_parse("calls=all,every=1", &s, why, sizeof why), 0);
    T_EQU(s.families, MF_FAM_MALLOC | MF_FAM_MMAP | MF_FAM_CUDA);

    /* canonical text parses back to the same spec */
    char text[256];
    mf_fail_spec_t s2;
    T_EQ(mf_fail_parse("every=3,after=1K,prob=0.5,seed=9,size>=2K,count=4,calls=mmap,from=libz",
                       &s, why, sizeof why), 0);
    mf_fail_format(&s, text, sizeof text);
    T_CHECK(strcmp(text, "every=3,after=1K,prob=0.500000,seed=9,size>=2K,count=4,"
                         "calls=mmap,from=libz") == 0);
    T_EQ(mf_fail_parse(text, &s2, why, sizeof why), 0);
    T_CHECK(memcmp(&s, &s2, sizeof s) == 0);
    T_EQ(mf_fail_parse("size>=1000,after=3G", &s2, why, sizeof why), 0);
    mf_fail_format(&s2, text, sizeof text);
    T_CHECK(strcmp(text, "after=3G,size>=1000") == 0);
}

static void bad(const char *spec, const char *needle)
{
    mf_fail_spec_t s;
    char why[160] = "";
    int rc = mf_fail_parse(spec, &s, why, sizeof why);
    t_checks++;
    if (rc != -EINVAL || !strstr(why, needle)) {
        t_failures++;
        fprintf(stderr, "spec '%s': rc %d, why '%s' (wanted -EINVAL and '%s')\n", spec, rc, why,
                needle);
    }
}

static void test_parse_bad(void)
{
    bad("", "empty spec");
    bad("every=100,,size>=1M", "empty item");
    bad("every=0", "every=0");
    bad("every=ten", "every=ten");
    bad("every=", "has no value");
    bad("evry=10", "unknown item 'evry=10'");
    bad("size=1M", "size=1M");
    bad("every>=3", "only size takes >=");
    bad("size>=1Q", "size>=1Q");
    bad("after=50%", "no percentage");
    bad("prob=1.5", "prob=1.5");
    bad("prob=-0.1", "prob=-0.1");
    bad("seed=7", "needs prob");
    bad("calls=malloc+gpu", "calls=malloc+gpu");
    bad("calls=malloc+", "calls=malloc+");
    bad("from=/usr/lib/libz.so", "from=");
    bad("every=2,every=3", "given twice");
    bad("every", "not KEY=VALUE");
    bad("every=1,", "empty item");
}

static void test_triggers(void)
{
    mf_fail_spec_t s;
    T_EQ(mf_fail_parse("every=3", &s, NULL, 0), 0);
    for (uint64_t k = 1; k <= 12; k++) T_EQ(mf_fail_triggers(&s, k, 0, 1), k % 3 == 0);

    T_EQ(mf_fail_parse("after=1000", &s, NULL, 0), 0);
    T_CHECK(!mf_fail_triggers(&s, 1, 0, 1000));         /* exactly at SIZE: still fits */
    T_CHECK(mf_fail_triggers(&s, 1, 0, 1001));
    T_CHECK(!mf_fail_triggers(&s, 1, 999, 1));
    T_CHECK(mf_fail_triggers(&s, 1, 1000, 1));
    T_CHECK(mf_fail_triggers(&s, 1, 5000, 0));
    T_CHECK(mf_fail_triggers(&s, 1, 10, UINT64_MAX));   /* no overflow */

    /* prob: the same (seed, K) always gives the same answer, and the rate is about P */
    T_EQ(mf_fail_parse("prob=0.1,seed=42", &s, NULL, 0), 0);
    unsigned hits = 0;
    for (uint64_t k = 1; k <= 100000; k++) hits += mf_fail_triggers(&s, k, 0, 1);
    T_CHECK(hits > 9000 && hits < 11000);
    T_EQ(mf_fail_parse("prob=1", &s, NULL, 0), 0);
    T_CHECK(mf_fail_triggers(&s, 1, 0, 1) && mf_fail_triggers(&s, 77, 0, 1));
    T_EQ(mf_fail_parse("prob=0,seed=3", &s, NULL, 0), 0);
    hits = 0;
    for (uint64_t k = 1; k <= 10000; k++) hits += mf_fail_triggers(&s, k, 0, 1);
    T_EQ(hits, 0);

    /* several triggers: all must hold */
    T_EQ(mf_fail_parse("every=2,after=100", &s, NULL, 0), 0);
    T_CHECK(!mf_fail_triggers(&s, 2, 0, 10));
    T_CHECK(!mf_fail_triggers(&s, 3, 200, 10));
    T_CHECK(mf_fail_triggers(&s, 4, 200, 10));
}

static void arm(const char *spec)
{
    mf_fail_spec_t s;
    char why[160];
    int rc = mf_fail_parse(spec, &s, why, sizeof why);
    T_EQ(rc, 0);
    if (rc) fprintf(stderr, "%s\n", why);
    mf_fail_arm(&s, false);
}

/* Runs n calls of `call` of `size` from `caller`; fills failed[] with the 1-based indices that
 * failed.  Return: how many failed. */
static unsigned run_calls(unsigned call, uint64_t size, const void *caller, unsigned n,
                          unsigned *failed)
{
    unsigned f = 0;
    for (unsigned i = 1; i <= n; i++) {
        int rc = mf_fail_check(call, size, caller);
        T_CHECK(rc == 0 || rc == -ENOMEM);
        if (rc) failed[f++] = i;
    }
    return f;
}

static void test_check_every_count(void)
{
    unsigned failed[64];
    void *me = (void *)&test_check_every_count;

    arm("every=5,count=2");
    T_CHECK(atomic_load(&mf_policy_flags) & MF_POLICY_FAIL);
    uint64_t inj0 = atomic_load(&mf_stats.injected);
    T_EQ(run_calls(MF_CALL_MALLOC, 16, me, 30, failed), 2);
    T_EQ(failed[0], 5);
    T_EQ(failed[1], 10);
    T_EQU(mf_fail_eligible(), 30);
    T_EQU(mf_fail_injected(), 2);
    T_EQU(atomic_load(&mf_stats.injected) - inj0, 2);

    /* the Nth call and no other: every=N,count=1 is what the sweep uses */
    arm("every=7,count=1");
    T_EQ(run_calls(MF_CALL_CALLOC, 16, me, 40, failed), 1);
    T_EQ(failed[0], 7);

    /* no trigger: every eligible call fails; count=0: none, but they are counted */
    arm("size>=1K");
    T_EQ(run_calls(MF_CALL_MALLOC, 1024, me, 3, failed), 3);
    arm("count=0");
    T_EQ(run_calls(MF_CALL_MALLOC, 1024, me, 9, failed), 0);
    T_EQU(mf_fail_eligible(), 9);

    mf_fail_arm(NULL, false);
    T_CHECK(!(atomic_load(&mf_policy_flags) & MF_POLICY_FAIL));
    T_EQ(mf_fail_check(MF_CALL_MALLOC, 16, me), 0);
}

static void test_check_filters(void)
{
    void *me = (void *)&test_check_filters;

    /* size>= and calls= choose eligible calls; every counts eligible calls only */
    arm("every=2,size>=1M,calls=mmap");
    int fails = 0, order[8], nf = 0;
    struct { unsigned call; uint64_t size; } seq[] = {
        { MF_CALL_MMAP, 1 << 20 },          /* eligible 1 */
        { MF_CALL_MALLOC, 4 << 20 },        /* wrong family */
        { MF_CALL_MMAP, 4096 },             /* too small */
        { MF_CALL_MMAP, 2 << 20 },          /* eligible 2: fails */
        { MF_CALL_CU_MEM_ALLOC, 8 << 20 },  /* wrong family */
        { MF_CALL_MREMAP, 1 << 20 },        /* eligible 3 */
        { MF_CALL_MMAP, 3 << 20 },          /* eligible 4: fails */
    };
    for (unsigned i = 0; i < MF_ARRAY_LEN(seq); i++)
        if (mf_fail_check(seq[i].call, seq[i].size, me)) { fails++; order[nf++] = (int)i; }
    T_EQ(fails, 2);
    T_EQ(order[0], 3);
    T_EQ(order[1], 6);
    T_EQU(mf_fail_eligible(), 4);

    /* after=: held bytes come from the host pool */
    mf_gate_set_limit(MF_POOL_HOST, MF_UNLIMITED);
    uint64_t base = mf_gate_used(MF_POOL_HOST);
    char spec[64];
    snprintf(spec, sizeof spec, "after=%llu", (unsigned long long)(base + (1 << 20)));
    arm(spec);
    T_EQ(mf_fail_check(MF_CALL_MALLOC, 512 << 10, me), 0);
    T_EQ(mf_gate_charge_pool(MF_POOL_HOST, 768 << 10), 0);
    T_EQ(mf_fail_check(MF_CALL_MALLOC, 128 << 10, me), 0);
    T_EQ(mf_fail_check(MF_CALL_MALLOC, 512 << 10, me), -ENOMEM);
    mf_gate_uncharge_pool(MF_POOL_HOST, 768 << 10);
    T_EQ(mf_fail_check(MF_CALL_MALLOC, 512 << 10, me), 0);
    mf_fail_arm(NULL, false);
}

static void test_check_prob(void)
{
    unsigned a[400], b[400], c[400];
    void *me = (void *)&test_check_prob;
    arm("prob=0.2,seed=7");
    unsigned na = run_calls(MF_CALL_MALLOC, 8, me, 1000, a);
    arm("prob=0.2,seed=7");
    unsigned nb = run_calls(MF_CALL_MALLOC, 8, me, 1000, b);
    arm("prob=0.2,seed=8");
    unsigned nc = run_calls(MF_CALL_MALLOC, 8, me, 1000, c);
    T_EQ(na, nb);
    T_CHECK(na > 120 && na < 280);
    T_CHECK(memcmp(a, b, na * sizeof a[0]) == 0);
    T_CHECK(na != nc || memcmp(a, c, na * sizeof a[0]) != 0);
    /* the draw of the Kth call does not depend on the calls that were not eligible */
    arm("prob=0.2,seed=7,size>=100");
    unsigned d[400], nd = 0, k = 0;
    for (unsigned i = 1; i <= 2000; i++) {
        uint64_t size = (i % 2) ? 8 : 128;
        if (size >= 100) k++;
        if (mf_fail_check(MF_CALL_MALLOC, size, me) && nd < 400) d[nd++] = k;
    }
    T_EQ(nd, na);
    T_CHECK(memcmp(a, d, na * sizeof a[0]) == 0);
    mf_fail_arm(NULL, false);
}

/* An address inside a loaded object (its dynamic section): dlsym would find sanitizer
 * interceptors instead of libc's own functions. */
static void *addr_in(const char *soname)
{
    void *h = dlopen(soname, RTLD_NOW | RTLD_NOLOAD);
    struct link_map *lm = NULL;
    if (!h || dlinfo(h, RTLD_DI_LINKMAP, &lm) != 0 || !lm) return NULL;
    dlclose(h);
    return (void *)lm->l_ld;
}

static void test_from(void)
{
    void *me = (void *)&test_from;
    void *in_libc = addr_in("libc.so.6");
    T_CHECK(in_libc != NULL);

    T_CHECK(mf_fail_addr_in_module(in_libc, "libc.so"));
    T_CHECK(!mf_fail_addr_in_module(me, "libc.so"));
    T_CHECK(mf_fail_addr_in_module(me, "test_fail"));      /* the main program by its name */
    T_CHECK(!mf_fail_addr_in_module(in_libc, "test_fail"));
    T_CHECK(!mf_fail_addr_in_module((void *)16, "libc.so"));

    arm("from=libc.so,every=2");
    unsigned failed[8];
    T_EQ(run_calls(MF_CALL_MALLOC, 8, me, 6, failed), 0);   /* not from libc: not eligible */
    T_EQU(mf_fail_eligible(), 0);
    T_EQ(run_calls(MF_CALL_MALLOC, 8, in_libc, 4, failed), 2);
    T_EQ(failed[0], 2);
    T_EQ(failed[1], 4);

    /* an object loaded after the first scan */
    arm("from=libresolv");
    T_EQ(mf_fail_check(MF_CALL_MALLOC, 8, me), 0);          /* scans: no libresolv yet */
    void *h = dlopen("libresolv.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "libresolv.so.2 not loadable (%s): skipping the late-load check\n", dlerror());
    } else {
        struct link_map *lm = NULL;
        T_EQ(dlinfo(h, RTLD_DI_LINKMAP, &lm), 0);
        T_EQ(mf_fail_check(MF_CALL_MALLOC, 8, (void *)lm->l_ld), -ENOMEM);
        T_EQ(mf_fail_check(MF_CALL_MALLOC, 8, in_libc), 0);
        T_EQU(mf_fail_eligible(), 1);
    }
    mf_fail_arm(NULL, false);
}

static void *hammer(void *arg)
{
    unsigned *failed = arg;
    for (int i = 0; i < 20000; i++)
        if (mf_fail_check(MF_CALL_MALLOC, 64, (void *)&hammer)) (*failed)++;
    return NULL;
}

/* Threads share one count of eligible calls and one cap: exactly every/count, never more. */
static void test_threads(void)
{
    pthread_t t[4];
    unsigned failed[4] = { 0 };
    arm("every=10,count=500");
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, hammer, &failed[i]);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    T_EQU(mf_fail_eligible(), 80000);
    T_EQU(mf_fail_injected(), 500);
    T_EQ(failed[0] + failed[1] + failed[2] + failed[3], 500);
    arm("every=10");
    for (int i = 0; i < 4; i++) { failed[i] = 0; pthread_create(&t[i], NULL, hammer, &failed[i]); }
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    T_EQ(failed[0] + failed[1] + failed[2] + failed[3], 8000);

    /* a fork child counts from 1 again */
    arm("every=3");
    unsigned f[8];
    T_EQ(run_calls(MF_CALL_MALLOC, 8, (void *)&test_threads, 4, f), 1);
    mf_fail_fork_child();
    T_EQU(mf_fail_eligible(), 0);
    T_EQ(run_calls(MF_CALL_MALLOC, 8, (void *)&test_threads, 4, f), 1);
    T_EQ(f[0], 3);
    mf_fail_arm(NULL, false);
}

/* mf_fail_init from a configuration: a good spec arms, a bad one leaves injection off. */
static void test_init(void)
{
    static mf_config_t cfg;
    mf_config_defaults(&cfg);
    T_EQ(mf_fail_init(&cfg), 0);                                    /* empty: off */
    T_CHECK(!(atomic_load(&mf_policy_flags) & MF_POLICY_FAIL));
    T_EQ(mf_config_set(&cfg, "fail", "every=2,size>=1K", NULL, 0), 0);
    T_EQ(mf_fail_init(&cfg), 0);
    T_CHECK(atomic_load(&mf_policy_flags) & MF_POLICY_FAIL);
    T_EQ(mf_fail_check(MF_CALL_MALLOC, 4096, (void *)&test_init), 0);
    T_EQ(mf_fail_check(MF_CALL_MALLOC, 4096, (void *)&test_init), -ENOMEM);
    mf_fail_arm(NULL, false);
    T_EQ(mf_config_set(&cfg, "fail", "every=2,bogus", NULL, 0), 0);  /* a STR key: any text */
    T_EQ(mf_fail_init(&cfg), -EINVAL);
    T_CHECK(!(atomic_load(&mf_policy_flags) & MF_POLICY_FAIL));
}

int main(void)
{
    test_parse_good();
    test_parse_bad();
    test_triggers();
    test_check_every_count();
    test_check_filters();
    test_check_prob();
    test_from();
    test_threads();
    test_init();
    return t_done();
}
