/* test_heap.c — the malloc family's core (family/heap.c) without preloading: the backend is
 * resolved for real (mf_backend_init: RTLD_NEXT from this program is the C library, or the
 * sanitizer's allocator in the ASan build), the state is set to READY by hand (no constructor
 * runs in the archive), and the general path, the fast path's tails, the refusal and realloc
 * are called directly under small budgets.  After each step the gate's usage must equal the
 * charges of the live blocks (mf_heap_charge), to the byte.
 *
 * Not testable here: the inline fast path of the hooks themselves (src/hooks/, not in the
 * archive) and the profiler's sampling (its own tests); both run under the preload in
 * tests/integration. */
#include <errno.h>
#include <malloc.h>
#include <string.h>
#include <sys/auxv.h>

#include "backend/backend.h"
#include "base/calls.h"
#include "base/proc.h"
#include "base/stats.h"
#include "family/heap.h"
#include "gate/gate.h"
#include "gate/policy.h"
#include "t.h"

#define KiB ((uint64_t)1 << 10)
#define MiB ((uint64_t)1 << 20)
static const void *const CALLER = (const void *)0x1234;

static uint64_t used(void) { return mf_gate_used(MF_POOL_HOST); }

/* A fresh budget: gate, policy and heap settings back to their defaults.  The gate's reset
 * frees every slot, so the thread forgets its own and takes a new one at its next charge. */
static void fresh(uint64_t limit)
{
    mf_gate_reset();
    mf_thread_slot_set(NULL);
    mf_policy_reset();
    mf_policy_set(MF_POLICY_FAIL | MF_POLICY_REFUSE_LARGE | MF_POLICY_THROTTLE, 0);
    mf_gate_set_limit(MF_POOL_HOST, limit);
    mf_heap_warn_only = 0;
    mf_heap_big = UINT64_MAX;
}

/* What memfence charges for a request of n bytes (probed: allocated and freed). */
static size_t charge_for(size_t n)
{
    void *p = mf_backend.malloc(n);
    size_t u = mf_heap_charge(p);
    mf_backend.free(p);
    return u;
}

static void *hmalloc(size_t n)
{
    return mf_heap_alloc_slow(MF_CALL_MALLOC, MF_ALLOC_MALLOC, 0, n, 1, CALLER);
}

static void fill(void *p, size_t n, int seed)
{
    for (size_t i = 0; i < n; i++)
        ((unsigned char *)p)[i] = (unsigned char)(i * 31 + (size_t)seed);
}

static int same(const void *p, size_t n, int seed)
{
    for (size_t i = 0; i < n; i++)
        if (((const unsigned char *)p)[i] != (unsigned char)(i * 31 + (size_t)seed))
            return 0;
    return 1;
}

/* ---- usable size, charge and slack --------------------------------------------------- */

static void test_usable(void)
{
    static const size_t sizes[] = { 1, 8, 24, 25, 100, 1000, 4000, 4096, 70000, 131072,
                                    300000, 4 << 20 };
    if (mf_backend.kind == MF_BACKEND_GLIBC)
        T_EQ(mf_heap_glibc_inline, 1);      /* the start-up self-check passes on glibc */
    for (size_t i = 0; i < MF_ARRAY_LEN(sizes); i++) {
        void *p = mf_backend.malloc(sizes[i]);
        T_CHECK(p != NULL);
        size_t u = mf_backend.malloc_usable_size(p), c = mf_heap_charge(p);
        T_EQU(mf_heap_usable(p), u);
        if (mf_heap_glibc_inline) {
            T_EQU(mf_glibc_usable(p), u);   /* small, large and mmapped chunks */
            /* the charge: the chunk, its header included (16 bytes when mapped) */
            T_EQU(c, u + ((((size_t *)p)[-1] & 2) ? 16 : 8));
        } else {
            T_EQU(c, u);
        }
        T_CHECK(u >= sizes[i]);
        T_CHECK(c - sizes[i] <= mf_backend_slack(sizes[i]));   /* the slack is an upper bound */
        mf_backend.free(p);
    }
    /* the slack's two shapes */
    int kind = mf_backend.kind;
    mf_backend.kind = MF_BACKEND_GLIBC;
    T_EQU(mf_backend_slack(1), MF_BACKEND_GLIBC_SLACK);
    T_EQU(mf_backend_slack(1u << 30), MF_BACKEND_GLIBC_SLACK);
    mf_backend.kind = MF_BACKEND_JEMALLOC;
    T_EQU(mf_backend_slack(4 * MiB), MiB + 4096 + 64);
    mf_backend.kind = kind;
}

