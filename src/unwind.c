/* unwind.c — stack capture with libunwind's unw_backtrace, behind unwind.h.
 *
 * Why unw_backtrace: it uses libunwind's per-thread trace cache (frame shapes remembered per
 * return address), so a sampled allocation costs a few hundred nanoseconds instead of a DWARF
 * walk per frame.  Per-thread caching also keeps libunwind's global cache lock out of the way of
 * fork.  libunwind gets its own memory with mmap (which memfence's hooks pass through while
 * mf_tls.depth > 0) and never calls malloc on this path; it opens no descriptor (see below).
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <dlfcn.h>
#include <link.h>
#include <string.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "mf.h"
#include "unwind.h"

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

/* ---- set-up ---------------------------------------------------------------------------------
 * Once: when profiling starts, else at the first stack taken (a refusal's backtrace).  libunwind
 * opens its pipe then, so a process that never unwinds keeps its descriptors as they were. */
static _Atomic int unwind_ready;

int mf_unwind_init(void)
{
    int expect = 0;
    if (!atomic_compare_exchange_strong(&unwind_ready, &expect, 1))
        return 0;
    inside++;
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
    inside--;
    if (mf_in_preload && self_hi == 0)
        dl_iterate_phdr(find_self, (void *)(uintptr_t)&mf_unwind_init);
    return 0;
}

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
    if (mf_unlikely(!atomic_load_explicit(&unwind_ready, memory_order_acquire)))
        mf_unwind_init();
    inside++;
    int n = unw_backtrace(raw, (int)MF_ARRAY_LEN(raw));
    inside--;
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
