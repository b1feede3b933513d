/* fail.c — placeholder lifecycle of the 'fail' module (see modules.h); its issue fills it in. */
#include "modules.h"
#include "policy.h"
#include "report.h"

int mf_fail_init(const mf_config_t *cfg) { (void)cfg; return 0; }
void mf_fail_fork_prepare(void) {}
void mf_fail_fork_parent(void) {}
void mf_fail_fork_child(void) {}
void mf_fail_fini(void) {}
int mf_fail_check(unsigned call, uint64_t req, const void *caller) { return 0; }
