/* bench_count.c — the floor under any exact fence, for the benchmarks: an LD_PRELOAD interposer
 * of malloc, calloc, realloc and free that does the least an exact per-call budget can do, and
 * nothing more: it forwards to glibc (bound directly to __libc_malloc and friends: no dlsym, no
 * bootstrap, no checks), reads the block's chunk size from glibc's header, adds it to (or takes
 * it from) a thread-local count, and compares that with a thread-local credit, as memfence's
 * fast path does.  No policy, no refusal, no report, no other allocator: what it costs is what
 * exactness costs a call.  glibc underneath only.  Not part of memfence. */
#include <stddef.h>
#include <stdint.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static __thread int64_t net;                    /* bytes charged through this thread */
static __thread int64_t lease = INT64_MAX / 4;  /* its credit: never runs out here */
static volatile int64_t refills;

static inline size_t chunk(const void *p)
{
    return ((const size_t *)p)[-1] & ~(size_t)7;
}

__attribute__((noinline)) static void *refill(void *p)
{
    refills++;                                  /* never reached: the credit is unbounded */
    lease += 1;                                 /* (a credit in memory, as a real one is) */
    return p;
}

/* A new block p (or NULL) charged: its chunk added to the count, checked against the credit. */
static inline __attribute__((always_inline)) void *charged(void *p)
{
    if (__builtin_expect(p == NULL, 0))
        return p;
    net += (int64_t)chunk(p);
    if (__builtin_expect(net > lease, 0))
        return refill(p);
    return p;
}

__attribute__((visibility("default"))) void *malloc(size_t n)
{
    return charged(__libc_malloc(n));
}

__attribute__((visibility("default"))) void *calloc(size_t n, size_t m)
{
    return charged(__libc_calloc(n, m));
}

__attribute__((visibility("default"))) void *realloc(void *p, size_t n)
{
    size_t old = p ? chunk(p) : 0;
    void *q = __libc_realloc(p, n);
    if (q == NULL)
        return q;                               /* glibc left p as it was (or freed it: n == 0) */
    net += (int64_t)chunk(q) - (int64_t)old;
    if (__builtin_expect(net > lease, 0))
        return refill(q);
    return q;
}

__attribute__((visibility("default"))) void free(void *p)
{
    if (p) {
        net -= (int64_t)chunk(p);
        if (__builtin_expect(net < -lease, 0))
            refill(p);
    }
    __libc_free(p);
}
