/* check.c — `memfence check`: validate the configuration file, print each key's effective value
 * and origin (--show), and the pre-flight report: do the budgets of everything the file lets run
 * at once fit in the memory this machine really has, less a safety margin?  Also the pre-flight
 * of one process that `memfence run` calls (mf_cli_preflight), and the man page's key table
 * (--man-keys), generated from config_keys.h like everything else about keys.
 *
 * Exit: 0 PASSED (or --show clean), 1 FAILED, 2 usage or configuration errors.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "base/log.h"
#include "base/metrics.h"
#include "base/proc.h"
#include "base/size.h"
#include "cli/cli.h"
#include "config/config.h"
#include "config/config_file.h"

static unsigned problems_seen;

static void report_to_stderr(const char *msg)
{
    problems_seen++;
    fprintf(stderr, "memfence: %s\n", msg);
}

static const char *bytes(uint64_t n, char *buf, size_t size)
{
    if (n == MF_UNLIMITED)
        return "unlimited";
    return mf_fmt_bytes(buf, size, n);
}
#define B(n) bytes((n), (char[32]){ 0 }, 32)

/* ---- the machine -------------------------------------------------------------------------- */

typedef struct machine {
    uint64_t total;             /* min(RAM, cgroup limit) */
    uint64_t ram;
    double margin;              /* percent */
    uint64_t usable;
    int ngpu;
    uint64_t gpu[MF_GPU_MAX];
} machine_t;

/* Device memory: MEMFENCE_TEST_GPU_MEM="80G,80G" (tests), else nvidia-smi when present. */
static int gpu_devices(uint64_t *mem, int max)
{
    int n = 0;
    const char *t = getenv("MEMFENCE_TEST_GPU_MEM");
    if (t) {
        char buf[512];
        snprintf(buf, sizeof buf, "%s", t);
        char *save = NULL;
        for (char *tok = strtok_r(buf, ",", &save); tok && n < max;
             tok = strtok_r(NULL, ",", &save)) {
            mf_size_t sz;
            if (mf_size_parse(tok, &sz) == 0 && !sz.is_pct && sz.bytes != MF_UNLIMITED)
                mem[n++] = sz.bytes;
        }
        return n;
    }
    FILE *p = popen("nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits "
                    "2>/dev/null", "r");
    if (!p)
        return 0;
    char line[128];
    while (n < max && fgets(line, sizeof line, p)) {
        char *end;
        unsigned long long mib = strtoull(line, &end, 10);
        if (end != line && mib)
            mem[n++] = (uint64_t)mib << 20;
    }
    pclose(p);
    return n;
}

static void machine_read(machine_t *m, double margin)
{
    memset(m, 0, sizeof *m);
    struct sysinfo si;
    m->ram = sysinfo(&si) == 0 ? (uint64_t)si.totalram * si.mem_unit : MF_UNLIMITED;
    m->total = mf_host_memory();
    m->margin = margin;
    m->usable = m->total == MF_UNLIMITED ? MF_UNLIMITED
                                         : (uint64_t)((double)m->total * (100.0 - margin) / 100.0);
    m->ngpu = gpu_devices(m->gpu, MF_GPU_MAX);
}

static uint64_t gpu_usable(const machine_t *m, int d)
{
    return (uint64_t)((double)m->gpu[d] * (100.0 - m->margin) / 100.0);
}

static void machine_print(const machine_t *m, FILE *out)
{
    fprintf(out, "machine: %s of memory (%s); safety margin %g %% (%s); usable %s\n", B(m->total),
            m->total < m->ram ? "cgroup limit" : "RAM", m->margin,
            B(m->total - m->usable), B(m->usable));
}

/* A process's GPU budget on device d, in bytes (MF_UNLIMITED: none). */
static uint64_t gpu_budget(const mf_size_t *all, const mf_size_t *dev, const bool *dev_set, int d,
                           uint64_t devmem)
{
    const mf_size_t *s = dev_set[d] ? &dev[d] : all;
    return mf_size_resolve(s, devmem);
}

/* ---- one process ---------------------------------------------------------------------------- */

