/* module.h — the lifecycle every optional module implements (the list of modules and the order
 * they run in is the lifecycle's: lifecycle/modules.h).  A module's header declares its entry
 * points with MF_MODULE_DECL(name):
 *
 *   mf_<m>_init(cfg)      after the configuration is loaded, on the initialising thread.  May
 *                          start threads (with the real pthread_create).  Return: 0 or -errno;
 *                          a failing module logs one line and stays off, the process runs on.
 *   mf_<m>_fork_prepare() / mf_<m>_fork_parent()   around fork, to hold and release locks.
 *   mf_<m>_fork_child()   in the child (single-threaded): restart threads, reset per-process state.
 *   mf_<m>_fini()         at exit: stop threads quickly, write final reports.
 */
#ifndef MF_MODULE_H
#define MF_MODULE_H

struct mf_config;

#define MF_MODULE_DECL(m)                                   \
    int mf_##m##_init(const struct mf_config *cfg);         \
    void mf_##m##_fork_prepare(void);                       \
    void mf_##m##_fork_parent(void);                        \
    void mf_##m##_fork_child(void);                         \
    void mf_##m##_fini(void)

#endif
