/* profile.h — the allocation-site profiler: sampling, refusal stacks, leak suspects, reports.
 *
 * With `profile = on` (or an explicit `profile_rate`), one allocation in about profile_rate bytes
 * (exponential intervals, per-thread counter mf_tls.profile_left) records its stack in the site
 * table (sites.h); the free of a sampled block is attributed back.  The core calls
 * mf_profile_alloc / mf_profile_free only while MF_POLICY_PROFILE (policy.h) is set.
 *
 * Talking to `memfence report PID` (no signal, no ledger dependency): the command creates the
 * request file  /dev/shm/memfence-report-UID-PID.req  (mode 0600; UID is the process's user, and
 * the file must be owned by that user or root);
 * mf_profile_tick(), run every sample_interval, notices it, writes the report to
 * ...-PID.tmp, renames it to ...-PID.out and removes the request.  The command waits for .out,
 * reads and deletes it.  The report is the profile data format below; the command symbolizes
 * and renders it (text, --json, --folded).  `profile_at_exit = PATH` writes the same data at
 * exit; `memfence report PATH` renders it.  "%p" in PATH becomes the pid; a forked child (not
 * exec'd) whose PATH has no "%p" writes PATH.PID instead of overwriting its parent's file.
 *
 * Data format (line-based, "memfence-profile 1" first; fields separated by one space):
 *   KEY VALUE                       header: pid, program, exe, rate, enabled, samples, dropped,
 *                                   overflow, sites, sites_max, table_bytes, blocks, windows,
 *                                   window_ns, refusals, time_ns
 *   module LO HI BIAS PATH          a loaded object: [LO, HI) holds its segments, BIAS is its
 *                                   load bias (symbol value = address - BIAS); PATH to the end
 *   site ID LIVE_BYTES LIVE_COUNT ALLOC_BYTES ALLOC_COUNT SAMPLES REFUSALS GROW_WINDOWS
 *        GROWTH_BYTES_PER_S DEPTH ADDR...     one site; ADDRs are return addresses, innermost
 *                                   first, in hex
 *   end
 */
#ifndef MF_PROFILE_H
#define MF_PROFILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/mf.h"
#include "base/module.h"
#include "base/proc.h"
#include "profile/sites.h"

/* Granted and released blocks, while MF_POLICY_PROFILE is set. */
void mf_profile_alloc(void *p, uint64_t usable);
void mf_profile_free(void *p, uint64_t usable);

/* The allocation-free refusal backtrace (" < "-separated frames) that the refusal report and
 * fault injection append; registered with the report at init.  Return: bytes written (0 for
 * none). */
size_t mf_profile_backtrace_text(char *buf, size_t size, int skip);

/* The inline halves of mf_profile_alloc / mf_profile_free, for the general path and
 * mf_heap_*_other, while MF_POLICY_PROFILE is set.  The rare parts:
 * mf_profile_sample (the thread's interval ran out) and mf_profile_forget (the block may be a
 * sampled one).  mf_profile_sample: `counted` is the size the thread's countdown was charged
 * (the request on the fast path, the usable size elsewhere; it sets the block's odds of being
 * sampled), `usable` the bytes the block holds. */
void mf_profile_sample(void *p, uint64_t counted, uint64_t usable);
void mf_profile_forget(void *p);

static inline void mf_profile_alloc_fast(void *p, uint64_t usable)
{
    int64_t left = mf_tls.profile_left - (int64_t)usable;
    mf_tls.profile_left = left;
    if (mf_unlikely(left < 0))
        mf_profile_sample(p, usable, usable);
}

/* False: p is certainly not a sampled block (the block table's filter: a shift, a mask, a
 * compare of one byte); true: it may be, and mf_profile_forget(p) settles it. */
static inline bool mf_profile_may_know(const void *p)
{
    return mf_blocks_maybe((uintptr_t)p);
}

static inline void mf_profile_free_fast(void *p)
{
    if (mf_unlikely(mf_profile_may_know(p)))
        mf_profile_forget(p);
}

/* Periodic work: ends a growth window when one is due and answers a pending report request.
 * Called by the profiler's own thread every sample_interval (and safe to call from the
 * sampler's thread too: concurrent calls return at once).  Never allocates. */
void mf_profile_tick(void);

/* Writes the profile data (format above) to fd.  Return: 0 or a negative errno. */
int mf_profile_write(int fd);

/* One line naming the n fastest-growing sites with their rates, e.g.
 * "leak_fn+0x1c (prog) +1.2 MiB/s, ...", for the sampler's leak-trend line.
 * Return: its length (0 when no site grows or profiling is off). */
size_t mf_profile_top_growers_text(char *buf, size_t size, int n);

/* Effective mean sampling interval in bytes (0 when profiling is off). */
uint64_t mf_profile_rate(void);

/* The module's lifecycle (module.h). */
MF_MODULE_DECL(profile);

#endif
