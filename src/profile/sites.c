/* sites.c — the profiler's site table, sampled-block table and sampling arithmetic (sites.h). */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>

#include "base/sys.h"
#include "profile/sites.h"

mf_site_t *mf_sites;
mf_sites_stats_t mf_sites_stats;
uint8_t mf_blocks_filter[MF_BLOCKS_FILTER];

static mf_block_t *blocks;
static uint32_t blocks_live;
static atomic_flag blocks_busy = ATOMIC_FLAG_INIT;
static _Atomic int sites_mapped;

#define SITES_BYTES  ((size_t)MF_SITES_MAX * sizeof(mf_site_t))
#define BLOCKS_BYTES ((size_t)MF_BLOCKS_MAX * sizeof(mf_block_t))

int mf_sites_init(void)
{
    int expect = 0;
    if (!atomic_compare_exchange_strong(&sites_mapped, &expect, 1)) {
        while (atomic_load(&sites_mapped) == 1)
            sched_yield();
        return mf_sites ? 0 : -ENOMEM;
    }
    size_t total = SITES_BYTES + BLOCKS_BYTES;
    void *m = mf_sys_mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mf_sys_mmap_failed(m)) {
        atomic_store(&sites_mapped, 0);
        return -ENOMEM;
    }
    blocks = (mf_block_t *)((char *)m + SITES_BYTES);
    mf_site_t *s = m;
    atomic_store(&s[0].key, 1);          /* site 0: "(other sites)", no frames */
    atomic_store(&s[0].ready, 1);
    mf_sites_stats.used = 1;
    atomic_store_explicit(&mf_sites, s, memory_order_release);
    atomic_store(&sites_mapped, 2);
    return 0;
}

uint64_t mf_sites_bytes(void)
{
    return mf_sites ? SITES_BYTES + BLOCKS_BYTES + sizeof mf_blocks_filter : 0;
}

uint64_t mf_sites_hash(const uintptr_t *frames, int n)
{
    uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)n;
    for (int i = 0; i < n; i++) {
        h ^= frames[i];
        h *= 0x100000001b3ull;
        h ^= h >> 29;
    }
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 31;
    return h > 1 ? h : h + 2;          /* 0 = free, 1 = site 0 */
}

uint32_t mf_sites_find(const uintptr_t *frames, int n)
{
    mf_site_t *t = mf_sites;
    if (!t || n <= 0)
        return 0;
    if (n > MF_UNWIND_MAX)
        n = MF_UNWIND_MAX;
    uint64_t h = mf_sites_hash(frames, n);
    uint32_t mask = MF_SITES_MAX - 1;
    uint32_t i = (uint32_t)(h >> 20) & mask;
    for (uint32_t probes = 0; probes < MF_SITES_MAX; probes++, i = (i + 1) & mask) {
        if (i == 0)
            continue;
        mf_site_t *s = &t[i];
        uint64_t k = atomic_load_explicit(&s->key, memory_order_acquire);
        if (k == h)
            return i;               /* frames may still be being written: counts go in anyway */
        if (k != 0)
            continue;
        if (mf_sites_stats.used >= MF_SITES_MAX / 8 * 7)
            break;                  /* keep probe chains short: the rest goes to site 0 */
        uint64_t zero = 0;
        if (atomic_compare_exchange_strong(&s->key, &zero, h)) {
            s->depth = (uint32_t)n;
            memcpy(s->frames, frames, (size_t)n * sizeof(uintptr_t));
            for (uint32_t w = 0; w < MF_SITE_HIST; w++)
                s->hist[w] = 0;
            atomic_store_explicit(&s->ready, 1, memory_order_release);
            __atomic_fetch_add(&mf_sites_stats.used, 1, __ATOMIC_RELAXED);
            return i;
        }
        if (atomic_load(&s->key) == h)
            return i;
    }
    atomic_fetch_add_explicit(&mf_sites_stats.overflow, 1, memory_order_relaxed);
    return 0;
}

uint64_t mf_site_live_bytes(const mf_site_t *s)
{
    uint64_t a = atomic_load_explicit(&s->alloc_bytes, memory_order_relaxed);
    uint64_t f = atomic_load_explicit(&s->free_bytes, memory_order_relaxed);
    return a > f ? a - f : 0;
}

uint64_t mf_site_live_count(const mf_site_t *s)
{
    uint64_t a = atomic_load_explicit(&s->alloc_count, memory_order_relaxed);
    uint64_t f = atomic_load_explicit(&s->free_count, memory_order_relaxed);
    return a > f ? (a - f + MF_COUNT_ONE / 2) / MF_COUNT_ONE : 0;
}

void mf_sites_lock(void)
{
    while (atomic_flag_test_and_set_explicit(&blocks_busy, memory_order_acquire))
        sched_yield();
}

void mf_sites_unlock(void)
{
    atomic_flag_clear_explicit(&blocks_busy, memory_order_release);
}

static inline uint32_t home_of(uintptr_t p)
{
    return mf_blocks_home(p);
}

