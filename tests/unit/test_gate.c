/* test_gate.c — the budget's exactness: never granted beyond the limit, never refused while the
 * request fits, even when the room sits in other threads' credit. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <stdatomic.h>
#include <stdlib.h>
#include "gate/gate.h"
#include "t.h"

#define LIMIT (8u << 20)
#define THREADS 4
#define ROUNDS 200

static _Atomic uint64_t granted;      /* the test's own count of what the gate granted */
static _Atomic int over_limit;
static pthread_barrier_t bar;

static void single_thread(void)
{
    mf_gate_reset();
    mf_gate_set_limit(MF_POOL_HOST, 1000);
    mf_slot_t *s = mf_gate_slot_acquire(1);
    T_CHECK(s != NULL);
    T_EQ(mf_gate_charge(s, 600), 0);
    T_EQ(mf_gate_charge(s, 400), 0);                  /* exactly the limit */
    T_EQ(mf_gate_charge(s, 1), -ENOMEM);
    T_EQU(mf_gate_used(MF_POOL_HOST), 1000);
    mf_gate_uncharge(s, 400);
    T_EQU(mf_gate_used(MF_POOL_HOST), 600);
    T_EQ(mf_gate_charge_pool(MF_POOL_HOST, 400), 0);  /* the pool path sees the slot's credit */
    T_EQ(mf_gate_charge_pool(MF_POOL_HOST, 1), -ENOMEM);
    mf_gate_uncharge_pool(MF_POOL_HOST, 400);
    mf_gate_uncharge(s, 600);
    mf_gate_slot_release(s);
    T_EQU(mf_gate_used(MF_POOL_HOST), 0);
    T_EQU(mf_gate_room(MF_POOL_HOST), 1000);
    /* GPU pools are independent */
    mf_gate_set_limit(MF_POOL_GPU0 + 1, 4096);
    T_EQ(mf_gate_charge_pool(MF_POOL_GPU0 + 1, 4096), 0);
    T_EQ(mf_gate_charge_pool(MF_POOL_GPU0 + 1, 1), -ENOMEM);
    T_EQ(mf_gate_charge_pool(MF_POOL_GPU0, 1 << 30), 0);   /* unlimited */
    T_EQ(mf_gate_charge_pool(MF_POOL_COUNT, 1), -EINVAL);
}

/* A thread leases credit and goes idle; another thread must still get every byte. */
static mf_slot_t *idle_slot;
static void *idler(void *arg)
{
    (void)arg;
    idle_slot = mf_gate_slot_acquire(2);
    mf_gate_charge(idle_slot, 100);        /* leases 100 + a batch of credit */
    pthread_barrier_wait(&bar);            /* credit parked */
    pthread_barrier_wait(&bar);            /* main thread done */
    mf_gate_uncharge(idle_slot, 100);
    mf_gate_slot_release(idle_slot);
    return NULL;
}

static void drain_before_refusal(void)
{
    mf_gate_reset();
    mf_gate_set_limit(MF_POOL_HOST, 1 << 20);
    pthread_barrier_init(&bar, NULL, 2);
    pthread_t t;
    pthread_create(&t, NULL, idler, NULL);
    pthread_barrier_wait(&bar);
    T_CHECK(mf_gate_slot_credit(idle_slot) > 0);        /* the room really is in the other thread */
    mf_slot_t *s = mf_gate_slot_acquire(3);
    T_EQ(mf_gate_charge(s, (1 << 20) - 100), 0);
    T_EQ(mf_gate_charge(s, 1), -ENOMEM);
    T_EQU(mf_gate_used(MF_POOL_HOST), 1 << 20);
    mf_gate_uncharge(s, (1 << 20) - 100);
    mf_gate_slot_release(s);
    pthread_barrier_wait(&bar);
    pthread_join(t, NULL);
    T_EQU(mf_gate_used(MF_POOL_HOST), 0);
    pthread_barrier_destroy(&bar);
}

