/* runtime.c — the lifecycle of the preload: initialisation (lazy, at the first allocation or in
 * the constructor), the fork handlers and exit.  It is the top of the core: it wires the modules
 * (modules.h) and calls each in turn; nothing below calls it, except mf_runtime_ensure (proc.h),
 * the one documented upward call: an allocation that comes before the constructor starts
 * initialisation itself.
 */
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "base/log.h"
#include "base/metrics.h"
#include "base/proc.h"
#include "base/size.h"
#include "base/sys.h"
#include "config/config.h"
#include "family/heap.h"
#include "gate/gate.h"
#include "gate/policy.h"
#include "lifecycle/modules.h"

static _Atomic int init_tid;

/* ---- fork ------------------------------------------------------------------------------- */

static void fork_prepare(void)
{
    mf_tls.depth++;
#define M(m) mf_##m##_fork_prepare();
    MF_MODULES(M)
#undef M
    mf_gate_fork_prepare();
}

static void fork_parent(void)
{
    mf_gate_fork_parent();
#define M(m) mf_##m##_fork_parent();
    MF_MODULES(M)
#undef M
    mf_tls.depth--;
}

static void fork_child(void)
{
    mf_proc_fork_child();
    mf_gate_fork_child(mf_tls.slot);
#define M(m) mf_##m##_fork_child();
    MF_MODULES(M)
#undef M
    mf_tls.depth--;
}

/* ---- initialisation --------------------------------------------------------------------- */

static void apply_config(const mf_config_t *cfg)
{
    if (mf_log_set_sink(cfg->log) != 0)
        mf_log("log = %s: cannot open it; logging to stderr", cfg->log);
    uint64_t limit = mf_size_resolve(&cfg->limit, cfg->limit.is_pct ? mf_host_memory() : 0);
    if (cfg->limit.is_pct && limit == MF_UNLIMITED)
        mf_log("limit = %s: the memory of this machine is unknown; counting only", "N%");
    mf_gate_set_limit(MF_POOL_HOST, limit);
    mf_gate_set_headroom(mf_size_share(&cfg->headroom, limit, MF_GATE_HEADROOM_FLOOR),
                         mf_size_share(&cfg->overdraft, limit, MF_GATE_OVERDRAFT_FLOOR));
    mf_heap_big = limit;
    mf_heap_warn_only = !strcmp(cfg->on_limit, "warn");
    if (!mf_heap_warn_only && strcmp(cfg->on_limit, "refuse"))
        mf_log("on_limit = %s: expected refuse or warn; using refuse", cfg->on_limit);
}

static void do_init(void)
{
    mf_tls.depth++;
    if (mf_backend_init() != 0) {
        atomic_store(&mf_state, MF_STATE_DISABLED);
        mf_tls.depth--;
        return;
    }
    mf_heap_settle_bootstrap();
    mf_heap_check_usable();
    mf_heap_init_policy();
    atomic_store_explicit(&mf_state, MF_STATE_COUNTING, memory_order_release);
    mf_proc_init();
    const mf_config_t *cfg = mf_config();
    mf_config_load(mf_instance_name(), mf_exe_path());
    apply_config(cfg);
    mf_gate_thread_init();
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    atomic_store_explicit(&mf_state, MF_STATE_READY, memory_order_release);
#define M(m) if (mf_##m##_init(cfg) != 0) mf_log("the %s module failed to start; it stays off", #m);
    MF_MODULES(M)
#undef M
    /* Last: no thread gets a slot before the modules have set their policy bits, so the bits
     * free() cares about are final when a slot is handed out (gate.h: mf_thread_slot_set). */
    mf_policy_set(MF_POLICY_NOT_READY, 0);
    mf_tls.depth--;
}

int mf_runtime_ensure(void)
{
    int st = atomic_load_explicit(&mf_state, memory_order_acquire);
    if (mf_likely(st >= MF_STATE_COUNTING))
        return st;
    if (st == MF_STATE_NONE) {
        int expected = MF_STATE_NONE;
        if (atomic_compare_exchange_strong(&mf_state, &expected, MF_STATE_RESOLVING)) {
            atomic_store(&init_tid, mf_sys_gettid());
            do_init();
            return atomic_load(&mf_state);
        }
    }
    if (atomic_load(&init_tid) == mf_sys_gettid())
        return MF_STATE_RESOLVING;
    while ((st = atomic_load_explicit(&mf_state, memory_order_acquire)) < MF_STATE_COUNTING)
        sched_yield();
    return st;
}

#ifndef MF_ARCHIVE
__attribute__((constructor(102))) static void mf_constructor(void)
{
    mf_runtime_ensure();
}

__attribute__((destructor)) static void mf_destructor(void)
{
    if (atomic_load(&mf_state) != MF_STATE_READY)
        return;
    mf_tls.depth++;
#define M(m) mf_##m##_fini();
    MF_MODULES(M)
#undef M
    mf_tls.depth--;
}
#endif
