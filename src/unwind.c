/* unwind.c — stack capture with libunwind's unw_backtrace, behind unwind.h.
 *
 * Why unw_backtrace: it uses libunwind's per-thread trace cache (frame shapes remembered per
 * return address), so a sampled allocation costs a few hundred nanoseconds instead of a DWARF
 * walk per frame.  Per-thread caching also keeps libunwind's global cache lock out of the way of
 * fork.  libunwind gets its own memory with mmap (which memfence's hooks pass through while
 * mf_tls.depth > 0) and never calls malloc on this path.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "log.h"
#include "mf.h"
#include "runtime.h"
#include "sys.h"
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
 * libunwind checks memory by writing a byte from it into a pipe of its own and reading it back
 * (hooks/fd.c says why that pipe is watched).  A pipe2 made while this thread is inside
 * libunwind is moved above the numbers a program hands out, and its identity kept; before a
 * stack (at most once a millisecond), both numbers must still hold that pipe (or nothing:
 * libunwind then opens a new one, which comes through here again).  When the program has put
 * something else there, libunwind would read and write the program's descriptors: no more
 * stacks in this process. */
static __thread int inside;            /* this thread is inside libunwind */
static int pipe_fd[2] = { -1, -1 };
static uint64_t pipe_id[2];            /* inode of each end */
static _Atomic int stacks_off;

bool mf_unwind_inside(void)
{
    return inside != 0;
}

static uint64_t fd_id(int fd)
{
    struct stat st;
    if (mf_syscall6(SYS_fstat, fd, (long)&st, 0, 0, 0, 0) != 0)
        return 0;
    return (uint64_t)st.st_ino ^ ((uint64_t)st.st_dev << 48);
}

/* Lowest number to move to: 64 below the soft limit on descriptors or 1024, whichever is less
 * (select() works below 1024); where the limit is tiny, nowhere. */
static int high_base(void)
{
    struct rlimit rl;
    long lim = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 1024)
        lim = (long)rl.rlim_cur;
    return lim > 128 ? (int)lim - 64 : 0;
}

void mf_unwind_adopt_pipe(int fds[2])
{
    int base = high_base();
    for (int i = 0; i < 2; i++) {
        if (fds[i] < base) {
            long hi = mf_syscall6(SYS_fcntl, fds[i], F_DUPFD_CLOEXEC, base, 0, 0, 0);
            if (hi >= 0) {
                mf_sys_close(fds[i]);
                fds[i] = (int)hi;
            }
        }
        pipe_id[i] = fd_id(fds[i]);
        pipe_fd[i] = fds[i];
    }
}

/* Checked at most once a millisecond (two fstat calls; a busy process takes thousands of samples
 * a second).  The move to high numbers is the guard; this check is the second line, for a
 * program that puts its own descriptors on exactly those numbers. */
static _Atomic uint64_t pipe_checked_ns;

static bool pipe_check_due(void)
{
    uint64_t now = mf_now_ns(), last = atomic_load_explicit(&pipe_checked_ns, memory_order_relaxed);
    if (now - last < 1000000 && last != 0)
        return false;
    atomic_store_explicit(&pipe_checked_ns, now, memory_order_relaxed);
    return true;
}

static bool pipe_intact(void)
{
    for (int i = 0; i < 2; i++) {
        if (pipe_fd[i] < 0)
            continue;
        uint64_t id = fd_id(pipe_fd[i]);
        if (id != 0 && id != pipe_id[i])
            return false;
    }
    return true;
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
    if (mf_unlikely(atomic_load_explicit(&stacks_off, memory_order_relaxed)))
        return 0;
    if (mf_unlikely(pipe_check_due()) && !pipe_intact()) {
        if (!atomic_exchange(&stacks_off, 1))
            mf_log("profile: the program reused descriptor %d or %d, libunwind's; no more stacks "
                   "are taken in this process (so that libunwind does not read or write them)",
                   pipe_fd[0], pipe_fd[1]);
        return 0;
    }
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
