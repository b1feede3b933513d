/* test_gate.c — the budget's exactness: never granted beyond the limit, never refused while the
 * request fits, even when the room sits in other threads' credit. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include "gate.h"
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
    T_CHECK(idle_slot->credit > 0);        /* the room really is in the other thread */
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

/* The room for small blocks (gate.h's table): large blocks stop before the headroom, mappings
 * halfway into it, small blocks at the limit; after a refusal small blocks may use the
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
    T_EQ(mf_gate_charge(s, MF_GATE_SMALL + 1), -ENOMEM);
    T_CHECK(mf_gate_in_grace());
    uint64_t used, cap;
    mf_gate_last_refusal(&used, &cap);
    T_EQU(cap, L - R);
    T_EQU(used, L - R);
    mf_gate_set_headroom(R, O);                        /* leave the refused state */
    /* mappings: up to L - R/2 */
    T_EQ(mf_gate_charge_pool(MF_POOL_HOST, R / 2), 0);
    T_EQ(mf_gate_charge_pool(MF_POOL_HOST, 4096), -ENOMEM);
    mf_gate_set_headroom(R, O);
    /* small blocks: up to L, not one byte more before a refusal */
    uint64_t small = 0;
    while (mf_gate_charge(s, 64 << 10) == 0)
        small += 64 << 10;
    T_EQU(mf_gate_used(MF_POOL_HOST), L);
    T_EQU(small, R / 2);
    T_CHECK(mf_gate_in_grace());
    /* after it: small blocks into the overdraft, large ones and mappings still refused */
    T_EQ(mf_gate_charge(s, MF_GATE_SMALL), 0);
    T_EQ(mf_gate_charge(s, MF_GATE_SMALL + 1), -ENOMEM);
    T_EQ(mf_gate_charge_pool(MF_POOL_HOST, 4096), -ENOMEM);
    while (mf_gate_charge(s, 4096) == 0)
        ;
    T_EQU(mf_gate_used(MF_POOL_HOST), L + O);
    T_CHECK(mf_gate_peak(MF_POOL_HOST) <= L + O);
    mf_gate_uncharge(s, mf_gate_used(MF_POOL_HOST));
    mf_gate_slot_release(s);
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

int main(void)
{
    single_thread();
    headroom_table();
    drain_before_refusal();
    threads_stress();
    return t_done();
}