static const char *where(const mf_config_t *cfg, unsigned k, char *buf, size_t size)
{
    switch (cfg->origin[k]) {
    case MF_FROM_ENV: {
        char up[64];
        size_t i = 0;
        for (const char *s = mf_config_key_name(k); *s && i + 1 < sizeof up; s++)
            up[i++] = (*s >= 'a' && *s <= 'z') ? (char)(*s - 32) : *s;
        up[i] = 0;
        snprintf(buf, size, "env MEMFENCE_%s", up);
        break;
    }
    case MF_FROM_FLAG:
    case MF_FROM_RUN: mf_config_origin_text(cfg, k, buf, size); break;
    case MF_FROM_DEFAULT: snprintf(buf, size, "default"); break;
    case MF_FROM_GLOBAL: snprintf(buf, size, "%s:%u [global]", cfg->file, cfg->origin_line[k]); break;
    case MF_FROM_PROCESS:
        snprintf(buf, size, "%s:%u [process %s]", cfg->file, cfg->origin_line[k], cfg->process);
        break;
    case MF_FROM_INSTANCE:
        snprintf(buf, size, "%s:%u [instance %s]", cfg->file, cfg->origin_line[k], cfg->instance);
        break;
    }
    return buf;
}

static int preflight_one(const mf_config_t *cfg, FILE *out, bool verbose)
{
    machine_t m;
    machine_read(&m, cfg->safety_margin);
    const char *who = cfg->instance[0] ? cfg->instance : cfg->program[0] ? cfg->program : "process";
    char recs[8][400];
    int nrec = 0, failed = 0;
    char w[600];
    uint64_t limit = mf_size_resolve(&cfg->limit, m.total);
    if (verbose) {
        fprintf(out, "memfence check: %s for %s\n", cfg->file[0] ? cfg->file : "(no file)", who);
        machine_print(&m, out);
        fprintf(out, "limit: %s (%s)\n", B(limit), where(cfg, MF_K_limit, w, sizeof w));
    }
    if (limit != MF_UNLIMITED && limit > m.usable) {
        failed = 1;
        snprintf(recs[nrec++], sizeof recs[0], "lower limit (%s, %s) to at most %s", B(limit),
                 where(cfg, MF_K_limit, w, sizeof w), B(m.usable));
    }
    const mf_group_cfg_t *g = mf_config_group(cfg, cfg->group);
    if (g) {
        uint64_t gl = mf_size_resolve(&g->limit, m.total);
        uint64_t res = mf_size_resolve(cfg->origin[MF_K_reserve] != MF_FROM_DEFAULT
                                           ? &cfg->reserve : &g->reserve,
                                       gl != MF_UNLIMITED ? gl : m.total);
        if (verbose)
            fprintf(out, "group %s: limit %s; this instance reserves %s\n", g->name, B(gl), B(res));
        if (gl != MF_UNLIMITED && gl > m.usable) {
            failed = 1;
            snprintf(recs[nrec++], sizeof recs[0], "lower [group %s] limit (%s, %s:%u) to at most %s",
                     g->name, B(gl), cfg->file, g->line, B(m.usable));
        }
        if (gl != MF_UNLIMITED && res > gl) {
            failed = 1;
            snprintf(recs[nrec++], sizeof recs[0], "lower reserve (%s) to at most the group's "
                     "limit (%s)", B(res), B(gl));
        }
    } else if (cfg->group[0] && verbose) {
        fprintf(out, "group %s: no [group %s] section; only this instance's own budget applies\n",
                cfg->group, cfg->group);
    }
    if (m.ngpu == 0) {
        if (verbose)
            fprintf(out, "GPU: no device visible; GPU budgets not checked\n");
    } else {
        for (int d = 0; d < m.ngpu && nrec < 8; d++) {
            uint64_t gb = gpu_budget(&cfg->gpu_limit, cfg->gpu_limit_dev, cfg->gpu_limit_dev_set,
                                     d, m.gpu[d]);
            if (verbose)
                fprintf(out, "GPU %d: %s of %s (usable %s)\n", d, B(gb), B(m.gpu[d]),
                        B(gpu_usable(&m, d)));
            if (gb != MF_UNLIMITED && gb > gpu_usable(&m, d)) {
                failed = 1;
                snprintf(recs[nrec++], sizeof recs[0], "lower gpu_limit for device %d (%s) to at "
                         "most %s", d, B(gb), B(gpu_usable(&m, d)));
            }
        }
    }
    if (!failed && !verbose)
        return 0;
    if (!verbose) {
        fprintf(out, "memfence: pre-flight check for %s:\n", who);
        machine_print(&m, out);
    }
    if (nrec) {
        fprintf(out, "recommendations:\n");
        for (int i = 0; i < nrec; i++)
            fprintf(out, "  - %s\n", recs[i]);
    }
    if (failed)
        fprintf(out, "FAILED: the budget of %s cannot fit in the %s usable here\n", who,
                B(m.usable));
    else
        fprintf(out, "PASSED: the budget of %s fits in the %s usable here\n", who, B(m.usable));
    return failed;
}

