/* heap.h — the malloc family's path through memfence, between the thin hooks and the gate.
 *
 * Fast path (inline, taken by nearly every call): this thread has a credit slot, memfence is
 * not calling itself, and no global condition asks for care (mf_policy_flags == 0: initialised,
 * no fault injection, throttling, refuse-large or profiling armed).  Then a hook is: backend
 * call, usable size (read inline from glibc's chunk header when the self-check at start-up
 * passed), and a charge against the thread's credit.
 *
 * General path (heap.c): initialisation, the bootstrap buffer, nested calls, policy (fault
 * injection, throttle, refuse-large), profiling, and refusal.
 */
#ifndef MF_HEAP_H
#define MF_HEAP_H

#include <errno.h>
#include <stdatomic.h>

#include "backend/backend.h"
#include "base/calls.h"
#include "base/proc.h"
#include "gate/gate.h"
#include "gate/policy.h"
#include "profile/profile.h"

extern int mf_heap_warn_only;         /* on_limit = warn: log and grant instead of refusing */
extern uint64_t mf_heap_big;          /* requests above this can never fit */

/* The fast path does not look at mf_tls.depth: a thread inside memfence when it first
 * allocates (the sampler) never gets a slot, and a nested call that does reach the fast path
 * only runs the backend and the credit arithmetic, which cannot recurse into memfence; its block
 * is charged and credited like any.  A caller may take it when it has a slot and the policy word
 * (mf_heap_policy) is zero, or holds only MF_POLICY_PROFILE and the profiler lets it ride. */
static inline uint32_t mf_heap_policy(void)
{
    return atomic_load_explicit(&mf_policy_flags, memory_order_relaxed);
}

/* Profiling alone keeps a call on the fast path.  The hooks test the policy word once, as
 * without profiling; only when it is not zero do they come here (out of line), so profiling off
 * costs the fast path nothing (a caller without a slot never comes here).  malloc: the thread's
 * sampling countdown is charged the request on the way in; true means go on along the fast path,
 * false means take mf_heap_*_other (the general path, or the countdown ran out and this block is
 * sampled there). */
static inline bool mf_heap_profile_rides(uint32_t f, size_t n)
{
    if (f != MF_POLICY_PROFILE)
        return false;
    int64_t left = mf_tls.profile_left - (int64_t)n;
    mf_tls.profile_left = left;
    return left >= 0;
}

/* free: true when the block is certainly not a sampled one (the filter says so). */
static inline bool mf_heap_profile_free_rides(uint32_t f, const void *p)
{
    return f == MF_POLICY_PROFILE && !mf_blocks_maybe((uintptr_t)p);
}

/* glibc: a live chunk's usable size from its header (malloc.c's musable()).  Used by the inline
 * fast path only: when the self-check at start-up fails (jemalloc, tcmalloc, mimalloc, memory
 * tagging), MF_POLICY_USABLE_CALL sends every call to the fast path out of line (heap.c), which
 * asks the backend's malloc_usable_size; an allocator memfence does not know sets
 * MF_POLICY_GENERIC (the general path). */
static inline size_t mf_heap_usable_glibc(const void *p)
{
    size_t h = ((const size_t *)p)[-1];
    return (h & ~(size_t)7) - ((h & 2) * 4 + 8);    /* IS_MMAPPED: header is 16 bytes */
}

extern MF_INTERNAL int mf_heap_glibc_inline;

static inline size_t mf_heap_usable(void *p)
{
    if (mf_likely(mf_heap_glibc_inline))
        return mf_heap_usable_glibc(p);
    return mf_backend.malloc_usable_size(p);
}

/* Tails of the fast paths, called (as tail calls) when the thread's credit does not cover the
 * block: charge from the pool, or refuse (the request size is in mf_tls.req). */
void *mf_heap_grant_tail(unsigned call, void *p, size_t usable);
void mf_heap_free_tail(void *p, size_t usable);

/* Calls that missed the fast path (tail-called by the hooks, so the fast path saves no
 * registers): with just MF_POLICY_PROFILE set, the fast path plus a sample of the block (its
 * countdown ran out) or the forgetting of a sampled block; else the general path. */
void *mf_heap_malloc_other(size_t n, const void *caller);
void *mf_heap_calloc_other(size_t n, size_t m, const void *caller);
void mf_heap_free_other(void *p);

/* The general path for every allocating call.  kind: how to call the backend. */
enum { MF_ALLOC_MALLOC, MF_ALLOC_CALLOC, MF_ALLOC_MEMALIGN, MF_ALLOC_ALIGNED, MF_ALLOC_VALLOC,
       MF_ALLOC_PVALLOC };
void *mf_heap_alloc_slow(unsigned call, int kind, size_t align, size_t n, size_t m,
                         const void *caller);
void mf_heap_free_slow(void *p);
int mf_heap_posix_memalign_slow(void **out, size_t align, size_t n, const void *caller);

/* After a fast-path backend call the charge did not fit even after draining: free and report.
 * Return: NULL with errno = ENOMEM (or p itself under on_limit = warn). */
void *mf_heap_refuse(unsigned call, void *p, uint64_t req, uint64_t usable);

/* At start-up: enables the inline usable size when glibc's chunk header agrees with
 * malloc_usable_size for a range of sizes (small, large, mmapped). */
void mf_heap_check_usable(void);
/* Sets MF_POLICY_GENERIC when the fast path cannot read the backend's usable size inline. */
void mf_heap_init_policy(void);

/* realloc with exact accounting: p is a live block (never NULL), n > 0. */
void *mf_heap_realloc(unsigned call, void *p, size_t n, const void *caller);

/* The general path and the out-of-line fast path call the backend through these, so that a
 * chained allocator's own mmaps are known as its own.  The inline fast path needs neither: it
 * serves glibc alone, whose internal mmaps never reach memfence's hooks. */
#define MF_BACKEND(expr) ({ mf_tls.in_backend++; __typeof__(expr) r__ = (expr); \
                            mf_tls.in_backend--; r__; })
#define MF_BACKEND_VOID(expr) do { mf_tls.in_backend++; (expr); mf_tls.in_backend--; } while (0)

#endif
