/* test_gpu.c — the gpu module without any CUDA library: the pointer/handle table (single thread,
 * collisions, many threads, a full table, fork), per-device budgets (sizes, percentages resolved
 * from the device's size, gpu_limit.N), charges and refusals, and the
 * memory view. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "base/calls.h"
#include "config/config.h"
#include "gate/gate.h"
#include "family/gpu.h"
#include "lifecycle/modules.h"
#include "t.h"

#define M (1ull << 20)

static void setup_with(const char *gpu_limit, const char *on_limit)
{
    static mf_config_t cfg;
    mf_gate_reset();
    mf_gpu_reset();
    mf_config_defaults(&cfg);
    mf_config_set(&cfg, "log", "off", NULL, 0);
    if (gpu_limit) T_EQ(mf_config_set(&cfg, "gpu_limit", gpu_limit, NULL, 0), 0);
    if (on_limit) T_EQ(mf_config_set(&cfg, "on_limit", on_limit, NULL, 0), 0);
    cfg.gpu_limit_dev_set[3] = true;
    mf_size_parse("8M", &cfg.gpu_limit_dev[3]);
    mf_gpu_init(&cfg);
}

static void setup(const char *gpu_limit) { setup_with(gpu_limit, NULL); }

static void test_table_basic(void)
{
    uint64_t n = 0;
    int dev = -5;
    setup(NULL);
    T_EQ(mf_gpu_untrack(MF_GPU_DEVPTR, 0x1000, &n, &dev), -ENOENT);
    T_EQ(mf_gpu_track(MF_GPU_DEVPTR, 0x1000, 4096, 2), 0);
    T_EQ(mf_gpu_track(MF_GPU_HANDLE, 0x1000, 77, 1), 0);      /* same value, other kind */
    T_EQU(mf_gpu_tracked(), 2);
    T_EQ(mf_gpu_untrack(MF_GPU_HOSTPTR, 0x1000, &n, &dev), -ENOENT);
    T_EQ(mf_gpu_untrack(MF_GPU_DEVPTR, 0x1000, &n, &dev), 0);
    T_EQU(n, 4096);
    T_EQ(dev, 2);
    T_EQ(mf_gpu_untrack(MF_GPU_DEVPTR, 0x1000, &n, &dev), -ENOENT);
    T_EQ(mf_gpu_untrack(MF_GPU_HANDLE, 0x1000, &n, &dev), 0);
    T_EQU(n, 77);
    T_EQ(mf_gpu_track(MF_GPU_DEVPTR, 0x2000, 1, 0), 0);        /* a key seen again replaces */
    T_EQ(mf_gpu_track(MF_GPU_DEVPTR, 0x2000, 2, 0), 0);
    T_EQU(mf_gpu_tracked(), 1);
    T_EQ(mf_gpu_untrack(MF_GPU_DEVPTR, 0x2000, &n, NULL), 0);
    T_EQU(n, 2);
    T_EQU(mf_gpu_tracked(), 0);
}

/* Many keys, removed in an order that exercises backward-shift deletion. */
static void test_table_many(void)
{
    setup(NULL);
    const uint64_t N = 200000, base = 0x7f0000000000ull;
    int bad = 0;
    for (uint64_t i = 0; i < N; i++) bad |= mf_gpu_track(MF_GPU_DEVPTR, base + i * 512, i + 1, (int)(i % 4));
    T_EQ(bad, 0);
    T_EQU(mf_gpu_tracked(), N);
    for (uint64_t i = 0; i < N; i += 2) {
        uint64_t n;
        int dev;
        if (mf_gpu_untrack(MF_GPU_DEVPTR, base + i * 512, &n, &dev) != 0 || n != i + 1 || dev != (int)(i % 4))
            bad++;
    }
    T_EQ(bad, 0);
    for (uint64_t i = 1; i < N; i += 2) {
        uint64_t n;
        if (mf_gpu_untrack(MF_GPU_DEVPTR, base + i * 512, &n, NULL) != 0 || n != i + 1) bad++;
    }
    T_EQ(bad, 0);
    T_EQU(mf_gpu_tracked(), 0);
}

