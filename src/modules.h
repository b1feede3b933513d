/* modules.h — the lifecycle every optional module implements, and the one list of modules.
 *
 *   mf_<m>_init(cfg)      after the configuration is loaded, on the initialising thread.  May
 *                          start threads (with the real pthread_create).  Return: 0 or -errno;
 *                          a failing module logs one line and stays off, the process runs on.
 *   mf_<m>_fork_prepare() / mf_<m>_fork_parent()   around fork, to hold and release locks.
 *   mf_<m>_fork_child()   in the child (single-threaded): restart threads, reset per-process state.
 *   mf_<m>_fini()         at exit: stop threads quickly, write final reports.
 */
#ifndef MF_MODULES_H
#define MF_MODULES_H

#include "config.h"

/* map: mmap family and region table.  sampler: levels and actions.  ledger: groups across
 * processes.  profile: allocation sites.  fail: fault injection.  gpu: CUDA.  view: virtualized
 * memory view. */
#define MF_MODULES(X) X(map) X(fail) X(profile) X(gpu) X(view) X(ledger) X(sampler)

#define MF_MODULE_DECL(m)                                   \
    int mf_##m##_init(const mf_config_t *cfg);              \
    void mf_##m##_fork_prepare(void);                       \
    void mf_##m##_fork_parent(void);                        \
    void mf_##m##_fork_child(void);                         \
    void mf_##m##_fini(void);
MF_MODULES(MF_MODULE_DECL)
#undef MF_MODULE_DECL

#endif
