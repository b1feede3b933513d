/* report.c — `memfence report PID|FILE [--top N] [--json] [--folded] [--timeout S]`.
 *
 * With a PID: asks the live fenced process for its profile through a request file in /dev/shm
 * (protocol in src/profile.h; no signal), waits for the answer and renders it.  With a FILE (what
 * `profile_at_exit` wrote): renders that.  Rendering: symbols from the ELF symbol tables of the
 * modules the process had loaded (symbolize.h), file:line from addr2line where the module has line
 * tables, raw module+offset otherwise.  Output: text (default), JSON, or the folded stacks that
 * flamegraph.pl and speedscope read ("outer;...;inner LIVE_BYTES" per line).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mf.h"
#include "cli/cli.h"
#include "ledger/ledger.h"
#include "profile/profile.h"
#include "profile/symbolize.h"
#include "profile/unwind.h"

typedef struct module {
    uint64_t lo, hi, bias;
    char *path;
    mf_symfile_t *sym;
    int tried;
} module_t;

typedef struct frame {
    uint64_t addr;
    module_t *mod;
    const char *func;           /* borrowed from the module's symbol table, or NULL */
    uint64_t off;               /* from func, or from the module's bias when func is NULL */
    char *file;                 /* "file.c:12" from addr2line, or NULL */
} frame_t;

typedef struct site {
    unsigned id;
    uint64_t live_bytes, live_count, alloc_bytes, alloc_count, samples, refusals;
    int grow;
    long long growth;
    int depth;
    frame_t frames[MF_UNWIND_MAX];
} site_t;

typedef struct profile {
    long pid;
    char program[256], exe[1024];
    uint64_t rate, samples, dropped, overflow, sites_used, sites_max, table_bytes, blocks,
             windows, window_ns, refusals;
    int enabled;
    module_t *mods;
    size_t nmods;
    site_t *sites;
    size_t nsites;
} profile_t;

static char *slurp(FILE *f)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t r = fread(buf + len, 1, cap - len - 1, f);
        len += r;
        if (r == 0)
            break;
        if (cap - len < 2) {
            char *g = realloc(buf, cap * 2);
            if (!g) {
                free(buf);
                return NULL;
            }
            buf = g;
            cap *= 2;
        }
    }
    if (buf)
        buf[len] = 0;
    return buf;
}

static module_t *find_module(profile_t *p, uint64_t addr)
{
    for (size_t i = 0; i < p->nmods; i++)
        if (addr >= p->mods[i].lo && addr < p->mods[i].hi)
            return &p->mods[i];
    return NULL;
}