int mf_cli_preflight(const mf_config_t *cfg, FILE *out)
{
    return preflight_one(cfg, out, false);
}

/* ---- the whole file ------------------------------------------------------------------------ */

typedef struct member {
    const char *label_kind, *name;
    uint32_t line;
    uint64_t limit, reserve;
    uint64_t gpu[MF_GPU_MAX];
    char group[MF_NAME_MAX];
    bool reserve_set;
} member_t;

typedef struct need {
    char label[MF_CFG_STR_MAX + 16];
    uint64_t bytes;
} need_t;

/* What the report on the whole file gathers as it goes. */
typedef struct report {
    const mf_cfg_file_t *f;
    FILE *out;
    const mf_config_t *base;    /* [global] alone: the groups, the global budget */
    machine_t m;
    member_t *mem;              /* one per [process] and [instance] section */
    unsigned nmem;
    need_t *needs;              /* what runs at once: ungrouped members, groups */
    unsigned nneeds;
    unsigned unbounded;         /* budgets without a limit, not counted */
    uint64_t total;
    int failed;
    unsigned nrec;
    char recs[32][400];
} report_t;

static void rec(report_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rec(report_t *r, const char *fmt, ...)
{
    if (r->nrec >= 32)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->recs[r->nrec++], sizeof r->recs[0], fmt, ap);
    va_end(ap);
}

/* [global]'s budget is what every process the sections do not name gets: `memfence run`
 * refuses to start one whose budget cannot fit, so the file fails here too. */
static void report_global(report_t *r)
{
    const mf_config_t *base = r->base;
    uint64_t glimit = mf_size_resolve(&base->limit, r->m.total), usable = r->m.usable;
    if (base->origin[MF_K_limit] == MF_FROM_GLOBAL && glimit != MF_UNLIMITED && glimit > usable) {
        r->failed = 1;
        rec(r, "lower limit in [global] (line %u) from %s to at most %s: every process the "
            "sections do not name gets it, and memfence run starts none with it",
            base->origin_line[MF_K_limit], B(glimit), B(usable));
    }
}

