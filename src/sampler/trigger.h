/* trigger.h — the sampler's memory-pressure trigger (internal to src/sampler/): a PSI trigger
 * on the cgroup's memory.pressure (or /proc/pressure/memory), or systemd's
 * $MEMORY_PRESSURE_WATCH, polled between samples so that pressure wakes the sampler at once
 * instead of at its next interval.  Without one (no PSI, no permission) the timer alone runs.
 * Only the sampler thread calls these (and fork_child's reset, in the child). */
#ifndef MF_SAMPLER_TRIGGER_H
#define MF_SAMPLER_TRIGGER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Opens the trigger: $MEMORY_PRESSURE_WATCH (with $MEMORY_PRESSURE_WRITE, base64) when set,
 * else PSI_PATH with the default threshold; an earlier one is closed first.  No return: on any
 * failure there is simply no trigger (one log line when systemd's is unusable). */
void mf_trigger_open(const char *psi_path);

/* Closes the trigger's descriptor, if any. */
void mf_trigger_close(void);

/* Forgets the trigger without closing it: in a child whose number for it belongs to the program
 * (the descriptor lived in the parent sampler's private table). */
void mf_trigger_forget(void);

/* Waits until `deadline`, or less when the trigger fires, but never returns from a trigger
 * within 20 ms of `last_tick`; returns at once when *stop is set.  Return: true when woken by
 * the trigger. */
bool mf_trigger_wait(uint64_t deadline, uint64_t last_tick, _Atomic int *stop);

#endif
