/* profile.c — placeholder lifecycle of the 'profile' module (see modules.h); its issue fills it in. */
#include "modules.h"
#include "policy.h"
#include "report.h"

int mf_profile_init(const mf_config_t *cfg) { (void)cfg; return 0; }
void mf_profile_fork_prepare(void) {}
void mf_profile_fork_parent(void) {}
void mf_profile_fork_child(void) {}
void mf_profile_fini(void) {}
void mf_profile_alloc(void *p, uint64_t usable) {}
void mf_profile_free(void *p, uint64_t usable) {}
size_t mf_profile_backtrace_text(char *buf, size_t size, int skip) { return 0; }