/* One [process] or [instance] section: its budget as a process it matches would get it. */
static void report_member(report_t *r, unsigned s)
{
    static mf_config_t cfg;     /* large: not on the stack */
    const mf_cfg_file_t *f = r->f;
    const machine_t *m = &r->m;
    int kind = f->sec[s].kind;
    mf_config_defaults(&cfg);
    (void)mf_config_compose(&cfg, f, kind == MF_SEC_PROCESS ? (int)s : -1,
                            kind == MF_SEC_INSTANCE ? f->sec[s].name : NULL, false);
    member_t *mb = &r->mem[r->nmem++];
    mb->label_kind = kind == MF_SEC_PROCESS ? "process" : "instance";
    mb->name = f->sec[s].name;
    mb->line = f->sec[s].line;
    mb->limit = mf_size_resolve(&cfg.limit, m->total);
    mf_fmt(mb->group, sizeof mb->group, "%s", cfg.group);
    const mf_group_cfg_t *g = mf_config_group(&cfg, cfg.group);
    uint64_t gl = g ? mf_size_resolve(&g->limit, m->total) : MF_UNLIMITED;
    mb->reserve_set = cfg.origin[MF_K_reserve] != MF_FROM_DEFAULT || (g && g->reserve_set);
    mb->reserve = mf_size_resolve(cfg.origin[MF_K_reserve] != MF_FROM_DEFAULT || !g
                                      ? &cfg.reserve : &g->reserve,
                                  gl != MF_UNLIMITED ? gl : m->total);
    for (int d = 0; d < m->ngpu; d++)
        mb->gpu[d] = gpu_budget(&cfg.gpu_limit, cfg.gpu_limit_dev, cfg.gpu_limit_dev_set, d,
                                m->gpu[d]);
    char label[MF_CFG_STR_MAX + 16];
    snprintf(label, sizeof label, "[%s %s]", mb->label_kind, mb->name);
    fprintf(r->out, "  %-28s limit %s", label, B(mb->limit));
    if (mb->group[0])
        fprintf(r->out, ", group %s", mb->group);
    if (mb->reserve)
        fprintf(r->out, ", reserve %s", B(mb->reserve));
    fputc('\n', r->out);
    if (mb->limit == MF_UNLIMITED) {
        if (!mb->group[0] || !g || !g->limit_set)
            r->unbounded++;
        if (!mb->group[0] || !g || !g->limit_set)
            rec(r, "set a limit in %s (line %u): without one it is not counted and not fenced",
                label, mb->line);
    } else if (mb->limit > m->usable) {
        r->failed = 1;
        rec(r, "lower the limit of %s (line %u) from %s to at most %s", label, mb->line,
            B(mb->limit), B(m->usable));
    }
    if (mb->reserve && mb->limit != MF_UNLIMITED && mb->reserve > mb->limit)
        rec(r, "%s reserves %s but may use only %s: lower its reserve", label, B(mb->reserve),
            B(mb->limit));
    if (!mb->group[0] && mb->limit != MF_UNLIMITED) {
        snprintf(r->needs[r->nneeds].label, sizeof r->needs[0].label, "%s", label);
        r->needs[r->nneeds++].bytes = mb->limit;
    }
}

/* One [group]: its limit against its members' budgets and reserves. */
static void report_group(report_t *r, const mf_group_cfg_t *g)
{
    const machine_t *m = &r->m;
    uint64_t gl = mf_size_resolve(&g->limit, m->total), sum = 0, res = 0;
    unsigned members = 0;
    bool sum_unbounded = false;
    for (unsigned i = 0; i < r->nmem; i++) {
        if (strcmp(r->mem[i].group, g->name))
            continue;
        members++;
        if (r->mem[i].limit == MF_UNLIMITED)
            sum_unbounded = true;
        else
            sum += r->mem[i].limit;
        res += r->mem[i].reserve;
    }
    uint64_t need = gl;
    if (!sum_unbounded && members && (gl == MF_UNLIMITED || sum < gl))
        need = sum;
    fprintf(r->out, "  [group %s]  limit %s; %u member%s in this file; reserves %s; needs %s\n",
            g->name, B(gl), members, members == 1 ? "" : "s", B(res), B(need));
    if (gl != MF_UNLIMITED && gl > m->usable) {
        r->failed = 1;
        rec(r, "lower the limit of [group %s] (line %u) from %s to at most %s", g->name, g->line,
            B(gl), B(m->usable));
    }
    if (gl != MF_UNLIMITED && res > gl) {
        r->failed = 1;
        rec(r, "the reserves in [group %s] add up to %s, more than its limit %s: lower them by %s "
            "or raise the limit", g->name, B(res), B(gl), B(res - gl));
    }
    if (need == MF_UNLIMITED) {
        r->unbounded++;
        rec(r, "set a limit in [group %s] (line %u) or on each of its members", g->name, g->line);
    } else {
        snprintf(r->needs[r->nneeds].label, sizeof r->needs[0].label, "[group %s]", g->name);
        r->needs[r->nneeds++].bytes = need;
    }
}

