/* test_region_map.c — the map module's books without preloading anything: the begin/end
 * bracket driven with the results a real call would give (addresses far from anything mapped),
 * under a 64 MiB host budget.  Checks what is charged, refused and given back for mmap,
 * mprotect, munmap, mremap, brk and shmdt, that a failed real call changes nothing, that the
 * pool and the table agree under threads, and the file pre-flight check on a sparse file. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config/config.h"
#include "gate/gate.h"
#include "family/map.h"
#include "lifecycle/modules.h"
#include "base/proc.h"
#include "base/stats.h"
#include "t.h"

#define MiB ((uintptr_t)1 << 20)
#define BASE ((uintptr_t)0x300000000000)

static const int RW = PROT_READ | PROT_WRITE;
static const int PA = MAP_PRIVATE | MAP_ANONYMOUS;

static uint64_t used(void) { return mf_gate_used(MF_POOL_HOST); }

/* begin + end as the hook does, with the real call's outcome given. */
static int do_mmap(uintptr_t want, size_t len, int prot, int flags, uintptr_t got)
{
    mf_map_op_t op;
    int rc = mf_map_mmap_begin(&op, (void *)want, len, prot, flags, -1, 0, NULL);
    if (rc == 0)
        mf_map_end(&op, got != 0, got);
    return rc;
}

static int do_mprotect(uintptr_t a, size_t len, int prot, int ok)
{
    mf_map_op_t op;
    int rc = mf_map_mprotect_begin(&op, (void *)a, len, prot, NULL);
    if (rc == 0)
        mf_map_end(&op, ok, 0);
    return rc;
}

static void do_munmap(uintptr_t a, size_t len)
{
    mf_map_op_t op;
    if (mf_map_munmap_begin(&op, (void *)a, len) == 0)
        mf_map_end(&op, 1, 0);
}

static int do_mremap(uintptr_t a, size_t ol, size_t nl, int flags, uintptr_t dest, uintptr_t got)
{
    mf_map_op_t op;
    int rc = mf_map_mremap_begin(&op, (void *)a, ol, nl, flags, (void *)dest, NULL);
    if (rc == 0)
        mf_map_end(&op, got != 0, got);
    return rc;
}

static void test_books(void)
{
    uint64_t u0 = used();
    /* an 8 GiB reservation counts nothing */
    T_EQ(do_mmap(0, 8192 * MiB, PROT_NONE, PA | MAP_NORESERVE, BASE), 0);
    T_EQU(used(), u0);
    /* committing 100 MiB does not fit; 32 MiB does */
    T_EQ(do_mprotect(BASE, 100 * MiB, RW, 1), -ENOMEM);
    T_EQU(used(), u0);
    T_EQ(do_mprotect(BASE, 32 * MiB, RW, 1), 0);
    T_EQU(used(), u0 + 32 * MiB);
    T_EQU(mf_map_counted(), 32 * MiB);
    T_EQU(mf_stats.map_bytes, 32 * MiB);
    /* a real call that fails changes nothing */
    T_EQ(do_mprotect(BASE + 32 * MiB, 16 * MiB, RW, 0), 0);
    T_EQU(used(), u0 + 32 * MiB);
    /* munmapping half returns exactly that half */
    do_munmap(BASE + 16 * MiB, 16 * MiB);
    T_EQU(used(), u0 + 16 * MiB);
    /* MAP_FIXED over counted memory: net, not sum (16 MiB replaced by 48: +32 fits) */
    T_EQ(do_mmap(BASE, 48 * MiB, RW, PA | MAP_FIXED, BASE), 0);
    T_EQU(used(), u0 + 48 * MiB);
    /* mremap grow beyond the budget is refused; a shrink gives back */
    T_EQ(do_mremap(BASE, 48 * MiB, 80 * MiB, MREMAP_MAYMOVE, 0, BASE), -ENOMEM);
    T_EQU(used(), u0 + 48 * MiB);
    T_EQ(do_mremap(BASE, 48 * MiB, 8 * MiB, 0, 0, BASE), 0);
    T_EQU(used(), u0 + 8 * MiB);
    /* a move carries the books; the old range is forgotten */
    uintptr_t dst = BASE + 16384 * MiB;
    T_EQ(do_mremap(BASE, 8 * MiB, 16 * MiB, MREMAP_MAYMOVE, 0, dst), 0);
    T_EQU(used(), u0 + 16 * MiB);
    do_munmap(BASE, 8 * MiB);
    T_EQU(used(), u0 + 16 * MiB);
    /* brk: the pages the break moves over */
    mf_map_op_t op;
    T_EQ(mf_map_brk_begin(&op, BASE + 100 * MiB + 10, BASE + 102 * MiB, NULL), 0);
    mf_map_end(&op, 1, 0);
    T_EQU(used(), u0 + 18 * MiB - 4096);      /* PAGE_ALIGN(new) - PAGE_ALIGN(old) */
    T_EQ(mf_map_brk_begin(&op, BASE + 102 * MiB, BASE + 100 * MiB + 10, NULL), 0);
    mf_map_end(&op, 1, 0);
    T_EQU(used(), u0 + 16 * MiB);
    /* shmdt of an address that is not a segment: nothing */
    T_EQ(mf_map_shmdt_begin(&op, (void *)dst), 0);
    mf_map_end(&op, 1, 0);
    T_EQU(used(), u0 + 16 * MiB);
    do_munmap(dst, 16 * MiB);
    do_munmap(BASE, 8192 * MiB);
    T_EQU(used(), u0);
    T_EQU(mf_map_counted(), 0);
    T_EQU(mf_map_regions(), 0);
}

