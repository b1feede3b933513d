/* sampler.c — the sampler module: one thread named "memfence" that every `sample_interval`
 * (and at once on a PSI memory-pressure trigger) reads the metrics, computes the pressure level
 * and runs the level's actions: trim (give the allocator's free memory back), throttle and
 * refuse-large (published here to the policy, policy.h, and carried out by mf_policy_admit in
 * the allocating thread), signal:SIG and log.  It also fits the leak trend and writes the leak
 * line, and drives the ledger (mf_ledger_tick, metrics_file) once per sample.  The pressure trigger
 * it sleeps on between samples (PSI, or systemd's $MEMORY_PRESSURE_WATCH) is trigger.c's.
 *
 * Lifecycle: the thread exists only once the process is worth watching.  A second thread costs
 * a single-threaded program more than all of memfence's own accounting: glibc's malloc takes its
 * arena locks and atomic fastbin paths for the rest of the process once any other thread was
 * ever created (3-8 % of an allocation-heavy program's instructions).  So init leaves the
 * sampler DEFERRED and asks the gate to call wake_due() from its slow path (a lease, a charge
 * straight to the pool: once per lease batch, never per call); wake_due arms the start trigger
 * once the host pool's usage reaches `wake_used` (below every level threshold, the retained rule
 * and the leak line's smallest growth: nothing the thread would act on can happen before it) or
 * the process has lived `sampler_wait`, or at a GPU charge (gate.c).  metrics_file, signal
 * actions and level_inputs naming host or psi (the machine's pressure, which a small process
 * feels too) arm it at once, as does sampler_wait = 0.  A group member is deferred too: until
 * its first tick it leases the group's credit in small chunks (ledger_self.c: it cannot answer a
 * squeeze yet).  The trigger is MF_POLICY_THROTTLE, which makes the next allocation call the
 * start function this module registered with the policy (sampler_poke); the first allocation
 * once the runtime is READY creates the thread with the real pthread_create, all signals
 * blocked.  The thread's own calls pass
 * through memfence (mf_tls.depth = 1) and it allocates nothing.  A forked child starts DEFERRED
 * (or armed) again.  At exit, fini raises `stop` and waits only while the thread is inside a
 * tick (never for its sleep).
 */
#include <errno.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <linux/futex.h>

#include "backend/backend.h"
#include "backend/resolve.h"
#include "base/calls.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/proc.h"
#include "base/stats.h"
#include "base/sys.h"
#include "config/config.h"
#include "config/levels.h"
#include "gate/gate.h"
#include "gate/policy.h"
#include "gate/report.h"
#include "ledger/ledger.h"
#include "profile/profile.h"
#include "sampler/leak.h"
#include "sampler/sampler.h"
#include "sampler/trigger.h"

#define MS_NS 1000000ULL
#define S_NS 1000000000ULL
#define STACK_SIZE (256u << 10)
#define START_RETRIES 5
#define TRIM_GAP_MIN S_NS                 /* at most one trim a second ... */
#define TRIM_GAP_FACTOR 10                /* ... at most 10 % of the time trimming when it pays */
#define TRIM_WASTE_FACTOR 50              /* ... and 2 % when it gave little back */
#define TRIM_BACKOFF_MAX (30 * S_NS)      /* when trims gain little, try less often */
#define LOG_EVERY (10 * S_NS)             /* the `log` action: one status line this often */
#define METRICS_EVERY S_NS                /* metrics_file is rewritten at most this often */
#define FINI_WAIT_NS (100 * MS_NS)        /* fini waits at most this for a tick to end */
#define QUIESCE_WAIT_NS (250 * MS_NS)     /* abort waits at most this for the thread to stop */
#define GROWTH_WINDOW S_NS                /* throttle while usage grew over this last stretch */
#define GROWTH_TICKS 16

enum { ST_OFF, ST_DEFERRED, ST_ARMED, ST_STARTING, ST_RUNNING, ST_STOPPED };

/* The configuration, copied at init (the thread and the admit path read it without locks). */
static struct {
    uint64_t interval_ns;
    uint64_t throttle_min;
    uint64_t throttle_max_ns;
    uint64_t refuse_min;
    uint64_t trim_min;
    uint64_t window_ns;
    const char *metrics_file;       /* "" for none */
    unsigned throttle_level;        /* the lowest level that throttles (CRITICAL when none) */
    uint64_t wait_ns;               /* sampler_wait; 0: the thread starts at once */
    uint64_t wake_used;             /* usage at which a DEFERRED sampler starts */
    bool eager;                     /* a feature that needs the thread from the start */
    mf_level_cfg_t lc;
} C;

/* Shared between the thread, the allocating threads (admit) and fini. */
static _Atomic int s_state;
static _Atomic int s_stop;                 /* also the word the thread's sleep may be woken on */
static _Atomic int s_park, s_parked;       /* mf_sampler_quiesce: asked, and done (futex words) */
static _Atomic int s_busy;                 /* the thread is inside a tick (a futex word) */
static _Atomic uint64_t s_retry_at;
static uint64_t s_wake_at;                 /* when a DEFERRED sampler starts anyway */
static int s_retries;
static int s_tid;
static _Atomic int s_ctor_done;             /* memfence's constructors ran: libc is all set up */

