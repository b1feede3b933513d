/* workloads.c — allocation-heavy programs in the spirit of the classic allocator benchmarks,
 * for bench/b-05-workloads.sh.  usage: workloads MODE SCALE
 *   bignum  cfrac-like: arbitrary-precision arithmetic on short-lived digit arrays (8-200 B),
 *           every intermediate result a fresh block freed soon after;
 *   server  larson-like: 4 threads, each allocating blocks (16-1000 B) and handing a share to the
 *           next thread, which frees them (cross-thread frees, blocks living a while);
 *   mixed   espresso/xmalloc-like: a pool of live blocks of mixed sizes (16 B-64 KiB, mostly
 *           small), replaced, grown and shrunk with realloc.
 * Prints a checksum so the work cannot be optimised away. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rnd(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* ---- bignum: numbers as malloc'd arrays of 32-bit digits, base 2^32 -------------------------- */
typedef struct { int n; uint32_t *d; } big_t;

static big_t big_new(int n)
{
    big_t b = { n, calloc((size_t)(n ? n : 1), sizeof(uint32_t)) };
    return b;
}

static big_t big_mul(big_t a, big_t b)
{
    big_t r = big_new(a.n + b.n);
    for (int i = 0; i < a.n; i++) {
        uint64_t c = 0;
        for (int j = 0; j < b.n; j++) {
            uint64_t t = (uint64_t)a.d[i] * b.d[j] + r.d[i + j] + c;
            r.d[i + j] = (uint32_t)t;
            c = t >> 32;
        }
        r.d[i + b.n] = (uint32_t)c;
    }
    while (r.n > 1 && r.d[r.n - 1] == 0)
        r.n--;
    return r;
}

static big_t big_add(big_t a, big_t b)
{
    if (a.n < b.n) { big_t t = a; a = b; b = t; }
    big_t r = big_new(a.n + 1);
    uint64_t c = 0;
    for (int i = 0; i < a.n; i++) {
        uint64_t t = (uint64_t)a.d[i] + (i < b.n ? b.d[i] : 0) + c;
        r.d[i] = (uint32_t)t;
        c = t >> 32;
    }
    r.d[a.n] = (uint32_t)c;
    if (!c)
        r.n = a.n;
    return r;
}

/* keeps numbers below 2^(32*limbs) by truncation: the shape of the work, not the mathematics */
static big_t big_trunc(big_t a, int limbs)
{
    int n = a.n < limbs ? a.n : limbs;
    big_t r = big_new(n);
    memcpy(r.d, a.d, (size_t)n * 4);
    return r;
}

static uint64_t bignum(long scale)
{
    uint64_t x = 42, sum = 0;
    for (long it = 0; it < scale * 20000; it++) {
        int la = 1 + (int)(rnd(&x) % 12), lb = 1 + (int)(rnd(&x) % 12);
        big_t a = big_new(la), b = big_new(lb);
        for (int i = 0; i < la; i++) a.d[i] = (uint32_t)rnd(&x);
        for (int i = 0; i < lb; i++) b.d[i] = (uint32_t)rnd(&x);
        big_t p = big_mul(a, b), s = big_add(p, a), t = big_trunc(s, 16), q = big_mul(t, b);
        sum += q.d[0] + (uint64_t)q.n;
        free(a.d); free(b.d); free(p.d); free(s.d); free(t.d); free(q.d);
    }
    return sum;
}

/* ---- server: threads freeing each other's blocks -------------------------------------------- */
enum { SRV_THREADS = 4, SRV_SLOTS = 4096 };
static void *_Atomic handoff[SRV_THREADS][SRV_SLOTS];
static long srv_scale;

static void *server_worker(void *arg)
{
    long id = (long)arg;
    uint64_t x = 0x9E3779B97F4A7C15ull * (uint64_t)(id + 1), sum = 0;
    void *mine[1024] = { 0 };
    int next = (int)((id + 1) % SRV_THREADS);
    for (long it = 0; it < srv_scale * 60000; it++) {
        unsigned k = (unsigned)(rnd(&x) % 1024);
        free(mine[k]);
        size_t n = 16 + rnd(&x) % 1000;
        mine[k] = malloc(n);
        ((char *)mine[k])[0] = (char)it;
        if ((it & 3) == 0) {             /* one in four goes to the next thread, who frees it */
            unsigned s = (unsigned)(rnd(&x) % SRV_SLOTS);
            void *old = atomic_exchange_explicit(&handoff[next][s], mine[k], memory_order_acq_rel);
            mine[k] = NULL;
            free(old);
        }
        unsigned s = (unsigned)(rnd(&x) % SRV_SLOTS);   /* and frees what others left it */
        void *got = atomic_exchange_explicit(&handoff[id][s], NULL, memory_order_acq_rel);
        if (got) {
            sum += ((unsigned char *)got)[0];
            free(got);
        }
    }
    for (int k = 0; k < 1024; k++)
        free(mine[k]);
    return (void *)(uintptr_t)sum;
}

static uint64_t server(long scale)
{
    srv_scale = scale;
    pthread_t t[SRV_THREADS];
    for (long i = 0; i < SRV_THREADS; i++)
        pthread_create(&t[i], NULL, server_worker, (void *)i);
    uint64_t sum = 0;
    for (int i = 0; i < SRV_THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        sum += (uintptr_t)r;
    }
    for (int i = 0; i < SRV_THREADS; i++)
        for (int s = 0; s < SRV_SLOTS; s++)
            free(handoff[i][s]);
    return sum;
}

/* ---- mixed: sizes from 16 B to 64 KiB, realloc up and down ----------------------------------- */
static size_t mixed_size(uint64_t *x)
{
    uint64_t r = rnd(x) % 100;
    if (r < 70) return 16 + rnd(x) % 240;        /* small */
    if (r < 95) return 256 + rnd(x) % 3840;      /* medium */
    return 4096 + rnd(x) % 61440;                /* large */
}

static uint64_t mixed(long scale)
{
    enum { LIVE = 2000 };
    void *p[LIVE] = { 0 };
    size_t sz[LIVE] = { 0 };
    uint64_t x = 7, sum = 0;
    for (long it = 0; it < scale * 60000; it++) {
        unsigned k = (unsigned)(rnd(&x) % LIVE);
        uint64_t op = rnd(&x) % 10;
        if (!p[k] || op < 4) {
            free(p[k]);
            sz[k] = mixed_size(&x);
            p[k] = malloc(sz[k]);
        } else if (op < 8) {                       /* grow or shrink */
            size_t n = op < 6 ? sz[k] + sz[k] / 2 + 8 : sz[k] / 2 + 16;
            if (n > 200000)
                n = 16;
            void *q = realloc(p[k], n);
            if (!q)
                abort();
            p[k] = q;
            sz[k] = n;
        } else {
            free(p[k]);
            p[k] = NULL;
            continue;
        }
        memset(p[k], (int)it, sz[k] < 64 ? sz[k] : 64);
        sum += ((unsigned char *)p[k])[0];
    }
    for (int k = 0; k < LIVE; k++)
        free(p[k]);
    return sum;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s bignum|server|mixed SCALE\n", argv[0]);
        return 2;
    }
    long scale = atol(argv[2]);
    uint64_t sum;
    if (!strcmp(argv[1], "bignum")) sum = bignum(scale);
    else if (!strcmp(argv[1], "server")) sum = server(scale);
    else if (!strcmp(argv[1], "mixed")) sum = mixed(scale);
    else return 2;
    printf("%llu\n", (unsigned long long)sum);
    return 0;
}