static int parse(profile_t *p, char *text)
{
    char *save = NULL;
    int lineno = 0, ended = 0;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        if (lineno == 1) {
            if (strncmp(line, "memfence-profile 1", 18) != 0)
                return -1;
            continue;
        }
        char *sp = strchr(line, ' ');
        char *val = sp ? sp + 1 : line + strlen(line);
        size_t klen = sp ? (size_t)(sp - line) : strlen(line);
#define KEY(k) (klen == sizeof(k) - 1 && memcmp(line, k, klen) == 0)
        if (KEY("end")) { ended = 1; break; }
        else if (KEY("pid")) p->pid = strtol(val, NULL, 10);
        else if (KEY("program")) snprintf(p->program, sizeof p->program, "%s", val);
        else if (KEY("exe")) snprintf(p->exe, sizeof p->exe, "%s", val);
        else if (KEY("rate")) p->rate = strtoull(val, NULL, 10);
        else if (KEY("enabled")) p->enabled = atoi(val);
        else if (KEY("samples")) p->samples = strtoull(val, NULL, 10);
        else if (KEY("dropped")) p->dropped = strtoull(val, NULL, 10);
        else if (KEY("overflow")) p->overflow = strtoull(val, NULL, 10);
        else if (KEY("sites")) p->sites_used = strtoull(val, NULL, 10);
        else if (KEY("sites_max")) p->sites_max = strtoull(val, NULL, 10);
        else if (KEY("table_bytes")) p->table_bytes = strtoull(val, NULL, 10);
        else if (KEY("blocks")) p->blocks = strtoull(val, NULL, 10);
        else if (KEY("windows")) p->windows = strtoull(val, NULL, 10);
        else if (KEY("window_ns")) p->window_ns = strtoull(val, NULL, 10);
        else if (KEY("refusals")) p->refusals = strtoull(val, NULL, 10);
        else if (KEY("module")) {
            module_t m = { 0 };
            int used = 0;
            if (sscanf(val, "%" SCNx64 " %" SCNx64 " %" SCNx64 " %n", &m.lo, &m.hi, &m.bias, &used) < 3)
                continue;
            m.path = strdup(val + used);
            module_t *g = realloc(p->mods, (p->nmods + 1) * sizeof *g);
            if (!g)
                return -1;
            p->mods = g;
            p->mods[p->nmods++] = m;
        } else if (KEY("site")) {
            site_t s = { 0 };
            int used = 0;
            if (sscanf(val, "%u %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
                       " %d %lld %d%n", &s.id, &s.live_bytes, &s.live_count, &s.alloc_bytes,
                       &s.alloc_count, &s.samples, &s.refusals, &s.grow, &s.growth, &s.depth,
                       &used) < 10)
                continue;
            char *q = val + used;
            int n = 0;
            for (; n < s.depth && n < MF_UNWIND_MAX; n++) {
                char *end;
                s.frames[n].addr = strtoull(q, &end, 16);
                if (end == q)
                    break;
                q = end;
            }
            s.depth = n;
            site_t *g = realloc(p->sites, (p->nsites + 1) * sizeof *g);
            if (!g)
                return -1;
            p->sites = g;
            p->sites[p->nsites++] = s;
        }
#undef KEY
    }
    return ended ? 0 : -1;
}

/* Names every frame: module, function (ELF symbols), offset. */
static void symbolize(profile_t *p)
{
    for (size_t i = 0; i < p->nsites; i++) {
        site_t *s = &p->sites[i];
        for (int k = 0; k < s->depth; k++) {
            frame_t *f = &s->frames[k];
            f->mod = find_module(p, f->addr);
            if (!f->mod)
                continue;
            if (!f->mod->tried) {
                f->mod->tried = 1;
                f->mod->sym = mf_sym_file_open(f->mod->path);
            }
            uint64_t rel = f->addr - f->mod->bias;
            f->off = rel;
            f->func = mf_sym_file_lookup(f->mod->sym, rel - 1, &f->off);
            if (f->func)
                f->off++;                      /* offset of the return address itself */
        }
    }
}

/* C++ names through `c++filt -p` (no parameter lists: a frame line stays readable), in one
 * batch; names stay mangled when c++filt is missing. */
static char **demangled;
static size_t ndemangled;

static void demangle(profile_t *p)
{
    const char **names = NULL;
    size_t n = 0;
    for (size_t i = 0; i < p->nsites; i++)
        for (int k = 0; k < p->sites[i].depth; k++) {
            const char *f = p->sites[i].frames[k].func;
            if (!f || strncmp(f, "_Z", 2) != 0)
                continue;
            const char **g = realloc(names, (n + 1) * sizeof *g);
            if (!g)
                break;
            names = g;
            names[n++] = f;
        }
    if (n == 0) {
        free(names);
        return;
    }
    char in[] = "/tmp/memfence-names-XXXXXX";
    int fd = mkstemp(in);
    FILE *w = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!w) {
        free(names);
        return;
    }
    for (size_t i = 0; i < n; i++)
        fprintf(w, "%s\n", names[i]);
    fclose(w);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "c++filt -p < %s 2>/dev/null", in);
    FILE *r = popen(cmd, "r");
    demangled = calloc(n, sizeof *demangled);
    char line[4096];
    size_t got = 0;
    while (r && demangled && got < n && fgets(line, sizeof line, r)) {
        line[strcspn(line, "\n")] = 0;
        demangled[got++] = strdup(line);
    }
    if (r)
        pclose(r);
    unlink(in);
    ndemangled = got;
    /* same order as collected: replace */
    size_t j = 0;
    for (size_t i = 0; i < p->nsites && j < got; i++)
        for (int k = 0; k < p->sites[i].depth && j < got; k++) {
            const char *f = p->sites[i].frames[k].func;
            if (f && strncmp(f, "_Z", 2) == 0 && demangled[j])
                p->sites[i].frames[k].func = demangled[j++];
            else if (f && strncmp(f, "_Z", 2) == 0)
                j++;
        }
    free(names);
}

