/* resolve.c — the one place memfence looks up real functions (see resolve.h). */
#include <dlfcn.h>
#include <errno.h>

#include "backend/resolve.h"
#include "base/log.h"
#include "base/proc.h"

void *(*mf_real_dlsym)(void *, const char *);

static void *lookup(void *handle, const char *name)
{
    mf_tls.depth++;
    void *p = mf_real_dlsym ? mf_real_dlsym(handle, name) : dlsym(handle, name);
    mf_tls.depth--;
    return p;
}

int mf_resolve_next(const mf_sym_t *syms, void **out, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = lookup(RTLD_NEXT, syms[i].name);
        if (!out[i] && syms[i].required)
            rc = -ENOENT;
    }
    return rc;
}

#define ONCE_MAX 64

static __thread int resolving;     /* this thread is inside mf_resolve_once_slow's lookup */

int mf_resolve_once_slow(mf_resolve_once_t *once, const mf_sym_t *syms, void **out, size_t n)
{
    if (resolving || n > ONCE_MAX)
        return 0;
    void *tmp[ONCE_MAX] = { 0 };
    resolving = 1;
    mf_resolve_next(syms, tmp, n);
    resolving = 0;
    for (size_t i = 0; i < n; i++)
        __atomic_store_n(&out[i], tmp[i], __ATOMIC_RELAXED);
    atomic_store_explicit(&once->done, 1, memory_order_release);
    return 1;
}

void *mf_resolve_in(void *handle, const char *name)
{
    return lookup(handle, name);
}