static void test_table_full(void)
{
    setup(NULL);
    uint64_t i = 0;
    while (mf_gpu_track(MF_GPU_HANDLE, i + 1, 1, 0) == 0 && i < (1u << 21)) i++;
    T_CHECK(i > 100000 && i < (1u << 21));                       /* a shard filled up: -ENOSPC */
    uint64_t n;
    T_EQ(mf_gpu_untrack(MF_GPU_HANDLE, 1, &n, NULL), 0);
    T_EQ(mf_gpu_untrack(MF_GPU_HANDLE, i, &n, NULL), 0);         /* every stored key is found */
    T_EQU(mf_gpu_tracked(), i - 2);
}

static _Atomic int thread_errors;
static void *worker(void *arg)
{
    uint64_t base = (uint64_t)(uintptr_t)arg << 32;
    uint64_t live[64] = { 0 };
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < 100000; i++) {
        int k = (int)(rand_r(&seed) % 64);
        if (live[k]) {
            uint64_t n;
            if (mf_gpu_untrack(MF_GPU_DEVPTR, live[k], &n, NULL) != 0 || n != (live[k] & 0xffff))
                thread_errors++;
            mf_gpu_uncharge(0, n);
            live[k] = 0;
        } else {
            uint64_t key = base + ((uint64_t)i << 16) + 1 + (rand_r(&seed) & 0xfffe);
            if (mf_gpu_charge(MF_CALL_CU_MEM_ALLOC, 0, key & 0xffff) != 0) continue;
            if (mf_gpu_track(MF_GPU_DEVPTR, key, key & 0xffff, 0) != 0) thread_errors++;
            live[k] = key;
        }
    }
    for (int k = 0; k < 64; k++) {
        uint64_t n;
        if (live[k] && mf_gpu_untrack(MF_GPU_DEVPTR, live[k], &n, NULL) == 0) mf_gpu_uncharge(0, n);
    }
    return NULL;
}

static void test_table_threads(void)
{
    setup("16M");
    pthread_t t[8];
    for (uintptr_t i = 0; i < 8; i++) pthread_create(&t[i], NULL, worker, (void *)(i + 1));
    for (int i = 0; i < 8; i++) pthread_join(t[i], NULL);
    T_EQ(thread_errors, 0);
    T_EQU(mf_gpu_tracked(), 0);
    T_EQU(mf_gate_used(MF_POOL_GPU0), 0);
}

static void test_budgets(void)
{
    setup("64M");
    T_EQU(mf_gpu_budget(0), 64 * M);
    T_EQU(mf_gpu_budget(3), 8 * M);                           /* gpu_limit.3 */
    T_EQU(mf_gpu_budget(MF_GPU_MAX), MF_UNLIMITED);
    setup(NULL);
    T_EQU(mf_gpu_budget(0), MF_UNLIMITED);
    setup("50%");
    T_EQU(mf_gpu_budget(0), MF_UNLIMITED);                    /* until the device's size is known */
    T_CHECK(!mf_gpu_known(0));
    T_CHECK(mf_gpu_pct_pending(0));
    T_EQ(mf_gpu_set_total(0, 1024 * M), 0);
    T_CHECK(!mf_gpu_pct_pending(0));
    T_CHECK(mf_gpu_known(0));
    T_EQU(mf_gpu_budget(0), 512 * M);
    T_EQ(mf_gpu_set_total(0, 2048 * M), 0);                   /* the first size stands */
    T_EQU(mf_gpu_budget(0), 512 * M);
    T_EQ(mf_gpu_set_total(MF_GPU_MAX, 1), -ERANGE);
    {   /* gpu_limit.N (MEMFENCE_GPU_LIMIT_<N> is read by config.c alone: test_config_env) */
        static mf_config_t c2;
        mf_gate_reset();
        mf_gpu_reset();
        mf_config_defaults(&c2);
        mf_config_set(&c2, "log", "off", NULL, 0);
        T_EQ(mf_config_set(&c2, "gpu_limit", "1G", NULL, 0), 0);
        T_EQ(mf_config_set(&c2, "gpu_limit.2", "10M", NULL, 0), 0);
        mf_gpu_init(&c2);
        T_EQU(mf_gpu_budget(2), 10 * M);
        T_EQU(mf_gpu_budget(5), 1024 * M);
    }
}