/* Everything that runs at once against the usable memory; when it does not fit, how to scale. */
static void report_total(report_t *r)
{
    const machine_t *m = &r->m;
    need_t *needs = r->needs;
    for (unsigned i = 0; i < r->nneeds; i++)
        r->total += needs[i].bytes;
    uint64_t total = r->total;
    fprintf(r->out, "\ntotal at once: %s against %s usable", B(total), B(m->usable));
    if (r->unbounded)
        fprintf(r->out, " (%u without a limit, not counted)", r->unbounded);
    if (total <= m->usable) {
        fprintf(r->out, ": fits, %s to spare\n", B(m->usable - total));
        return;
    }
    r->failed = 1;
    fprintf(r->out, ": short by %s\n", B(total - m->usable));
    /* the largest budgets first: where lowering helps most */
    for (unsigned i = 1; i < r->nneeds; i++)
        for (unsigned j = i; j > 0 && needs[j - 1].bytes < needs[j].bytes; j--) {
            need_t t = needs[j];
            needs[j] = needs[j - 1];
            needs[j - 1] = t;
        }
    double scale = (double)m->usable / (double)total;
    rec(r, "the budgets need %s more than this machine has: lower them by %s in all, e.g. scale "
        "each by %.2f", B(total - m->usable), B(total - m->usable), scale);
    for (unsigned i = 0; i < r->nneeds && i < 3; i++)
        rec(r, "largest: %s %s -> %s", needs[i].label, B(needs[i].bytes),
            B((uint64_t)((double)needs[i].bytes * scale)));
}

/* GPU d: the members' device budgets (a group capping its members together) against it. */
static void report_gpu(report_t *r, int d)
{
    const machine_t *m = &r->m;
    uint64_t gt = 0;
    unsigned counted = 0;
    for (unsigned i = 0; i < r->nmem; i++)
        if (r->mem[i].gpu[d] != MF_UNLIMITED)
            gt += r->mem[i].gpu[d], counted++;
    for (unsigned s = 0; s < r->base->ngroups; s++) {
        const mf_group_cfg_t *g = &r->base->groups[s];
        const mf_size_t *gs = g->gpu_limit_dev_set[d] ? &g->gpu_limit_dev[d] : &g->gpu_limit;
        uint64_t gg = mf_size_resolve(gs, m->gpu[d]), members = 0;
        if (gg == MF_UNLIMITED)
            continue;
        for (unsigned i = 0; i < r->nmem; i++)
            if (!strcmp(r->mem[i].group, g->name) && r->mem[i].gpu[d] != MF_UNLIMITED)
                members += r->mem[i].gpu[d];
        if (members > gg)
            gt -= members - gg;     /* the group caps its members together */
    }
    uint64_t gu = gpu_usable(m, d);
    fprintf(r->out, "GPU %d: budgets %s (%u set) against %s usable of %s: %s\n", d, B(gt),
            counted, B(gu), B(m->gpu[d]), gt > gu ? "does not fit" : "fits");
    if (gt > gu) {
        r->failed = 1;
        rec(r, "GPU %d: lower the GPU budgets by %s (gpu_limit or gpu_limit.%d)", d,
            B(gt - gu), d);
    }
}