/* ---- the general path: alloc, free, refusal --------------------------------------------- */

static void test_general(void)
{
    fresh(MiB);
    void *a = hmalloc(1000);
    T_CHECK(a != NULL);
    size_t ua = mf_heap_charge(a);
    T_EQU(used(), ua);
    void *c = mf_heap_alloc_slow(MF_CALL_CALLOC, MF_ALLOC_CALLOC, 0, 100, 30, CALLER);
    T_CHECK(c != NULL && ((char *)c)[2999] == 0);
    size_t uc = mf_heap_charge(c);
    T_EQU(used(), ua + uc);
    void *m = mf_heap_alloc_slow(MF_CALL_MEMALIGN, MF_ALLOC_MEMALIGN, 4096, 5000, 1, CALLER);
    T_CHECK(m != NULL && ((uintptr_t)m & 4095) == 0);
    size_t um = mf_heap_charge(m);
    T_EQU(used(), ua + uc + um);
    /* does not fit: NULL, ENOMEM, counted, nothing charged */
    uint64_t rf = mf_stats.refusals;
    errno = 0;
    T_CHECK(hmalloc(MiB) == NULL);
    T_EQ(errno, ENOMEM);
    T_EQU(mf_stats.refusals, rf + 1);
    T_EQU(used(), ua + uc + um);
    /* posix_memalign: its result in the return value; errno left alone */
    void *pm = NULL;
    T_EQ(mf_heap_posix_memalign_slow(&pm, 3, 100, CALLER), EINVAL);
    T_EQ(mf_heap_posix_memalign_slow(&pm, 0, 100, CALLER), EINVAL);
    errno = 1234;
    T_EQ(mf_heap_posix_memalign_slow(&pm, 64, MiB, CALLER), ENOMEM);
    T_EQ(errno, 1234);
    T_CHECK(pm == NULL);
    T_EQ(mf_heap_posix_memalign_slow(&pm, 64, 2000, CALLER), 0);
    T_EQ(errno, 1234);
    T_CHECK(pm != NULL && ((uintptr_t)pm & 63) == 0);
    size_t up = mf_heap_charge(pm);
    T_EQU(used(), ua + uc + um + up);
    /* larger than mf_heap_big: refused before the backend is asked */
    mf_heap_big = 512 * KiB;
    T_CHECK(hmalloc(512 * KiB + 1) == NULL);
    T_EQU(mf_stats.refusals, rf + 3);
    mf_heap_big = UINT64_MAX;
    /* frees credit exactly what was charged */
    mf_heap_free_slow(c);
    T_EQU(used(), ua + um + up);
    mf_heap_free_slow(pm);
    mf_heap_free_slow(m);
    mf_heap_free_slow(a);
    T_EQU(used(), 0);
    /* the whole budget, to the byte: a block whose charge is the limit fits */
    size_t u = charge_for(200 * KiB);
    fresh(u);
    a = hmalloc(200 * KiB);
    T_CHECK(a != NULL);
    T_EQU(used(), u);
    mf_heap_free_slow(a);
    fresh(u - 1);
    T_CHECK(hmalloc(200 * KiB) == NULL);
    T_EQU(used(), 0);
}

/* ---- the fast path's tails and the refusal -------------------------------------------- */

/* What the hooks' fast path does before the tails (heap.h): backend, charge, credit. */
static void *fast_malloc(size_t n)
{
    mf_slot_t *s = mf_thread_slot();
    mf_tls.req = n;
    void *p = mf_backend.malloc(n);
    size_t u = mf_heap_charge(p);
    if (mf_gate_try_charge(s, u))
        return p;
    return mf_heap_grant_tail(MF_CALL_MALLOC, p, u, s);
}

static void fast_free(void *p)
{
    mf_slot_t *s = mf_thread_slot();
    size_t u = mf_heap_charge(p);
    if (mf_gate_try_uncharge(s, u))
        mf_backend.free(p);
    else
        mf_heap_free_tail(p, u);
}