/* Owned by the thread. */
static struct {
    mf_metrics_src_t src;
    mf_level_state_t st;
    mf_leak_t leak;
    uint64_t alone_check;           /* next look at whether only this thread is left */
    uint64_t last_tick;
    uint64_t level_ns;                     /* not yet added to level_ms */
    uint64_t trim_next, trim_backoff;
    uint64_t trim_residue;                 /* anon RSS above usage that the last trim left */
    uint64_t trim_used, trim_anon;         /* usage and anon RSS right after that trim */
    uint64_t trim_last;                    /* when it started */
    uint64_t used_hist[GROWTH_TICKS];      /* usage at the last ticks (ring) */
    unsigned hist_at, hist_n;
    uint64_t log_next;
    uint64_t metrics_next;
    bool trim_unsupported;
} T;

/* ---- small helpers ---------------------------------------------------------------------- */

static long sys_futex(_Atomic int *addr, int op, int val, const struct timespec *ts)
{ return mf_syscall6(SYS_futex, (long)addr, op, val, (long)ts, 0, 0); }

static struct timespec ns_to_ts(uint64_t ns)
{ return (struct timespec){ .tv_sec = (time_t)(ns / S_NS), .tv_nsec = (long)(ns % S_NS) }; }

static const char *bytes(char *buf, size_t size, uint64_t n)
{
    if (n == MF_UNKNOWN) return "?";
    return mf_fmt_bytes(buf, size, n);
}

/* ---- actions ---------------------------------------------------------------------------- */

static void do_trim(uint64_t now, uint64_t used)
{
    uint64_t rss0, anon0, rss1, anon1;
    if (T.trim_unsupported) return;
    if (now < T.trim_next) {
        /* early only when the heap changed a lot since the last trim (a burst ended) */
        uint64_t moved = C.lc.retain_min / 2;
        bool heap_moved = used > T.trim_used + moved || used + moved < T.trim_used;
        if (!heap_moved || now < T.trim_last + TRIM_GAP_MIN) return;
    }
    if (mf_metrics_rss(T.src.page_size, &rss0, &anon0) < 0) return;
    /* skip when there is little to gain: what the allocator says it retains, or else the
     * anonymous RSS above live usage */
    uint64_t retained = mf_backend_retained();
    uint64_t gain = retained ? retained : (anon0 > used ? anon0 - used : 0);
    if (gain < C.trim_min) {
        T.trim_next = now + TRIM_GAP_MIN;
        T.trim_used = used;
        return;
    }
    uint64_t t0 = mf_now_ns();
    T.trim_last = now;
    if (mf_backend_trim() == -ENOSYS) {
        T.trim_unsupported = true;
        mf_log("the %s allocator has no way to give memory back: the trim action is off",
               mf_backend_name());
        return;
    }
    uint64_t took = mf_now_ns() - t0;
    if (mf_metrics_rss(T.src.page_size, &rss1, &anon1) < 0) {
        rss1 = rss0;
        anon1 = anon0;
    }
    uint64_t released = rss0 > rss1 ? rss0 - rss1 : 0;
    /* what no trim gives back (stacks, libraries' data, fragments) must not keep the retained
     * rule on by itself */
    uint64_t used1 = mf_gate_used(MF_POOL_HOST);
    uint64_t moved = C.lc.retain_min / 2;
    bool changed = used1 > used + moved || used1 + moved < used;
    T.trim_residue = !changed && anon1 > used1 ? anon1 - used1 : 0;   /* heap moved: unknown */
    T.trim_used = used1;
    T.trim_anon = anon1;
    mf_stat_add(&mf_stats.trims, 1);
    mf_stat_add(&mf_stats.trimmed_bytes, released);
    /* the time a trim takes is mostly the kernel freeing what it gave back: worth it when it
     * gave back much, a waste to repeat soon when it did not */
    if (released < C.trim_min && !changed) {
        T.trim_backoff = MF_MIN(MF_MAX(T.trim_backoff * 2, 2 * TRIM_GAP_MIN), TRIM_BACKOFF_MAX);
        T.trim_next = now + MF_MAX(MF_MAX(TRIM_GAP_MIN, TRIM_WASTE_FACTOR * took), T.trim_backoff);
    } else {
        T.trim_backoff = 0;
        T.trim_next = now + MF_MAX(TRIM_GAP_MIN, TRIM_GAP_FACTOR * took);
    }
}

/* True when the program has a handler for signo, or the signal's default action is to ignore
 * it: only then is it safe to send (a SIGUSR2 without a handler ends the process). */
static bool signal_safe(int signo)
{
    struct { void *handler; unsigned long flags; void *restorer; uint64_t mask; } ks;
    if (mf_syscall6(SYS_rt_sigaction, signo, 0, (long)&ks, 8, 0, 0) != 0)
        return false;
    if (ks.handler == (void *)SIG_IGN)
        return false;                       /* nothing would happen: do not pretend */
    if (ks.handler != (void *)SIG_DFL)
        return true;
    return signo == SIGCHLD || signo == SIGURG || signo == SIGWINCH || signo == SIGCONT;
}

