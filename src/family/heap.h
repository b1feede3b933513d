/* heap.h — the malloc family's path through memfence, between the thin hooks and the gate.
 *
 * Fast path (inline, taken by nearly every call): this thread has a credit slot, memfence is
 * not calling itself, and no global condition asks for care (mf_policy_flags == 0: initialised,
 * no fault injection, throttling, refuse-large or profiling armed).  Then a hook is: backend
 * call, the block's size (read inline from glibc's chunk header when the self-check at start-up
 * passed), and a charge of the block's size against the thread's credit.
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
 * is charged and credited like any.  malloc takes it while the policy word (mf_heap_policy) is
 * zero, charging mf_tls.alloc_slot (mf_slot_none for a thread without a slot: the tail then
 * serves it); free takes it while the thread has mf_tls.free_slot (gate.h).  Fault injection,
 * throttling and refuse-large set a policy bit and go out of line (mf_heap_*_other); profiling
 * too, except malloc's countdown (mf_heap_profile_rides) and free's filter test: none of them
 * costs the fast path more than the one test. */
static inline uint32_t mf_heap_policy(void)
{
    return atomic_load_explicit(&mf_policy_flags, memory_order_relaxed);
}

/* The hooks' one test, mf_heap_policy() != 0, as a compare of the word in memory (a relaxed
 * read of one aligned word) and a jump to `label` when it is set: two instructions where a
 * load, a test and a jump would be three, and nothing the compiler could schedule between. */
#define MF_HEAP_POLICY_GOTO(label) MF_HEAP_POLICY_NE_GOTO(0, label)

/* The same for any other value of the word: a jump to `label` unless it is `value`. */
#define MF_HEAP_POLICY_NE_GOTO(value, label)                                                 \
    __asm__ goto("cmpl %1, %0\n\tjne %l[" #label "]"                                        \
                 : : "m"(mf_policy_flags), "i"(value) : "cc" : label)

/* The thread's sampling countdown charged n bytes; false: it ran out (the call samples). */
static inline __attribute__((always_inline)) bool mf_heap_profile_counts(size_t n)
{
    int64_t left = mf_tls.profile_left - (int64_t)n;
    mf_tls.profile_left = left;
    return left >= 0;
}

/* Profiling alone (the policy word is MF_POLICY_PROFILE) keeps malloc on the fast path: the
 * thread's sampling countdown is charged the request on the way in; false (it ran out, or
 * another bit is set) sends the call to mf_heap_malloc_other, which samples.  free's side is
 * the hook's second branch (the filter's test, then the fast path); realloc's is realloc_fast's
 * (hooks/malloc.c). */
static inline __attribute__((always_inline)) bool mf_heap_profile_rides(size_t n)
{
    MF_HEAP_POLICY_NE_GOTO(MF_POLICY_PROFILE, other);
    return mf_heap_profile_counts(n);
other:
    return false;
}

/* What memfence charges for a block: the bytes the allocator sets aside for it.  glibc: the
 * chunk, its header included (malloc.c's chunksize(): the usable size + 8, or + 16 for a mapped
 * chunk), read from the header in two instructions; this is what glibc itself counts as in use
 * (mallinfo2's uordblks + hblkhd).  The inline read serves the fast path only when the
 * self-check at start-up passed (mf_heap_glibc_inline); else (jemalloc, tcmalloc, mimalloc,
 * memory tagging) MF_POLICY_USABLE_CALL sends every call out of line, where the charge is the
 * backend's malloc_usable_size (size-class allocators keep no header: the usable size is the
 * size class), and an allocator memfence does not know sets MF_POLICY_GENERIC. */
static inline size_t mf_heap_charge_glibc(const void *p)
{
    return mf_glibc_chunk(p);
}

extern MF_INTERNAL int mf_heap_glibc_inline;

/* The backend's malloc_usable_size, asked by memfence (mf_tls.in_usable): what the allocator
 * allocates meanwhile is its own and passes through uncharged, never asking again (tcmalloc's
 * makes its MallocExtension with operator new on first use, which comes back to malloc). */
static inline size_t mf_heap_backend_usable(void *p)
{
    mf_tls.in_usable++;
    size_t u = mf_backend.malloc_usable_size(p);
    mf_tls.in_usable--;
    return u;
}

static inline size_t mf_heap_charge(void *p)
{
    if (mf_likely(mf_heap_glibc_inline))
        return mf_heap_charge_glibc(p);
    return mf_heap_backend_usable(p);
}

/* The bytes of p the program may use (what realloc copies). */
static inline size_t mf_heap_usable(void *p)
{
    if (mf_likely(mf_heap_glibc_inline))
        return mf_glibc_usable(p);
    return mf_heap_backend_usable(p);
}

/* Tails of the fast paths, called (as tail calls) when the thread's credit does not cover the
 * block: charge from the pool, or refuse (the request in mf_tls.req, times mf_tls.req_m for
 * calloc).  s: the slot the fast path charged (mf_slot_none: the thread has none yet, or never
 * gets one). */
void *mf_heap_grant_tail(unsigned call, void *p, size_t charge, mf_slot_t *s);
void mf_heap_free_tail(void *p, size_t charge);

/* Calls that missed the fast path (tail-called by the hooks, so the fast path saves no
 * registers): with just MF_POLICY_PROFILE set, the fast path plus a sample of the block (its
 * countdown ran out) or the forgetting of a sampled block; else the general path. */
void *mf_heap_malloc_other(size_t n, const void *caller);
void *mf_heap_calloc_other(size_t n, size_t m, const void *caller);
void mf_heap_free_other(void *p);

/* For a caller that cannot be refused (C++'s throwing operator new with no C++ runtime loaded
 * to throw std::bad_alloc): a block from the backend (align 0: malloc), charged past the budget
 * and reported as such.  NULL only when the allocator itself has no memory. */
void *mf_heap_alloc_past_budget(size_t align, size_t n);

/* The general path for every allocating call.  kind: how to call the backend. */
enum { MF_ALLOC_MALLOC, MF_ALLOC_CALLOC, MF_ALLOC_MEMALIGN, MF_ALLOC_ALIGNED, MF_ALLOC_VALLOC,
       MF_ALLOC_PVALLOC };
void *mf_heap_alloc_slow(unsigned call, int kind, size_t align, size_t n, size_t m,
                         const void *caller);
void mf_heap_free_slow(void *p);
int mf_heap_posix_memalign_slow(void **out, size_t align, size_t n, const void *caller);

/* After a backend call the charge did not fit even after draining: free and report.
 * Return: NULL with errno = ENOMEM; or p itself, charged past the budget and reported, under
 * on_limit = warn or when `caller` is the dynamic loader (mf_in_loader: it cannot take one). */
void *mf_heap_refuse(unsigned call, void *p, uint64_t req, uint64_t charge, const void *caller);

/* At start-up, once the backend is resolved: bootstrap blocks become glibc blocks, charged, when
 * glibc is underneath (backend.h). */
void mf_heap_settle_bootstrap(void);

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