/* file:line for the frames of the given sites, one addr2line per module with line tables. */
static void add_lines(profile_t *p, site_t **list, size_t n, int depth)
{
    for (size_t m = 0; m < p->nmods; m++) {
        module_t *mod = &p->mods[m];
        const char *dbg;
        if (!mf_sym_file_has_lines(mod->sym, &dbg))
            continue;
        char cmd[8192];
        size_t len = (size_t)snprintf(cmd, sizeof cmd, "addr2line -e '%s'", dbg);
        if (strchr(dbg, '\''))
            continue;
        frame_t *want[512];
        size_t nw = 0;
        for (size_t i = 0; i < n && nw < MF_ARRAY_LEN(want); i++)
            for (int k = 0; k < list[i]->depth && k < depth && nw < MF_ARRAY_LEN(want); k++) {
                frame_t *f = &list[i]->frames[k];
                if (f->mod != mod || f->file || len + 24 > sizeof cmd)
                    continue;
                len += (size_t)snprintf(cmd + len, sizeof cmd - len, " %" PRIx64,
                                        f->addr - mod->bias - 1);
                want[nw++] = f;
            }
        if (nw == 0)
            continue;
        snprintf(cmd + len, sizeof cmd - len, " 2>/dev/null");
        FILE *pf = popen(cmd, "r");
        if (!pf)
            continue;
        char line[1024];
        for (size_t i = 0; i < nw && fgets(line, sizeof line, pf); i++) {
            line[strcspn(line, "\n")] = 0;
            char *disc = strstr(line, " (discriminator");
            if (disc)
                *disc = 0;
            if (line[0] == '?' || strstr(line, ":?") || strstr(line, ":0") == line + strlen(line) - 2)
                continue;
            const char *b = strrchr(line, '/');
            want[i]->file = strdup(b ? b + 1 : line);
        }
        pclose(pf);
    }
}

static const char *mod_base(const module_t *m)
{
    const char *b = m ? strrchr(m->path, '/') : NULL;
    return b ? b + 1 : m ? m->path : "?";
}

/* ---- ordering ----------------------------------------------------------------------------- */

static int by_live(const void *a, const void *b)
{
    const site_t *x = *(site_t *const *)a, *y = *(site_t *const *)b;
    return (x->live_bytes < y->live_bytes) - (x->live_bytes > y->live_bytes);
}
static int by_growth(const void *a, const void *b)
{
    const site_t *x = *(site_t *const *)a, *y = *(site_t *const *)b;
    return (x->growth < y->growth) - (x->growth > y->growth);
}
static int by_refusals(const void *a, const void *b)
{
    const site_t *x = *(site_t *const *)a, *y = *(site_t *const *)b;
    return (x->refusals < y->refusals) - (x->refusals > y->refusals);
}

/* The top n sites satisfying a filter, in order.  Return: how many (list is malloc'ed). */
static size_t select_sites(profile_t *p, int which, size_t top, site_t ***out)
{
    site_t **l = calloc(p->nsites + 1, sizeof *l);
    size_t n = 0;
    for (size_t i = 0; l && i < p->nsites; i++) {
        site_t *s = &p->sites[i];
        if ((which == 0 && s->live_bytes > 0) || (which == 1 && s->grow >= 2 && s->growth > 0) ||
            (which == 2 && s->refusals > 0))
            l[n++] = s;
    }
    if (l)
        qsort(l, n, sizeof *l, which == 0 ? by_live : which == 1 ? by_growth : by_refusals);
    *out = l;
    return n < top ? n : top;
}

/* ---- output ------------------------------------------------------------------------------- */

static char *human(char *buf, size_t size, uint64_t n)
{
    return mf_fmt_bytes(buf, size, n);
}

