/* sampler.h — the sampler module (design in sampler.c): one thread that reads the metrics each
 * sample_interval, sets the pressure level and runs its actions.  Everything it shares with
 * the allocation path is published to the policy (policy.h); it has no other entry points. */
#ifndef MF_SAMPLER_H
#define MF_SAMPLER_H

#include "base/module.h"

MF_MODULE_DECL(sampler);

#endif
