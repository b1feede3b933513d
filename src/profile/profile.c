/* profile.c — the 'profile' module: sampled allocation sites, refusal stacks, leak suspects and
 * the report a live process writes on request (see profile.h for the protocol and format).
 *
 * Fast path (MF_POLICY_PROFILE the only bit set): the malloc hook subtracts the request from the
 * thread's mf_tls.profile_left on its way in and stays on the core's fast path; only when the
 * countdown goes negative does the call take mf_heap_malloc_other, which samples (unwinds).  The
 * free hook asks the block table's filter (a shift, a mask and a compare of one byte) and stays
 * on the fast path unless the block may be a sampled one.  The general path counts usable sizes
 * instead.
 * Off: the core's fast path pays nothing (the bit sends a call out of line only when it is set).
 *
 * Estimator: tcmalloc's.  Intervals are exponential with mean R = profile_rate, so a block of s
 * bytes is sampled with probability 1 - exp(-s/R) and each sample stands for s/(1-exp(-s/R))
 * bytes and 1/(1-exp(-s/R)) blocks; totals are unbiased for any mix of sizes.
 *
 * Re-entry: the slow paths raise mf_tls.depth, so whatever libunwind or the loader allocate or
 * map meanwhile passes straight through memfence; nothing here unwinds while depth > 0.
 * Fork: prepare waits (bounded) until no thread is inside libunwind and takes the block-table
 * lock and the tick lock, so the child inherits no lock held by a thread that is not there.
 */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/log.h"
#include "base/metrics.h"
#include "base/proc.h"
#include "base/sys.h"
#include "config/config.h"
#include "gate/policy.h"
#include "gate/report.h"
#include "ledger/ledger.h"
#include "profile/profile.h"
#include "profile/sites.h"
#include "profile/symbolize.h"
#include "profile/unwind.h"

static uint64_t prof_rate;                /* mean bytes between samples; 0 = off */
static uint64_t prof_window_ns;           /* growth window */
static char prof_exit_path[MF_CFG_STR_MAX];
static bool prof_backtrace;               /* log_backtrace */

static _Atomic int unwinding;             /* threads inside libunwind now */
static _Atomic int forking;               /* fork in progress: take no new stacks */
static _Atomic int tick_busy;             /* one tick at a time */
static uint64_t last_window_ns;
static _Atomic uint64_t refusal_total;
static pid_t prof_init_pid;               /* a fork child writes its own at-exit file */

static __thread uint64_t prof_rng;      /* per-thread xorshift state; 0 = not seeded */


uint64_t mf_profile_rate(void) { return prof_rate; }

/* ---- stacks ------------------------------------------------------------------------------ */

/* Takes a stack unless a fork is under way.  Caller has raised mf_tls.depth. */
static inline __attribute__((always_inline)) int take_stack(uintptr_t *frames, int skip)
{
    if (atomic_load_explicit(&forking, memory_order_acquire))
        return 0;
    atomic_fetch_add_explicit(&unwinding, 1, memory_order_acq_rel);
    int n = 0;
    if (!atomic_load_explicit(&forking, memory_order_acquire))
        n = mf_unwind_capture(frames, MF_UNWIND_MAX, skip);
    atomic_fetch_sub_explicit(&unwinding, 1, memory_order_release);
    return n;
}

static void seed_rng(void)
{
    uint64_t s = mf_now_ns() ^ ((uint64_t)mf_sys_gettid() << 32) ^ (uint64_t)(uintptr_t)&prof_rng;
    prof_rng = s ? s : 1;
}

void mf_profile_sample(void *p, uint64_t counted, uint64_t usable)
{
    if (p == NULL || mf_tls.depth > 0 || prof_rate == 0)
        return;
    mf_tls.depth++;
    if (mf_unlikely(prof_rng == 0)) {
        /* the thread's first interval: drawn now, so the first bytes are not always sampled */
        seed_rng();
        mf_tls.profile_left = mf_sample_interval(&prof_rng, prof_rate) - (int64_t)counted;
        if (mf_tls.profile_left >= 0) {
            mf_tls.depth--;
            return;
        }
    }
    mf_tls.profile_left = mf_sample_interval(&prof_rng, prof_rate);
    uintptr_t frames[MF_UNWIND_MAX];
    int n = take_stack(frames, 0);
    uint32_t site = mf_sites_find(frames, n);
    /* a block is in the sample with odds 1 - exp(-counted/R): it stands for 1/odds blocks */
    double scale = mf_sample_scale(counted ? counted : usable, prof_rate);
    double cnt = scale * MF_COUNT_ONE;
    mf_sites_record_alloc((uintptr_t)p, site, (uint64_t)(scale * (double)usable + 0.5),
                          cnt > 4e9 ? 4000000000u : (uint32_t)(cnt + 0.5));
    mf_tls.depth--;
}