static int file_report(const mf_cfg_file_t *f, FILE *out)
{
    static mf_config_t base;           /* large: not on the stack */
    static report_t rep;               /* large too */
    report_t *r = &rep;
    memset(r, 0, sizeof *r);
    r->f = f;
    r->out = out;
    r->base = &base;
    mf_config_defaults(&base);
    (void)mf_config_compose(&base, f, -1, NULL, false);
    machine_read(&r->m, base.safety_margin);
    fprintf(out, "memfence check: %s\n", f->path[0] ? f->path : "(no configuration file)");
    machine_print(&r->m, out);

    r->mem = calloc(f->nsec + 1, sizeof *r->mem);
    r->needs = calloc(f->nsec + 1, sizeof *r->needs);
    if (!r->mem || !r->needs) {
        free(r->mem);
        free(r->needs);
        return 2;
    }
    report_global(r);

    fprintf(out, "\ninstances (each [process] and [instance] section counts as one running at "
                 "once):\n");
    for (unsigned s = 0; s < f->nsec; s++)
        if (f->sec[s].kind == MF_SEC_PROCESS || f->sec[s].kind == MF_SEC_INSTANCE)
            report_member(r, s);
    if (!r->nmem)
        fprintf(out, "  (none)\n");

    bool groups = false;
    for (unsigned s = 0; s < f->nsec; s++) {
        if (f->sec[s].kind != MF_SEC_GROUP)
            continue;
        const mf_group_cfg_t *g = mf_config_group(&base, f->sec[s].name);
        if (!g)
            continue;
        if (!groups)
            fprintf(out, "\ngroups:\n");
        groups = true;
        report_group(r, g);
    }
    report_total(r);

    if (r->m.ngpu == 0)
        fprintf(out, "GPU: no device visible; GPU budgets not checked\n");
    for (int d = 0; d < r->m.ngpu; d++)
        report_gpu(r, d);
    if (r->nrec) {
        fprintf(out, "\nrecommendations:\n");
        for (unsigned i = 0; i < r->nrec; i++)
            fprintf(out, "  - %s\n", r->recs[i]);
    }
    const machine_t *m = &r->m;
    fprintf(out, "\n%s: %s at once %s %s usable (%s %s less a %g %% safety margin)%s\n",
            r->failed ? "FAILED" : "PASSED", B(r->total),
            r->total > m->usable ? "do not fit in" : "fit in",
            B(m->usable), B(m->total), m->total < m->ram ? "cgroup limit" : "of RAM", m->margin,
            r->failed && r->total <= m->usable ? "; see the recommendations above" : "");
    free(r->mem);
    free(r->needs);
    return r->failed;
}

/* ---- --show and --man-keys ------------------------------------------------------------------- */

static void show(const mf_config_t *cfg, FILE *out)
{
    fprintf(out, "# memfence configuration");
    if (cfg->instance[0])
        fprintf(out, " of instance %s", cfg->instance);
    if (cfg->program[0])
        fprintf(out, " (program %s)", cfg->program);
    fprintf(out, "\n# file: %s\n", cfg->file[0] ? cfg->file : "none");
    if (cfg->process_line)
        fprintf(out, "# matched [process %s] (line %u)\n", cfg->process, cfg->process_line);
    char v[MF_CFG_STR_MAX + 8], w[600];
    for (unsigned k = 0; k < MF_K_COUNT; k++) {
        mf_config_format(cfg, k, v, sizeof v);
        fprintf(out, "%-17s = %-22s # %s\n", mf_config_key_name(k), v, where(cfg, k, w, sizeof w));
    }
    for (int d = 0; d < MF_GPU_MAX; d++) {
        if (!cfg->gpu_limit_dev_set[d])
            continue;
        char key[32];
        snprintf(key, sizeof key, "gpu_limit.%d", d);
        mf_config_format_size(&cfg->gpu_limit_dev[d], v, sizeof v);
        if (cfg->gpu_dev_origin[d] == MF_FROM_ENV)
            snprintf(w, sizeof w, "env MEMFENCE_GPU_LIMIT_%d", d);
        else
            snprintf(w, sizeof w, "%s:%u", cfg->file, cfg->gpu_dev_line[d]);
        fprintf(out, "%-17s = %-22s # %s\n", key, v, w);
    }
    for (unsigned i = 0; i < cfg->ngroups; i++) {
        const mf_group_cfg_t *g = &cfg->groups[i];
        char l[32], gl[32], r[32];
        mf_config_format_size(&g->limit, l, sizeof l);
        mf_config_format_size(&g->gpu_limit, gl, sizeof gl);
        mf_config_format_size(&g->reserve, r, sizeof r);
        fprintf(out, "# [group %s] (line %u): limit %s, gpu_limit %s, reserve %s%s\n", g->name,
                g->line, l, gl, r, strcmp(g->name, cfg->group) ? "" : "  <- this instance's group");
    }
}

