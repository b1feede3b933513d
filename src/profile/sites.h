/* sites.h — the allocation-site table and the sampled-block table of the profiler.
 *
 * Site table: a fixed number of stacks (MF_SITES_MAX), open addressing on a 64-bit hash of the
 * return addresses; a site is claimed with one CAS and never moves or goes away, so the fast
 * path takes no lock and a reader can walk the table at any time.  Two stacks with the same
 * 64-bit hash share a site (odds ~ n²/2⁶⁵).  When the table is full, samples go to site 0,
 * "(other sites)", so totals stay right.
 *
 * Block table: pointer → (site, weight) of every live sampled block, so that its free is
 * attributed.  Open addressing with backward-shift deletion under one spinlock; in front of it a
 * filter that free() reads without a lock (mf_blocks_maybe): counts of live sampled blocks per
 * 16-byte granule of address space modulo 512 KiB, 32 KiB in all, kept under the same lock.
 * Nearly every free is answered "not sampled" by one byte load.
 *
 * Estimator (as tcmalloc's and pprof's): sampling intervals are exponential with mean R bytes, so
 * a block of s bytes is sampled with probability p = 1 - exp(-s/R); each sample stands for 1/p
 * blocks and s/p bytes.  Estimated counts are kept in 1/256ths.
 *
 * Memory: the tables come from mf_sys_mmap (pages are touched only as they fill), the filter is
 * static; nothing from the fenced heap.  mf_sites_bytes() says how much is used.
 */
#ifndef MF_SITES_H
#define MF_SITES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/mf.h"
#include "profile/unwind.h"

#define MF_SITES_MAX    4096          /* sites (power of two); site 0 is "(other sites)" */
#define MF_SITE_HIST    8             /* windows of live-bytes history per site */
#define MF_BLOCKS_MAX   (1u << 16)    /* slots of the sampled-block table (power of two) */
#define MF_BLOCKS_FILL  (MF_BLOCKS_MAX / 4 * 3)   /* most live sampled blocks tracked */
#define MF_COUNT_ONE    256           /* fixed-point unit of estimated counts */

typedef struct mf_site {
    _Atomic uint64_t key;             /* stack hash; 0 = free slot */
    _Atomic uint32_t ready;           /* frames written */
    uint32_t depth;
    uintptr_t frames[MF_UNWIND_MAX];
    _Atomic uint64_t alloc_bytes;     /* estimated bytes allocated here, ever */
    _Atomic uint64_t alloc_count;     /* estimated blocks, in 1/MF_COUNT_ONE */
    _Atomic uint64_t free_bytes;
    _Atomic uint64_t free_count;
    _Atomic uint64_t samples;         /* sampled blocks (not estimated) */
    _Atomic uint64_t refusals;        /* refused calls whose stack ended here */
    int64_t hist[MF_SITE_HIST];       /* live bytes at the end of the last windows (ring) */
} mf_site_t;

typedef struct mf_block {
    uintptr_t ptr;                    /* 0 = free slot */
    uint32_t site;
    uint32_t count;                   /* estimated blocks, 1/MF_COUNT_ONE */
    uint64_t bytes;                   /* estimated bytes */
} mf_block_t;

typedef struct mf_sites_stats {
    _Atomic uint64_t samples;         /* allocations sampled */
    _Atomic uint64_t dropped;         /* samples not tracked: block table full */
    _Atomic uint64_t overflow;        /* samples that went to site 0: site table full */
    uint32_t used;                    /* sites claimed */
    uint32_t hist_n;                  /* windows recorded so far (≤ MF_SITE_HIST) */
    uint32_t hist_pos;                /* next ring position */
    uint64_t hist_ns[MF_SITE_HIST];   /* time of each window */
} mf_sites_stats_t;

extern mf_site_t *mf_sites;           /* NULL until mf_sites_init */
extern mf_sites_stats_t mf_sites_stats;

/* Maps the tables (once).  Return: 0 or -ENOMEM. */
int mf_sites_init(void);