static void send_signal(int signo, unsigned level)
{
    char name[32];
    static _Atomic uint64_t warned;          /* one line per signal number and process */
    mf_levels_format_actions(MF_ACT_SIGNAL, signo, name, sizeof name);
    if (!signal_safe(signo)) {
        uint64_t bit = 1ull << (signo & 63);
        if (!(atomic_fetch_or(&warned, bit) & bit))
            mf_log("%s at level %s skipped: the program has no handler for it (its default action "
                   "would end or stop the process, or it is ignored)", name, mf_level_name(level));
        return;
    }
    if (mf_syscall6(SYS_kill, mf_sys_getpid(), signo, 0, 0, 0, 0) == 0) {
        mf_stat_add(&mf_stats.signals, 1);
        mf_log_limited(MF_RL_LEVEL, 5, "%s sent to the process at level %s", name, mf_level_name(level));
    }
}

/* One line with the numbers behind the level. */
static void log_level(const char *what, unsigned old, const mf_metrics_t *m, uint64_t used,
                      uint64_t limit, const mf_level_in_t *in)
{
    char b1[24], b2[24], b3[24], b4[24], p1[16], p2[16], p3[16], p4[16], acts[96];
    unsigned lvl = T.st.level;
    mf_levels_format_actions(C.lc.actions[lvl], C.lc.signo[lvl], acts, sizeof acts);
    char by[64];
    if (T.st.cause == MF_IN_RETAINED)
        mf_fmt(by, sizeof by, "retained memory (rss far above usage)");
    else
        mf_fmt(by, sizeof by, "%s %s", mf_policy_cause_text(T.st.cause), mf_policy_pct(p1, sizeof p1, T.st.value));
    mf_log_limited(MF_RL_LEVEL, 5,
                   "%s %s%s%s%s by %s: usage %s of %s, anon rss %s (%s%s; rss %s with files), "
                   "host %s, psi %s; actions %s",
                   what, mf_level_name(lvl), old == lvl ? "" : " (was ", old == lvl ? "" : mf_level_name(old),
                   old == lvl ? "" : ")", by, bytes(b1, sizeof b1, used),
                   limit == MF_UNLIMITED ? "no limit" : bytes(b2, sizeof b2, limit),
                   bytes(b4, sizeof b4, m->rss_anon),
                   limit == MF_UNLIMITED ? "no budget" : mf_policy_pct(p2, sizeof p2, in->ppm[MF_IN_RSS]),
                   limit == MF_UNLIMITED ? "" : " of budget",
                   bytes(b3, sizeof b3, m->rss), mf_policy_pct(p3, sizeof p3, in->ppm[MF_IN_HOST]),
                   mf_policy_pct(p4, sizeof p4, in->ppm[MF_IN_PSI]), acts);
}

static void fmt_duration(char *buf, size_t size, double s)
{
    if (s >= 86400 * 365.0) mf_fmt(buf, size, "more than a year");
    else if (s >= 3600) mf_fmt(buf, size, "%uh%02um", (unsigned)(s / 3600), (unsigned)(s / 60) % 60);
    else if (s >= 60) mf_fmt(buf, size, "%um%02us", (unsigned)(s / 60), (unsigned)s % 60);
    else mf_fmt(buf, size, "%us", (unsigned)s);
}

static void leak_check(uint64_t now, uint64_t used, uint64_t limit, const mf_metrics_t *m)
{
    if (m->rss == MF_UNKNOWN || !mf_leak_add(&T.leak, now, used, m->rss)) return;
    static const char *const what[] = { "usage", "rss" };
    for (unsigned s = 0; s < MF_LEAK_SERIES; s++) {
        mf_trend_t tr;
        uint64_t cur = s == MF_LEAK_USAGE ? used : m->rss;
        uint64_t ref = limit != MF_UNLIMITED ? limit : cur;
        if (mf_leak_fit(&T.leak, s, &tr) < 0 || !mf_leak_steady(&T.leak, &tr, MF_MAX(1u << 20, ref / 256)))
            continue;
        if (!mf_leak_may_report(&T.leak, now)) return;
        double mib_h = tr.slope * 3600.0 / (1 << 20);
        char sites[400] = "";   /* the profiler's top growers, when profiling is on */
        mf_profile_top_growers_text(sites, sizeof sites, 3);
        uint64_t tenths = (uint64_t)(mib_h * 10 + 0.5);
        char rate[32], left[32], win[32], b1[24], b2[24];
        mf_fmt(rate, sizeof rate, "%llu.%llu", (unsigned long long)(tenths / 10),
               (unsigned long long)(tenths % 10));
        fmt_duration(win, sizeof win, (double)C.window_ns / S_NS);
        if (limit != MF_UNLIMITED) {
            fmt_duration(left, sizeof left, cur >= limit ? 0 : (double)(limit - cur) / tr.slope);
            mf_log_limited(MF_RL_LEAK, 1,
                           "possible leak: %s grows %s MiB/h, steadily over the last %s (r2 0.%02u): "
                           "%s now, the limit %s is reached in about %s%s%s",
                           what[s], rate, win, (unsigned)(tr.r2 * 99.999), bytes(b1, sizeof b1, cur),
                           bytes(b2, sizeof b2, limit), left, sites[0] ? "; growing sites: " : "",
                           sites);
        } else {
            uint64_t avail = m->mem_avail;
            if (avail == MF_UNKNOWN) left[0] = '\0';
            else fmt_duration(left, sizeof left, (double)avail / tr.slope);
            mf_log_limited(MF_RL_LEAK, 1,
                           "possible leak: %s grows %s MiB/h, steadily over the last %s (r2 0.%02u): "
                           "%s now, no limit; the machine's available memory lasts about %s%s%s",
                           what[s], rate, win, (unsigned)(tr.r2 * 99.999), bytes(b1, sizeof b1, cur),
                           left[0] ? left : "?", sites[0] ? "; growing sites: " : "", sites);
        }
        return;
    }
}