static uint64_t rnd(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static void *stress(void *arg)
{
    long id = (long)arg;
    mf_slot_t *s = mf_gate_slot_acquire((int)id + 10);
    uint64_t held[64] = { 0 }, x = 88172645463325252ull + (uint64_t)id * 7919;
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < 2000; i++) {
            unsigned k = rnd(&x) & 63;
            if (held[k]) {
                atomic_fetch_sub(&granted, held[k]);
                mf_gate_uncharge(s, held[k]);
                held[k] = 0;
            } else {
                uint64_t n = 16 + rnd(&x) % (256 << 10);
                if (mf_gate_charge(s, n) == 0) {
                    held[k] = n;
                    if (atomic_fetch_add(&granted, n) + n > LIMIT)
                        atomic_store(&over_limit, 1);
                }
            }
        }
        /* quiescent check: exact books, and the whole room is grantable to one thread */
        pthread_barrier_wait(&bar);
        if (id == 0) {
            uint64_t g = atomic_load(&granted);
            T_EQU(mf_gate_used(MF_POOL_HOST), g);
            uint64_t room = LIMIT - g;
            if (room) {
                T_EQ(mf_gate_charge(s, room), 0);
                T_EQ(mf_gate_charge(s, 1), -ENOMEM);
                mf_gate_uncharge(s, room);
            }
        }
        pthread_barrier_wait(&bar);
    }
    for (int k = 0; k < 64; k++)
        if (held[k]) {
            atomic_fetch_sub(&granted, held[k]);
            mf_gate_uncharge(s, held[k]);
        }
    mf_gate_slot_release(s);
    return NULL;
}

static void threads_stress(void)
{
    mf_gate_reset();
    mf_gate_set_limit(MF_POOL_HOST, LIMIT);
    pthread_barrier_init(&bar, NULL, THREADS);
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, stress, (void *)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    T_CHECK(!atomic_load(&over_limit));
    T_EQU(mf_gate_used(MF_POOL_HOST), 0);
    T_CHECK(mf_gate_peak(MF_POOL_HOST) <= LIMIT);
    pthread_barrier_destroy(&bar);
}

/* A signal handler that charges and credits on the thread it interrupts, in a tight loop, while
 * that thread charges and credits its own blocks and another thread keeps forcing drains: no
 * update may be lost (a handler that lands between the owner's read and write of its credit, or
 * that clears a mark the owner set, must not make a byte appear or vanish). */
static mf_slot_t *sig_slot;
static _Atomic int sig_stop;
static _Atomic long sig_handled, sig_refused;
static pthread_t sig_target;

static void sig_charge(int sig)
{
    (void)sig;
    uint64_t n = 16 + (uint64_t)(atomic_load_explicit(&sig_handled, memory_order_relaxed) % 7) * 100;
    if (mf_gate_charge(sig_slot, n) == 0)
        mf_gate_uncharge(sig_slot, n);
    else
        atomic_fetch_add_explicit(&sig_refused, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&sig_handled, 1, memory_order_relaxed);
}

static void *sig_kicker(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&sig_stop, memory_order_relaxed))
        pthread_kill(sig_target, SIGUSR1);
    return NULL;
}

static void *sig_drainer(void *arg)
{
    (void)arg;
    mf_slot_t *s = mf_gate_slot_acquire(3);
    while (!atomic_load_explicit(&sig_stop, memory_order_relaxed)) {
        T_EQ(mf_gate_charge(s, LIMIT + 1), -ENOMEM);   /* never fits: drains, then refuses */
        mf_gate_drain();
        struct timespec ts = { 0, 20000 };
        nanosleep(&ts, NULL);
    }
    mf_gate_slot_release(s);
    return NULL;
}

static void signal_nesting(void)
{
    mf_gate_reset();
    mf_gate_set_limit(MF_POOL_HOST, LIMIT);
    sig_slot = mf_gate_slot_acquire(2);
    T_CHECK(sig_slot != NULL);
    sig_target = pthread_self();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = sig_charge;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t k, d;
    pthread_create(&k, NULL, sig_kicker, NULL);
    pthread_create(&d, NULL, sig_drainer, NULL);
    uint64_t held[64] = { 0 }, x = 12345, mine = 0;
    long over = 0;
    struct timespec t0, t;
    long el;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        for (int i = 0; i < 100000; i++) {
            unsigned k2 = (unsigned)(rnd(&x) & 63);
            if (held[k2]) {
                mf_gate_uncharge(sig_slot, held[k2]);
                mine -= held[k2];
                held[k2] = 0;
            } else {
                uint64_t n = 16 + rnd(&x) % 60000;
                if (mf_gate_charge(sig_slot, n) == 0) {
                    held[k2] = n;
                    mine += n;
                }
            }
            if (mine > LIMIT)
                over++;
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
        el = (t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec);
        /* 1.5 s, and on a loaded machine until enough signals have landed (10 s at most) */
    } while (el < 1500000000L || (atomic_load(&sig_handled) < 5000 && el < 10000000000L));
    atomic_store(&sig_stop, 1);
    pthread_join(k, NULL);
    pthread_join(d, NULL);
    signal(SIGUSR1, SIG_IGN);
    T_CHECK(atomic_load(&sig_handled) > 500);
    T_EQ(over, 0);
    T_EQU(mf_gate_used(MF_POOL_HOST), mine);      /* every charge and credit accounted */
    for (int i = 0; i < 64; i++)
        if (held[i])
            mf_gate_uncharge(sig_slot, held[i]);
    mf_gate_drain();
    T_EQU(mf_gate_used(MF_POOL_HOST), 0);
    mf_gate_slot_release(sig_slot);
    T_EQU(mf_gate_used(MF_POOL_HOST), 0);
}

