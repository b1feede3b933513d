/* resolve.h — the one place that looks up real functions.
 *
 * Each hook family lists its symbols once, in src/hooks/FAMILY.def, as
 *     MF_HOOK(name, return type, (parameters), MF_REQUIRED|MF_OPTIONAL)
 * and builds from it both its table of real pointers and the version script (scripts/mkmap).
 * The CUDA table (cuda.def, MF_CU lines) is exported by none: its hooks are handed out by
 * hooks/dl.c.  A table needed before initialisation (the mmap, view and fd hooks, the
 * sampler's pthread_create) is looked up on first use through mf_resolve_once.
 * Nothing else in memfence calls dlsym, except hooks/dl.c, which finds the real dlsym itself
 * (libc's dlvsym, from libc's symbol table) and sets mf_real_dlsym.
 */
#ifndef MF_RESOLVE_H
#define MF_RESOLVE_H

#include <stdatomic.h>
#include <stddef.h>

enum { MF_OPTIONAL = 0, MF_REQUIRED = 1 };

typedef struct mf_sym {
    const char *name;
    int required;
} mf_sym_t;

/* Looks up each symbol with RTLD_NEXT (the next definition after memfence in the search order)
 * into out[i].  Allocations made by the dynamic loader meanwhile are served from the bootstrap
 * buffer.  Return: 0, or -ENOENT when a required symbol is missing (out[] holds what was found). */
int mf_resolve_next(const mf_sym_t *syms, void **out, size_t n);

/* Resolve-once: a table of real functions looked up on first use, by whichever thread needs it
 * first (a hook can run before memfence's constructor: another library's constructor, a
 * signal handler).  Threads that find it empty look it up too and store the same pointers, so
 * none ever waits for another (one may hold the loader's lock that the other's lookup needs);
 * a call made from inside the lookup on the same thread (dlsym's own mmap) gets 0 and must do
 * without the table (raw system calls, or ENOSYS).
 * Return: 1 when out[] is filled, 0 in that nested case. */
typedef struct mf_resolve_once {
    _Atomic int done;
} mf_resolve_once_t;

int mf_resolve_once_slow(mf_resolve_once_t *once, const mf_sym_t *syms, void **out, size_t n);

static inline int mf_resolve_once(mf_resolve_once_t *once, const mf_sym_t *syms, void **out, size_t n)
{
    if (__builtin_expect(atomic_load_explicit(&once->done, memory_order_acquire), 1))
        return 1;
    return mf_resolve_once_slow(once, syms, out, n);
}

/* Looks up one symbol in a given handle (dlopen'ed library); NULL when absent. */
void *mf_resolve_in(void *handle, const char *name);

/* The real dlsym / dlvsym (memfence may interpose the public names; see hooks/dl). */
extern void *(*mf_real_dlsym)(void *, const char *);

#endif