/* True when usage grew by at least max(1 MiB, 1 % of the budget) over the last second.  A
 * program that sits near its limit without growing (a full cache churning) gains nothing from
 * being slowed down and is not throttled; one that keeps growing is (like memory.high). */
static bool growing(uint64_t used, uint64_t limit)
{
    unsigned span = (unsigned)MF_MIN(MF_MAX(GROWTH_WINDOW / C.interval_ns, 1), GROWTH_TICKS - 1);
    uint64_t past = T.hist_n ? T.used_hist[(T.hist_at + GROWTH_TICKS - MF_MIN(T.hist_n, span)) % GROWTH_TICKS]
                             : used;
    T.used_hist[T.hist_at] = used;
    T.hist_at = (T.hist_at + 1) % GROWTH_TICKS;
    if (T.hist_n < GROWTH_TICKS) T.hist_n++;
    uint64_t min_growth = MF_MAX(1u << 20, limit != MF_UNLIMITED ? limit / 100 : 0);
    return used > past && used - past >= min_growth;
}

/* ---- one sample ------------------------------------------------------------------------- */

static void tick(uint64_t now)
{
    mf_metrics_t m;
    mf_level_in_t in;
    memset(&in, 0, sizeof in);
    mf_metrics_read(&T.src, &m);
    /* the pressure is on its own budget, or, without one, its group's (budget_used: all the
     * members'); what this process holds (used) is what trims and the retained rule look at */
    uint64_t used = mf_gate_used(MF_POOL_HOST), budget_used, limit;
    mf_policy_budget(&budget_used, &limit);

    in.ppm[MF_IN_USAGE] = mf_policy_ratio_ppm(budget_used, limit);
    /* resident memory the budget can count: file pages (a mapped model, the program's text)
     * are not pressure */
    in.ppm[MF_IN_RSS] = mf_policy_ratio_ppm(m.rss_anon, limit);
    uint32_t host = 0;
    if (m.mem_total != MF_UNKNOWN && m.mem_avail != MF_UNKNOWN && m.mem_avail <= m.mem_total)
        host = mf_policy_ratio_ppm(m.mem_total - m.mem_avail, m.mem_total);
    in.ppm[MF_IN_HOST] = MF_MAX(host, mf_policy_ratio_ppm(m.cg_usage, m.cg_limit));
    in.ppm[MF_IN_PSI] = mf_levels_psi_ppm(m.psi_some10, m.psi_full10);
    C.lc.retain_min = MF_MAX(8 * C.trim_min, limit != MF_UNLIMITED ? limit / 50 : 0);
    /* the residue describes the heap as the last trim left it: forget it once usage or RSS
     * moved by more than half the retained threshold */
    uint64_t moved = C.lc.retain_min / 2;
    if (used > T.trim_used + moved || used + moved < T.trim_used ||
        (m.rss_anon != MF_UNKNOWN && m.rss_anon > T.trim_anon + moved))
        T.trim_residue = 0;
    in.used = used + T.trim_residue;
    in.rss_anon = m.rss_anon;

    /* time spent at the level we are leaving or staying at */
    if (T.last_tick) {
        T.level_ns += now - T.last_tick;
        if (T.level_ns >= MS_NS) {
            mf_stat_add(&mf_stats.level_ms[T.st.level], T.level_ns / MS_NS);
            T.level_ns %= MS_NS;
        }
    }
    T.last_tick = now;

    unsigned old = T.st.level;
    if (mf_levels_step(&C.lc, &T.st, &in)) {
        T.level_ns = 0;
        log_level("level", old, &m, budget_used, limit, &in);
        if (T.st.level > old && (C.lc.actions[T.st.level] & MF_ACT_SIGNAL))
            send_signal(C.lc.signo[T.st.level], T.st.level);
        T.log_next = now + LOG_EVERY;
    }
    unsigned lvl = T.st.level, acts = C.lc.actions[lvl];
    if (m.rss != MF_UNKNOWN) atomic_store_explicit(&mf_stats.rss, m.rss, memory_order_relaxed);
    atomic_store_explicit(&mf_stats.level, lvl, memory_order_relaxed);

    /* the admission side: publish the delay before the bit, and re-assert both every tick
     * (the first tick also clears the start trigger); never again once fini cleared them */
    if (atomic_load(&s_stop)) return;
    uint64_t delay = growing(budget_used, limit) ? mf_levels_throttle_ns(&C.lc, lvl, T.st.value, C.throttle_max_ns) : 0;
    mf_policy_publish(delay, T.st.cause, T.st.value);
    mf_policy_set(MF_POLICY_THROTTLE, delay != 0);
    mf_policy_set(MF_POLICY_REFUSE_LARGE, (acts & MF_ACT_REFUSE_LARGE) != 0);

    if (acts & MF_ACT_TRIM) do_trim(now, used);
    if ((acts & MF_ACT_LOG) && now >= T.log_next) {
        log_level("level still", lvl, &m, budget_used, limit, &in);
        T.log_next = now + LOG_EVERY;
    }
    leak_check(now, used, limit, &m);
    /* the ledger: this instance's slot for `memfence status`, group credit, report requests */
    mf_ledger_tick();
    mf_profile_tick();      /* the profiler's growth windows (nothing when profiling is off) */
    if (C.metrics_file[0] && now >= T.metrics_next) {
        int rc = mf_ledger_write_metrics_file(C.metrics_file);
        if (rc < 0 && rc != -EBUSY)
            mf_log_limited(MF_RL_LEDGER, 1, "metrics_file = %s: cannot write it (error %d)",
                           C.metrics_file, -rc);
        T.metrics_next = now + MF_MAX(METRICS_EVERY, C.interval_ns);
    }
}

