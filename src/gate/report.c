/* report.c — the refusal line: who asked, for what, how much is in use, what the budget is. */
#include "base/calls.h"
#include "base/log.h"
#include "base/proc.h"
#include "base/stats.h"
#include "config/config.h"
#include "gate/gate.h"
#include "gate/policy.h"
#include "gate/report.h"

enum kind { BUDGET, LARGE, WARN };

static _Atomic(mf_report_text_fn) ext_backtrace;
static _Atomic(mf_report_group_fn) ext_group;
static void (*_Atomic ext_event)(const char *what);

void mf_report_set_backtrace(mf_report_text_fn backtrace) { atomic_store(&ext_backtrace, backtrace); }

void mf_report_set_ledger(mf_report_group_fn group_text, void (*event)(const char *what))
{
    atomic_store(&ext_group, group_text);
    atomic_store(&ext_event, event);
}

static void report(enum kind kind, unsigned call, unsigned pool, uint64_t req, const char *detail)
{
    if (kind != WARN) {
        mf_stat_add(&mf_stats.refusals, 1);
        if (pool != MF_POOL_HOST)
            mf_stat_add(&mf_stats.refusals_gpu, 1);
        atomic_store_explicit(&mf_stats.last_refusal_size, req, memory_order_relaxed);
    }
    mf_tls.depth++;
    char where[16] = "host";
    if (pool != MF_POOL_HOST)
        mf_fmt(where, sizeof where, "GPU %u", pool - MF_POOL_GPU0);
    char bt[512] = "";
    mf_report_text_fn backtrace = atomic_load(&ext_backtrace);
    mf_report_group_fn group = atomic_load(&ext_group);
    void (*event)(const char *) = atomic_load(&ext_event);
    if (mf_config()->log_backtrace && backtrace && backtrace(bt, sizeof bt, 2) == 0)
        bt[0] = 0;
    const char *at = bt[0] ? "; at " : "";
    uint64_t used = mf_gate_used(pool), limit = mf_gate_limit(pool);
    if (kind == LARGE && pool == MF_POOL_HOST)
        mf_policy_budget(&used, &limit);   /* what the level was measured against */
    unsigned rate = (unsigned)mf_config()->log_rate;
    const char *name = mf_call_name(call), *inst = mf_instance_name();
    int pid = (int)mf_pid();
    char grp[160];
    if (kind == LARGE) {
        mf_log_limited(MF_RL_REFUSE, rate,
                       "refused %s(%s) in %s (pid %d): %s; %s memory in use %s of budget %s%s%s",
                       name, MF_BYTES(req), inst, pid, detail, where, MF_BYTES(used),
                       MF_BYTES(limit), at, bt);
    } else if (kind == WARN) {
        mf_log_limited(MF_RL_REFUSE, rate,
                       "over budget: %s(%s) in %s (pid %d) granted anyway (%s): %s "
                       "memory in use %s > budget %s%s%s",
                       name, MF_BYTES(req), inst, pid, detail ? detail : "on_limit = warn", where,
                       MF_BYTES(used), MF_BYTES(limit), at, bt);
    } else if (group && group(grp, sizeof grp, pool)) {   /* the group's budget */
        mf_log_limited(MF_RL_REFUSE, rate,
                       "refused %s(%s) in %s (pid %d): %s; this process holds %s%s%s%s%s",
                       name, MF_BYTES(req), inst, pid, grp, MF_BYTES(used), detail ? "; " : "",
                       detail ? detail : "", at, bt);
    } else {
        /* the cap this request met (gate.h): the budget, less the headroom for a large block
         * (half of it for a mapping), plus the overdraft for a small block once one was refused */
        uint64_t cap = limit, seen_used, seen_cap;
        if (pool == MF_POOL_HOST && mf_gate_take_refusal(&seen_used, &seen_cap)) {
            used = seen_used;
            cap = seen_cap;
        }
        char capw[112] = "";
        if (cap < limit)
            mf_fmt(capw, sizeof capw, " less %s of headroom (kept for blocks under %s)",
                   MF_BYTES(limit - cap), MF_BYTES(MF_GATE_SMALL));
        else if (cap > limit)
            mf_fmt(capw, sizeof capw, " + overdraft %s (open since a small block's refusal)",
                   MF_BYTES(cap - limit));
        mf_log_limited(MF_RL_REFUSE, rate,
                       "refused %s(%s) in %s (pid %d): %s memory in use %s + %s asked > budget "
                       "%s%s%s%s%s%s",
                       name, MF_BYTES(req), inst, pid, where, MF_BYTES(used), MF_BYTES(req),
                       MF_BYTES(limit), capw, detail ? "; " : "", detail ? detail : "", at, bt);
    }
    if (event) {
        char ev[96];
        mf_fmt(ev, sizeof ev, "%s %s(%s)", kind == WARN ? "over budget" : "refused", name,
               MF_BYTES(req));
        event(ev);
    }
    mf_tls.depth--;
}

void mf_report_refusal(unsigned call, unsigned pool, uint64_t req, const char *detail)
{
    report(BUDGET, call, pool, req, detail);
}

void mf_report_refused_large(unsigned call, unsigned pool, uint64_t req, const char *why)
{
    report(LARGE, call, pool, req, why);
}

void mf_report_over_budget(unsigned call, unsigned pool, uint64_t req, const char *why)
{
    report(WARN, call, pool, req, why);
}