/* Bytes of memory the tables take (mapped, whether touched or not). */
uint64_t mf_sites_bytes(void);

/* Hash of a stack (never 0). */
uint64_t mf_sites_hash(const uintptr_t *frames, int n);

/* The site of this stack, claimed when new.  Return: its index (0, "(other sites)", when the
 * table is full or uninitialised). */
uint32_t mf_sites_find(const uintptr_t *frames, int n);

/* Live estimate of a site (alloc - free), never negative. */
uint64_t mf_site_live_bytes(const mf_site_t *s);
uint64_t mf_site_live_count(const mf_site_t *s);     /* whole blocks */

/* Records a sampled allocation of `size` bytes at site `site`, standing for `bytes` bytes and
 * `count` blocks (1/MF_COUNT_ONE).  Return: 0, or -ENOSPC when the block table is full (the
 * allocation is still counted in the site's totals, never in its live bytes). */
int mf_sites_record_alloc(uintptr_t ptr, uint32_t site, uint64_t bytes, uint32_t count);

/* If ptr is a live sampled block: forgets it, credits its site.  Return: 1 when it was, 0 not. */
int mf_sites_record_free(uintptr_t ptr);

/* Home slot of a block in the table: the top 16 bits of a multiplicative hash. */
static inline uint32_t mf_blocks_home(uintptr_t p)
{
    return (uint32_t)(((uint64_t)p * 0x9E3779B97F4A7C15ull) >> 48);
}

/* Cheap pre-check for free(): false means ptr is certainly not a sampled block.  One byte a
 * 16-byte granule of address space, modulo 512 KiB: the number of live sampled blocks that start
 * there (sticky at 255).  Plain address bits index it, so the check is a shift, a mask and a
 * compare of one byte in memory, and neighbouring blocks share its cache lines as they share
 * the heap's. */
#define MF_BLOCKS_FILTER (1u << 15)
extern uint8_t mf_blocks_filter[MF_BLOCKS_FILTER];
static inline uint32_t mf_blocks_bucket(uintptr_t p)
{
    return (uint32_t)(p >> 4) & (MF_BLOCKS_FILTER - 1);
}
static inline __attribute__((always_inline)) bool mf_blocks_maybe(uintptr_t p)
{
    /* a compare of the byte in memory and a jump (a relaxed read): GCC's own load, test and
     * jump is one instruction more on every profiled free and realloc */
    __asm__ goto("cmpb $0, %0\n\tje %l[clear]"
                 : : "m"(mf_blocks_filter[mf_blocks_bucket(p)]) : "cc" : clear);
    return true;
clear:
    return false;
}

/* Live sampled blocks tracked now. */
uint32_t mf_blocks_live(void);

/* Ends a window: remembers every site's live bytes at time now_ns. */
void mf_sites_snapshot(uint64_t now_ns);

/* Growth of a site over the recorded windows: the number of consecutive windows, ending with the
 * latest, in which its live bytes grew (0 when the last did not), and the growth rate over them in
 * bytes per second (*rate may be NULL). */
int mf_site_growth(const mf_site_t *s, double *rate);

/* The block-table lock, held across fork so the child never inherits it taken. */
void mf_sites_lock(void);
void mf_sites_unlock(void);

/* Forgets everything (unit tests; fork children keep their parent's table). */
void mf_sites_reset(void);

/* ---- sampling arithmetic (pure) ------------------------------------------------------- */

/* Next sampling interval in bytes: exponential with mean `rate`, from the caller's generator
 * state *rng (xorshift64*; any non-zero seed).  At least 1. */
int64_t mf_sample_interval(uint64_t *rng, uint64_t rate);

/* 1 / P(sampled) for a block of `size` bytes at mean interval `rate`: 1/(1 - exp(-size/rate)). */
double mf_sample_scale(uint64_t size, uint64_t rate);

/* ln x (x > 0) and exp(-x) (x >= 0), without libm. */
double mf_ln(double x);
double mf_exp_neg(double x);

#endif
