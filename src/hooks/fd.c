/* hooks/fd.c — pipe2, watched for one caller: libunwind.
 *
 * libunwind checks memory it is not sure of by writing one byte from it into a pipe and reading
 * it back; it opens that pipe at set-up and keeps the two numbers for the life of the process.
 * They sit in the program's descriptor table, at the lowest free numbers.  A program that closes
 * its descriptors and opens new ones gets those numbers back, and libunwind would then read a
 * byte from the program's descriptor (blocking forever on an empty pipe) and write a byte of
 * memory into another.  So a pipe2 made while memfence is inside libunwind (unwind.c knows) is
 * handed to mf_unwind_adopt_pipe, which moves it high and remembers what it is; every other
 * call passes straight through.
 */
#include <errno.h>
#include <stdatomic.h>
#include <unistd.h>

#include "mf.h"
#include "resolve.h"
#include "unwind.h"

typedef int (*pipe2_fn)(int *, int);
static _Atomic(pipe2_fn) real_pipe2;

static MF_COLD pipe2_fn fd_resolve(void)
{
    static const mf_sym_t sym = { "pipe2", MF_REQUIRED };
    void *p = NULL;
    mf_resolve_next(&sym, &p, 1);
    atomic_store_explicit(&real_pipe2, (pipe2_fn)p, memory_order_release);
    return (pipe2_fn)p;
}

/* Resolved at load (after the runtime's constructor), so that a first pipe2 in a vfork child or a
 * signal handler does not have to call dlsym; fd_resolve on first use covers earlier calls. */
__attribute__((constructor(103))) static void fd_constructor(void)
{
    if (!atomic_load_explicit(&real_pipe2, memory_order_acquire))
        fd_resolve();
}

MF_EXPORT int pipe2(int fds[2], int flags)
{
    pipe2_fn fn = atomic_load_explicit(&real_pipe2, memory_order_acquire);
    if (mf_unlikely(fn == NULL) && (fn = fd_resolve()) == NULL) {
        errno = ENOSYS;
        return -1;
    }
    int rc = fn(fds, flags);
    if (rc == 0 && mf_unlikely(mf_unwind_inside()))
        mf_unwind_adopt_pipe(fds);
    return rc;
}
