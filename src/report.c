/* report.c — the refusal line: who asked, for what, how much is in use, what the budget is. */
#include "config.h"
#include "calls.h"
#include "gate.h"
#include "ledger.h"
#include "log.h"
#include "report.h"
#include "runtime.h"
#include "stats.h"

void mf_report_refusal(unsigned call, unsigned pool, uint64_t req, const char *detail)
{
    mf_stat_add(&mf_stats.refusals, 1);
    if (pool != MF_POOL_HOST)
        mf_stat_add(&mf_stats.refusals_gpu, 1);
    atomic_store_explicit(&mf_stats.last_refusal_size, req, memory_order_relaxed);
    mf_tls.depth++;
    char where[16] = "host";
    if (pool != MF_POOL_HOST)
        mf_fmt(where, sizeof where, "GPU %u", pool - MF_POOL_GPU0);
    char bt[512] = "";
    if (mf_config()->log_backtrace && mf_profile_backtrace_text(bt, sizeof bt, 2) == 0)
        bt[0] = 0;
    uint64_t used = mf_gate_used(pool), limit = mf_gate_limit(pool);
    char grp[160];
    if (mf_ledger_refusal_text(grp, sizeof grp, pool)) {   /* the group's budget refused it */
        mf_log_limited(MF_RL_REFUSE, (unsigned)mf_config()->log_rate,
                       "refused %s(%s) in %s (pid %d): %s; this process holds %s%s%s%s%s",
                       mf_call_name(call), MF_BYTES(req), mf_instance_name(), (int)mf_pid(), grp,
                       MF_BYTES(used), detail ? "; " : "", detail ? detail : "",
                       bt[0] ? "; at " : "", bt);
        goto note;
    }
    mf_log_limited(MF_RL_REFUSE, (unsigned)mf_config()->log_rate,
                   "refused %s(%s) in %s (pid %d): %s memory in use %s + %s asked > budget %s%s%s%s%s",
                   mf_call_name(call), MF_BYTES(req), mf_instance_name(), (int)mf_pid(), where,
                   MF_BYTES(used), MF_BYTES(req), MF_BYTES(limit), detail ? "; " : "", detail ? detail : "", bt[0] ? "; at " : "", bt);
note:;
    char ev[96];
    mf_fmt(ev, sizeof ev, "refused %s(%s)", mf_call_name(call), MF_BYTES(req));
    mf_ledger_note_event(ev);
    mf_tls.depth--;
}