static void print_frames(const site_t *s, int depth)
{
    for (int k = 0; k < s->depth && k < depth; k++) {
        const frame_t *f = &s->frames[k];
        if (f->func)
            printf("        %s+0x%" PRIx64, f->func, f->off);
        else if (f->mod)
            printf("        %s+0x%" PRIx64, mod_base(f->mod), f->off);
        else
            printf("        0x%" PRIx64, f->addr);
        if (f->file)
            printf("  %s", f->file);
        if (f->func)
            printf("  (%s)", mod_base(f->mod));
        printf("\n");
    }
    if (s->depth > depth)
        printf("        ... %d more frames\n", s->depth - depth);
    if (s->depth == 0)
        printf("        (other sites: the site table was full)\n");
}

static void render_text(profile_t *p, size_t top)
{
    char a[32], b[32], c[32];
    uint64_t live = 0, count = 0;
    for (size_t i = 0; i < p->nsites; i++) {
        live += p->sites[i].live_bytes;
        count += p->sites[i].live_count;
    }
    printf("memfence report: pid %ld (%s)\n", p->pid, p->program);
    if (!p->enabled)
        printf("profiling is off in this process (profile = on to sample allocation sites)\n");
    else
        printf("sampling every %s on average: %" PRIu64 " samples, %" PRIu64 " of %" PRIu64
               " sites used, site table %s, %" PRIu64 " sampled blocks live%s\n",
               human(a, sizeof a, p->rate), p->samples, p->sites_used, p->sites_max,
               human(b, sizeof b, p->table_bytes), p->blocks,
               p->dropped ? " (block table full: some samples dropped)" : "");
    if (p->enabled)
        printf("estimated live heap: %s in %" PRIu64 " blocks\n", human(c, sizeof c, live), count);

    site_t **l;
    size_t n = select_sites(p, 0, top, &l);
    if (p->enabled) {
        add_lines(p, l, n, 8);
        printf("\ntop %zu sites by live bytes:\n", n);
        for (size_t i = 0; i < n; i++) {
            const site_t *s = l[i];
            printf("  #%zu  %s live in %" PRIu64 " blocks (%.1f%%), %s allocated in %" PRIu64 "\n",
                   i + 1, human(a, sizeof a, s->live_bytes), s->live_count,
                   live ? 100.0 * (double)s->live_bytes / (double)live : 0.0,
                   human(b, sizeof b, s->alloc_bytes), s->alloc_count);
            print_frames(s, 8);
        }
    }
    free(l);
    n = select_sites(p, 1, top, &l);
    if (p->enabled) {
        add_lines(p, l, n, 8);
        printf("\ntop growing sites (leak suspects; windows of %.1f s):\n", (double)p->window_ns / 1e9);
        if (n == 0)
            printf("  none: no site grew in two consecutive windows (%" PRIu64 " windows so far)\n",
                   p->windows);
        for (size_t i = 0; i < n; i++) {
            const site_t *s = l[i];
            printf("  #%zu  +%s/s over %d windows, %s live\n", i + 1,
                   human(a, sizeof a, (uint64_t)s->growth), s->grow,
                   human(b, sizeof b, s->live_bytes));
            print_frames(s, 8);
        }
    }
    free(l);
    n = select_sites(p, 2, top, &l);
    add_lines(p, l, n, 8);
    printf("\nrefusal sites (%" PRIu64 " refusals with a stack):\n", p->refusals);
    if (n == 0)
        printf("  none\n");
    for (size_t i = 0; i < n; i++) {
        printf("  #%zu  %" PRIu64 " refusals\n", i + 1, l[i]->refusals);
        print_frames(l[i], 8);
    }
    free(l);
}