/* Text for roff: a backslash doubled as \e; a line never starts with '.' or '\''. */
static void roff(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\e", out);
        else if (*s == '-')
            fputs("\\-", out);
        else
            fputc(*s, out);
    }
}

static const char *type_word(const char *t)
{
    static const struct { const char *t, *w; } words[] = {
        { "SIZE", "size" }, { "BOOL", "on|off" }, { "UINT", "number" }, { "PCT", "percent" },
        { "DURATION", "duration" }, { "FLOAT", "number" }, { "STR", "text" },
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (!strcmp(t, words[i].t))
            return words[i].w;
    return t;
}

static void man_keys(FILE *out)
{
    fputs(".\\\" Generated from src/config_keys.h by `memfence check --man-keys`: do not edit.\n",
          out);
    for (unsigned k = 0; k < MF_K_COUNT; k++) {
        const char *name = mf_config_key_name(k), *def = mf_config_key_default(k);
        fprintf(out, ".TP\n.BR %s \" = \" \\fI%s\\fR\n", name, type_word(mf_config_key_type(k)));
        fputs("\\&", out);
        roff(out, mf_config_key_help(k));
        fputs(".\n.br\nDefault: ", out);
        if (*def) {
            fputs("\\fB", out);
            roff(out, def);
            fputs("\\fR", out);
        } else {
            fputs("empty", out);
        }
        double lo, hi;
        if (mf_config_key_bounds(k, &lo, &hi))
            fprintf(out, ". Range: %g to %g%s", lo, hi,
                    !strcmp(mf_config_key_type(k), "DURATION") ? " ms" : "");
        fputs(". Environment: \\fBMEMFENCE_", out);
        for (const char *s = name; *s; s++)
            fputc(*s >= 'a' && *s <= 'z' ? *s - 32 : *s, out);
        fputs("\\fR.", out);
        if (mf_config_group_key(k))
            fputs(" Also in [group] sections.", out);
        fputc('\n', out);
    }
    fputs(".TP\n.BI gpu_limit. N \" = \" size\nthe GPU budget of device\n.I N\n(0 to 15), over\n"
          ".BR gpu_limit .\nEnvironment:\n.BI MEMFENCE_GPU_LIMIT_ N\\fR.\n", out);
    /* the variables that are not keys: MF_ENV_VARS */
    fputs(".SH ENVIRONMENT\nBesides\n.BI MEMFENCE_ KEY\nfor each key above, memfence reads:\n", out);
    static const char *const env[][2] = {
#define MF_ENV_ROW(name, help) { #name, help },
        MF_ENV_VARS(MF_ENV_ROW)
#undef MF_ENV_ROW
    };
    for (size_t i = 0; i < sizeof env / sizeof env[0]; i++) {
        fputs(".TP\n.B MEMFENCE_", out);
        roff(out, env[i][0]);
        fputs("\n\\&", out);
        roff(out, env[i][1]);
        fputs(".\n", out);
    }
    fputs(".PP\nAny other\n.B MEMFENCE_*\nvariable is reported once, with the closest known name "
          "(did you mean), and ignored; under\n.B memfence run\nit is an error.\n", out);
}

/* ---- the command ----------------------------------------------------------------------------- */

/* The executable `prog` would run: a path as given, else the first match on PATH; resolved to
 * its real path as /proc/self/exe shows it.  Return: buf, or prog when not found. */
static const char *resolve_exe(const char *prog, char *buf, size_t size)
{
    char cand[PATH_MAX];
    if (strchr(prog, '/')) {
        if (realpath(prog, cand))
            snprintf(buf, size, "%s", cand);
        else
            snprintf(buf, size, "%s", prog);
        return buf;
    }
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t n = colon ? (size_t)(colon - path) : strlen(path);
        snprintf(cand, sizeof cand, "%.*s/%s", (int)n, path, prog);
        char real[PATH_MAX];
        if (n && access(cand, X_OK) == 0 && realpath(cand, real)) {
            snprintf(buf, size, "%s", real);
            return buf;
        }
        path += n + (colon != NULL);
    }
    snprintf(buf, size, "%s", prog);
    return buf;
}

