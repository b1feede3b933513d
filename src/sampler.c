/* sampler.c — placeholder lifecycle of the 'sampler' module (see modules.h); its issue fills it in. */
#include "modules.h"
#include "policy.h"
#include "report.h"

int mf_sampler_init(const mf_config_t *cfg) { (void)cfg; return 0; }
void mf_sampler_fork_prepare(void) {}
void mf_sampler_fork_parent(void) {}
void mf_sampler_fork_child(void) {}
void mf_sampler_fini(void) {}
int mf_sampler_admit(unsigned call, unsigned pool, uint64_t req) { return 0; }
