/* ledger_self.c — this process in the ledger: the module's lifecycle (join at start, a slot
 * of its own after fork, leave at exit), the group as the gate's parent budget with a
 * process-level credit, the tick the sampler calls (publish, squeeze, reclaim, mailbox),
 * the refusal text and the admission pre-flight of `memfence run`. */
#include <errno.h>
#include <stdarg.h>
#include <sys/auxv.h>

#include "base/log.h"
#include "base/metrics.h"
#include "base/proc.h"
#include "base/size.h"
#include "base/stats.h"
#include "config/config.h"
#include "gate/gate.h"
#include "gate/report.h"
#include "ledger/ledger_int.h"

/* ---- this process -------------------------------------------------------------------------- */

static struct {
    mf_ledger_t l;
    _Atomic int on;             /* a slot is held in l */
    _Atomic int grouped;        /* the gate's pools charge the group */
    int slot;
    pid_t pid;                  /* the process the slot belongs to (a fork child re-attaches) */
    uint64_t start;
    uint32_t squeeze_seen;
    _Atomic uint64_t lock_retry_ns; /* after a lock timeout: charges are refused until then */
    char away[MF_NAME_MAX];     /* the group that turned this process away ("" : none) */
    _Atomic uint64_t debt[MF_POOL_COUNT];   /* granted before joining: not charged to the group */
    _Atomic uint64_t owed[MF_POOL_COUNT];   /* uncharges that could not take the lock */
    mf_ledger_answer_fn answer;
    char dir[MF_CFG_STR_MAX];
} me = { .l = { .fd = -1 }, .slot = -1 };

static void publish(mf_ledger_slot_t *s);
static __thread int refused_by_group __attribute__((tls_model("initial-exec")));

/* Writes a line about the group (fmt) when the group-wide rate limit lets it, with how many
 * lines of that kind the group held back since the last one. */
