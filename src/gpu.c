/* gpu.c — placeholder lifecycle of the 'gpu' module (see modules.h); its issue fills it in. */
#include "modules.h"
#include "policy.h"
#include "report.h"

int mf_gpu_init(const mf_config_t *cfg) { (void)cfg; return 0; }
void mf_gpu_fork_prepare(void) {}
void mf_gpu_fork_parent(void) {}
void mf_gpu_fork_child(void) {}
void mf_gpu_fini(void) {}