static void test_tails(void)
{
    fresh(MiB);
    T_CHECK(mf_thread_slot() != NULL);
    void *a = fast_malloc(300 * KiB);
    T_CHECK(a != NULL);
    size_t ua = mf_heap_charge(a);
    T_EQU(used(), ua);
    void *b = fast_malloc(300 * KiB);
    T_CHECK(b != NULL);
    T_EQU(used(), 2 * ua);
    uint64_t rf = mf_stats.refusals;
    errno = 0;
    T_CHECK(fast_malloc(500 * KiB) == NULL);            /* 600 + 500 KiB > 1 MiB: freed, NULL */
    T_EQ(errno, ENOMEM);
    T_EQU(mf_stats.refusals, rf + 1);
    T_EQU(mf_stats.last_refusal_size, 500 * KiB);       /* the request, not the charge */
    T_EQU(used(), 2 * ua);                              /* the slot's net was put back */
    void *c = fast_malloc(100 * KiB);                   /* what fits still fits */
    T_CHECK(c != NULL);
    T_EQU(used(), 2 * ua + mf_heap_charge(c));
    fast_free(a);
    fast_free(c);
    T_EQU(used(), ua);
    /* warn-only: granted past the limit, charged, not counted as a refusal */
    mf_heap_warn_only = 1;
    a = fast_malloc(900 * KiB);
    T_CHECK(a != NULL);
    T_EQU(used(), ua + mf_heap_charge(a));
    T_CHECK(used() > MiB);
    T_EQU(mf_stats.refusals, rf + 1);
    mf_heap_warn_only = 0;
    T_CHECK(fast_malloc(1000) == NULL);                 /* over the limit: nothing more */
    fast_free(a);
    T_EQU(used(), ua);
    fast_free(b);
    T_EQU(used(), 0);
    mf_gate_drain();
    T_EQU(used(), 0);

    /* mf_heap_refuse on its own: frees the block and says so; warn-only keeps and charges it */
    fresh(MiB);
    void *p = mf_backend.malloc(5000);
    size_t up = mf_heap_charge(p);
    rf = mf_stats.refusals;
    errno = 0;
    T_CHECK(mf_heap_refuse(MF_CALL_CALLOC, p, 4999, up, NULL) == NULL);   /* (ASan: freed once) */
    T_EQ(errno, ENOMEM);
    T_EQU(mf_stats.refusals, rf + 1);
    T_EQU(mf_stats.last_refusal_size, 4999);
    T_EQU(used(), 0);
    mf_heap_warn_only = 1;
    p = mf_backend.malloc(5000);
    T_CHECK(mf_heap_refuse(MF_CALL_MALLOC, p, 5000, up, NULL) == p);
    T_EQU(used(), up);
    T_EQU(mf_stats.refusals, rf + 1);
    mf_heap_warn_only = 0;
    mf_heap_free_slow(p);
    T_EQU(used(), 0);
    /* the dynamic loader's request is granted past the budget, like warn-only's: ld.so's own
     * first bytes (its ELF header, at the interpreter's base) stand for its code */
    mf_proc_init();
    const void *in_ld = (const char *)getauxval(AT_BASE) + 16;
    T_CHECK(mf_in_loader(in_ld));
    T_CHECK(!mf_in_loader((const void *)test_tails) && !mf_in_loader(NULL));
    p = mf_backend.malloc(5000);
    T_CHECK(mf_heap_refuse(MF_CALL_CALLOC, p, 5000, up, in_ld) == p);
    T_EQU(used(), up);
    T_EQU(mf_stats.refusals, rf + 1);
    mf_heap_free_slow(p);
    T_EQU(used(), 0);
}

/* ---- realloc --------------------------------------------------------------------------- */

static void test_realloc_far(void)
{
    fresh(64 * MiB);
    void *p = hmalloc(1000);
    fill(p, 1000, 1);
    T_EQU(used(), mf_heap_charge(p));
    void *q = mf_heap_realloc(MF_CALL_REALLOC, p, 50000, CALLER);    /* growth */
    T_CHECK(q != NULL && same(q, 1000, 1));
    T_EQU(used(), mf_heap_charge(q));
    fill(q, 50000, 2);
    void *r = mf_heap_realloc(MF_CALL_REALLOC, q, 3 * MiB, CALLER);  /* to an mmapped chunk */
    T_CHECK(r != NULL && same(r, 50000, 2));
    T_EQU(used(), mf_heap_charge(r));
    q = mf_heap_realloc(MF_CALL_REALLOC, r, 100, CALLER);            /* shrink: exact credit */
    T_CHECK(q != NULL && same(q, 100, 2));
    T_EQU(used(), mf_heap_charge(q));
    r = mf_heap_realloc(MF_CALL_REALLOC, q, 100, CALLER);            /* same size */
    T_CHECK(r != NULL);
    T_EQU(used(), mf_heap_charge(r));
    mf_heap_free_slow(r);
    T_EQU(used(), 0);
}