/* Inside memfence or the allocator underneath, nothing is tracked. */
static void test_bypass(void)
{
    uint64_t u0 = used();
    mf_tls.in_backend++;
    T_EQ(do_mmap(0, 8 * MiB, RW, PA, BASE), 0);
    mf_tls.in_backend--;
    mf_tls.depth++;
    T_EQ(do_mmap(0, 8 * MiB, RW, PA, BASE + 8 * MiB), 0);
    mf_tls.depth--;
    T_EQU(used(), u0);
    T_EQU(mf_map_regions(), 0);
}

static void *worker(void *arg)
{
    uintptr_t zone = BASE + ((uintptr_t)(long)arg << 36);
    uint64_t s = 0x1234567ull * (uint64_t)((long)arg + 1);
    for (int i = 0; i < 4000; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        uintptr_t a = zone + (s % 64) * MiB, n = (1 + (s >> 8) % 4) * MiB;
        switch ((s >> 16) % 3) {
        case 0: do_mmap(a, n, RW, PA | MAP_FIXED, a); break;
        case 1: do_mprotect(a, n, (s >> 20) & 1 ? RW : PROT_NONE, 1); break;
        default: do_munmap(a, n); break;
        }
    }
    return NULL;
}

static void test_threads(void)
{
    uint64_t u0 = used();
    mf_gate_set_limit(MF_POOL_HOST, 512 * MiB);      /* some calls refused, most not */
    pthread_t th[4];
    for (long i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, worker, (void *)i);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    T_EQU(used() - u0, mf_map_counted());
    T_EQU(mf_stats.map_bytes, mf_map_counted());
    for (long i = 0; i < 4; i++)
        do_munmap(BASE + ((uintptr_t)i << 36), 128 * MiB);
    T_EQU(used(), u0);
    mf_gate_set_limit(MF_POOL_HOST, 64 * MiB);
}

static void test_preflight(void)
{
    char path[] = "/tmp/test_region_map.XXXXXX";
    int fd = mkstemp(path);
    T_CHECK(fd >= 0);
    unlink(path);
    T_EQ(ftruncate(fd, (off_t)(200 * MiB)), 0);
    uint64_t r0 = mf_stats.map_refusals;
    T_EQ(mf_map_preflight(fd, 200 * MiB, 0), -ENOMEM);           /* 200 MiB > 64 MiB budget */
    T_EQU(mf_stats.map_refusals, r0 + 1);
    T_EQ(mf_map_preflight(fd, 200 * MiB, 150 * MiB), 0);         /* only 50 MiB of file left */
    T_EQ(mf_map_preflight(fd, 32 * MiB, 0), 0);                  /* below map_check_min */
    mf_map_op_t op;
    T_EQ(mf_map_mmap_begin(&op, NULL, 200 * MiB, PROT_READ, MAP_SHARED, fd, 0, NULL), -ENOMEM);
    mf_config_t cfg;
    mf_config_defaults(&cfg);
    cfg.map_check = false;
    mf_map_init(&cfg);
    T_EQ(mf_map_preflight(fd, 200 * MiB, 0), 0);
    mf_config_defaults(&cfg);
    cfg.map_factor = 0.25;                                       /* 50 MiB needed: fits */
    mf_map_init(&cfg);
    T_EQ(mf_map_preflight(fd, 200 * MiB, 0), 0);
    close(fd);
}

int main(void)
{
    mf_config_t cfg;
    mf_config_defaults(&cfg);
    mf_map_init(&cfg);
    atomic_store(&mf_state, MF_STATE_READY);
    mf_gate_set_limit(MF_POOL_HOST, 64 * MiB);
    test_books();
    test_bypass();
    test_threads();
    test_preflight();
    return t_done();
}
