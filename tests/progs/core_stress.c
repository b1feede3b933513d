/* core_stress.c — threads allocating and freeing random sizes right at the budget, under the
 * preload.  The test keeps its own count of what its granted blocks count (memfence_charge_of) and checks:
 *   - that count never exceeds the budget (granted beyond the limit: must be 0 bytes);
 *   - at quiescent points, memfence's usage equals the baseline + that count exactly;
 *   - and the whole remaining room is granted to one thread even though the others hold credit
 *     (a refusal happens only when the request could not fit).
 * usage: core_stress THREADS ROUNDS [new]  (MEMFENCE_LIMIT set by the caller)
 *   new: the blocks come from C++'s operator new (its nothrow form, which returns NULL where
 *        the throwing one, memfence's, would throw) and go back through operator delete, from
 *        libstdc++ opened here: memfence's operator new undoes its charge when the thread's
 *        credit does not cover it, and this checks that the undo stays exact under threads. */
#include <dlfcn.h>
#include <malloc.h>
#include <string.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "memfence.h"

static int threads, rounds;
static uint64_t limit, base;
static _Atomic uint64_t granted, over, refusals, bad_refusals, max_seen;
static pthread_barrier_t bar;
static void *(*get)(size_t) = malloc;
static void (*put)(void *) = free;

static void *(*nothrow_new)(size_t, const void *);
static const void *nothrow_tag;
static void *new_nothrow(size_t n) { return nothrow_new(n, nothrow_tag); }

/* operator new (nothrow) and operator delete, as a C++ program calls them. */
static int use_new(void)
{
    if (!dlopen("libstdc++.so.6", RTLD_NOW | RTLD_GLOBAL))
        return -1;
    nothrow_new = (void *(*)(size_t, const void *))dlsym(RTLD_DEFAULT, "_ZnwmRKSt9nothrow_t");
    nothrow_tag = dlsym(RTLD_DEFAULT, "_ZSt7nothrow");
    put = (void (*)(void *))dlsym(RTLD_DEFAULT, "_ZdlPv");
    if (!nothrow_new || !nothrow_tag || !put)
        return -1;
    get = new_nothrow;
    /* one refusal before the count starts: the C++ runtime's first throw keeps a block of its
     * own for good (the unwinder's cache), which the count below would not know */
    if (get((size_t)1 << 44) != NULL)
        return -1;
    return 0;
}

static uint64_t rnd(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static void *worker(void *arg)
{
    long id = (long)arg;
    void *held[256] = { 0 };
    uint64_t x = 0x9E3779B97F4A7C15ull * (uint64_t)(id + 1);
    if (get == new_nothrow && get((size_t)1 << 44) != NULL)   /* its first throw: libstdc++'s */
        atomic_fetch_add(&over, 1);      /* thread-local blocks (the loader's) come now */
    pthread_barrier_wait(&bar);          /* every thread exists: its own TLS blocks are counted */
    if (id == 0)
        base = memfence_used(0);
    pthread_barrier_wait(&bar);
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < 5000; i++) {
            unsigned k = rnd(&x) & 255;
            if (held[k]) {
                atomic_fetch_sub(&granted, memfence_charge_of(held[k]));
                put(held[k]);
                held[k] = NULL;
            } else {
                size_t n = 16 + rnd(&x) % (rnd(&x) & 1 ? 512 : 600000);
                void *p = get(n);
                if (p) {
                    uint64_t g = atomic_fetch_add(&granted, memfence_charge_of(p)) +
                                 memfence_charge_of(p);
                    if (base + g > limit)
                        atomic_fetch_add(&over, 1);
                    uint64_t m = atomic_load(&max_seen);
                    while (g > m && !atomic_compare_exchange_weak(&max_seen, &m, g))
                        ;
                    held[k] = p;
                } else {
                    atomic_fetch_add(&refusals, 1);
                }
            }
        }
        pthread_barrier_wait(&bar);
        if (id == 0) {
            uint64_t g = atomic_load(&granted), used = memfence_used(0);
            if (used != base + g)
                printf("round %d: memfence counts %llu, the test %llu + base %llu\n", r,
                       (unsigned long long)used, (unsigned long long)g, (unsigned long long)base);
            if (used != base + g)
                atomic_fetch_add(&bad_refusals, 1000000);
            /* the room, minus glibc's header slack, must be grantable now */
            uint64_t room = limit - used;
            if (room > 4096) {
                void *p = get(room - 4096);
                if (!p) {
                    printf("round %d: refused %llu with %llu of room\n", r,
                           (unsigned long long)(room - 4096), (unsigned long long)room);
                    atomic_fetch_add(&bad_refusals, 1);
                }
                put(p);
            }
            void *q = get(room + 1);
            if (q) {
                printf("round %d: granted %llu with only %llu of room\n", r,
                       (unsigned long long)(room + 1), (unsigned long long)room);
                atomic_fetch_add(&over, 1);
                put(q);
            }
        }
        pthread_barrier_wait(&bar);
    }
    for (int k = 0; k < 256; k++)
        if (held[k]) {
            atomic_fetch_sub(&granted, memfence_charge_of(held[k]));
            put(held[k]);
        }
    return NULL;
}

int main(int argc, char **argv)
{
    threads = argc > 1 ? atoi(argv[1]) : 4;
    rounds = argc > 2 ? atoi(argv[2]) : 20;
    if (argc > 3 && !strcmp(argv[3], "new") && use_new() != 0) {
        printf("cannot open libstdc++'s operator new\n");
        return 2;
    }
    if (!memfence_present()) {
        printf("memfence is not loaded\n");
        return 2;
    }
    limit = memfence_limit(0);
    pthread_barrier_init(&bar, NULL, (unsigned)threads);
    setvbuf(stdout, NULL, _IONBF, 0);
    pthread_t t[64];
    for (long i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    printf("threads=%d rounds=%d limit=%llu max granted=%llu refusals=%llu over-limit=%llu "
           "bad-refusals=%llu used-after=%llu base=%llu\n",
           threads, rounds, (unsigned long long)limit,
           (unsigned long long)(base + atomic_load(&max_seen)),
           (unsigned long long)atomic_load(&refusals), (unsigned long long)atomic_load(&over),
           (unsigned long long)atomic_load(&bad_refusals),
           (unsigned long long)memfence_used(0), (unsigned long long)base);
    return atomic_load(&over) || atomic_load(&bad_refusals) || atomic_load(&refusals) == 0;
}