static void say(mf_ledger_t *l, unsigned kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(mf_ledger_t *l, unsigned kind, const char *fmt, ...)
{
    uint64_t held = 0;
    if (!mf_ledger_say(l, kind, &held))
        return;
    char line[768];
    va_list ap;
    va_start(ap, fmt);
    size_t n = mf_vfmt(line, sizeof line, fmt, ap);
    va_end(ap);
    if (held)
        mf_fmt(line + n, sizeof line - n, " (and %llu more like it in this group since the last "
               "such line)", (unsigned long long)held);
    mf_log("%s", line);
}

/* The group lock could not be had within MF_LEDGER_LOCK_NS (a member stopped inside the
 * critical section): what cannot be counted is refused, for the next second without waiting
 * again.  The process stays in the group: once the lock is free its charges go through. */
static void lock_trouble(int err)
{
    atomic_store(&me.lock_retry_ns, mono_ns() + 1000000000ull);
    if (me.slot >= 0)
        me.l.slots[me.slot].flags |= MF_LFLAG_DETACHED;
    say(&me.l, MF_LSAY_LOCK, "ledger %s: the group lock cannot be had (error %d: a stopped or "
        "stuck member?); charges to the group are refused until it can", me.l.path, -err);
}

static void settle_owed(void)
{
    for (unsigned p = 0; p < MF_POOL_COUNT; p++) {
        uint64_t o = atomic_exchange(&me.owed[p], 0);
        if (o && mf_ledger_uncharge(&me.l, (unsigned)me.slot, p, o) != 0)
            atomic_fetch_add(&me.owed[p], o);
    }
}

/* Host bytes this process has charged to the group and not yet handed to its pool: taken with
 * one CAS, refilled a chunk at a time under the ledger lock, the excess above two chunks given
 * back.  Counted against the group like any lease; returned when another member is refused
 * (squeeze) and at exit.  GPU pools charge the group exactly (their allocations are few). */
static _Atomic uint64_t gcredit;
static uint64_t gchunk;

/* True once this process's sampler ticks (mf_ledger_tick): only then does it answer a squeeze.
 * Until then (a short-lived helper, a wrapper that execs, a member still below its sampler's
 * wake mark) it leases small chunks, so the idle credit no squeeze can take back stays small:
 * at most two of DEFERRED_CHUNK per such member, and none near the limit (chunk_now). */
static _Atomic bool ticking;
#define DEFERRED_CHUNK (64u << 10)

/* One writer at a time: the slot is a seqlock, and two writers (the sampler's tick and a
 * deferred member's allocating threads, or a signal handler inside either) could leave its
 * sequence odd for good.  A publish that finds another under way is skipped: that one is as
 * fresh. */
static _Atomic int publishing;

static bool credit_take(uint64_t n)
{
    uint64_t c = atomic_load_explicit(&gcredit, memory_order_relaxed);
    while (c >= n)
        if (atomic_compare_exchange_weak_explicit(&gcredit, &c, c - n, memory_order_relaxed,
                                                  memory_order_relaxed))
            return true;
    return false;
}

/* The chunk to lease now: gchunk, less when the group has many members for the room left (a
 * chunk per member, times thousands of members, would otherwise hold the whole budget idle):
 * at most a quarter of the room per live slot, so the idle credit of all members together stays
 * under half the room; 0 (charge exactly) near the limit. */
static uint64_t chunk_now(void)
{
    mf_ledger_hdr_t *h = me.l.hdr;
    uint64_t lim = h->limit[MF_POOL_HOST];
    uint64_t full = atomic_load_explicit(&ticking, memory_order_relaxed) ? gchunk
                  : MF_MIN(gchunk, DEFERRED_CHUNK);
    if (lim == MF_UNLIMITED)
        return full;
    /* the room for credit ends where leases end (gate.h): limit - headroom */
    lim = sat_sub(lim, (uint64_t)-mf_gate_lease_margin());
    uint64_t room = sat_sub(lim, atomic_load_explicit(&h->total[MF_POOL_HOST], memory_order_relaxed));
    uint64_t share = room / (4 * (uint64_t)MF_MAX(mf_ledger_top(&me.l), 1u));
    return MF_MIN(full, share & ~(uint64_t)4095);
}

/* Charges the ledger for n (host: from the local credit first, refilling a chunk when it can).
 * Return: 0, -ENOMEM, or the lock's error. */
static int group_take(unsigned pool, uint64_t n, int64_t margin)
{
    if (pool != MF_POOL_HOST || !gchunk)
        return mf_ledger_charge(&me.l, (unsigned)me.slot, pool, n, margin);
    if (credit_take(n))
        return 0;
    uint64_t have = atomic_exchange_explicit(&gcredit, 0, memory_order_relaxed);
    uint64_t need = n > have ? n - have : 0, chunk = chunk_now();
    /* the chunk is credit: leased as credit is (gate.h), never past the request's margin */
    int r = need > UINT64_MAX - chunk ? -ENOMEM
          : mf_ledger_charge(&me.l, (unsigned)me.slot, pool, need + chunk,
                             chunk ? MF_MIN(margin, mf_gate_lease_margin()) : margin);
    if (r == 0) {
        atomic_fetch_add_explicit(&gcredit, have + chunk - (n - need), memory_order_relaxed);
        return 0;
    }
    if (chunk)
        r = mf_ledger_charge(&me.l, (unsigned)me.slot, pool, need, margin);  /* exactly, near the limit */
    if (r == 0)
        atomic_fetch_add_explicit(&gcredit, have - (n - need), memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&gcredit, have, memory_order_relaxed);
    return r;
}

/* Gives the local credit back to the group. */
static void credit_return(void)
{
    uint64_t c = atomic_exchange(&gcredit, 0);
    if (c && mf_ledger_uncharge(&me.l, (unsigned)me.slot, MF_POOL_HOST, c) != 0)
        atomic_fetch_add(&me.owed[MF_POOL_HOST], c);
}

/* A member whose sampler does not tick yet keeps its row fresh from here, on the group's slow
 * path (a lease or a return: every 64 KiB of change at most): `memfence status` shows what it
 * holds.  Lock-free, signal-safe (a seqlock write). */
static void publish_deferred(void)
{
    if (!atomic_load_explicit(&ticking, memory_order_relaxed) &&
        atomic_load_explicit(&me.on, memory_order_acquire) && me.slot >= 0)
        publish(&me.l.slots[me.slot]);
}

static int group_charge(void *ctx, unsigned pool, uint64_t n, int64_t margin)
{
    (void)ctx;
    if (mf_unlikely(me.pid != mf_pid()) || !atomic_load_explicit(&me.grouped, memory_order_relaxed))
        return 0;
    uint64_t retry = atomic_load_explicit(&me.lock_retry_ns, memory_order_relaxed);
    if (mf_unlikely(retry)) {
        if (mono_ns() < retry) {
            if (pool == MF_POOL_HOST && gchunk && credit_take(n))
                return 0;   /* from the local credit: already counted */
            refused_by_group = (int)pool + 1;
            return -ENOMEM;
        }
        atomic_store_explicit(&me.lock_retry_ns, 0, memory_order_relaxed);
    }
    int r = group_take(pool, n, margin);
    if (mf_likely(r == 0)) {
        refused_by_group = 0;
        publish_deferred();
        return 0;
    }
    if (r == -ENOMEM) {
        /* Dead members may hold what is missing: look, at most every 50 ms in the group. */
        if (mf_ledger_sweep_due(&me.l, 50000000ull) && mf_ledger_reclaim(&me.l) > 0 &&
            group_take(pool, n, margin) == 0) {
            refused_by_group = 0;
            return 0;
        }
        refused_by_group = (int)pool + 1;
        return -ENOMEM;
    }
    if (r == -EDEADLK)
        return -ENOMEM;     /* re-entered from a signal handler inside the critical section */
    lock_trouble(r);
    refused_by_group = (int)pool + 1;
    return -ENOMEM;
}

/* The parent of a process its group turned away (no slot, or no lock, when it joined): it
 * cannot be counted, so the group gives it nothing; it never runs on its own budget alone. */
static int away_charge(void *ctx, unsigned pool, uint64_t n, int64_t margin)
{
    (void)ctx;
    (void)n;
    (void)margin;
    if (mf_unlikely(me.pid != mf_pid()))
        return 0;
    refused_by_group = (int)pool + 1;
    return -ENOMEM;
}

static void away_uncharge(void *ctx, unsigned pool, uint64_t n)
{
    (void)ctx;
    (void)pool;
    (void)n;
}

static void group_uncharge(void *ctx, unsigned pool, uint64_t n)
{
    (void)ctx;
    if (mf_unlikely(me.pid != mf_pid()))
        return;
    uint64_t d = atomic_load_explicit(&me.debt[pool], memory_order_relaxed);
    while (d) {
        uint64_t take = MF_MIN(d, n);
        if (atomic_compare_exchange_weak(&me.debt[pool], &d, d - take)) {
            n -= take;
            break;
        }
    }
    if (!n || !atomic_load_explicit(&me.grouped, memory_order_relaxed))
        return;
    publish_deferred();
    if (pool == MF_POOL_HOST && gchunk) {
        uint64_t c = atomic_fetch_add_explicit(&gcredit, n, memory_order_relaxed) + n;
        uint64_t chunk = chunk_now();
        if (c <= 2 * chunk)
            return;
        /* keep one chunk, give the rest back */
        while (c > 2 * chunk && !atomic_compare_exchange_weak_explicit(
                   &gcredit, &c, chunk, memory_order_relaxed, memory_order_relaxed))
            ;
        if (c <= 2 * chunk)
            return;
        n = c - chunk;
    }
    if (mf_ledger_uncharge(&me.l, (unsigned)me.slot, pool, n) != 0)
        atomic_fetch_add(&me.owed[pool], n);
}

static void group_view(void *ctx, unsigned pool, uint64_t *used, uint64_t *limit)
{
    (void)ctx;
    mf_ledger_hdr_t *h = me.l.hdr;
    *used = h ? atomic_load_explicit(&h->total[pool], memory_order_relaxed) : 0;
    *limit = h ? __atomic_load_n(&h->limit[pool], __ATOMIC_RELAXED) : MF_UNLIMITED;
}

static const mf_gate_parent_t group_parent = { group_charge, group_view, group_uncharge, NULL };
static const mf_gate_parent_t away_parent = { away_charge, NULL, away_uncharge, NULL };

size_t mf_ledger_refusal_text(char *buf, size_t size, unsigned pool)
{
    if (!size)
        return 0;
    buf[0] = '\0';
    int was = refused_by_group;
    refused_by_group = 0;
    if (was != (int)pool + 1)
        return 0;
    if (me.away[0])
        return mf_fmt(buf, size, "group %s: this process was not admitted (the group could not "
                      "count it when it started: no free slot, or no lock)", me.away);
    if (!me.l.hdr)
        return 0;
    mf_ledger_hdr_t *h = me.l.hdr;
    if (atomic_load(&me.lock_retry_ns))
        return mf_fmt(buf, size, "group %s: its lock cannot be had (a stopped member?); "
                      "nothing is granted until it can", h->group);
    unsigned members = 0;
    for (unsigned i = 0, top = mf_ledger_top(&me.l); i < top; i++)
        members += atomic_load_explicit(&me.l.hdr->pids[i], memory_order_relaxed) != 0;
    char a[32], b[32];
    return mf_fmt(buf, size, "group %s: %s of %s held by %u instance%s", h->group,
                  mf_fmt_bytes(a, sizeof a, atomic_load(&h->total[pool])),
                  mf_fmt_bytes(b, sizeof b, h->limit[pool]), members, members == 1 ? "" : "s");
}

/* What this process's pool holds (live bytes plus its own thread's credit): what the group has
 * not been charged for when this process joins. */
static void snapshot_debt(void)
{
    for (unsigned p = 0; p < MF_POOL_COUNT; p++) {
        uint64_t u = mf_gate_used(p);
        if (p == MF_POOL_HOST && mf_tls.slot)
            u += mf_gate_slot_credit(mf_tls.slot);
        atomic_store(&me.debt[p], u);
    }
}

/* The group's settings as this process's configuration gives them.  (When the INI layer's
 * [group NAME] sections land, these two are where they are consulted.) */
/* Precedence for a group's values: MEMFENCE_GROUP_LIMIT / group_limit (env or the instance's
 * own sections) over the file's [group NAME] section over the built-in default. */
static const mf_group_cfg_t *group_section(const mf_config_t *cfg)
{
    return cfg->group[0] ? mf_config_group(cfg, cfg->group) : NULL;
}

static uint64_t reserve_of(const mf_config_t *cfg)
{
    const mf_size_t *sz = &cfg->reserve;
    const mf_group_cfg_t *g = group_section(cfg);
    if (cfg->origin[MF_K_reserve] == MF_FROM_DEFAULT && g && g->reserve_set)
        sz = &g->reserve;    /* the group's reservation for a member that sets none */
    uint64_t r = mf_size_resolve(sz, sz->is_pct ? mf_host_memory() : 0);
    return r == MF_UNLIMITED ? 0 : r;
}

static uint64_t group_limit_of(const mf_config_t *cfg, unsigned pool)
{
    const mf_size_t *sz = pool == MF_POOL_HOST ? &cfg->group_limit : &cfg->group_gpu_limit;
    const mf_group_cfg_t *g = group_section(cfg);
    if (g && pool == MF_POOL_HOST && cfg->origin[MF_K_group_limit] == MF_FROM_DEFAULT &&
        g->limit_set)
        sz = &g->limit;
    if (g && pool != MF_POOL_HOST && cfg->origin[MF_K_group_gpu_limit] == MF_FROM_DEFAULT &&
        g->gpu_limit_set)
        sz = &g->gpu_limit;
    if (sz->is_pct && pool != MF_POOL_HOST)
        return MF_UNLIMITED;    /* a share of a device needs its size: not known here */
    return mf_size_resolve(sz, sz->is_pct ? mf_host_memory() : 0);
}

/* Claims a slot in the open ledger, waiting a little when every slot is live.  When none can
 * be had, a group member is turned away (the group grants it nothing) and the ledger closed.
 * Return: the slot, or -errno. */
static int claim_slot(const char *group, const char *path, uint32_t flags)
{
    bool grouped = group[0] != '\0';
    int r = mf_ledger_claim(&me.l, me.pid, me.start, mf_instance_name(), mf_program_name(), flags);
    /* Every slot live: members leave all the time (a burst of short-lived helpers), so wait a
     * little for one (claim reclaims dead members itself). */
    for (unsigned waited = 0; r == -ENOSPC && waited < MF_LEDGER_SLOT_WAIT_MS; waited += 20) {
        sleep_ms(20);
        r = mf_ledger_claim(&me.l, me.pid, me.start, mf_instance_name(), mf_program_name(), flags);
    }
    if (r >= 0)
        return r;
    atomic_fetch_add(&me.l.hdr->turned_away, 1);
    if (grouped) {
        /* Not counted, so not admitted: the group grants it nothing (never its own budget
         * alone, which would let the group pass its limit). */
        if (r == -ENOSPC)
            say(&me.l, MF_LSAY_FULL, "group %s: every slot of its ledger is taken (%u live "
                "members); this process is not admitted: the group grants it nothing "
                "(allocations are refused)", group, MF_LEDGER_SLOTS);
        else
            say(&me.l, MF_LSAY_LOCK, "group %s: its ledger's lock cannot be had (error %d); "
                "this process is not admitted: the group grants it nothing (allocations are "
                "refused)", group, -r);
        copy_name(me.away, sizeof me.away, group);
        mf_gate_drain();
        mf_gate_set_parent(&away_parent);
    } else {
        say(&me.l, MF_LSAY_FULL, "ledger %s: %s; this process is not listed by memfence "
            "status", path, r == -ENOSPC ? "every slot is taken" : "its lock cannot be had");
    }
    mf_ledger_close(&me.l);
    return r;
}

/* This instance's group limits, host and (when set) GPU; the live members' host limit is kept
 * when it differs, with a line saying so. */
static void set_group_limits(const mf_config_t *cfg)
{
    for (unsigned p = 0; p < MF_POOL_COUNT; p++) {
        if (p > MF_POOL_HOST && !cfg->group_gpu_limit.is_pct &&
            cfg->group_gpu_limit.bytes == MF_UNLIMITED)
            break;
        uint64_t want = group_limit_of(cfg, p), kept = 0;
        if (mf_ledger_set_limit(&me.l, (unsigned)me.slot, p, want, false, &kept) == -EEXIST &&
            p == MF_POOL_HOST) {
            char a[32], b[32];
            say(&me.l, MF_LSAY_LIMIT, "group %s: this instance's group limit %s differs from "
                "the one its live members use (%s, set by %s); theirs is kept", cfg->group,
                want == MF_UNLIMITED ? "unlimited" : mf_fmt_bytes(a, sizeof a, want),
                mf_fmt_bytes(b, sizeof b, kept), me.l.hdr->limit_by);
        }
    }
}

/* A member meets its group's limit with the same table as a budget (gate.h), its headroom and
 * overdraft taken as shares of the group's limit (the keys headroom and overdraft). */
static void set_group_room(const mf_config_t *cfg)
{
    uint64_t glim = me.l.hdr->limit[MF_POOL_HOST];
    if (glim == MF_UNLIMITED)
        return;
    mf_gate_set_parent_room(mf_size_share(&cfg->headroom, glim, MF_GATE_HEADROOM_FLOOR),
                            mf_size_share(&cfg->overdraft, glim, MF_GATE_OVERDRAFT_FLOOR));
}

/* Admission: a member that reserves memory must find it available in the group.  Refused (or
 * undecidable), its slot is marked refused, not grouped, and it runs fenced by its own budget
 * only.  Return: true when admitted (or nothing to reserve). */
static bool admitted(const mf_config_t *cfg, bool forked, uint32_t flags)
{
    uint64_t reserve = forked ? 0 : reserve_of(cfg);
    if (!reserve)
        return true;
    char report[1024];
    int r = mf_ledger_admit(&me.l, (unsigned)me.slot, reserve, cfg->safety_margin, report,
                            sizeof report);
    if (!r)
        return true;
    me.l.slots[me.slot].flags = (flags & ~MF_LFLAG_GROUPED) | MF_LFLAG_REFUSED;
    if (r == -ENOSPC) {
        mf_ledger_hdr_t *h = me.l.hdr;
        uint64_t lim = h->limit[MF_POOL_HOST], held = atomic_load(&h->total[MF_POOL_HOST]);
        say(&me.l, MF_LSAY_ADMISSION, "group %s: admission refused: reserve %s > "
            "available %s (group limit %s, %s held); this instance runs fenced by its "
            "own budget only (`memfence run` shows the pre-flight report)", cfg->group,
            MF_BYTES(reserve), MF_BYTES(sat_sub(lim, held)), MF_BYTES(lim),
            MF_BYTES(held));
    }
    else
        say(&me.l, MF_LSAY_ADMISSION, "group %s: admission could not be decided (error "
            "%d); this instance runs fenced by its own budget only", cfg->group, -r);
    return false;
}

/* An admitted member: what it holds already becomes its debt to the group, and the gate takes
 * its credit from the group from now on. */
static void enter_group(void)
{
    mf_gate_drain();
    snapshot_debt();
    atomic_store(&gcredit, 0);
    uint64_t glim = me.l.hdr->limit[MF_POOL_HOST];
    gchunk = glim == MF_UNLIMITED ? (1u << 20) : MF_MIN(MF_MAX(glim / 256, 64u << 10), 1u << 20);
    atomic_store(&me.grouped, 1);
    mf_gate_set_parent(&group_parent);
}

/* Joins the ledger at dir for cfg's group (or the solo ledger).  Return: 0 or -errno. */
static int join(const mf_config_t *cfg, bool forked)
{
    const char *group = cfg->group;
    bool grouped = group[0] != '\0';
    char why[512];
    char path[512];
    int r = mf_ledger_path(me.dir, sys_getuid(), group, path, sizeof path);
    /* A fork child keeps the mapping it inherited (shared with the parent, the same file): a
     * shell's subshells are fork children by the thousand in a burst, and a fresh open, check
     * and map each would cost more than the claim. */
    bool keep = forked && r == 0 && me.l.hdr && !strcmp(me.l.path, path);
    if (!keep)
        mf_ledger_close(&me.l);
    if (r == -EINVAL) {
        mf_log("group = %s: a group name is 1-63 letters, digits, '.', '_' or '-'; this process "
               "fences alone", group);
        return r;
    }
    if (r) {
        mf_log("ledger_dir = %s: path too long; this process is not in any ledger", me.dir);
        return r;
    }
    r = keep ? 0 : mf_ledger_open(path, group, true, &me.l, why, sizeof why);
    if (r) {
        /* Without a group, a directory that cannot hold the file (absent, read-only, not ours)
         * only means this process is not listed: not worth a line.  A refused file is. */
        bool quiet = !grouped && (r == -ENOENT || r == -EACCES || r == -EROFS || r == -ENOSPC ||
                                  r == -ENOTDIR || r == -EDQUOT);
        if (!quiet)
            mf_log("ledger %s; this process %s", why,
                   grouped ? "fences alone (its own budget only)" : "is not listed by memfence status");
        return r;
    }
    me.pid = mf_pid();
    me.start = mf_ledger_proc_start(me.pid);
    /* The first member of a new group writes the limit before it is listed, so that a reader
     * (memfence status) never sees the group live and unlimited; set_group_limits after the
     * claim settles a difference with the other members and names who set it. */
    if (grouped && me.l.hdr->limit[MF_POOL_HOST] == MF_UNLIMITED) {
        uint64_t want = group_limit_of(cfg, MF_POOL_HOST);
        if (want != MF_UNLIMITED)
            mf_ledger_set_limit(&me.l, MF_LEDGER_SLOTS, MF_POOL_HOST, want, false, NULL);
    }
    uint32_t flags = (grouped ? MF_LFLAG_GROUPED : 0) | (forked ? MF_LFLAG_FORKED : 0);
    r = claim_slot(group, path, flags);
    if (r < 0)
        return r;
    me.slot = r;
    me.squeeze_seen = atomic_load(&me.l.hdr->squeeze);
    publish(&me.l.slots[me.slot]);
    atomic_store(&me.on, 1);
    if (!grouped)
        return 0;
    set_group_limits(cfg);
    set_group_room(cfg);
    if (admitted(cfg, forked, flags))
        enter_group();
    return 0;
}

int mf_ledger_init(const mf_config_t *cfg)
{
    mf_report_set_ledger(mf_ledger_refusal_text, mf_ledger_note_event);
    if (getauxval(AT_SECURE)) {
        /* setuid/setgid: real and effective users differ, so the file's owner check cannot
         * hold; such a process is fenced alone and not listed. */
        if (cfg->group[0])
            mf_log("group = %s: ignored in a setuid/setgid program; it fences alone", cfg->group);
        return 0;
    }
    copy_name(me.dir, sizeof me.dir, mf_ledger_dir(cfg));
    join(cfg, false);
    return 0;       /* a ledger problem is logged; the process runs on */
}

void mf_ledger_fork_prepare(void) {}
void mf_ledger_fork_parent(void) {}

void mf_ledger_fork_child(void)
{
    atomic_store(&publishing, 0);   /* a parent thread's publish did not come along */
    /* The gate's pools hold what the parent held (shared copy-on-write): that becomes this
     * child's debt, not charged to the group again; the child gets its own slot. */
    if (!atomic_load(&me.on) && !me.away[0])
        return;     /* (a child of a process its group turned away asks again) */
    if (!atomic_load(&me.on))
        mf_ledger_close(&me.l);     /* (closed already when turned away) */
    atomic_store(&me.grouped, 0);
    atomic_store(&me.on, 0);
    atomic_store(&me.lock_retry_ns, 0);
    me.away[0] = '\0';
    for (unsigned p = 0; p < MF_POOL_COUNT; p++) {
        atomic_store(&me.owed[p], 0);
        atomic_store(&me.debt[p], 0);
    }
    atomic_store(&gcredit, 0);      /* the parent's, in the parent's slot */
    atomic_store(&ticking, false);  /* the parent's sampler did not come along */
    me.slot = -1;
    join(mf_config(), true);    /* drops the inherited mapping, claims a slot of its own */
}

void mf_ledger_fini(void)
{
    if (!atomic_exchange(&me.on, 0))
        return;
    if (me.pid != mf_pid())
        return;
    if (atomic_exchange(&me.grouped, 0))
        mf_gate_set_parent(NULL);
    mf_ledger_release(&me.l, (unsigned)me.slot);
}

void mf_ledger_note_event(const char *what)
{
    if (!atomic_load_explicit(&me.on, memory_order_acquire) || me.pid != mf_pid() || !what)
        return;
    mf_ledger_slot_t *s = &me.l.slots[me.slot];
    copy_name(s->last_event, sizeof s->last_event, what);
    s->last_event_ns = realtime_ns();
}

void mf_ledger_set_answer(mf_ledger_answer_fn fn) { me.answer = fn; }

int mf_ledger_serve(mf_ledger_t *l, unsigned slot, const char *dir, mf_ledger_answer_fn fn)
{
    if (!l->hdr || slot >= MF_LEDGER_SLOTS)
        return 0;
    mf_ledger_slot_t *s = &l->slots[slot];
    uint32_t req = atomic_load_explicit(&s->req, memory_order_acquire);
    if (req == atomic_load(&s->done))
        return 0;
    unsigned kind = atomic_load(&s->req_kind);
    char path[600], tmp[640];
    int status = mf_ledger_reply_path(dir, sys_getuid(), s->pid, path, sizeof path);
    if (status == 0) {
        mf_fmt(tmp, sizeof tmp, "%s.tmp", path);
        sys_unlink(tmp);
        int fd = mf_sys_open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
        if (fd < 0) {
            status = fd;
        } else {
            mf_tls.depth++;
            status = fn ? fn(kind, fd) : -ENOSYS;
            mf_tls.depth--;
            mf_sys_close(fd);
            if (status == 0)
                status = sys_rename(tmp, path);
            else
                sys_unlink(tmp);
        }
    }
    s->done_status = status;
    atomic_store_explicit(&s->done, req, memory_order_release);
    return 1;
}

/* Publishes this process's usage and counters into its slot (under the slot's seqlock). */
static void publish(mf_ledger_slot_t *s)
{
    if (atomic_exchange_explicit(&publishing, 1, memory_order_acquire))
        return;
    mf_ledger_pub_t pub;
    memset(&pub, 0, sizeof pub);
    for (unsigned p = 0; p < MF_POOL_COUNT; p++) {
        pub.used[p] = mf_gate_used(p);
        pub.budget[p] = mf_gate_limit(p);
        if (p > MF_POOL_HOST && (pub.used[p] || mf_gate_peak(p)))
            pub.gpu_count = p;
    }
    pub.rss = atomic_load_explicit(&mf_stats.rss, memory_order_relaxed);
    pub.level = atomic_load_explicit(&mf_stats.level, memory_order_relaxed);
    pub.refusals = atomic_load_explicit(&mf_stats.refusals, memory_order_relaxed);
    pub.refusals_gpu = atomic_load_explicit(&mf_stats.refusals_gpu, memory_order_relaxed);
    pub.map_refusals = atomic_load_explicit(&mf_stats.map_refusals, memory_order_relaxed);
    pub.injected = atomic_load_explicit(&mf_stats.injected, memory_order_relaxed);
    pub.trims = atomic_load_explicit(&mf_stats.trims, memory_order_relaxed);
    pub.trimmed_bytes = atomic_load_explicit(&mf_stats.trimmed_bytes, memory_order_relaxed);
    pub.throttled = atomic_load_explicit(&mf_stats.throttled, memory_order_relaxed);
    pub.throttle_ns = atomic_load_explicit(&mf_stats.throttle_ns, memory_order_relaxed);
    pub.signals = atomic_load_explicit(&mf_stats.signals, memory_order_relaxed);
    pub.refused_large = atomic_load_explicit(&mf_stats.refused_large, memory_order_relaxed);
    pub.updated_ns = realtime_ns();
    uint32_t seq = atomic_load_explicit(&s->seq, memory_order_relaxed);
    atomic_store_explicit(&s->seq, seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    memcpy(&s->pub, &pub, sizeof pub);
    atomic_store_explicit(&s->seq, seq + 2, memory_order_release);
    atomic_store_explicit(&publishing, 0, memory_order_release);
}

void mf_ledger_tick(void)
{
    if (!atomic_load_explicit(&me.on, memory_order_acquire) || me.pid != mf_pid())
        return;
    mf_ledger_slot_t *s = &me.l.slots[me.slot];
    atomic_store_explicit(&ticking, true, memory_order_relaxed);
    publish(s);
    if (atomic_load(&me.grouped)) {
        settle_owed();
        uint32_t sq = atomic_load(&me.l.hdr->squeeze);
        if (sq != me.squeeze_seen) {
            me.squeeze_seen = sq;
            mf_gate_drain();    /* another member was refused: give back idle credit */
            credit_return();
        }
    }
    /* A /proc read per live slot: one member of the group sweeps, every 2 s. */
    if (mf_ledger_sweep_due(&me.l, 2000000000ull))
        mf_ledger_reclaim(&me.l);
    mf_ledger_serve(&me.l, (unsigned)me.slot, me.dir, me.answer);
}

/* ---- admission pre-flight (memfence run) ----------------------------------------------------- */

int mf_ledger_admission_check(const mf_config_t *cfg, char *report, size_t size)
{
    if (report && size)
        report[0] = '\0';
    if (!cfg->group[0])
        return 0;
    uint64_t reserve = reserve_of(cfg);
    if (!reserve)
        return 0;
    char path[512], why[512];
    int r = mf_ledger_path(mf_ledger_dir(cfg), sys_getuid(), cfg->group, path, sizeof path);
    if (r) {
        mf_fmt(report, size, "group = %s: not a valid group name", cfg->group);
        return r;
    }
    uint64_t own = group_limit_of(cfg, MF_POOL_HOST);
    mf_ledger_t l;
    r = mf_ledger_open(path, cfg->group, false, &l, why, sizeof why);
    uint64_t lim = own, total = 0;
    if (r == 0) {
        mf_ledger_reclaim(&l);
        unsigned live = 0;
        for (unsigned i = 0, top = mf_ledger_top(&l); i < top; i++)
            live += atomic_load_explicit(&l.hdr->pids[i], memory_order_relaxed) != 0;
        if (live >= MF_LEDGER_SLOTS) {
            mf_fmt(report, size, "admission refused: group %s has %u live members, as many as its "
                   "ledger holds; wait for some to exit", cfg->group, live);
            mf_ledger_close(&l);
            return -ENOSPC;
        }
        if (live)
            lim = l.hdr->limit[MF_POOL_HOST];
        total = atomic_load(&l.hdr->total[MF_POOL_HOST]);
    } else if (r != -ENOENT) {
        mf_fmt(report, size, "ledger %s", why);
        return r;
    }
    int rc = 0;
    if (lim != MF_UNLIMITED && (reserve > lim || total > lim - reserve)) {
        mf_ledger_admission_report(report, size, cfg->group, cfg->instance[0] ? cfg->instance : "?",
                         reserve, lim, total, r == 0 ? &l : NULL, -1, cfg->safety_margin);
        rc = -ENOSPC;
    }
    if (r == 0)
        mf_ledger_close(&l);
    return rc;
}

const char *mf_ledger_self_dir(void) { return me.dir; }
