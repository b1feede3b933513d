/* prometheus.c — the ledger's rows and group totals as Prometheus text: `memfence metrics` and
 * the `metrics_file` a fenced process's sampler rewrites (atomically, by rename).
 * Allocation-free, so the sampler can use it too. */
#include <errno.h>
#include <stdarg.h>
#include <sys/mman.h>

#include "base/log.h"
#include "base/proc.h"
#include "base/stats.h"
#include "ledger/ledger_int.h"

/* ---- the text ------------------------------------------------------------------------- */

typedef struct out {
    char *buf;
    size_t size, len, line_start;
    bool full;
} out_t;

static void out_add(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_add(out_t *o, const char *fmt, ...)
{
    if (o->full)
        return;
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->size - o->len;
    size_t n = mf_vfmt(o->buf + o->len, room, fmt, ap);
    va_end(ap);
    if (n + 1 >= room) {         /* cut back to the last whole line */
        o->full = true;
        o->len = o->line_start;
        o->buf[o->len] = '\0';
        return;
    }
    o->len += n;
    if (n && o->buf[o->len - 1] == '\n')
        o->line_start = o->len;
}

/* A label value with \ " and newline escaped. */
static const char *esc(char *dst, size_t size, const char *s)
{
    size_t j = 0;
    for (; *s && j + 3 < size; s++) {
        if (*s == '\\' || *s == '"') {
            dst[j++] = '\\';
            dst[j++] = *s;
        } else if (*s == '\n') {
            dst[j++] = '\\';
            dst[j++] = 'n';
        } else {
            dst[j++] = *s;
        }
    }
    dst[j] = '\0';
    return dst;
}

static void pool_name(char *buf, size_t size, unsigned p)
{
    if (p == MF_POOL_HOST)
        mf_fmt(buf, size, "host");
    else
        mf_fmt(buf, size, "gpu%u", p - MF_POOL_GPU0);
}

static void family(out_t *o, const char *name, const char *type, const char *help)
{
    out_add(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void inst_labels(char *buf, size_t size, const mf_ledger_row_t *r)
{
    char a[2 * MF_NAME_MAX + 4], b[2 * MF_NAME_MAX + 4];
    mf_fmt(buf, size, "instance=\"%s\",group=\"%s\",pid=\"%d\"",
           esc(a, sizeof a, r->instance), esc(b, sizeof b, r->group), r->pid);
}

/* Per-instance series with one value: gauges, then counters. */
enum { V_RSS, V_LEVEL, V_REFUSALS, V_TRIMS, V_TRIMMED, V_THROTTLED, V_SIGNALS, V_INJECTED,
       V_MAPREF, V_COUNT };

static const struct { const char *name, *type, *help; } inst_series[V_COUNT] = {
    [V_RSS] = { "memfence_rss_bytes", "gauge", "Resident set size at the instance's last sample." },
    [V_LEVEL] = { "memfence_pressure_level", "gauge", "Pressure level: 0 low, 1 moderate, 2 high, 3 critical." },
    [V_REFUSALS] = { "memfence_refusals_total", "counter", "Allocations refused by a budget." },
    [V_TRIMS] = { "memfence_trims_total", "counter", "Trim actions run by the sampler." },
    [V_TRIMMED] = { "memfence_trimmed_bytes_total", "counter", "Bytes given back to the system by trims." },
    [V_THROTTLED] = { "memfence_throttled_total", "counter", "Allocations delayed by throttling." },
    [V_SIGNALS] = { "memfence_signals_total", "counter", "Signals sent by the signal action." },
    [V_INJECTED] = { "memfence_injected_failures_total", "counter", "Allocation failures injected on purpose." },
    [V_MAPREF] = { "memfence_map_refusals_total", "counter", "File mappings refused by the pre-flight check." },
};

static uint64_t inst_value(const mf_ledger_row_t *r, unsigned v)
{
    const mf_ledger_pub_t *p = &r->pub;
    const uint64_t vals[V_COUNT] = { p->rss, p->level, p->refusals, p->trims, p->trimmed_bytes,
                                     p->throttled, p->signals, p->injected, p->map_refusals };
    return vals[v];
}

/* Group series: per pool (usage, limit) or one value (members, refusals, reclaimed). */
enum { G_USAGE, G_LIMIT, G_MEMBERS, G_REFUSALS, G_RECLAIMED, G_COUNT };

static const struct { const char *name, *type, *help; } group_series[G_COUNT] = {
    [G_USAGE] = { "memfence_group_usage_bytes", "gauge", "Bytes the group's members hold, reservations included, per pool." },
    [G_LIMIT] = { "memfence_group_limit_bytes", "gauge", "The group's budget per pool (absent when unlimited)." },
    [G_MEMBERS] = { "memfence_group_members", "gauge", "Live instances in the group." },
    [G_REFUSALS] = { "memfence_group_refusals_total", "counter", "Lease requests refused by the group budget." },
    [G_RECLAIMED] = { "memfence_group_reclaimed_total", "counter", "Slots of dead instances reclaimed." },
};

size_t mf_ledger_metrics_text(char *buf, size_t size, const mf_ledger_row_t *rows, size_t nrows,
                              const mf_ledger_group_t *groups, size_t ngroups, bool *truncated)
{
    out_t o = { buf, size, 0, 0, false };
    if (!size)
        return 0;
    buf[0] = '\0';
    char lb[400], pn[16], gb[2 * MF_NAME_MAX + 4];

    /* per instance and pool: usage, and the budget where there is one */
    for (int budget = 0; budget < 2; budget++) {
        const char *name = budget ? "memfence_budget_bytes" : "memfence_usage_bytes";
        family(&o, name, "gauge", budget ? "The instance's own budget per pool (absent when unlimited)."
                                         : "Bytes charged to the instance's budget, per pool.");
        for (size_t i = 0; i < nrows; i++) {
            inst_labels(lb, sizeof lb, &rows[i]);
            for (unsigned p = 0; p <= rows[i].pub.gpu_count; p++) {
                uint64_t v = budget ? rows[i].pub.budget[p] : rows[i].pub.used[p];
                if (v == MF_UNLIMITED)
                    continue;
                pool_name(pn, sizeof pn, p);
                out_add(&o, "%s{%s,pool=\"%s\"} %llu\n", name, lb, pn, (unsigned long long)v);
            }
        }
    }
    for (unsigned v = 0; v < V_COUNT; v++) {
        family(&o, inst_series[v].name, inst_series[v].type, inst_series[v].help);
        for (size_t i = 0; i < nrows; i++) {
            inst_labels(lb, sizeof lb, &rows[i]);
            out_add(&o, "%s{%s} %llu\n", inst_series[v].name, lb,
                    (unsigned long long)inst_value(&rows[i], v));
        }
    }
    family(&o, "memfence_throttle_seconds_total", "counter", "Time allocations spent delayed by throttling.");
    for (size_t i = 0; i < nrows; i++) {
        inst_labels(lb, sizeof lb, &rows[i]);
        uint64_t ns = rows[i].pub.throttle_ns;
        out_add(&o, "memfence_throttle_seconds_total{%s} %llu.%09llu\n", lb,
                (unsigned long long)(ns / 1000000000ull), (unsigned long long)(ns % 1000000000ull));
    }
    for (unsigned v = 0; v < G_COUNT; v++) {
        const char *name = group_series[v].name;
        family(&o, name, group_series[v].type, group_series[v].help);
        for (size_t i = 0; i < ngroups; i++) {
            const mf_ledger_group_t *g = &groups[i];
            if (!g->group[0])
                continue;       /* the solo ledger is no group */
            esc(gb, sizeof gb, g->group);
            if (v == G_USAGE || v == G_LIMIT) {
                for (unsigned p = 0; p < MF_POOL_COUNT; p++) {
                    if (g->limit[p] == MF_UNLIMITED && (v == G_LIMIT || (p && !g->total[p])))
                        continue;
                    pool_name(pn, sizeof pn, p);
                    out_add(&o, "%s{group=\"%s\",pool=\"%s\"} %llu\n", name, gb, pn,
                            (unsigned long long)(v == G_USAGE ? g->total[p] : g->limit[p]));
                }
                continue;
            }
            uint64_t val = v == G_MEMBERS ? g->members : v == G_REFUSALS ? g->refusals : g->reclaimed;
            out_add(&o, "%s{group=\"%s\"} %llu\n", name, gb, (unsigned long long)val);
        }
    }
    if (truncated)
        *truncated = o.full;
    return o.len;
}

int mf_ledger_write_metrics_file(const char *path)
{
    static _Atomic int busy;
    static mf_ledger_row_t *rows;
    static char *text;
    static mf_ledger_group_t groups[64];
    const size_t max_rows = 2 * MF_LEDGER_SLOTS, text_size = 4u << 20;
    if (!path || !*path)
        return -EINVAL;
    if (atomic_exchange(&busy, 1))
        return -EBUSY;
    int r = 0;
    if (!rows) {
        void *p = mf_sys_mmap(NULL, max_rows * sizeof *rows + text_size, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mf_sys_mmap_failed(p)) {
            atomic_store(&busy, 0);
            return -ENOMEM;
        }
        rows = p;
        text = (char *)p + max_rows * sizeof *rows;
    }
    size_t ng = 0;
    int n = mf_ledger_scan(mf_ledger_self_dir()[0] ? mf_ledger_self_dir() : NULL, NULL, rows, max_rows, groups,
                           MF_ARRAY_LEN(groups), &ng, NULL, 0);
    if (n < 0)
        n = 0;
    size_t len = mf_ledger_metrics_text(text, text_size, rows, (size_t)n, groups, ng, NULL);
    char tmp[MF_CFG_STR_MAX + 32];
    mf_fmt(tmp, sizeof tmp, "%s.tmp.%d", path, (int)mf_sys_getpid());
    int fd = mf_sys_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        r = fd;
    } else {
        for (size_t off = 0; off < len;) {
            ssize_t w = mf_sys_write(fd, text + off, len - off);
            if (w == -EINTR)
                continue;
            if (w <= 0) {
                r = w < 0 ? (int)w : -EIO;
                break;
            }
            off += (size_t)w;
        }
        mf_sys_close(fd);
        if (r == 0)
            r = sys_rename(tmp, path);
        if (r)
            sys_unlink(tmp);
    }
    atomic_store(&busy, 0);
    return r;
}