static void json_str(const char *s)
{
    putchar('"');
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static void json_sites(site_t **l, size_t n)
{
    printf("[");
    for (size_t i = 0; i < n; i++) {
        const site_t *s = l[i];
        printf("%s\n    {\"id\": %u, \"live_bytes\": %" PRIu64 ", \"live_count\": %" PRIu64
               ", \"alloc_bytes\": %" PRIu64 ", \"alloc_count\": %" PRIu64 ", \"samples\": %" PRIu64
               ", \"refusals\": %" PRIu64 ", \"growth_windows\": %d, \"growth_bytes_per_s\": %lld"
               ", \"frames\": [", i ? "," : "", s->id, s->live_bytes, s->live_count, s->alloc_bytes,
               s->alloc_count, s->samples, s->refusals, s->grow, s->growth);
        for (int k = 0; k < s->depth; k++) {
            const frame_t *f = &s->frames[k];
            printf("%s{\"addr\": \"0x%" PRIx64 "\", \"module\": ", k ? ", " : "", f->addr);
            if (f->mod)
                json_str(f->mod->path);
            else
                printf("null");
            printf(", \"function\": ");
            if (f->func)
                json_str(f->func);
            else
                printf("null");
            printf(", \"offset\": \"0x%" PRIx64 "\", \"file\": ", f->off);
            if (f->file)
                json_str(f->file);
            else
                printf("null");
            printf("}");
        }
        printf("]}");
    }
    printf("%s]", n ? "\n  " : "");
}

static void render_json(profile_t *p, size_t top)
{
    uint64_t live = 0, count = 0;
    for (size_t i = 0; i < p->nsites; i++) {
        live += p->sites[i].live_bytes;
        count += p->sites[i].live_count;
    }
    printf("{\"pid\": %ld, \"program\": ", p->pid);
    json_str(p->program);
    printf(", \"enabled\": %s, \"rate\": %" PRIu64 ", \"samples\": %" PRIu64 ", \"dropped\": %" PRIu64
           ", \"sites_used\": %" PRIu64 ", \"sites_max\": %" PRIu64 ", \"table_bytes\": %" PRIu64
           ", \"sampled_blocks\": %" PRIu64 ", \"windows\": %" PRIu64 ", \"window_ns\": %" PRIu64
           ", \"live_bytes\": %" PRIu64 ", \"live_count\": %" PRIu64 ", \"refusals\": %" PRIu64,
           p->enabled ? "true" : "false", p->rate, p->samples, p->dropped, p->sites_used,
           p->sites_max, p->table_bytes, p->blocks, p->windows, p->window_ns, live, count,
           p->refusals);
    static const char *names[] = { "top_live", "top_growing", "refusal_sites" };
    for (int w = 0; w < 3; w++) {
        site_t **l;
        size_t n = select_sites(p, w, top, &l);
        add_lines(p, l, n, MF_UNWIND_MAX);
        printf(",\n  \"%s\": ", names[w]);
        json_sites(l, n);
        free(l);
    }
    printf("\n}\n");
}

static void folded_name(const frame_t *f)
{
    char buf[512];
    if (f->func)
        snprintf(buf, sizeof buf, "%s", f->func);
    else if (f->mod)
        snprintf(buf, sizeof buf, "%s+0x%" PRIx64, mod_base(f->mod), f->off);
    else
        snprintf(buf, sizeof buf, "0x%" PRIx64, f->addr);
    for (char *c = buf; *c; c++)
        if (*c == ';' || isspace((unsigned char)*c))
            *c = '_';
    fputs(buf, stdout);
}

/* One line per site with live bytes: frames from the outermost in, then the live bytes. */
static void render_folded(profile_t *p)
{
    for (size_t i = 0; i < p->nsites; i++) {
        const site_t *s = &p->sites[i];
        if (s->live_bytes == 0)
            continue;
        if (s->depth == 0)
            fputs("(other_sites)", stdout);
        for (int k = s->depth - 1; k >= 0; k--) {
            folded_name(&s->frames[k]);
            if (k)
                putchar(';');
        }
        printf(" %" PRIu64 "\n", s->live_bytes);
    }
}

/* ---- asking a live process ---------------------------------------------------------------- */

/* Asks live process pid through its ledger slot's mailbox (see ledger.h): its sampler's tick
 * writes the report to a reply file, which is read and removed here. */
static char *ask(long pid, double timeout_s)
{
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
        mf_cli_error("no process %ld", pid);
        return NULL;
    }
    /* a process without libmemfence.so mapped will never answer: say so at once */
    char maps[64], line[4096];
    snprintf(maps, sizeof maps, "/proc/%ld/maps", pid);
    FILE *mf = fopen(maps, "r");
    if (mf) {
        int fenced = 0;
        while (!fenced && fgets(line, sizeof line, mf))
            fenced = strstr(line, "libmemfence") != NULL;
        fclose(mf);
        if (!fenced) {
            mf_cli_error("process %ld is not running under memfence (no libmemfence.so mapped)", pid);
            return NULL;
        }
    }
    const char *dir = getenv("MEMFENCE_LEDGER_DIR");
    char reply[600];
    int rc = mf_ledger_request(dir && *dir ? dir : NULL, (pid_t)pid, MF_LREQ_REPORT,
                               (unsigned)(timeout_s * 1000), reply, sizeof reply);
    if (rc == -ENOSYS) {
        mf_cli_error("process %ld runs under memfence without profiling (profile = on to sample "
                     "allocation sites)", pid);
        return NULL;
    }
    if (rc == -ESRCH) {
        mf_cli_error("process %ld is not in any ledger of this user (another user's process, or "
                     "another ledger_dir: set MEMFENCE_LEDGER_DIR)", pid);
        return NULL;
    }
    if (rc) {
        mf_cli_error("process %ld did not answer within %.0f s (%s)", pid, timeout_s,
                     strerror(-rc));
        return NULL;
    }
    FILE *f = fopen(reply, "r");
    if (!f) {
        mf_cli_error("cannot read the reply %s: %s", reply, strerror(errno));
        return NULL;
    }
    char *text = slurp(f);
    fclose(f);
    unlink(reply);
    return text;
}

