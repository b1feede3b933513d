/* view.c — placeholder lifecycle of the 'view' module (see modules.h); its issue fills it in. */
#include "modules.h"
#include "policy.h"
#include "report.h"

int mf_view_init(const mf_config_t *cfg) { (void)cfg; return 0; }
void mf_view_fork_prepare(void) {}
void mf_view_fork_parent(void) {}
void mf_view_fork_child(void) {}
void mf_view_fini(void) {}