/* ---- the thread ------------------------------------------------------------------------- */

/* The sampler opens files every interval (/proc, cgroup and PSI files, the ledger's reclaim,
 * report replies).  On the program's descriptor table each open would take the lowest free
 * number, racing a program that closes 0-2 and expects its next open or dup to get them back.
 * So the thread takes a descriptor table of its own (unshare CLONE_FILES) and closes its copy
 * of every program descriptor (which would otherwise keep, say, a pipe's write end open),
 * keeping only a private duplicate of the log sink.  Where unshare fails, it shares as before. */
static bool s_private_files;   /* the sampler's descriptors are not the program's */

static void private_files(void)
{
    if (mf_syscall6(SYS_unshare, CLONE_FILES, 0, 0, 0, 0, 0) != 0)
        return;
    s_private_files = true;
    int log = mf_log_fd(), keep = -1;
    if (log >= 0)
        keep = (int)mf_syscall6(SYS_fcntl, log, F_DUPFD_CLOEXEC, 3, 0, 0, 0);
    if (keep >= 0) {
        mf_syscall6(SYS_close_range, 0, (unsigned)keep - 1, 0, 0, 0, 0);
        mf_syscall6(SYS_close_range, (unsigned)keep + 1, ~0u, 0, 0, 0, 0);
        mf_log_thread_fd(keep);
    } else {
        mf_syscall6(SYS_close_range, 0, ~0u, 0, 0, 0, 0);
        mf_log_thread_fd(-1);
    }
}

/* True when the program's main thread has exited (pthread_exit: the leader is a zombie) and
 * this thread is the only other one: the process would end here without memfence, so the
 * sampler must not keep it alive.  /proc/self/stat: "pid (comm) S ... num_threads (20th)". */
static bool only_sampler_left(void)
{
    char buf[1024];
    if (mf_sys_read_file("/proc/self/stat", buf, sizeof buf) <= 0)
        return false;
    const char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || p[2] != 'Z')
        return false;
    p += 2;                               /* field 3, the state */
    for (int field = 3; field < 20 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    return p && strtoul(p, NULL, 10) <= 2;   /* the zombie leader and this thread */
}

/* The thread stops for good where it stands, between two ticks, without returning: asleep in
 * the kernel on a word in read-only memory that nothing wakes, it runs no more code and reads
 * none of its memory, whatever the program writes there (mf_sampler_quiesce).  Signals are all
 * blocked in this thread. */
static MF_COLD __attribute__((noreturn)) void park(void)
{
    static const int never = 0;
    atomic_store(&s_busy, 0);
    sys_futex(&s_busy, FUTEX_WAKE_PRIVATE, 1, NULL);
    atomic_store(&s_parked, 1);
    mf_wake_all(&s_parked);
    for (;;)
        sys_futex((_Atomic int *)(uintptr_t)&never, FUTEX_WAIT_PRIVATE, 0, NULL);
}

