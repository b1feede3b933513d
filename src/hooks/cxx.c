/* cxx.c — the replaceable C++ allocation operators (hooks/cxx.def), exported.
 *
 * Why: an allocator preloaded after memfence (jemalloc, tcmalloc, mimalloc) defines them too,
 * and its operator new takes memory without calling malloc: without these a C++ program's
 * `new` was served unfenced.  With glibc underneath they also save libstdc++'s wrapper and one
 * call (operator new is malloc's fast path, operator delete is free's).
 *
 * What each does:
 *   - operator new(size): the fast path of malloc (fast.h); anything else (a policy bit set,
 *     a charge the thread's credit does not cover, the allocator out of memory) undoes what it
 *     did and calls the C++ runtime's own operator new, which calls malloc (memfence's, with its
 *     refusal and report) and does what the standard asks of a failed allocation: the new
 *     handler, then std::bad_alloc.  A refusal is therefore reported once, by malloc.
 *   - the other new operators: the runtime's own (which end in malloc, aligned_alloc or the
 *     operator new above); new[] calls new, as the standard's default does, so a program that
 *     replaces only operator new keeps it for arrays too.
 *   - operator delete(p) is free; the sized, array, nothrow and aligned forms call the form the
 *     standard says their default calls, through the symbol table (a replacement wins).
 * The runtime is libstdc++ or libc++ (libc++abi), found among the loaded objects by name and
 * searched through their own symbol tables (elfdyn.h: no allocation, no dlsym), so the
 * allocator's operators are never the ones called for the program.  A program whose runtime
 * has neither name gets malloc's answer from the nothrow forms and, from a throwing form that
 * malloc refused, a block granted past the budget with a report (memfence cannot throw).
 *
 * Inside memfence or inside the allocator underneath (tcmalloc's malloc_usable_size makes its
 * MallocExtension singleton with `new` on first use), a new goes to the next definition after
 * memfence, the allocator's own when it has one, as it did before memfence had these: the
 * allocator's own bookkeeping is its own, and a call there cannot come back round to memfence.
 */
#include <link.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/resolve.h"
#include "base/log.h"
#include "hooks/elfdyn.h"
#include "hooks/fast.h"

enum {
#define MF_HOOK(name, ret, params, req) CXX_##name,
#include "hooks/cxx.def"
#undef MF_HOOK
    CXX_COUNT
};

static const char *const cxx_names[CXX_COUNT] = {
#define MF_HOOK(name, ret, params, req) #name,
#include "hooks/cxx.def"
#undef MF_HOOK
};

/* The C++ runtime's operators, filled together by the first search that finds its _Znwm. */
static _Atomic(void *) runtime[CXX_COUNT];
static _Atomic unsigned long long searched_adds;   /* objects ever loaded, at a vain search */

static int is_runtime(const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL, *n = slash ? slash + 1 : path;
    return n && (!strncmp(n, "libstdc++.so", 12) || !strncmp(n, "libc++.so", 9) ||
                 !strncmp(n, "libc++abi.so", 12));
}

static int find_runtime(struct dl_phdr_info *info, size_t size, void *arg)
{
    unsigned long long *adds = arg;
    if (*adds == 0 && size >= offsetof(struct dl_phdr_info, dlpi_subs)) {
        *adds = info->dlpi_adds;
        if (*adds == atomic_load_explicit(&searched_adds, memory_order_relaxed))
            return 1;                       /* nothing loaded since the last vain search */
    }
    const ElfW(Dyn) *dyn = is_runtime(info->dlpi_name) ? mf_elf_dynamic(info) : NULL;
    if (!dyn || !mf_elf_lookup(info->dlpi_addr, dyn, "_Znwm"))
        return 0;
    for (int i = CXX_COUNT - 1; i >= 0; i--)   /* _Znwm last: it says the table is filled */
        atomic_store_explicit(&runtime[i], mf_elf_lookup(info->dlpi_addr, dyn, cxx_names[i]),
                              memory_order_release);
    return 1;
}