/* A fresh host pool (limit L, headroom R, overdraft O), filled with small blocks of `size` until
 * one is refused (the overdraft opens): the caller's slot. */
static mf_slot_t *filled_once(uint64_t L, uint64_t R, uint64_t O, uint64_t size)
{
    mf_gate_reset();
    mf_gate_set_limit(MF_POOL_HOST, L);
    mf_gate_set_headroom(R, O);
    mf_slot_t *s = mf_gate_slot_acquire(1);
    while (mf_gate_charge(s, size) == 0)
        ;
    T_CHECK(mf_gate_in_grace());
    return s;
}

static void emptied(mf_slot_t *s)
{
    mf_gate_uncharge(s, mf_gate_used(MF_POOL_HOST));
    mf_gate_slot_release(s);
}

/* The sizes kept out of the overdraft.  One request size, two charges: glibc serves calloc(512
 * KiB) as a mapping (528384 bytes) until freeing one raises its mmap threshold, and from its heap
 * (524304) after: the retry is the size refused, and spends no overdraft (node's Buffer retries
 * spent it all, and V8's collector died in SIGSEGV on its next unchecked block).  Below 64 KiB
 * only the very size refused is closed. */
static void refused_sizes(uint64_t L, uint64_t R, uint64_t O)
{
    mf_slot_t *s = filled_once(L, R, O, 528384);
    T_EQ(mf_gate_charge(s, 524304), -ENOMEM);         /* the same request, from the heap */
    T_EQ(mf_gate_charge(s, 528384 + 4096 + 8), -ENOMEM);   /* within a page: the same too */
    T_EQ(mf_gate_charge(s, 400 << 10), 0);             /* another size: the overdraft */
    T_EQ(mf_gate_charge(s, 528), 0);                   /* an error path's small block */
    emptied(s);
    s = filled_once(L, R, O, 4096);
    T_EQ(mf_gate_charge(s, 4096), -ENOMEM);
    T_EQ(mf_gate_charge(s, 4112), 0);
    emptied(s);
}

/* The room for small blocks (gate.h's table): large blocks stop before the headroom, mappings
 * halfway into it, small blocks at the limit; once a small block was refused (a large block's or
 * a mapping's refusal leaves the overdraft shut), small blocks of a size not refused may use the
 * overdraft, and nothing ever passes limit + overdraft. */