static void *sampler_main(void *arg)
{
    (void)arg;
    mf_tls.depth = 1;                          /* everything this thread calls passes through */
    mf_tls.own_thread = 1;                     /* reads no live `environ` (see mf_getenv) */
    /* The first sample waits one interval (at most 100 ms), before any other work: a process
     * that lives less (a shell's helper, a wrapper that execs) has nothing worth sampling, and
     * the set-up and first tick (a private descriptor table, a dozen /proc and cgroup reads)
     * would cost it more CPU than its own life; a burst of thousands of such processes was
     * several times slower for it.  (Exit never waits for this sleep.)  The usage now is the
     * first point of the growth history, as the first tick would have recorded it. */
    uint64_t budget_used, limit;
    mf_policy_budget(&budget_used, &limit);
    (void)growing(budget_used, limit);
    mf_sleep_until_set(&s_stop, mf_now_ns() + MF_MIN(C.interval_ns, 100 * MS_NS));
    if (atomic_load(&s_park)) park();
    private_files();
    s_tid = mf_sys_gettid();
    mf_syscall6(SYS_prctl, PR_SET_NAME, (long)"memfence", 0, 0, 0, 0);
    mf_metrics_discover(&T.src);
    mf_trigger_open(T.src.psi_path);
    uint64_t next = mf_now_ns();
    for (;;) {
        if (atomic_load(&s_park)) park();
        atomic_store(&s_busy, 1);
        if (atomic_load(&s_stop)) break;
        uint64_t now = mf_now_ns();
        tick(now);
        if (now >= T.alone_check && (T.alone_check = now + S_NS, only_sampler_left()))
            break;
        atomic_store(&s_busy, 0);
        sys_futex(&s_busy, FUTEX_WAKE_PRIVATE, 1, NULL);
        next += C.interval_ns;
        if (next <= now) next = now + C.interval_ns;     /* late (stopped, suspended): no burst */
        if (mf_trigger_wait(next, T.last_tick, &s_stop))
            next = mf_now_ns();                          /* woken by pressure: restart the beat */
    }
    atomic_store(&s_busy, 0);
    sys_futex(&s_busy, FUTEX_WAKE_PRIVATE, 1, NULL);
    atomic_store(&s_state, ST_STOPPED);
    return NULL;
}

static int thread_create(void)
{
    typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
    static const mf_sym_t sym = { "pthread_create", MF_REQUIRED };
    static void *real;
    static mf_resolve_once_t resolved;
    if (!mf_resolve_once(&resolved, &sym, &real, 1) || !real) return -ENOSYS;
    create_fn real_create = (create_fn)real;
    pthread_attr_t attr;
    pthread_t th;
    sigset_t all, old;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, STACK_SIZE);
    /* the thread inherits this mask; glibc keeps its own internal signals deliverable */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    /* the thread's TLS block comes from malloc: memfence's own, not the program's usage (and
     * freed by the thread itself, whose own calls are never charged: see heap.c) */
    mf_tls.depth++;
    mf_tls.uncounted++;
    int rc = real_create(&th, &attr, sampler_main, NULL);
    mf_tls.uncounted--;
    mf_tls.depth--;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return -rc;
}

static MF_COLD void sampler_start(void)
{
    if (atomic_load(&s_stop)) {                /* armed by a late wake, after fini */
        mf_policy_set(MF_POLICY_THROTTLE, 0);
        return;
    }
    if (!atomic_load(&s_ctor_done) || atomic_load(&mf_state) != MF_STATE_READY) return;
    uint64_t now = mf_now_ns();
    if (now < atomic_load_explicit(&s_retry_at, memory_order_relaxed)) return;
    int expect = ST_ARMED;
    if (!atomic_compare_exchange_strong(&s_state, &expect, ST_STARTING)) return;
    int rc = thread_create();
    if (rc == 0) {
        expect = ST_STARTING;
        atomic_compare_exchange_strong(&s_state, &expect, ST_RUNNING);
        /* The trigger has done its job: allocations go back to the fast path now, not after the
         * first tick (which may take long on a loaded machine); every tick re-asserts the
         * throttle bit when throttling is due. */
        mf_policy_set(MF_POLICY_THROTTLE, 0);
        return;
    }
    if (++s_retries >= START_RETRIES) {
        mf_log("cannot start the sampler thread (error %d): levels, trims and throttling are off", -rc);
        atomic_store(&s_state, ST_OFF);
        mf_policy_set(MF_POLICY_THROTTLE, 0);
        return;
    }
    atomic_store(&s_retry_at, now + S_NS);
    atomic_store(&s_state, ST_ARMED);
}

#ifndef MF_ARCHIVE
/* After runtime.c's constructor (102): allocations from here on may start the thread. */
__attribute__((constructor(103))) static void sampler_constructor(void)
{
    atomic_store(&s_ctor_done, 1);
}
#endif

/* ---- module lifecycle ------------------------------------------------------------------- */

static void parse_level_actions(unsigned level, const char *text, unsigned key)
{
    char why[160];
    if (mf_levels_parse_actions(text, &C.lc.actions[level], &C.lc.signo[level], why, sizeof why) == 0)
        return;
    mf_log("%s: %s; using the default \"%s\"", mf_config_key_name(key), why, mf_config_key_default(key));
    mf_levels_parse_actions(mf_config_key_default(key), &C.lc.actions[level], &C.lc.signo[level],
                            why, sizeof why);
}

