/* fail.h — fault injection at run time: arms a parsed spec (fail_spec.h states the grammar and
 * semantics), decides for each allocation call while armed, and tests from=MODULE addresses.
 *
 * MEMFENCE_FAIL_REPORT=PATH and MEMFENCE_FAIL_EXE=PATH are read here (see fail_spec.h).
 */
#ifndef MF_FAIL_H
#define MF_FAIL_H

#include <stdbool.h>
#include <stdint.h>

#include "base/module.h"
#include "config/fail_spec.h"

/* Arms fault injection with `spec` (NULL disarms), resetting the counters; `log_each` logs each
 * injected failure with its backtrace.  mf_fail_init calls it; unit tests call it directly.
 * Return: 0. */
int mf_fail_arm(const mf_fail_spec_t *spec, bool log_each);

/* The decision for one call while armed (registered with the policy when armed): counts the
 * eligible call and fails it when the triggers hold.  Return: 0 or -ENOMEM. */
int mf_fail_check(unsigned call, uint64_t req, const void *caller);

/* This process's eligible calls and injected failures since arming. */
uint64_t mf_fail_eligible(void);
uint64_t mf_fail_injected(void);

/* True when `addr` lies in a loaded object whose file name contains `module` (the from= test).
 * Scans the loaded objects once, and again when an address is in none of them and the loader's
 * load/unload counters moved since (a library loaded later).  Never allocates. */
bool mf_fail_addr_in_module(const void *addr, const char *module);

/* The module's lifecycle (module.h). */
MF_MODULE_DECL(fail);

#endif