static void check_usage(FILE *f)
{
    fprintf(f, "usage: memfence check [-c FILE] [--show] [--for PROGRAM] [--instance NAME]\n\n"
               "  -c, --config FILE    the configuration file (default: MEMFENCE_CONFIG,\n"
               "                       $XDG_CONFIG_HOME/memfence/memfence.conf,\n"
               "                       ~/.config/memfence/memfence.conf, /etc/memfence.conf)\n"
               "  -s, --show           print every key's effective value and where it came from\n"
               "  -f, --for PROGRAM    as the program PROGRAM would see it ([process] sections)\n"
               "  -i, --instance NAME  as the instance NAME would see it ([instance] sections)\n"
               "      --man-keys       print the key table of memfence.conf(5) (roff)\n"
               "exit: 0 passed, 1 failed (budgets do not fit), 2 configuration errors\n");
}

int mf_cmd_check(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, 0, 'c' }, { "show", no_argument, 0, 's' },
        { "for", required_argument, 0, 'f' },    { "instance", required_argument, 0, 'i' },
        { "man-keys", no_argument, 0, 'M' },     { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    const char *path = NULL, *prog = NULL, *inst = NULL;
    int show_it = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:sf:i:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': path = optarg; break;
        case 's': show_it = 1; break;
        case 'f': prog = optarg; break;
        case 'i': inst = optarg; break;
        case 'M': man_keys(stdout); return 0;
        case 'h': check_usage(stdout); return 0;
        default: check_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        mf_cli_error("check: unexpected argument '%s'", argv[optind]);
        return 2;
    }
    mf_config_set_reporter(report_to_stderr);
    problems_seen = 0;

    char found[MF_CFG_STR_MAX];
    if (!path)
        path = mf_cfg_file_locate(found, sizeof found) == 0 ? found : "";
    mf_cfg_file_t f;
    memset(&f, 0, sizeof f);
    if (*path)
        mf_cfg_file_load(&f, path);         /* problems are counted as they are reported */
    if (!*path)
        fprintf(stderr, "memfence: no configuration file (MEMFENCE_CONFIG, "
                        "$XDG_CONFIG_HOME/memfence/memfence.conf, "
                        "~/.config/memfence/memfence.conf, /etc/memfence.conf): built-in "
                        "defaults\n");

    int rc;
    if (show_it || prog || inst) {
        static mf_config_t cfg;
        char exe[PATH_MAX] = "";
        const char *program = NULL;
        if (prog) {
            resolve_exe(prog, exe, sizeof exe);
            program = strrchr(prog, '/') ? strrchr(prog, '/') + 1 : prog;
        }
        const char *identity = inst ? inst : getenv("MEMFENCE_INSTANCE");
        if (!identity || !*identity)
            identity = program;
        mf_config_defaults(&cfg);
        snprintf(cfg.instance, sizeof cfg.instance, "%s", identity ? identity : "");
        snprintf(cfg.program, sizeof cfg.program, "%s", program ? program : "");
        int proc = f.mem ? mf_cfg_file_match(&f, program, exe[0] ? exe : NULL) : -1;
        (void)mf_config_compose(&cfg, &f, proc, identity, true); /* problems counted as reported */
        if (problems_seen) {
            fprintf(stderr, "memfence: %u problem%s in the configuration (see memfence.conf(5))\n",
                    problems_seen, problems_seen == 1 ? "" : "s");
            mf_cfg_file_free(&f);
            return 2;
        }
        rc = show_it ? (show(&cfg, stdout), 0) : preflight_one(&cfg, stdout, true);
    } else {
        if (problems_seen) {
            fprintf(stderr, "memfence: %u problem%s in the configuration (see memfence.conf(5))\n",
                    problems_seen, problems_seen == 1 ? "" : "s");
            mf_cfg_file_free(&f);
            return 2;
        }
        rc = file_report(&f, stdout);
        if (problems_seen)
            rc = 2;
    }
    mf_cfg_file_free(&f);
    return rc;
}