/* The gate's wake call (see the file comment): in an allocating thread, maybe in a signal
 * handler; atomics and the clock only.  True: nothing more to wait for. */
static bool wake_due(uint64_t used)
{
    if (atomic_load_explicit(&s_state, memory_order_relaxed) != ST_DEFERRED) return true;
    if (used < C.wake_used && mf_now_ns() < s_wake_at) return false;
    int expect = ST_DEFERRED;
    if (!atomic_load(&s_stop) && atomic_compare_exchange_strong(&s_state, &expect, ST_ARMED))
        mf_policy_set(MF_POLICY_THROTTLE, 1);  /* the start trigger: see the file comment */
    return true;
}

/* The usage below which the thread would find nothing to do (see the file comment): 1/256 of
 * the budget (the leak line's smallest growth), and below the lowest level's floor and the
 * retained rule's threshold; without a budget, half the retained threshold (4 × trim_min). */
static uint64_t wake_mark(uint64_t limit)
{
    uint64_t retain = MF_MAX(8 * C.trim_min, limit != MF_UNLIMITED ? limit / 50 : 0);
    if (limit == MF_UNLIMITED) return MF_MAX(retain / 2, 1u << 20);
    uint32_t low = C.lc.enter[MF_LEVEL_MODERATE];
    for (unsigned l = MF_LEVEL_MODERATE; l <= MF_LEVEL_CRITICAL; l++)
        low = MF_MIN(low, C.lc.enter[l]);
    low = low > C.lc.band ? low - C.lc.band : 0;
    uint64_t w = MF_MIN(limit / 256, retain / 2);
    return MF_MIN(w, (uint64_t)((double)limit * low / MF_PPM / 2));
}

/* Registered with the policy: an allocating thread calls it while MF_POLICY_THROTTLE is set. */
static void sampler_poke(void)
{
    if (mf_unlikely(atomic_load_explicit(&s_state, memory_order_relaxed) == ST_ARMED))
        sampler_start();
}

/* The value below which a level no longer holds (its threshold less the hysteresis band). */
static uint32_t level_floor(unsigned level)
{
    uint32_t enter = C.lc.enter[level];
    return enter > C.lc.band ? enter - C.lc.band : 0;
}

static void arm(void)
{
    s_retries = 0;
    atomic_store(&s_retry_at, 0);
    atomic_store(&s_stop, 0);
    atomic_store(&s_busy, 0);
    mf_policy_publish(0, MF_IN_USAGE, 0);
    mf_policy_set(MF_POLICY_REFUSE_LARGE, 0);
    if (!C.eager && mf_gate_used(MF_POOL_HOST) < C.wake_used) {
        s_wake_at = mf_now_ns() + C.wait_ns;
        atomic_store(&s_state, ST_DEFERRED);
        mf_gate_set_wake(wake_due);
        return;
    }
    atomic_store(&s_state, ST_ARMED);
    mf_policy_set(MF_POLICY_THROTTLE, 1);      /* the start trigger: see the file comment */
}

int mf_sampler_init(const mf_config_t *cfg)
{
    char why[160];
    /* the machine's memory only for a size given as a share of it: reading it (sysinfo, the
     * cgroup files) costs every fenced process a few system calls at start */
    bool pct = cfg->throttle_min.is_pct || cfg->refuse_large_min.is_pct || cfg->trim_min.is_pct;
    uint64_t base = pct ? mf_host_memory() : 0;
    C.interval_ns = cfg->sample_interval ? cfg->sample_interval : 100 * MS_NS;
    C.throttle_min = mf_size_resolve(&cfg->throttle_min, base);
    C.throttle_max_ns = cfg->throttle_max;
    C.refuse_min = mf_size_resolve(&cfg->refuse_large_min, base);
    C.trim_min = mf_size_resolve(&cfg->trim_min, base);
    C.window_ns = cfg->leak_window;
    C.metrics_file = cfg->metrics_file;
    mf_levels_init(&C.lc, cfg->moderate, cfg->high, cfg->critical);
    parse_level_actions(MF_LEVEL_MODERATE, cfg->moderate_actions, MF_K_moderate_actions);
    parse_level_actions(MF_LEVEL_HIGH, cfg->high_actions, MF_K_high_actions);
    parse_level_actions(MF_LEVEL_CRITICAL, cfg->critical_actions, MF_K_critical_actions);
    /* the retained rule must hold for half a second of samples (at least 3) */
    C.lc.retain_samples = (unsigned)MF_MAX(3, (S_NS / 2) / C.interval_ns);
    C.throttle_level = MF_LEVEL_CRITICAL;
    for (unsigned l = MF_LEVEL_CRITICAL; l >= MF_LEVEL_MODERATE; l--)
        if (C.lc.actions[l] & MF_ACT_THROTTLE) C.throttle_level = l;
    if (mf_levels_parse_inputs(cfg->level_inputs, &C.lc.inputs, why, sizeof why) < 0) {
        mf_log("level_inputs: %s; using all", why);
        C.lc.inputs = MF_IN_ALL;
    }
    /* A process without a budget (counting only) follows the machine's pressure only when asked
     * to: by default it changes nothing but its own retained memory, and logs nothing about the
     * host — invariant 6 (the default adds the fence and nothing else). */
    uint64_t budget_used, budget;
    mf_policy_budget(&budget_used, &budget);         /* its own, or its group's */
    if (cfg->origin[MF_K_level_inputs] == MF_FROM_DEFAULT && budget == MF_UNLIMITED)
        C.lc.inputs &= ~((1u << MF_IN_HOST) | (1u << MF_IN_PSI));
    memset(&T.st, 0, sizeof T.st);
    mf_leak_init(&T.leak, C.window_ns, C.interval_ns);
    C.wait_ns = cfg->sampler_wait;
    C.wake_used = wake_mark(budget);                 /* its own, or its group's */
    bool signals = false;
    for (unsigned l = MF_LEVEL_MODERATE; l <= MF_LEVEL_CRITICAL; l++)
        signals |= (C.lc.actions[l] & MF_ACT_SIGNAL) != 0;
    bool machine = cfg->origin[MF_K_level_inputs] != MF_FROM_DEFAULT &&
                   (C.lc.inputs & ((1u << MF_IN_HOST) | (1u << MF_IN_PSI)));
    C.eager = C.wait_ns == 0 || C.metrics_file[0] || signals || machine;
    mf_policy_set_pressure(&(mf_policy_pressure_t){
        .refuse_min = C.refuse_min, .throttle_min = C.throttle_min,
        .critical_floor = level_floor(MF_LEVEL_CRITICAL), .throttle_floor = level_floor(C.throttle_level),
        .start = sampler_poke });
    if (mf_in_preload) arm();
    return 0;
}

