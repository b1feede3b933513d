/* malloc.c — the exported malloc family.  Each hook only routes: not-ready calls to the
 * bootstrap buffer or the backend, the rest through heap.h (policy, backend, charge).
 * Edge cases follow glibc's documentation; where glibc decides (alignment validity), the
 * backend decides and memfence only charges what it granted.
 */
#include <errno.h>
#include <stdint.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"

#define CALLER __builtin_return_address(0)

/* Not-ready prologue shared by the allocating hooks. */
#define ENTER_ALLOC(raw_expr, boot_expr)            \
    switch (mf_heap_enter()) {                      \
    case MF_HEAP_GO: break;                         \
    case MF_HEAP_RAW: return (raw_expr);            \
    default: return (boot_expr);                    \
    }

MF_EXPORT void *malloc(size_t n)
{
    ENTER_ALLOC(mf_backend.malloc(n), mf_bootstrap_alloc(n, 16));
    if (mf_heap_admit(MF_CALL_MALLOC, n, CALLER) != 0) {
        errno = ENOMEM;
        return NULL;
    }
    return mf_heap_grant(MF_CALL_MALLOC, MF_BACKEND(mf_backend.malloc(n)), n);
}

MF_EXPORT void free(void *p)
{
    if (!p)
        return;
    if (mf_unlikely(mf_bootstrap_owns(p)))
        return;
    if (mf_unlikely(mf_heap_enter() != MF_HEAP_GO)) {
        if (mf_backend.free)
            mf_backend.free(p);
        return;
    }
    size_t u = mf_heap_usable(p);
    mf_heap_release(p, u);
    MF_BACKEND_VOID(mf_backend.free(p));
}

MF_EXPORT void *calloc(size_t n, size_t m)
{
    size_t total;
    if (__builtin_mul_overflow(n, m, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    ENTER_ALLOC(mf_backend.calloc(n, m), mf_bootstrap_alloc(total, 16));
    if (mf_heap_admit(MF_CALL_CALLOC, total, CALLER) != 0) {
        errno = ENOMEM;
        return NULL;
    }
    return mf_heap_grant(MF_CALL_CALLOC, MF_BACKEND(mf_backend.calloc(n, m)), total);
}

static void *realloc_common(unsigned call, void *p, size_t n, const void *caller)
{
    if (mf_unlikely(mf_bootstrap_owns(p))) {
        /* a bootstrap block moves to the real heap (through the full malloc path) */
        size_t old = mf_bootstrap_usable(p);
        void *q = n ? malloc(n) : NULL;
        if (q)
            memcpy(q, p, old < n ? old : n);
        return q;
    }
    if (mf_heap_enter() != MF_HEAP_GO)
        return mf_backend.realloc(p, n);
    if (n == 0) {   /* glibc: realloc(p, 0) frees p and returns NULL */
        free(p);
        return NULL;
    }
    return mf_heap_realloc(call, p, n, caller);
}

MF_EXPORT void *realloc(void *p, size_t n)
{
    if (!p)
        return malloc(n);
    return realloc_common(MF_CALL_REALLOC, p, n, CALLER);
}

MF_EXPORT void *reallocarray(void *p, size_t n, size_t m)
{
    size_t total;
    if (__builtin_mul_overflow(n, m, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    if (!p)
        return malloc(total);
    return realloc_common(MF_CALL_REALLOCARRAY, p, total, CALLER);
}

MF_EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    switch (mf_heap_enter()) {
    case MF_HEAP_GO:
        break;
    case MF_HEAP_RAW:
        return mf_backend.posix_memalign(out, align, n);
    default: {
        void *p = mf_bootstrap_alloc(n, align);
        if (!p)
            return ENOMEM;
        *out = p;
        return 0;
    }
    }
    if (mf_heap_admit(MF_CALL_POSIX_MEMALIGN, n, CALLER) != 0)
        return ENOMEM;
    void *p = NULL;
    int saved = errno;
    int rc = MF_BACKEND(mf_backend.posix_memalign(&p, align, n));
    if (rc)
        return rc;
    p = mf_heap_grant(MF_CALL_POSIX_MEMALIGN, p, n);
    errno = saved;   /* posix_memalign reports through its return value, not errno */
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

/* memalign-like calls that an older backend may lack: fall back on posix_memalign. */
static void *aligned_common(unsigned call, size_t align, size_t n, void *(*fn)(size_t, size_t),
                            const void *caller)
{
    if (mf_heap_admit(call, n, caller) != 0) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = NULL;
    if (fn) {
        p = MF_BACKEND(fn(align, n));
    } else {
        int rc = MF_BACKEND(mf_backend.posix_memalign(&p, align, n));
        if (rc) {
            errno = rc;
            return NULL;
        }
    }
    return mf_heap_grant(call, p, n);
}

MF_EXPORT void *aligned_alloc(size_t align, size_t n)
{
    ENTER_ALLOC(mf_backend.aligned_alloc ? mf_backend.aligned_alloc(align, n) : mf_backend.memalign(align, n),
                mf_bootstrap_alloc(n, align));
    return aligned_common(MF_CALL_ALIGNED_ALLOC, align, n, mf_backend.aligned_alloc, CALLER);
}

MF_EXPORT void *memalign(size_t align, size_t n)
{
    ENTER_ALLOC(mf_backend.memalign(align, n), mf_bootstrap_alloc(n, align));
    return aligned_common(MF_CALL_MEMALIGN, align, n, mf_backend.memalign, CALLER);
}

MF_EXPORT void *valloc(size_t n)
{
    ENTER_ALLOC(mf_backend.valloc(n), mf_bootstrap_alloc(n, 4096));
    if (mf_heap_admit(MF_CALL_VALLOC, n, CALLER) != 0) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = mf_backend.valloc ? MF_BACKEND(mf_backend.valloc(n))
                                : MF_BACKEND(mf_backend.memalign(4096, n));
    return mf_heap_grant(MF_CALL_VALLOC, p, n);
}

MF_EXPORT void *pvalloc(size_t n)
{
    size_t rounded = (n + 4095) & ~(size_t)4095;
    if (rounded < n) {
        errno = ENOMEM;
        return NULL;
    }
    ENTER_ALLOC(mf_backend.pvalloc(n), mf_bootstrap_alloc(rounded ? rounded : 4096, 4096));
    if (mf_heap_admit(MF_CALL_PVALLOC, rounded, CALLER) != 0) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = mf_backend.pvalloc ? MF_BACKEND(mf_backend.pvalloc(n))
                                 : MF_BACKEND(mf_backend.memalign(4096, rounded ? rounded : 4096));
    return mf_heap_grant(MF_CALL_PVALLOC, p, rounded);
}

MF_EXPORT size_t malloc_usable_size(void *p)
{
    if (!p)
        return 0;
    if (mf_bootstrap_owns(p))
        return mf_bootstrap_usable(p);
    if (!mf_backend.malloc_usable_size)
        mf_runtime_ensure();
    return mf_backend.malloc_usable_size ? mf_backend.malloc_usable_size(p) : 0;
}