static void test_realloc_near(void)
{
    const size_t OLD = 100000, NEW = 150000;
    size_t old_u = charge_for(OLD), new_u = charge_for(NEW);
    uint64_t other_n = 20000;
    size_t other_u = charge_for(other_n);
    /* room for exactly the growth, not for the reserve (n + slack): the near-limit path */
    fresh(other_u + new_u);
    void *o = hmalloc(other_n);
    void *p = hmalloc(OLD);
    T_CHECK(o && p);
    fill(p, OLD, 3);
    T_EQU(used(), other_u + old_u);
    void *q = mf_heap_realloc(MF_CALL_REALLOC, p, NEW, CALLER);
    T_CHECK(q != NULL);
    T_CHECK(q && same(q, OLD, 3));
    T_EQU(used(), other_u + mf_heap_charge(q));
    T_EQU(used(), other_u + new_u);                    /* the budget, to the byte */
    /* the reserve that did not fit was no refusal: the overdraft stays shut, nothing to report */
    T_CHECK(!mf_gate_in_grace());
    uint64_t seen_used, seen_cap;
    T_CHECK(!mf_gate_take_refusal(&seen_used, &seen_cap));
    /* shrink at the limit: the difference comes back */
    p = mf_heap_realloc(MF_CALL_REALLOC, q, OLD, CALLER);
    T_CHECK(p != NULL && same(p, OLD, 3));
    T_EQU(used(), other_u + mf_heap_charge(p));
    T_CHECK(used() <= other_u + old_u);
    mf_heap_free_slow(p);
    mf_heap_free_slow(o);
    T_EQU(used(), 0);

    /* one byte short of the growth: refused, the old block intact and still charged */
    fresh(other_u + new_u - 1);
    o = hmalloc(other_n);
    p = hmalloc(OLD);
    fill(p, OLD, 4);
    uint64_t rf = mf_stats.refusals;
    errno = 0;
    T_CHECK(mf_heap_realloc(MF_CALL_REALLOC, p, NEW, CALLER) == NULL);
    T_EQ(errno, ENOMEM);
    T_EQU(mf_stats.refusals, rf + 1);
    T_CHECK(same(p, OLD, 4));
    T_EQU(used(), other_u + old_u);
    /* warn-only: granted, charged past the limit */
    mf_heap_warn_only = 1;
    q = mf_heap_realloc(MF_CALL_REALLOC, p, NEW, CALLER);
    T_CHECK(q != NULL && same(q, OLD, 4));
    T_EQU(used(), other_u + mf_heap_charge(q));
    T_CHECK(used() > mf_gate_limit(MF_POOL_HOST));
    T_EQU(mf_stats.refusals, rf + 1);
    mf_heap_warn_only = 0;
    /* shrink while over the limit: always granted, exact credit */
    p = mf_heap_realloc(MF_CALL_REALLOC, q, 10, CALLER);
    T_CHECK(p != NULL && same(p, 10, 4));
    T_EQU(used(), other_u + mf_heap_charge(p));
    /* larger than mf_heap_big: refused before the backend, block intact */
    mf_heap_big = 64 * KiB;
    T_CHECK(mf_heap_realloc(MF_CALL_REALLOC, p, 64 * KiB + 1, CALLER) == NULL);
    T_EQU(mf_stats.refusals, rf + 2);
    T_CHECK(same(p, 10, 4));
    mf_heap_big = UINT64_MAX;
    T_EQU(used(), other_u + mf_heap_charge(p));
    mf_heap_free_slow(p);
    mf_heap_free_slow(o);
    T_EQU(used(), 0);
}

static int refuse_all(unsigned call, uint64_t req, const void *caller) { return -ENOMEM; }

static void test_realloc_policy(void)
{
    /* the policy decides before the backend: an injected failure leaves everything as it was */
    fresh(64 * MiB);
    void *p = hmalloc(1000);
    fill(p, 1000, 5);
    uint64_t u = used();
    mf_policy_set_injector(refuse_all);
    mf_policy_set(MF_POLICY_FAIL, 1);
    errno = 0;
    T_CHECK(mf_heap_realloc(MF_CALL_REALLOC, p, 100000, CALLER) == NULL);
    T_EQ(errno, ENOMEM);
    T_CHECK(hmalloc(10) == NULL);
    T_EQU(used(), u);
    T_CHECK(same(p, 1000, 5));
    mf_policy_set(MF_POLICY_FAIL, 0);
    mf_policy_set_injector(NULL);
    mf_heap_free_slow(p);
    T_EQU(used(), 0);
}