/* The next definitions after memfence (RTLD_NEXT: the allocator's, or the runtime's). */
static const mf_sym_t next_syms[CXX_COUNT] = {
#define MF_HOOK(name, ret, params, req) { #name, req },
#include "hooks/cxx.def"
#undef MF_HOOK
};
static void *next[CXX_COUNT];
static mf_resolve_once_t next_once;

/* The operator `i` to call for a form memfence does not serve itself: the runtime's, or, inside
 * memfence or the allocator, the next one; NULL when there is none. */
static void *real_op(int i)
{
    if (mf_unlikely(mf_tls.depth > 0 || mf_tls.in_backend > 0 || mf_tls.in_usable > 0)) {
        if (mf_resolve_once(&next_once, next_syms, next, CXX_COUNT) && next[i])
            return next[i];
    }
    if (mf_unlikely(!atomic_load_explicit(&runtime[CXX__Znwm], memory_order_acquire))) {
        unsigned long long adds = 0;
        dl_iterate_phdr(find_runtime, &adds);
        if (!atomic_load_explicit(&runtime[CXX__Znwm], memory_order_acquire) && adds)
            atomic_store_explicit(&searched_adds, adds, memory_order_relaxed);
    }
    return atomic_load_explicit(&runtime[i], memory_order_acquire);
}

/* No runtime: what the form can still do.  A throwing form that malloc refused gets its block
 * past the budget (heap.c reports it); only an allocator out of memory ends the program. */
static MF_COLD void *orphan_new(size_t n, size_t align, bool nothrow)
{
    void *p = NULL;
    if (!align)
        p = malloc(n);
    else if (n <= SIZE_MAX - align)              /* rounded up to the alignment, as C11 asks */
        p = aligned_alloc(align, (n + align - 1) & ~(align - 1));
    if (p || nothrow)
        return p;
    mf_log_limited(MF_RL_MISC, 1, "operator new: no C++ runtime (libstdc++, libc++) is loaded "
                   "to throw std::bad_alloc; the block is granted past the budget");
    p = mf_heap_alloc_past_budget(align, n);
    if (!p) {
        mf_log("operator new: out of memory and no C++ runtime to throw std::bad_alloc");
        abort();
    }
    return p;
}

typedef void *(*new_fn)(size_t);
typedef void *(*new_nt_fn)(size_t, const void *);
typedef void *(*new_al_fn)(size_t, size_t);
typedef void *(*new_al_nt_fn)(size_t, size_t, const void *);

static MF_NOINLINE void *new_slow(size_t n)
{
    new_fn f = (new_fn)real_op(CXX__Znwm);
    return f ? f(n) : orphan_new(n, 0, false);
}

/* The standard's names, bound to the Itanium ones. */
#define CXX_OP(ret, name, params) MF_EXPORT ret name params __asm__(#name)
CXX_OP(void *, _Znwm, (size_t n));
CXX_OP(void *, _Znam, (size_t n));
CXX_OP(void *, _ZnwmRKSt9nothrow_t, (size_t n, const void *nt));
CXX_OP(void *, _ZnamRKSt9nothrow_t, (size_t n, const void *nt));
CXX_OP(void *, _ZnwmSt11align_val_t, (size_t n, size_t al));
CXX_OP(void *, _ZnamSt11align_val_t, (size_t n, size_t al));
CXX_OP(void *, _ZnwmSt11align_val_tRKSt9nothrow_t, (size_t n, size_t al, const void *nt));
CXX_OP(void *, _ZnamSt11align_val_tRKSt9nothrow_t, (size_t n, size_t al, const void *nt));
CXX_OP(void, _ZdlPv, (void *p));
CXX_OP(void, _ZdaPv, (void *p));
CXX_OP(void, _ZdlPvm, (void *p, size_t n));
CXX_OP(void, _ZdaPvm, (void *p, size_t n));
CXX_OP(void, _ZdlPvRKSt9nothrow_t, (void *p, const void *nt));
CXX_OP(void, _ZdaPvRKSt9nothrow_t, (void *p, const void *nt));
CXX_OP(void, _ZdlPvSt11align_val_t, (void *p, size_t al));
CXX_OP(void, _ZdaPvSt11align_val_t, (void *p, size_t al));
CXX_OP(void, _ZdlPvmSt11align_val_t, (void *p, size_t n, size_t al));
CXX_OP(void, _ZdaPvmSt11align_val_t, (void *p, size_t n, size_t al));
CXX_OP(void, _ZdlPvSt11align_val_tRKSt9nothrow_t, (void *p, size_t al, const void *nt));
CXX_OP(void, _ZdaPvSt11align_val_tRKSt9nothrow_t, (void *p, size_t al, const void *nt));