/* The free() filter's count for ptr's granule, under the lock; 255 stays (a bucket that full
 * only sends more frees to the table). */
static void filter_add(uintptr_t ptr)
{
    uint8_t *c = &mf_blocks_filter[mf_blocks_bucket(ptr)];
    if (*c < 255)
        __atomic_store_n(c, (uint8_t)(*c + 1), __ATOMIC_RELAXED);
}

static void filter_drop(uintptr_t ptr)
{
    uint8_t *c = &mf_blocks_filter[mf_blocks_bucket(ptr)];
    if (*c > 0 && *c < 255)
        __atomic_store_n(c, (uint8_t)(*c - 1), __ATOMIC_RELAXED);
}

/* Slot of ptr, or of the free slot where it would go.  Under the lock. */
static uint32_t blocks_probe(uintptr_t p)
{
    uint32_t mask = MF_BLOCKS_MAX - 1, i = home_of(p);
    while (blocks[i].ptr != 0 && blocks[i].ptr != p)
        i = (i + 1) & mask;
    return i;
}

static void site_credit(uint32_t site, uint64_t bytes, uint32_t count)
{
    mf_site_t *s = &mf_sites[site];
    atomic_fetch_add_explicit(&s->free_bytes, bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->free_count, count, memory_order_relaxed);
}

/* Backward-shift deletion: no tombstones, so chains never rot. */
static void blocks_delete(uint32_t i)
{
    uint32_t mask = MF_BLOCKS_MAX - 1, j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (blocks[j].ptr == 0)
            break;
        uint32_t home = home_of(blocks[j].ptr);
        /* move j back to i when its home is not in (i, j] cyclically */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            blocks[i] = blocks[j];
            i = j;
        }
    }
    blocks[i].ptr = 0;
}

int mf_sites_record_alloc(uintptr_t ptr, uint32_t site, uint64_t bytes, uint32_t count)
{
    mf_site_t *s;
    if (!mf_sites || site >= MF_SITES_MAX)
        return -EINVAL;
    s = &mf_sites[site];
    atomic_fetch_add_explicit(&mf_sites_stats.samples, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->samples, 1, memory_order_relaxed);
    mf_sites_lock();
    if (blocks_live >= MF_BLOCKS_FILL) {
        mf_sites_unlock();
        atomic_fetch_add_explicit(&mf_sites_stats.dropped, 1, memory_order_relaxed);
        /* counted as allocated and freed at once: totals right, live not inflated forever */
        atomic_fetch_add_explicit(&s->alloc_bytes, bytes, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->alloc_count, count, memory_order_relaxed);
        site_credit(site, bytes, count);
        return -ENOSPC;
    }
    uint32_t i = blocks_probe(ptr);
    if (blocks[i].ptr == ptr) {
        /* a free we never saw (the block was released behind memfence's back): close it */
        site_credit(blocks[i].site, blocks[i].bytes, blocks[i].count);
    } else {
        blocks_live++;
        filter_add(ptr);
    }
    blocks[i] = (mf_block_t){ .ptr = ptr, .site = site, .count = count, .bytes = bytes };
    /* site totals before the unlock: a concurrent free of the same block (impossible for a
     * correct program) could otherwise credit before the charge */
    atomic_fetch_add_explicit(&s->alloc_bytes, bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->alloc_count, count, memory_order_relaxed);
    mf_sites_unlock();
    return 0;
}

int mf_sites_record_free(uintptr_t ptr)
{
    if (!mf_sites || ptr == 0)
        return 0;
    mf_sites_lock();
    uint32_t i = blocks_probe(ptr);
    if (blocks[i].ptr != ptr) {
        mf_sites_unlock();
        return 0;
    }
    mf_block_t b = blocks[i];
    blocks_delete(i);
    blocks_live--;
    filter_drop(ptr);
    site_credit(b.site, b.bytes, b.count);
    mf_sites_unlock();
    return 1;
}

uint32_t mf_blocks_live(void)
{
    return blocks_live;
}

void mf_sites_snapshot(uint64_t now_ns)
{
    mf_site_t *t = mf_sites;
    if (!t)
        return;
    uint32_t pos = mf_sites_stats.hist_pos;
    for (uint32_t i = 0; i < MF_SITES_MAX; i++) {
        if (atomic_load_explicit(&t[i].key, memory_order_relaxed) == 0)
            continue;
        t[i].hist[pos] = (int64_t)mf_site_live_bytes(&t[i]);
    }
    mf_sites_stats.hist_ns[pos] = now_ns;
    mf_sites_stats.hist_pos = (pos + 1) % MF_SITE_HIST;
    if (mf_sites_stats.hist_n < MF_SITE_HIST)
        mf_sites_stats.hist_n++;
}