void mf_profile_forget(void *p)
{
    mf_tls.depth++;
    mf_sites_record_free((uintptr_t)p);
    mf_tls.depth--;
}

void mf_profile_alloc(void *p, uint64_t usable)
{
    if (mf_unlikely(p == NULL) || mf_tls.depth > 0 || prof_rate == 0)
        return;
    mf_profile_alloc_fast(p, usable);
}

void mf_profile_free(void *p, uint64_t usable)
{
    (void)usable;
    mf_profile_free_fast(p);
}

size_t mf_profile_backtrace_text(char *buf, size_t size, int skip)
{
    if (!buf || size < 2 || !prof_backtrace || mf_tls.depth > 1)
        return 0;                  /* depth 1: the refusal path itself may have raised it once */
    mf_tls.depth++;
    uintptr_t frames[MF_UNWIND_MAX];
    /* in the preload memfence's own frames are recognised by address: `skip` (meant for them)
     * would drop the caller's */
    int n = take_stack(frames, !mf_in_preload && skip > 0 ? skip : 0);
    size_t len = 0;
    if (n > 0) {
        if (mf_sites) {
            uint32_t site = mf_sites_find(frames, n);
            atomic_fetch_add_explicit(&mf_sites[site].refusals, 1, memory_order_relaxed);
        }
        atomic_fetch_add_explicit(&refusal_total, 1, memory_order_relaxed);
        for (int i = 0; i < n && i < 6 && len + 8 < size; i++) {
            if (i)
                len += mf_fmt(buf + len, size - len, " < ");
            len += mf_sym_frame_text(buf + len, size - len, frames[i]);
        }
    }
    mf_tls.depth--;
    return len;
}

/* ---- growth ------------------------------------------------------------------------------ */

/* The n sites growing fastest (at least two consecutive windows), best first.  Return: count. */
static int top_growers(uint32_t *out, double *rates, int n)
{
    int k = 0;
    if (!mf_sites || n <= 0)
        return 0;
    for (uint32_t i = 0; i < MF_SITES_MAX; i++) {
        const mf_site_t *s = &mf_sites[i];
        double r;
        if (!atomic_load_explicit(&s->ready, memory_order_acquire))
            continue;
        if (mf_site_growth(s, &r) < 2 || r <= 0)
            continue;
        int j = k < n ? k++ : n;
        if (j == n && r <= rates[n - 1])
            continue;
        if (j == n)
            j = n - 1;
        while (j > 0 && rates[j - 1] < r) {
            rates[j] = rates[j - 1];
            out[j] = out[j - 1];
            j--;
        }
        rates[j] = r;
        out[j] = i;
    }
    return k;
}

size_t mf_profile_top_growers_text(char *buf, size_t size, int n)
{
    uint32_t ids[16];
    double rates[16];
    size_t len = 0;
    if (!buf || size == 0)
        return 0;
    buf[0] = 0;
    if (n > 16)
        n = 16;
    mf_tls.depth++;
    int k = top_growers(ids, rates, n);
    for (int i = 0; i < k && len + 16 < size; i++) {
        const mf_site_t *s = &mf_sites[ids[i]];
        char rate[32];
        mf_fmt_bytes(rate, sizeof rate, (uint64_t)rates[i]);
        if (i)
            len += mf_fmt(buf + len, size - len, ", ");
        if (s->depth > 0)
            len += mf_sym_frame_text(buf + len, size - len, s->frames[0]);
        else
            len += mf_fmt(buf + len, size - len, "(other sites)");
        len += mf_fmt(buf + len, size - len, " +%s/s", rate);
    }
    mf_tls.depth--;
    return len;
}

/* ---- the report -------------------------------------------------------------------------- */

typedef struct writer {
    int fd, err;
    size_t len;
    char buf[16384];
} writer_t;

