/* modules.h — the one list of optional modules, in the order the lifecycle initialises them
 * (and runs their fork handlers and fini); each implements module.h's entry points.
 *
 * map: mmap family and region table.  fail: fault injection.  profile: allocation sites.  gpu:
 * CUDA.  view: the virtualized memory view.  ledger: groups across processes.  sampler: levels
 * and actions (last: it reads what the others set up).
 */
#ifndef MF_MODULES_H
#define MF_MODULES_H

#include "fail/fail.h"
#include "family/gpu.h"
#include "family/map.h"
#include "family/view.h"
#include "ledger/ledger.h"
#include "profile/profile.h"
#include "sampler/sampler.h"

#define MF_MODULES(X) X(map) X(fail) X(profile) X(gpu) X(view) X(ledger) X(sampler)

#endif
