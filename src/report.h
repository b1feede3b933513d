/* report.h — the refusal report: one line saying which process, which call, how much was asked,
 * how much is in use and what the budget is; rate-limited; counted. */
#ifndef MF_REPORT_H
#define MF_REPORT_H

#include <stdint.h>

/* Reports a refusal by the budget of `pool` (MF_POOL_*).  `detail` may add words ("group
 * models", "refuse-large at CRITICAL"); NULL for none.  Never allocates. */
void mf_report_refusal(unsigned call, unsigned pool, uint64_t req, const char *detail);

/* A refusal by a policy rather than the budget (refuse-large): `why` says which rule. */
void mf_report_refused_large(unsigned call, unsigned pool, uint64_t req, const char *why);

/* on_limit = warn: the allocation was granted beyond the budget.  Not counted as a refusal. */
void mf_report_over_budget(unsigned call, unsigned pool, uint64_t req);

/* Optional extensions: the profiler appends the refused call's stack (src/profile.c) and the
 * ledger records the event (src/ledger.c).  Both must be allocation-free.  Return: bytes
 * written into buf (0 for nothing). */
size_t mf_profile_backtrace_text(char *buf, size_t size, int skip);
void mf_ledger_note_event(const char *what);

#endif