static void usage_text(FILE *f)
{
    fprintf(f, "usage: memfence report PID|FILE [--top N] [--json] [--folded] [--timeout S]\n\n"
               "  PID                a live fenced process (profile = on): asks it for its report\n"
               "  FILE               a report written by profile_at_exit or an earlier run\n"
               "      --top N        the N largest allocation sites (default 10)\n"
               "      --json         print JSON\n"
               "      --folded       print folded stacks (for flamegraph.pl or speedscope)\n"
               "      --timeout S    wait at most S seconds for a live process (default 5)\n"
               "  -h, --help         this text\n");
}

static int usage(void)
{
    usage_text(stderr);
    return 2;
}

int mf_cmd_report(int argc, char **argv)
{
    const char *target = NULL;
    size_t top = 10;
    int json = 0, folded = 0;
    double timeout_s = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--folded") == 0)
            folded = 1;
        else if (strcmp(argv[i], "--top") == 0 && i + 1 < argc)
            top = (size_t)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
            timeout_s = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return usage_text(stdout), 0;
        else if (argv[i][0] == '-' || target)
            return usage();
        else
            target = argv[i];
    }
    if (!target || top == 0 || (json && folded))
        return usage();

    char *text = NULL;
    char *end;
    long pid = strtol(target, &end, 10);
    struct stat st;
    if (*end == 0 && pid > 0 && stat(target, &st) != 0) {
        text = ask(pid, timeout_s);
        if (!text)
            return 1;
    } else {
        FILE *f = fopen(target, "r");
        if (!f) {
            mf_cli_error("cannot read %s: %s", target, strerror(errno));
            return 2;
        }
        text = slurp(f);
        fclose(f);
    }
    profile_t p = { 0 };
    if (!text || parse(&p, text) != 0) {
        mf_cli_error("%s: not a memfence profile (or cut short)", target);
        free(text);
        return 1;
    }
    symbolize(&p);
    demangle(&p);
    if (json)
        render_json(&p, top);
    else if (folded)
        render_folded(&p);
    else
        render_text(&p, top);
    for (size_t i = 0; i < p.nsites; i++)
        for (int k = 0; k < p.sites[i].depth; k++)
            free(p.sites[i].frames[k].file);
    for (size_t i = 0; i < p.nmods; i++) {
        mf_sym_file_close(p.mods[i].sym);
        free(p.mods[i].path);
    }
    for (size_t i = 0; i < ndemangled; i++)
        free(demangled[i]);
    free(demangled);
    free(p.mods);
    free(p.sites);
    free(text);
    return 0;
}
