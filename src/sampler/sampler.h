/* sampler.h — the sampler module (design in sampler.c): one thread that reads the metrics each
 * sample_interval, sets the pressure level and runs its actions.  Everything it shares with
 * the allocation path is published to the policy (policy.h); its one other entry point is for
 * a process that is ending. */
#ifndef MF_SAMPLER_H
#define MF_SAMPLER_H

#include "base/module.h"

MF_MODULE_DECL(sampler);

/* The process is ending by abort(): the thread stops for good, and the caller waits (at most
 * a quarter of a second) until it has, so that none of memfence's code runs while the program
 * writes its crash report.  Async-signal-safe; does nothing from the thread itself. */
void mf_sampler_quiesce(void);

#endif
