/* unwind.c — stack capture with libunwind's unw_backtrace, behind unwind.h.
 *
 * Why unw_backtrace: it uses libunwind's per-thread trace cache (frame shapes remembered per
 * return address), so a sampled allocation costs a few hundred nanoseconds instead of a DWARF
 * walk per frame.  Per-thread caching also keeps libunwind's global cache lock out of the way of
 * fork.  libunwind gets its own memory with mmap (which memfence's hooks pass through while
 * mf_tls.depth > 0) and never calls malloc on this path; it opens no descriptor (see below).
 *
 * libunwind is not linked: it is loaded (dlopen, by its soname) the first time a stack is wanted
 * (see "loading" below).  Linked, it and the liblzma it needs were loaded, relocated, and copied
 * on write at every fork and exit of every fenced process, shells and their helpers included,
 * while only a profiling process or a refused call ever takes a stack.
 */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "backend/resolve.h"
#include "base/mf.h"
#include "base/proc.h"
#include "gate/gate.h"
#include "profile/unwind.h"

#ifndef MF_UNWIND_SONAME
#define MF_UNWIND_SONAME "libunwind.so.8"   /* the Makefile passes the one it builds against */
#endif
#define MF_STR_(x) #x
#define MF_STR(x) MF_STR_(x)                /* libunwind's names are macros (_ULx86_64_...) */

static uintptr_t self_lo, self_hi;     /* libmemfence.so's executable segment(s) */

static int find_self(struct dl_phdr_info *info, size_t size, void *data)
{
    uintptr_t here = (uintptr_t)data;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (here >= lo && here < hi) {
            self_lo = lo;
            self_hi = hi;
            return 1;
        }
    }
    return 0;
}

/* ---- libunwind's pipe ----------------------------------------------------------------------
 * libunwind 1.6 (x86_64/Ginit.c) opens a pipe when it sets itself up (tdep_init, on the first
 * unw_* call, whatever the caller asks) and keeps its two numbers for the life of the process;
 * it uses the pipe only to check an address before reading it (write one byte from the address
 * into the pipe: EFAULT means unreadable), which it does only for frames that have no unwind
 * information (the frame-pointer guess in unw_step and in the fast trace).  A pipe there is a
 * pair of descriptors the program can see (/proc/self/fd, a child's inherited table before
 * exec), and that it may close and reuse.  So a pipe2 made while this thread is inside libunwind
 * fails (hooks/fd.c): libunwind keeps -1 for both numbers, every check it makes fails with
 * EBADF, and it treats such an address as unreadable: a stack through a frame without unwind
 * information ends there, and nothing is ever opened. */
static __thread int inside;            /* this thread is inside libunwind */

bool mf_unwind_inside(void)
{
    return inside != 0;
}

/* ---- loading and set-up ------------------------------------------------------------------
 * Once: when profiling starts (module init), else at the first stack taken (a refusal's
 * backtrace).  dlopen and libunwind's set-up allocate and map: every caller has raised
 * mf_tls.depth, so those calls pass straight through memfence.  libunwind opens its pipe then
 * (refused, see above: `inside` is raised), so a process that never unwinds keeps its
 * descriptors as they were and never maps libunwind at all.
 *
 * A thread that finds another one loading takes no stack this time rather than wait for it: the
 * loading thread may need a lock the waiting one holds (the loader's, when the waiting thread's
 * allocation was made under dl_iterate_phdr).  Fork waits for a load in progress like for any
 * unwinding (profile.c counts the threads inside mf_unwind_capture). */
enum { U_NONE, U_LOADING, U_READY, U_FAILED };
static _Atomic int unwind_state;
static int (*unw_backtrace_fn)(void **, int);

static int state_err(int st)
{
    return st == U_READY ? 0 : st == U_FAILED ? -ENOENT : -EAGAIN;
}

int mf_unwind_init(void)
{
    int st = atomic_load_explicit(&unwind_state, memory_order_acquire);
    if (st != U_NONE)
        return state_err(st);
    if (!atomic_compare_exchange_strong(&unwind_state, &st, U_LOADING))
        return state_err(st);
    /* What the loader allocates for libunwind is memfence's, not the program's: uncounted, as
     * when libunwind was loaded with memfence at start.  Without a slot, this thread's
     * allocations leave the fast path, and the general path passes them through (depth). */
    struct mf_slot *slot = mf_tls.slot;
    mf_thread_slot_set(NULL);
    mf_tls.uncounted++;               /* RAW blocks are charged (heap.c), except these */
    inside++;
    void *h = dlopen(MF_UNWIND_SONAME, RTLD_NOW | RTLD_LOCAL);
    int (*set_caching)(unw_addr_space_t, unw_caching_policy_t) =
        h ? (int (*)(unw_addr_space_t, unw_caching_policy_t))mf_resolve_in(h, MF_STR(unw_set_caching_policy))
          : NULL;
    unw_addr_space_t *local = h ? mf_resolve_in(h, MF_STR(unw_local_addr_space)) : NULL;
    int (*bt)(void **, int) = h ? (int (*)(void **, int))mf_resolve_in(h, "unw_backtrace") : NULL;
    if (set_caching && local && bt)
        set_caching(*local, UNW_CACHE_PER_THREAD);
    inside--;
    mf_tls.uncounted--;
    mf_thread_slot_set(slot);
    if (!set_caching || !local || !bt) {
        atomic_store_explicit(&unwind_state, U_FAILED, memory_order_release);
        return -ENOENT;
    }
    unw_backtrace_fn = bt;
    if (mf_in_preload && self_hi == 0)
        dl_iterate_phdr(find_self, (void *)(uintptr_t)&mf_unwind_init);
    atomic_store_explicit(&unwind_state, U_READY, memory_order_release);
    return 0;
}

const char *mf_unwind_soname(void) { return MF_UNWIND_SONAME; }

int mf_unwind_is_self(uintptr_t addr)
{
    return addr >= self_lo && addr < self_hi;
}

int mf_unwind_capture(uintptr_t *out, int max, int skip)
{
    void *raw[MF_UNWIND_MAX + 16];
    if (max > MF_UNWIND_MAX)
        max = MF_UNWIND_MAX;
    if (max <= 0)
        return 0;
    if (mf_unlikely(atomic_load_explicit(&unwind_state, memory_order_acquire) != U_READY) &&
        mf_unwind_init() != 0)
        return 0;
    /* Nothing libunwind allocates is the program's: its per-thread TLS block (a dlopen'ed
     * library's TLS is allocated by the loader at a thread's first use) passes uncounted, as
     * it did when libunwind's TLS was part of the static block at start. */
    struct mf_slot *slot = mf_tls.slot;
    mf_thread_slot_set(NULL);
    mf_tls.uncounted++;
    inside++;
    int n = unw_backtrace_fn(raw, (int)MF_ARRAY_LEN(raw));
    inside--;
    mf_tls.uncounted--;
    mf_thread_slot_set(slot);
    if (n <= 0)
        return 0;
    int i = 0;
    /* frame 0 is this function, inside memfence in the preload; in a plain program (unit tests)
     * drop it explicitly */
    if (!mf_in_preload)
        i = 1;
    while (i < n && mf_unwind_is_self((uintptr_t)raw[i]))
        i++;
    i += skip;
    int k = 0;
    for (; i < n && k < max; i++)
        out[k++] = (uintptr_t)raw[i];
    return k;
}
