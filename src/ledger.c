/* ledger.c — placeholder lifecycle of the 'ledger' module (see modules.h); its issue fills it in. */
#include "modules.h"
#include "policy.h"
#include "report.h"

int mf_ledger_init(const mf_config_t *cfg) { (void)cfg; return 0; }
void mf_ledger_fork_prepare(void) {}
void mf_ledger_fork_parent(void) {}
void mf_ledger_fork_child(void) {}
void mf_ledger_fini(void) {}
void mf_ledger_note_event(const char *what) {}
