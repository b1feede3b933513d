/* map.c — placeholder lifecycle of the 'map' module (see modules.h); its issue fills it in. */
#include "modules.h"
#include "policy.h"
#include "report.h"

int mf_map_init(const mf_config_t *cfg) { (void)cfg; return 0; }
void mf_map_fork_prepare(void) {}
void mf_map_fork_parent(void) {}
void mf_map_fork_child(void) {}
void mf_map_fini(void) {}
