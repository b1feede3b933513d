/* hooks/fd.c — pipe2 and syscall, watched for one caller: libunwind.
 *
 * libunwind checks an address before reading it by writing one byte from it into a pipe of its
 * own (EFAULT: unreadable); it opens that pipe when it sets itself up and keeps the two numbers
 * for the life of the process, in the program's descriptor table, where the program sees them
 * and may reuse the numbers.  So, only while memfence is inside libunwind (unwind.c knows):
 * pipe2 fails with EMFILE and leaves -1 in both numbers, so libunwind opens nothing; and its
 * check, syscall(SYS_write, -1, addr, 1), is answered here without a descriptor (see
 * readable()).  Every other call passes straight through.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <unistd.h>

#include "backend/resolve.h"
#include "base/mf.h"
#include "base/sys.h"
#include "profile/unwind.h"

typedef int (*pipe2_fn)(int *, int);
static const mf_sym_t pipe2_sym = { "pipe2", MF_REQUIRED };
static void *real_pipe2;
static mf_resolve_once_t resolved;

/* Resolved at load (after the runtime's constructor), so that a first pipe2 in a vfork child or a
 * signal handler does not have to call dlsym; resolving on first use covers earlier calls. */
__attribute__((constructor(103))) static void fd_constructor(void)
{
    mf_resolve_once(&resolved, &pipe2_sym, &real_pipe2, 1);
}

MF_EXPORT int pipe2(int fds[2], int flags)
{
    pipe2_fn fn = mf_resolve_once(&resolved, &pipe2_sym, &real_pipe2, 1) ?
                  (pipe2_fn)__atomic_load_n(&real_pipe2, __ATOMIC_RELAXED) : NULL;
    if (mf_unlikely(fn == NULL)) {
        errno = ENOSYS;
        return -1;
    }
    if (mf_unlikely(mf_unwind_inside())) {
        fds[0] = fds[1] = -1;
        errno = EMFILE;
        return -1;
    }
    return fn(fds, flags);
}

/* Whether the 8 bytes at addr can be read, with no descriptor and no side effect: the kernel
 * copies the new signal mask from addr (EFAULT when it cannot) before it looks at `how`, and an
 * invalid `how` then changes nothing (EINVAL).  libunwind reads a word at the address it
 * checks, so the word, not just its first byte, is what must be readable. */
static long readable(long addr)
{
    long rc = mf_syscall6(SYS_rt_sigprocmask, -1, addr, 0, 8, 0, 0);
    if (rc == -EFAULT) {
        errno = EFAULT;
        return -1;
    }
    return 1;
}

/* glibc's syscall(): the system call, with -errno turned into errno and -1.  Up to six
 * arguments are taken, as glibc's own does; unused ones are whatever the registers held.  An int
 * argument (a descriptor) fills only the low half of its register: compare it as an int. */
MF_EXPORT long syscall(long n, ...)
{
    va_list ap;
    va_start(ap, n);
    long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
    long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
    va_end(ap);
    if (mf_unlikely(n == SYS_write && (int)a == -1) && mf_unwind_inside())
        return readable(b);
    long rc = mf_syscall6(n, a, b, c, d, e, f);
    if (mf_unlikely((unsigned long)rc > -4096UL)) {
        errno = (int)-rc;
        return -1;
    }
    return rc;
}