int mf_site_growth(const mf_site_t *s, double *rate)
{
    uint32_t n = mf_sites_stats.hist_n, last = (mf_sites_stats.hist_pos + MF_SITE_HIST - 1) % MF_SITE_HIST;
    int k = 0;
    uint32_t cur = last;
    while ((uint32_t)k + 1 < n) {
        uint32_t prev = (cur + MF_SITE_HIST - 1) % MF_SITE_HIST;
        if (s->hist[cur] <= s->hist[prev])
            break;
        k++;
        cur = prev;
    }
    if (rate) {
        *rate = 0;
        if (k > 0) {
            uint64_t dt = mf_sites_stats.hist_ns[last] - mf_sites_stats.hist_ns[cur];
            if (dt > 0)
                *rate = (double)(s->hist[last] - s->hist[cur]) * 1e9 / (double)dt;
        }
    }
    return k;
}

void mf_sites_reset(void)
{
    if (!mf_sites)
        return;
    memset(mf_sites, 0, SITES_BYTES);
    memset(blocks, 0, BLOCKS_BYTES);
    memset(mf_blocks_filter, 0, sizeof mf_blocks_filter);
    atomic_store(&mf_sites[0].key, 1);
    atomic_store(&mf_sites[0].ready, 1);
    blocks_live = 0;
    memset(&mf_sites_stats, 0, sizeof mf_sites_stats);
    mf_sites_stats.used = 1;
}

/* ---- sampling arithmetic ---------------------------------------------------------------- */

/* 1 - exp(-x) for 0 <= x <= 1/4, by its Taylor series x - x^2/2! + x^3/3! - ... to x^13 (the
 * next term is below 2^-52 of the sum), in Horner form: constant coefficients, no division and no
 * loop, and no cancellation for small x. */
static double one_minus_exp_neg_small(double x)
{
    static const double c[] = {
        1.0 / 6227020800, 1.0 / 479001600, 1.0 / 39916800, 1.0 / 3628800, 1.0 / 362880,
        1.0 / 40320, 1.0 / 5040, 1.0 / 720, 1.0 / 120, 1.0 / 24, 1.0 / 6, 1.0 / 2, 1.0,
    };
    double y = -x, sum = c[0];   /* sum of c[i] y^(12-i): the series of (exp(y) - 1) / y */
#pragma GCC unroll 16
    for (unsigned i = 1; i < MF_ARRAY_LEN(c); i++)
        sum = sum * y + c[i];
    return x * sum;
}

double mf_exp_neg(double x)
{
    if (x <= 0)
        return 1.0;
    if (x > 700)
        return 0.0;
    /* exp(-x) = exp(-x/2^k)^(2^k) with x/2^k <= 1/4 */
    int k = 0;
    while (x > 0.25) {
        x *= 0.5;
        k++;
    }
    double sum = 1 - one_minus_exp_neg_small(x);
    while (k-- > 0)
        sum *= sum;
    return sum;
}

double mf_ln(double x)
{
    if (x <= 0)
        return -1e308;
    /* x = m * 2^e with m in [1, 2): ln x = e ln 2 + 2 atanh((m-1)/(m+1)) */
    union { double d; uint64_t u; } v = { .d = x };
    int e = (int)((v.u >> 52) & 0x7ff) - 1023;
    v.u = (v.u & ~(0x7ffull << 52)) | (1023ull << 52);
    double m = v.d;
    if (m > 1.4142135623730951) {        /* keep t small: m in [0.707, 1.414) */
        m *= 0.5;
        e++;
    }
    /* atanh t = t (1 + t^2/3 + t^4/5 + ...), |t| < 0.172: to t^22 (the next term is below
     * 2^-60 of the sum), in Horner form with constant coefficients */
    static const double c[] = {
        1.0 / 23, 1.0 / 21, 1.0 / 19, 1.0 / 17, 1.0 / 15, 1.0 / 13,
        1.0 / 11, 1.0 / 9, 1.0 / 7, 1.0 / 5, 1.0 / 3, 1.0,
    };
    double t = (m - 1) / (m + 1), t2 = t * t, sum = c[0];
#pragma GCC unroll 16
    for (unsigned i = 1; i < MF_ARRAY_LEN(c); i++)
        sum = sum * t2 + c[i];
    return e * 0.6931471805599453 + 2 * t * sum;
}

int64_t mf_sample_interval(uint64_t *rng, uint64_t rate)
{
    uint64_t x = *rng ? *rng : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *rng = x;
    uint64_t r = x * 0x2545F4914F6CDD1Dull;
    /* u in (0, 1]: 53 random bits */
    double u = ((double)(r >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    double v = -mf_ln(u) * (double)rate;
    if (v > 1e15)
        v = 1e15;
    return v < 1 ? 1 : (int64_t)v;
}

double mf_sample_scale(uint64_t size, uint64_t rate)
{
    if (rate <= 1)
        return 1.0;
    double x = (double)size / (double)rate;
    if (x > 40)
        return 1.0;
    double p = x <= 0.25 ? one_minus_exp_neg_small(x) : 1 - mf_exp_neg(x);
    return p > 0 ? 1.0 / p : (double)rate;
}
