/* hooks/abort.c — abort(): memfence's sampler thread stops for good (mf_sampler_quiesce), then
 * the C library's abort runs.  A program that ends by abort() may still run code of its own,
 * its SIGABRT handler, and a crash report may test the process's memory there, as redis-server's
 * does (it writes patterns over every private anonymous mapping, memfence's state and the
 * allocator's among them, a chunk at a time).  Nothing of memfence's may run meanwhile.
 */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "backend/resolve.h"
#include "base/mf.h"
#include "sampler/sampler.h"

typedef void (*abort_fn)(void);
static const mf_sym_t abort_sym = { "abort", MF_REQUIRED };
static void *real_abort;
static mf_resolve_once_t resolved;

/* Resolved at load: abort() is called when things have gone wrong (the heap, perhaps), which is
 * no time for a first dlsym. */
__attribute__((constructor(103))) static void abort_constructor(void)
{
    mf_resolve_once(&resolved, &abort_sym, &real_abort, 1);
}

MF_EXPORT void abort(void)
{
    mf_sampler_quiesce();
    abort_fn fn = mf_resolve_once(&resolved, &abort_sym, &real_abort, 1) ?
                  (abort_fn)__atomic_load_n(&real_abort, __ATOMIC_RELAXED) : NULL;
    if (fn)
        fn();
    /* no abort of the C library's: end as it would, by SIGABRT with its default action */
    signal(SIGABRT, SIG_DFL);
    raise(SIGABRT);
    _exit(127);
}