/* ---- nested calls, bootstrap blocks, pass-through ------------------------------------ */

static void test_paths(void)
{
    /* memfence's own calls (depth > 0): charged to the pool, never refused */
    fresh(4096);
    mf_tls.depth++;
    void *p = hmalloc(100000);
    T_CHECK(p != NULL && !mf_bootstrap_owns(p));
    T_EQU(used(), mf_heap_charge(p));                  /* past the limit: not refused */
    void *q = mf_heap_realloc(MF_CALL_REALLOC, p, 200000, CALLER);
    T_CHECK(q != NULL);
    T_EQU(used(), mf_heap_charge(q));
    p = mf_heap_realloc(MF_CALL_REALLOC, q, 50, CALLER);
    T_EQU(used(), mf_heap_charge(p));
    mf_heap_free_slow(p);
    T_EQU(used(), 0);
    /* ... except memfence's own uncounted blocks */
    mf_tls.uncounted++;
    p = hmalloc(1000);
    T_EQU(used(), 0);
    mf_heap_free_slow(p);
    mf_tls.uncounted--;
    mf_tls.depth--;
    T_EQU(used(), 0);

    /* while the backend is being resolved: __libc_malloc, remembered and not charged until
     * glibc is known to be underneath (not in the ASan build: its allocator is the backend) */
    mf_tls.depth++;
    atomic_store(&mf_state, MF_STATE_RESOLVING);
    p = hmalloc(100);
    T_CHECK(p != NULL && ((uintptr_t)p & 15) == 0 && mf_bootstrap_owns(p));
    T_EQU(mf_bootstrap_usable(p), 100);
    q = mf_heap_alloc_slow(MF_CALL_CALLOC, MF_ALLOC_CALLOC, 0, 10, 30, CALLER);
    T_CHECK(q != NULL && ((char *)q)[299] == 0 && mf_bootstrap_owns(q));
    /* (AddressSanitizer takes __libc_memalign but not __libc_free: glibc underneath only) */
    void *al = NULL;
    if (mf_backend.kind == MF_BACKEND_GLIBC) {
        T_EQ(mf_heap_posix_memalign_slow(&al, 256, 1000, CALLER), 0);
        T_CHECK(al != NULL && ((uintptr_t)al & 255) == 0 && mf_bootstrap_owns(al));
    }
    T_EQU(used(), 0);
    mf_heap_free_slow(p);                               /* freed while resolving */
    T_CHECK(!mf_bootstrap_owns(p));
    mf_heap_settle_bootstrap();
    uint64_t adopted = 0;
    if (mf_bootstrap_glibc()) {                         /* glibc's: charged, forgotten */
        adopted = mf_glibc_chunk(q) + (al ? mf_glibc_chunk(al) : 0);
        T_CHECK(!mf_bootstrap_owns(q) && !mf_bootstrap_owns(al));
    }
    T_EQU(used(), adopted);
    atomic_store(&mf_state, MF_STATE_READY);
    mf_tls.depth--;
    mf_heap_free_slow(q);                               /* bootstrap blocks freed later */
    if (al)
        mf_heap_free_slow(al);
    T_CHECK(!mf_bootstrap_owns(q) && !mf_bootstrap_owns(al));
    T_EQU(used(), 0);

    /* pass-through (a required symbol missing): nothing charged, nothing refused */
    atomic_store(&mf_state, MF_STATE_DISABLED);
    p = hmalloc(100000);
    T_CHECK(p != NULL);
    T_EQU(used(), 0);
    p = mf_heap_realloc(MF_CALL_REALLOC, p, 300000, CALLER);
    T_CHECK(p != NULL);
    T_EQU(used(), 0);
    mf_heap_free_slow(p);
    T_EQU(used(), 0);
    atomic_store(&mf_state, MF_STATE_READY);
}

int main(void)
{
    /* what the constructor would do, without the modules: the backend, then READY */
    T_EQ(mf_backend_init(), 0);
    T_CHECK(mf_backend.malloc && mf_backend.free && mf_backend.realloc &&
            mf_backend.malloc_usable_size);
    mf_heap_check_usable();
    mf_heap_init_policy();
    fprintf(stderr, "backend: %s, inline usable size: %d\n", mf_backend_name(), mf_heap_glibc_inline);
    atomic_store(&mf_state, MF_STATE_READY);
    mf_policy_set(MF_POLICY_NOT_READY, 0);
    test_usable();
    test_general();
    test_tails();
    test_realloc_far();
    test_realloc_near();
    test_realloc_policy();
    test_paths();
    return t_done();
}
