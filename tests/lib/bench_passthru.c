/* bench_passthru.c — the reference a benchmark compares memfence with: a bare LD_PRELOAD
 * interposer of malloc and free that only forwards to the next allocator (what any preload
 * costs before it does any accounting).  Not part of memfence. */
#include <dlfcn.h>
#include <stddef.h>

static void *(*next_malloc)(size_t);
static void (*next_free)(void *);
static char boot[4096];
static size_t boot_top;

/* Out of line, so that the forwarding paths below are a load, a test and a jump. */
__attribute__((noinline)) static void *first_malloc(size_t n)
{
    static int resolving;
    if (resolving) {               /* dlsym's own allocations during resolution */
        void *p = boot + boot_top;
        boot_top += (n + 15) & ~(size_t)15;
        return p;
    }
    resolving = 1;
    next_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    next_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    resolving = 0;
    return next_malloc(n);
}

__attribute__((noinline)) static void first_free(void *p)
{
    next_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    next_free(p);
}

void *malloc(size_t n)
{
    void *(*f)(size_t) = next_malloc;
    if (__builtin_expect(f != NULL, 1))
        return f(n);
    return first_malloc(n);
}

void free(void *p)
{
    if (__builtin_expect((size_t)((char *)p - boot) < sizeof boot, 0))
        return;
    void (*f)(void *) = next_free;
    if (__builtin_expect(f != NULL, 1))
        return f(p);
    first_free(p);
}

/* With MF_BENCH_IDLE_THREAD set: one idle thread, started at load, as memfence's sampler is.  A
 * second thread makes glibc's malloc take its arena locks for the rest of the process (it no
 * longer counts as single-threaded): this isolates that cost from memfence's own. */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

static void *idle(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

__attribute__((constructor)) static void maybe_thread(void)
{
    if (getenv("MF_BENCH_IDLE_THREAD")) {
        pthread_t t;
        pthread_create(&t, NULL, idle, NULL);
        pthread_detach(t);
    }
}