static void test_charge_and_view(void)
{
    uint64_t f, t;
    setup("64M");
    mf_gpu_view(0, 1024 * M, 1024 * M, &f, &t);
    T_EQU(t, 64 * M);
    T_EQU(f, 64 * M);
    T_EQ(mf_gpu_charge(MF_CALL_CU_MEM_ALLOC, 0, 40 * M), 0);
    T_EQ(mf_gpu_charge(MF_CALL_CU_MEM_ALLOC, 0, 25 * M), -ENOMEM);
    T_EQ(mf_gpu_charge(MF_CALL_CU_MEM_ALLOC, 0, 24 * M), 0);  /* exactly up to the budget */
    T_EQ(mf_gpu_charge(MF_CALL_CU_MEM_ALLOC, 1, 24 * M), 0);  /* devices are apart */
    mf_gpu_view(0, 1024 * M, 1024 * M, &f, &t);
    T_EQU(f, 0);
    mf_gpu_uncharge(0, 24 * M);
    mf_gpu_view(0, 1024 * M, 1024 * M, &f, &t);
    T_EQU(f, 24 * M);
    mf_gpu_view(0, 10 * M, 1024 * M, &f, &t);                 /* clamped by the real free memory */
    T_EQU(f, 10 * M);
    T_EQU(t, 64 * M);
    mf_gpu_view(0, 16 * M, 32 * M, &f, &t);                   /* never more than the device has */
    T_EQU(t, 32 * M);
    T_EQU(f, 0);
    mf_gpu_view(0, 1024 * M, 1024 * M, NULL, NULL);           /* NULL outputs are fine */
    mf_gate_set_limit(MF_POOL_GPU0, 16 * M);                  /* usage above a lowered budget */
    mf_gpu_view(0, 1024 * M, 1024 * M, &f, &t);
    T_EQU(f, 0);
    T_EQU(t, 16 * M);
    setup(NULL);
    mf_gpu_view(0, 123, 456, &f, &t);                         /* no budget: the real figures */
    T_EQU(f, 123);
    T_EQU(t, 456);
    T_EQ(mf_gpu_charge(MF_CALL_CU_MEM_ALLOC, MF_GPU_MAX, 1), -ERANGE);
    T_EQ(mf_gpu_charge(MF_CALL_CU_MEM_ALLOC, -7, 1), -ERANGE);
    T_EQ(mf_gpu_charge(MF_CALL_CU_MEM_HOST, MF_GPU_HOST, 4096), 0);
    T_EQU(mf_gate_used(MF_POOL_HOST), 4096);
    mf_gpu_uncharge(MF_GPU_HOST, 4096);
}

static void test_warn(void)
{
    setup_with("16M", "warn");
    T_EQ(mf_gpu_charge(MF_CALL_CU_MEM_ALLOC, 0, 20 * M), 0);  /* granted, reported */
    T_EQU(mf_gate_used(MF_POOL_GPU0), 20 * M);
    mf_gpu_uncharge(0, 20 * M);
    T_EQU(mf_gate_used(MF_POOL_GPU0), 0);
}

static void test_fork_child(void)
{
    setup("64M");
    T_EQ(mf_gpu_charge(MF_CALL_CU_MEM_ALLOC, 0, 8 * M), 0);
    T_EQ(mf_gpu_track(MF_GPU_DEVPTR, 0xa000, 8 * M, 0), 0);
    T_EQ(mf_gpu_charge(MF_CALL_CU_MEM_CREATE, 1, 4 * M), 0);
    T_EQ(mf_gpu_track(MF_GPU_HANDLE, 7, 4 * M, 1), 0);
    T_EQ(mf_gpu_charge(MF_CALL_CU_MEM_HOST, MF_GPU_HOST, 2 * M), 0);
    T_EQ(mf_gpu_track(MF_GPU_HOSTPTR, 0xb000, 2 * M, MF_GPU_HOST), 0);
    mf_gpu_fork_prepare();
    mf_gpu_fork_child();
    T_EQU(mf_gate_used(MF_POOL_GPU0), 0);
    T_EQU(mf_gate_used(MF_POOL_GPU0 + 1), 0);
    T_EQU(mf_gpu_tracked(), 1);
    uint64_t n;
    T_EQ(mf_gpu_untrack(MF_GPU_HOSTPTR, 0xb000, &n, NULL), 0);
    T_EQU(n, 2 * M);
    mf_gpu_fork_prepare();
    mf_gpu_fork_parent();                                      /* locks released: usable again */
    T_EQ(mf_gpu_track(MF_GPU_DEVPTR, 1, 1, 0), 0);
}

int main(void)
{
    test_table_basic();
    test_table_many();
    test_table_full();
    test_table_threads();
    test_budgets();
    test_charge_and_view();
    test_warn();
    test_fork_child();
    return t_done();
}
