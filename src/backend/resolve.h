/* resolve.h — the one place that looks up real functions.
 *
 * Each hook family lists its symbols once, in src/hooks/FAMILY.def, as
 *     MF_HOOK(name, return type, (parameters), MF_REQUIRED|MF_OPTIONAL)
 * and builds from it both its table of real pointers and the version script (scripts/mkmap).
 * The CUDA table (cuda.def, MF_CU lines) is exported by none: its hooks are handed out by
 * hooks/dl.c.
 * Nothing else in memfence calls dlsym.
 */
#ifndef MF_RESOLVE_H
#define MF_RESOLVE_H

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

/* Looks up one symbol in a given handle (dlopen'ed library); NULL when absent. */
void *mf_resolve_in(void *handle, const char *name);

/* The real dlsym / dlvsym (memfence may interpose the public names; see hooks/dl). */
extern void *(*mf_real_dlsym)(void *, const char *);

#endif
