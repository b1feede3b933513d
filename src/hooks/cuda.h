/* cuda.h — shared by the CUDA hook family (hooks/cuda.c) and the lookup hooks (hooks/dl.c):
 * the table built from hooks/cuda.def, the real entry points found for it, and the per-thread
 * guard.  Internal to the preload library (hidden visibility).
 */
#ifndef MF_HOOKS_CUDA_H
#define MF_HOOKS_CUDA_H

#include <stdatomic.h>
#include <stdint.h>

#include "hooks/cuda_abi.h"

enum mf_cu_sym {
#define MF_CU(sym, base, since, stream, ret, params, what) MF_CU_##sym,
#include "hooks/cuda.def"
#undef MF_CU
    MF_CU_COUNT
};

/* The hooks (hooks/cuda.c and hooks/dl.c) and the types of the real functions. */
#define MF_CU(sym, base, since, stream, ret, params, what) \
    typedef ret (*mf_cu_fn_##sym) params;                   \
    ret mf_hk_##sym params;
#include "hooks/cuda.def"
#undef MF_CU

/* The real entry point behind each hook: stored before the hook is first handed out. */
extern _Atomic(void *) mf_cu_real[MF_CU_COUNT];
#define MF_CU_REAL(sym) \
    ((mf_cu_fn_##sym)atomic_load_explicit(&mf_cu_real[MF_CU_##sym], memory_order_acquire))

/* > 0 while this thread is inside a CUDA hook or a lookup memfence makes: lookups then pass
 * straight through (the driver may look itself up from inside a call). */
extern __thread int mf_dl_guard;

/* The table entry whose symbol is exactly `name`; -1 when memfence does not hook it. */
int mf_cu_find(const char *name);

/* What cuGetProcAddress(base, version, flags) answers with: the entry, or -1 (not hooked). */
int mf_cu_match(const char *base, int version, cuuint64_t flags);

/* Records `real` as entry i's real function and returns the hook to hand out instead. */
void *mf_cu_hook(int i, void *real);

/* Entry i's hook and symbol name (no side effect). */
void *mf_cu_hook_of(int i);
const char *mf_cu_name(int i);

/* Points the GOT slots of directly linked callers of hooked names at the hooks when objects
 * were loaded since the last pass (hooks/cuda_got.c). */
void mf_cu_bind_direct(void);

/* Functions memfence calls but does not hook (the current device, a device's size, ...).
 * from_handle: looked up with the real dlsym in a handle the program used; from_proc: asked of
 * the real cuGetProcAddress (v1 or v2, whichever the program uses). */
void mf_cu_helpers_from_handle(void *handle, int nvml);
void mf_cu_helpers_from_proc(void *real_getproc, int v2);

#endif