void mf_sampler_fork_prepare(void) {}
void mf_sampler_fork_parent(void) {}

void mf_sampler_fork_child(void)
{
    /* the thread did not come along: reset what it owned and start a new one lazily */
    int st = atomic_load(&s_state);
    /* The trigger descriptor lived in the parent sampler's own descriptor table: here that
     * number is one of the program's (its stdin, say), never to be closed or polled by us.
     * Without a private table (unshare refused) the child's copy of it is closed as before. */
    if (s_private_files)
        mf_trigger_forget();
    else
        mf_trigger_close();
    memset(&T.st, 0, sizeof T.st);
    T.last_tick = T.level_ns = T.trim_next = T.trim_backoff = T.log_next = T.trim_residue = T.metrics_next = 0;
    T.trim_used = T.trim_anon = T.trim_last = 0;
    T.hist_at = T.hist_n = 0;
    mf_leak_init(&T.leak, C.window_ns, C.interval_ns);
    atomic_store_explicit(&mf_stats.level, MF_LEVEL_LOW, memory_order_relaxed);
    if (st != ST_OFF && !atomic_load(&s_stop)) arm();
}

/* The process is ending by abort(): the thread, woken from its sleep, stops for good before
 * its next tick (park), and the caller waits for that, at most QUIESCE_WAIT_NS (a tick in
 * progress ends first; a sleep on the pressure trigger's descriptor cannot be cut short).  So no
 * code of memfence's runs while a SIGABRT handler writes the program's crash report, which may
 * test the process's memory as redis-server's does: patterns over every private anonymous
 * mapping, memfence's state and the allocator's among them, a chunk at a time.  A tick that read
 * one of them meanwhile, or called into jemalloc, ended such a handler in SIGSEGV or SIGBUS
 * (tests/progs/abort_memtest.c: 1 run in 10).  Async-signal-safe. */
void mf_sampler_quiesce(void)
{
    if (atomic_load(&s_state) != ST_RUNNING || mf_sys_gettid() == s_tid)
        return;
    atomic_store(&s_park, 1);
    atomic_store(&s_stop, 1);
    mf_wake_all(&s_stop);
    uint64_t deadline = mf_now_ns() + QUIESCE_WAIT_NS;
    while (!atomic_load(&s_parked) && mf_now_ns() < deadline)
        mf_sleep_until_set(&s_parked, MF_MIN(deadline, mf_now_ns() + 10 * MS_NS));
}

void mf_sampler_fini(void)
{
    atomic_store(&s_stop, 1);
    if (atomic_load(&s_state) != ST_OFF && mf_sys_gettid() != s_tid) {
        /* wait for a tick in progress to end, never for the thread's sleep */
        uint64_t deadline = mf_now_ns() + FINI_WAIT_NS;
        while (atomic_load(&s_busy)) {
            uint64_t now = mf_now_ns();
            if (now >= deadline) break;
            struct timespec ts = ns_to_ts(MF_MIN(deadline - now, 10 * MS_NS));
            sys_futex(&s_busy, FUTEX_WAIT_PRIVATE, 1, &ts);
        }
    }
    /* exit-time allocations are neither delayed nor refused, nor start the thread */
    mf_gate_set_wake(NULL);
    mf_policy_set(MF_POLICY_THROTTLE | MF_POLICY_REFUSE_LARGE, 0);
}