static writer_t report_w;                 /* under tick_busy (or at exit) */

static void w_flush(writer_t *w)
{
    size_t off = 0;
    while (off < w->len && !w->err) {
        ssize_t r = mf_sys_write(w->fd, w->buf + off, w->len - off);
        if (r == -EINTR)
            continue;
        if (r <= 0)
            w->err = r < 0 ? (int)r : -EIO;
        else
            off += (size_t)r;
    }
    w->len = 0;
}

static void w_printf(writer_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void w_printf(writer_t *w, const char *fmt, ...)
{
    if (sizeof w->buf - w->len < 1024)
        w_flush(w);
    va_list ap;
    va_start(ap, fmt);
    w->len += mf_vfmt(w->buf + w->len, sizeof w->buf - w->len, fmt, ap);
    va_end(ap);
}

static int module_line(struct dl_phdr_info *info, size_t size, void *data)
{
    writer_t *w = data;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr;
        lo = MF_MIN(lo, a);
        hi = MF_MAX(hi, a + ph->p_memsz);
    }
    const char *path = info->dlpi_name;
    if (!path || !*path)
        path = mf_exe_path();
    if (hi > lo && path && *path)
        w_printf(w, "module %lx %lx %lx %s\n", (unsigned long)lo, (unsigned long)hi,
                 (unsigned long)info->dlpi_addr, path);
    return 0;
}

int mf_profile_write(int fd)
{
    writer_t *w = &report_w;
    w->fd = fd;
    w->err = 0;
    w->len = 0;
    mf_tls.depth++;
    w_printf(w, "memfence-profile 1\npid %d\nprogram %s\nexe %s\n", (int)mf_pid(),
             mf_program_name(), mf_exe_path());
    w_printf(w, "rate %llu\nenabled %d\nsamples %llu\ndropped %llu\noverflow %llu\n",
             (unsigned long long)prof_rate, prof_rate != 0,
             (unsigned long long)atomic_load(&mf_sites_stats.samples),
             (unsigned long long)atomic_load(&mf_sites_stats.dropped),
             (unsigned long long)atomic_load(&mf_sites_stats.overflow));
    w_printf(w, "sites %u\nsites_max %u\ntable_bytes %llu\nblocks %u\nwindows %u\nwindow_ns %llu\n",
             mf_sites ? mf_sites_stats.used : 0, (unsigned)MF_SITES_MAX,
             (unsigned long long)mf_sites_bytes(), mf_blocks_live(), mf_sites_stats.hist_n,
             (unsigned long long)prof_window_ns);
    w_printf(w, "refusals %llu\ntime_ns %llu\n", (unsigned long long)atomic_load(&refusal_total),
             (unsigned long long)mf_now_ns());
    dl_iterate_phdr(module_line, w);
    for (uint32_t i = 0; mf_sites && i < MF_SITES_MAX; i++) {
        const mf_site_t *s = &mf_sites[i];
        if (!atomic_load_explicit(&s->ready, memory_order_acquire))
            continue;
        uint64_t samples = atomic_load_explicit(&s->samples, memory_order_relaxed);
        uint64_t refusals = atomic_load_explicit(&s->refusals, memory_order_relaxed);
        if (samples == 0 && refusals == 0)
            continue;
        double rate;
        int grow = mf_site_growth(s, &rate);
        w_printf(w, "site %u %llu %llu %llu %llu %llu %llu %d %lld %u", i,
                 (unsigned long long)mf_site_live_bytes(s),
                 (unsigned long long)mf_site_live_count(s),
                 (unsigned long long)atomic_load_explicit(&s->alloc_bytes, memory_order_relaxed),
                 (unsigned long long)((atomic_load_explicit(&s->alloc_count, memory_order_relaxed) +
                                       MF_COUNT_ONE / 2) / MF_COUNT_ONE),
                 (unsigned long long)samples, (unsigned long long)refusals, grow,
                 (long long)rate, s->depth);
        for (uint32_t f = 0; f < s->depth && f < MF_UNWIND_MAX; f++)
            w_printf(w, " %lx", (unsigned long)s->frames[f]);
        w_printf(w, "\n");
    }
    w_printf(w, "end\n");
    w_flush(w);
    mf_tls.depth--;
    return w->err;
}

