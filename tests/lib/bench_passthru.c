/* bench_passthru.c — the reference a benchmark compares memfence with: a bare LD_PRELOAD
 * interposer of malloc and free that only forwards to the next allocator (what any preload
 * costs before it does any accounting).  Not part of memfence. */
#include <dlfcn.h>
#include <stddef.h>

static void *(*next_malloc)(size_t);
static void (*next_free)(void *);
static char boot[4096];
static size_t boot_top;

void *malloc(size_t n)
{
    if (__builtin_expect(!next_malloc, 0)) {
        static int resolving;
        if (resolving) {           /* dlsym's own allocations during resolution */
            void *p = boot + boot_top;
            boot_top += (n + 15) & ~(size_t)15;
            return p;
        }
        resolving = 1;
        next_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
        next_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
        resolving = 0;
    }
    return next_malloc(n);
}

void free(void *p)
{
    if ((char *)p >= boot && (char *)p < boot + sizeof boot)
        return;
    if (__builtin_expect(!next_free, 0))
        next_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    next_free(p);
}