/* operator new(size): malloc's fast path; whatever it cannot finish is undone and left to the
 * runtime's operator new (the credit charge taken back, the block given back). */
#define NEW_FAST(n)                                                                          \
    do {                                                                                     \
        mf_slot_t *s_ = mf_tls.alloc_slot;                                                   \
        void *p_ = mf_backend.malloc(n);                                                     \
        if (mf_likely(p_ != NULL)) {                                                         \
            size_t c_ = mf_heap_charge_glibc(p_);                                            \
            if (mf_likely(mf_gate_try_charge(s_, c_)))                                       \
                return p_;                                                                   \
            mf_gate_net_sub(s_, (int64_t)c_);                                                \
            mf_backend.free(p_);                                                             \
        }                                                                                    \
        return new_slow(n);                                                                  \
    } while (0)

void *_Znwm(size_t n)
{
    MF_HEAP_POLICY_GOTO(policy);
    NEW_FAST(n);
policy:
    if (mf_heap_profile_rides(n))
        NEW_FAST(n);
    return new_slow(n);
}

void *_Znam(size_t n) { return _Znwm(n); }

void *_ZnwmRKSt9nothrow_t(size_t n, const void *nt)
{
    new_nt_fn f = (new_nt_fn)real_op(CXX__ZnwmRKSt9nothrow_t);
    return f ? f(n, nt) : orphan_new(n, 0, true);
}

void *_ZnamRKSt9nothrow_t(size_t n, const void *nt)
{
    new_nt_fn f = (new_nt_fn)real_op(CXX__ZnamRKSt9nothrow_t);
    return f ? f(n, nt) : orphan_new(n, 0, true);
}

void *_ZnwmSt11align_val_t(size_t n, size_t al)
{
    new_al_fn f = (new_al_fn)real_op(CXX__ZnwmSt11align_val_t);
    return f ? f(n, al) : orphan_new(n, al, false);
}

void *_ZnamSt11align_val_t(size_t n, size_t al) { return _ZnwmSt11align_val_t(n, al); }

void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, const void *nt)
{
    new_al_nt_fn f = (new_al_nt_fn)real_op(CXX__ZnwmSt11align_val_tRKSt9nothrow_t);
    return f ? f(n, al, nt) : orphan_new(n, al, true);
}

void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, const void *nt)
{
    new_al_nt_fn f = (new_al_nt_fn)real_op(CXX__ZnamSt11align_val_tRKSt9nothrow_t);
    return f ? f(n, al, nt) : orphan_new(n, al, true);
}

void _ZdlPv(void *p) { mf_hooks_free(p); }
void _ZdaPv(void *p) { _ZdlPv(p); }
void _ZdlPvm(void *p, size_t n) { _ZdlPv(p); }
void _ZdaPvm(void *p, size_t n) { _ZdaPv(p); }
void _ZdlPvRKSt9nothrow_t(void *p, const void *nt) { _ZdlPv(p); }
void _ZdaPvRKSt9nothrow_t(void *p, const void *nt) { _ZdaPv(p); }
/* aligned blocks come from aligned_alloc (the runtime's aligned new): free takes them */
void _ZdlPvSt11align_val_t(void *p, size_t al) { mf_hooks_free(p); }
void _ZdaPvSt11align_val_t(void *p, size_t al) { _ZdlPvSt11align_val_t(p, al); }
void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t al) { _ZdlPvSt11align_val_t(p, al); }
void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t al) { _ZdaPvSt11align_val_t(p, al); }
void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al, const void *nt)
{
    _ZdlPvSt11align_val_t(p, al);
}
void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al, const void *nt)
{
    _ZdaPvSt11align_val_t(p, al);
}