/* `memfence report PID` asks through the ledger's mailbox (ledger.h); the ledger's tick calls
 * this with the reply file open. */
static int answer(unsigned kind, int fd)
{
    return kind == MF_LREQ_REPORT ? mf_profile_write(fd) : -ENOSYS;
}

void mf_profile_tick(void)
{
    int expect = 0;
    if (!atomic_compare_exchange_strong(&tick_busy, &expect, 1))
        return;
    mf_tls.depth++;
    uint64_t now = mf_now_ns();
    if (mf_sites && prof_window_ns && now - last_window_ns >= prof_window_ns) {
        mf_sites_snapshot(now);
        last_window_ns = now;
    }
    mf_tls.depth--;
    atomic_store(&tick_busy, 0);
}

/* ---- lifecycle --------------------------------------------------------------------------- */

int mf_profile_init(const mf_config_t *cfg)
{
    prof_backtrace = cfg->log_backtrace;
    mf_report_set_backtrace(mf_profile_backtrace_text);
    bool on = cfg->profile || cfg->origin[MF_K_profile_rate] != MF_FROM_DEFAULT;
    if (!on)
        return 0;
    uint64_t rate = mf_size_resolve(&cfg->profile_rate, mf_host_memory());
    if (rate == MF_UNLIMITED) {
        mf_log("profile: profile_rate unlimited means no sampling; profiling stays off");
        return 0;
    }
    if (mf_unwind_init() != 0)
        mf_log("profile: %s cannot be loaded; allocation sites are counted without stacks",
               mf_unwind_soname());
    if (mf_sites_init() != 0) {
        mf_log("profile: cannot map the site table; profiling stays off");
        return -ENOMEM;
    }
    prof_rate = rate ? rate : 1;
    prof_window_ns = cfg->leak_window / MF_SITE_HIST;
    memcpy(prof_exit_path, cfg->profile_at_exit, sizeof prof_exit_path);
    prof_init_pid = mf_pid();
    last_window_ns = mf_now_ns();
    mf_ledger_set_answer(answer);
    mf_policy_set(MF_POLICY_PROFILE, 1);
    return 0;
}

void mf_profile_fork_prepare(void)
{
    atomic_store(&forking, 1);
    /* a thread inside libunwind may hold its locks: let it finish (bounded, ~1 s) */
    for (int i = 0; i < 100000 && atomic_load(&unwinding) > 0; i++)
        sched_yield();
    for (int i = 0; i < 100000; i++) {
        int expect = 0;
        if (atomic_compare_exchange_strong(&tick_busy, &expect, 1))
            break;
        sched_yield();
    }
    mf_sites_lock();
}

void mf_profile_fork_parent(void)
{
    mf_sites_unlock();
    atomic_store(&tick_busy, 0);
    atomic_store(&forking, 0);
}

void mf_profile_fork_child(void)
{
    mf_sites_unlock();
    atomic_store(&tick_busy, 0);
    atomic_store(&unwinding, 0);
    atomic_store(&forking, 0);
    seed_rng();                    /* not the parent's sequence */
}

void mf_profile_fini(void)
{
    if (!prof_rate)
        return;
    if (!prof_exit_path[0])
        return;
    for (int i = 0; i < 100000; i++) {
        int expect = 0;
        if (atomic_compare_exchange_strong(&tick_busy, &expect, 1))
            break;
        sched_yield();
    }
    /* "%p" in the path becomes the pid; a forked child without one adds ".PID" so it does not
     * overwrite its parent's file */
    char path[MF_CFG_STR_MAX + 16];
    size_t o = 0;
    int had_pid = 0;
    for (const char *c = prof_exit_path; *c && o + 12 < sizeof path; c++) {
        if (c[0] == '%' && c[1] == 'p') {
            o += mf_fmt(path + o, sizeof path - o, "%d", (int)mf_pid());
            had_pid = 1;
            c++;
        } else {
            path[o++] = *c;
        }
    }
    path[o] = 0;
    if (!had_pid && mf_pid() != prof_init_pid)
        mf_fmt(path + o, sizeof path - o, ".%d", (int)mf_pid());
    int fd = mf_sys_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        mf_log("profile: cannot write %s (%d)", path, fd);
        return;
    }
    mf_profile_write(fd);
    mf_sys_close(fd);
}