static void headroom_table(void)
{
    const uint64_t M = 1u << 20, L = 64 * M, R = 8 * M, O = 4 * M;
    mf_gate_reset();
    mf_gate_set_limit(MF_POOL_HOST, L);
    mf_gate_set_headroom(R, O);
    mf_slot_t *s = mf_gate_slot_acquire(1);
    T_CHECK(s != NULL);
    /* large blocks: up to L - R exactly */
    T_EQ(mf_gate_charge(s, L - R - 2 * M), 0);
    T_EQ(mf_gate_charge(s, 2 * M), 0);
    T_EQU(mf_gate_used(MF_POOL_HOST), L - R);
    T_EQ(mf_gate_charge(s, MF_GATE_SMALL), -ENOMEM);   /* 1 MiB exactly: a large block */
    T_CHECK(!mf_gate_in_grace());      /* refused with the headroom free: no overdraft */
    uint64_t used, cap;
    T_CHECK(mf_gate_take_refusal(&used, &cap));
    T_EQU(cap, L - R);
    T_EQU(used, L - R);
    T_CHECK(!mf_gate_take_refusal(&used, &cap));      /* taken once */
    mf_gate_set_headroom(R, O);                        /* leave the refused state */
    /* mappings: up to L - R/2 */
    T_EQ(mf_gate_charge_pool(MF_POOL_HOST, R / 2), 0);
    T_EQ(mf_gate_charge_pool(MF_POOL_HOST, 4096), -ENOMEM);
    T_CHECK(!mf_gate_in_grace());      /* nor after a mapping's refusal */
    /* small blocks: up to L, not one byte more before a refusal of one (the two refusals above
     * left the overdraft shut) */
    uint64_t small = 0;
    while (mf_gate_charge(s, 64 << 10) == 0)
        small += 64 << 10;
    T_EQU(mf_gate_used(MF_POOL_HOST), L);
    T_EQU(small, R / 2);
    T_CHECK(mf_gate_in_grace());
    /* after it: small blocks into the overdraft, except one of the size refused (a program
     * retrying it, or growing with it); large ones and mappings still refused */
    T_EQ(mf_gate_charge(s, 64 << 10), -ENOMEM);
    T_EQ(mf_gate_charge(s, MF_GATE_SMALL), -ENOMEM);
    T_EQ(mf_gate_charge_pool(MF_POOL_HOST, 4096), -ENOMEM);
    T_EQU(mf_gate_used(MF_POOL_HOST), L);
    T_EQ(mf_gate_charge(s, MF_GATE_SMALL - 1), 0);     /* the largest small block */
    T_EQ(mf_gate_charge(s, (64 << 10) - 16), 0);
    T_EQ(mf_gate_charge(s, 64 << 10), -ENOMEM);
    while (mf_gate_charge(s, 4096) == 0)
        ;
    T_EQ(mf_gate_charge(s, 4096), -ENOMEM);           /* refused once: that size is closed */
    uint64_t rest = L + O - mf_gate_used(MF_POOL_HOST);
    T_CHECK(rest > 0 && rest < 4096);
    T_EQ(mf_gate_charge(s, rest), 0);                  /* up to limit + overdraft exactly */
    T_EQU(mf_gate_used(MF_POOL_HOST), L + O);
    T_EQ(mf_gate_charge(s, 1), -ENOMEM);
    T_CHECK(mf_gate_peak(MF_POOL_HOST) <= L + O);
    mf_gate_uncharge(s, mf_gate_used(MF_POOL_HOST));
    mf_gate_slot_release(s);
    refused_sizes(L, R, O);
    /* strict: both 0 is the old exact budget */
    mf_gate_reset();
    mf_gate_set_limit(MF_POOL_HOST, L);
    s = mf_gate_slot_acquire(1);
    T_EQ(mf_gate_charge(s, L), 0);
    T_EQ(mf_gate_charge(s, 1), -ENOMEM);
    T_EQ(mf_gate_charge(s, 1), -ENOMEM);
    mf_gate_uncharge(s, L);
    mf_gate_slot_release(s);
}

/* The wake call: made from the pool's slow path (a lease, a direct charge), never from a charge
 * the slot's credit covers, with the pool's usage, until it answers true. */
static unsigned wake_calls;
static uint64_t wake_seen, wake_at;
static bool wake_fn(uint64_t used)
{
    wake_calls++;
    wake_seen = used;
    return used >= wake_at;
}

static void wake(void)
{
    mf_gate_reset();
    mf_gate_set_limit(MF_POOL_HOST, 1ull << 30);
    mf_slot_t *s = mf_gate_slot_acquire(1);
    wake_at = 4u << 20;
    mf_gate_set_wake(wake_fn);
    T_EQ(mf_gate_charge(s, 1000), 0);              /* leases a batch: one call */
    T_EQU(wake_calls, 1);
    T_CHECK(wake_seen >= 1000 && wake_seen < wake_at);
    T_EQ(mf_gate_charge(s, 1000), 0);              /* covered by the credit: no call */
    T_EQU(wake_calls, 1);
    T_EQ(mf_gate_charge_pool(MF_POOL_HOST, 8u << 20), 0);   /* past the mark: true, cleared */
    T_EQU(wake_calls, 2);
    T_CHECK(wake_seen >= wake_at);
    T_EQ(mf_gate_charge_pool(MF_POOL_HOST, 4096), 0);
    T_EQU(wake_calls, 2);
    mf_gate_uncharge_pool(MF_POOL_HOST, (8u << 20) + 4096);
    mf_gate_uncharge(s, 2000);
    mf_gate_slot_release(s);
    mf_gate_reset();
}

int main(void)
{
    wake();
    single_thread();
    headroom_table();
    drain_before_refusal();
    threads_stress();
    signal_nesting();
    return t_done();
}
