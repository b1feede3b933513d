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

/* The allocation was granted beyond the budget; `why` says why it was not refused ("on_limit =
 * warn", "the dynamic loader cannot take a refusal").  Not counted as a refusal. */
void mf_report_over_budget(unsigned call, unsigned pool, uint64_t req, const char *why);

/* Extensions registered at init by the modules above (the report calls nothing up the layers):
 *   backtrace    the profiler's: writes the refused call's stack into buf (bytes written, 0 for
 *                none);
 *   group_text   the ledger's: when `pool` is refused by the group's budget, says so into buf
 *                (bytes written, 0 when the process's own budget refused);
 *   event        the ledger's: records the event in the process's row.
 * Each must be allocation-free; NULL for none. */
typedef size_t (*mf_report_text_fn)(char *buf, size_t size, int skip);
typedef size_t (*mf_report_group_fn)(char *buf, size_t size, unsigned pool);
void mf_report_set_backtrace(mf_report_text_fn backtrace);
void mf_report_set_ledger(mf_report_group_fn group_text, void (*event)(const char *what));

#endif
