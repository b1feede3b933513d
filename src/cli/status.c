/* status.c — `memfence status [--watch] [--json] [--group NAME] [--dir DIR]`: one row per live
 * fenced instance (pid, name, group, host used/budget, GPU used/budget, RSS, level, allocation
 * refusals, trims, last event) and a total row per group (with the lease requests its budget
 * refused), read from the shared ledgers (src/ledger.h).  Reading reclaims the slots of dead
 * instances.  --watch redraws in place every second on a terminal and prints plain snapshots
 * one after another otherwise; --json prints one JSON document (one per line with --watch).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/size.h"
#include "cli/cli.h"
#include "ledger/ledger.h"


static const char *level_name[] = { "low", "moderate", "high", "critical" };
static const char *level_colour[] = { "\033[32m", "\033[33m", "\033[35m", "\033[1;31m" };
static volatile sig_atomic_t stop;

static void on_signal(int sig) { (void)sig; stop = 1; }

static const char *bytes(char *buf, size_t size, uint64_t n)
{
    if (n == MF_UNLIMITED)
        return "-";
    return mf_fmt_bytes(buf, size, n);
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void json_u64(FILE *f, uint64_t v)
{
    if (v == MF_UNLIMITED)
        fputs("null", f);
    else
        fprintf(f, "%llu", (unsigned long long)v);
}

static void print_json(FILE *f, const mf_ledger_row_t *rows, int n, const mf_ledger_group_t *g,
                       size_t ng)
{
    fputs("{\"instances\":[", f);
    for (int i = 0; i < n; i++) {
        const mf_ledger_row_t *r = &rows[i];
        fprintf(f, "%s{\"pid\":%d,\"ppid\":%d,\"instance\":", i ? "," : "", r->pid, r->ppid);
        json_str(f, r->instance);
        fputs(",\"program\":", f);
        json_str(f, r->program);
        fputs(",\"group\":", f);
        json_str(f, r->group);
        fprintf(f, ",\"admitted\":%s,\"forked\":%s,\"detached\":%s,\"host_used\":",
                (r->flags & MF_LFLAG_REFUSED) ? "false" : "true",
                (r->flags & MF_LFLAG_FORKED) ? "true" : "false",
                (r->flags & MF_LFLAG_DETACHED) ? "true" : "false");
        json_u64(f, r->pub.used[0]);
        fputs(",\"host_budget\":", f);
        json_u64(f, r->pub.budget[0]);
        fputs(",\"group_charged\":", f);
        json_u64(f, r->charged[0]);
        fputs(",\"reserve\":", f);
        json_u64(f, r->reserve);
        fputs(",\"gpu\":[", f);
        for (unsigned p = 1; p <= r->pub.gpu_count; p++) {
            fprintf(f, "%s{\"device\":%u,\"used\":", p > 1 ? "," : "", p - 1);
            json_u64(f, r->pub.used[p]);
            fputs(",\"budget\":", f);
            json_u64(f, r->pub.budget[p]);
            fputc('}', f);
        }
        fprintf(f, "],\"rss\":%llu,\"level\":\"%s\",\"refusals\":%llu,\"trims\":%llu,"
                   "\"trimmed_bytes\":%llu,\"throttled\":%llu,\"last_event\":",
                (unsigned long long)r->pub.rss, level_name[r->pub.level & 3],
                (unsigned long long)r->pub.refusals, (unsigned long long)r->pub.trims,
                (unsigned long long)r->pub.trimmed_bytes, (unsigned long long)r->pub.throttled);
        json_str(f, r->last_event);
        fprintf(f, ",\"updated_ns\":%llu}", (unsigned long long)r->pub.updated_ns);
    }
    fputs("],\"groups\":[", f);
    int first = 1;
    for (size_t i = 0; i < ng; i++) {
        if (!g[i].group[0])
            continue;
        fprintf(f, "%s{\"group\":", first ? "" : ",");
        first = 0;
        json_str(f, g[i].group);
        fprintf(f, ",\"members\":%u,\"host_used\":", g[i].members);
        json_u64(f, g[i].total[0]);
        fputs(",\"host_limit\":", f);
        json_u64(f, g[i].limit[0]);
        fputs(",\"gpu\":[", f);
        int gf = 1;
        for (unsigned p = 1; p < MF_POOL_COUNT; p++) {
            if (!g[i].total[p] && g[i].limit[p] == MF_UNLIMITED)
                continue;
            fprintf(f, "%s{\"device\":%u,\"used\":", gf ? "" : ",", p - 1);
            gf = 0;
            json_u64(f, g[i].total[p]);
            fputs(",\"limit\":", f);
            json_u64(f, g[i].limit[p]);
            fputc('}', f);
        }
        fprintf(f, "],\"refusals\":%llu,\"reclaimed\":%llu,\"admissions_refused\":%llu,"
                "\"turned_away\":%llu}", (unsigned long long)g[i].refusals,
                (unsigned long long)g[i].reclaimed, (unsigned long long)g[i].admissions_refused,
                (unsigned long long)g[i].turned_away);
    }
    fputs("]}\n", f);
}

static void used_of(char *out, size_t size, uint64_t used, uint64_t budget)
{
    char a[32], b[32];
    if (budget == MF_UNLIMITED)
        snprintf(out, size, "%s", bytes(a, sizeof a, used));
    else
        snprintf(out, size, "%s/%s", bytes(a, sizeof a, used), bytes(b, sizeof b, budget));
}

static void print_table(FILE *f, const mf_ledger_row_t *rows, int n, const mf_ledger_group_t *g,
                        size_t ng, int colour)
{
    /* REFUSED: allocations a budget refused (instance rows); LEASES REFUSED: lease requests the
     * group budget refused (total rows).  Two counts of different things, two columns. */
    fprintf(f, "%-8s %-16s %-12s %-21s %-21s %-10s %-9s %7s %14s %6s  %s\n", "PID", "NAME",
            "GROUP", "HOST USED/BUDGET", "GPU USED/BUDGET", "RSS", "LEVEL", "REFUSED",
            "LEASES REFUSED", "TRIMS", "LAST EVENT");
    for (int i = 0; i < n; i++) {
        const mf_ledger_row_t *r = &rows[i];
        char host[64], gpu[64] = "-", rss[32], grp[MF_NAME_MAX + 4];
        used_of(host, sizeof host, r->pub.used[0], r->pub.budget[0]);
        if (r->pub.gpu_count) {
            uint64_t u = 0, b = 0;
            int unlimited = 0;
            for (unsigned p = 1; p <= r->pub.gpu_count; p++) {
                u += r->pub.used[p];
                if (r->pub.budget[p] == MF_UNLIMITED)
                    unlimited = 1;
                else
                    b += r->pub.budget[p];
            }
            used_of(gpu, sizeof gpu, u, unlimited ? MF_UNLIMITED : b);
        }
        snprintf(grp, sizeof grp, "%s%s", r->group[0] ? r->group : "-",
                 (r->flags & MF_LFLAG_REFUSED) ? "!" : "");
        const char *lv = level_name[r->pub.level & 3];
        char ev[MF_LEDGER_EVENT + 32] = "";
        if (r->last_event[0]) {
            time_t t = (time_t)(r->last_event_ns / 1000000000ull);
            struct tm tm;
            localtime_r(&t, &tm);
            char when[16];
            strftime(when, sizeof when, "%H:%M:%S", &tm);
            snprintf(ev, sizeof ev, "%s %s", when, r->last_event);
        }
        fprintf(f, "%-8d %-16.16s %-12.12s %-21s %-21s %-10s %s%-9s%s %7llu %14s %6llu  %s\n",
                r->pid, r->instance, grp, host, gpu,
                r->pub.updated_ns ? mf_fmt_bytes(rss, sizeof rss, r->pub.rss) : "-",
                colour ? level_colour[r->pub.level & 3] : "", lv, colour ? "\033[0m" : "",
                (unsigned long long)r->pub.refusals, "-", (unsigned long long)r->pub.trims, ev);
    }
    for (size_t i = 0; i < ng; i++) {
        if (!g[i].group[0] || !g[i].members)
            continue;   /* (the solo ledger, or a group with no live member) */
        char host[64], gpu[64] = "-", what[64];
        used_of(host, sizeof host, g[i].total[0], g[i].limit[0]);
        uint64_t u = 0, b = 0;
        int any = 0, unlimited = 0;
        for (unsigned p = 1; p < MF_POOL_COUNT; p++) {
            if (!g[i].total[p] && g[i].limit[p] == MF_UNLIMITED)
                continue;
            any = 1;
            u += g[i].total[p];
            if (g[i].limit[p] == MF_UNLIMITED)
                unlimited = 1;
            else
                b += g[i].limit[p];
        }
        if (any)
            used_of(gpu, sizeof gpu, u, unlimited ? MF_UNLIMITED : b);
        char note[64] = "";
        snprintf(what, sizeof what, "%u instance%s", g[i].members, g[i].members == 1 ? "" : "s");
        if (g[i].reclaimed)
            snprintf(note, sizeof note, "%llu dead reclaimed", (unsigned long long)g[i].reclaimed);
        fprintf(f, "%-8s %-16s %-12.12s %-21s %-21s %-10s %-9s %7s %14llu %6s  %s\n", "total", what,
                g[i].group, host, gpu, "", "", "-", (unsigned long long)g[i].refusals, "", note);
    }
    if (!n)
        fprintf(f, "(no fenced process of this user is running)\n");
}

static void usage(FILE *f)
{
    fprintf(f, "usage: memfence status [--watch] [--json] [--group NAME] [--dir DIR]\n\n"
               "  -w, --watch        a snapshot every second (Ctrl-C to stop): redrawn in place on a\n"
               "                     terminal, one after another, plain, into a pipe or file\n"
               "  -j, --json         print JSON (one document per line with --watch)\n"
               "  -g, --group NAME   only this group\n"
               "  -d, --dir DIR      the ledger directory (default: MEMFENCE_LEDGER_DIR, else\n"
               "                     $XDG_RUNTIME_DIR and /dev/shm)\n"
               "REFUSED: allocations a budget refused; LEASES REFUSED (group total rows): lease\n"
               "requests the group budget refused.  A '!' after the group: the instance was\n"
               "refused admission and fences alone.\n");
}

int mf_cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {
        { "watch", no_argument, 0, 'w' }, { "json", no_argument, 0, 'j' },
        { "group", required_argument, 0, 'g' }, { "dir", required_argument, 0, 'd' },
        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
    };
    int watch = 0, json = 0, c;
    const char *group = NULL, *dir = getenv("MEMFENCE_LEDGER_DIR");
    optind = 1;
    while ((c = getopt_long(argc, argv, "wjg:d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'w': watch = 1; break;
        case 'j': json = 1; break;
        case 'g': group = optarg; break;
        case 'd': dir = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    mf_cli_ledger_t l;
    if (mf_cli_ledger_open(&l, "status", dir, group) != 0)
        return 2;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int tty = isatty(STDOUT_FILENO);
    int colour = !json && tty && !getenv("NO_COLOR");
    int rc = 0, shown = 0;
    do {
        if (mf_cli_ledger_scan(&l) < 0) {
            mf_cli_error("status: no ledger directory (%s)", dir && *dir ? dir : "/dev/shm");
            rc = 1;
            break;
        }
        if (watch && !json && tty) {
            fputs("\033[H\033[2J", stdout);
        } else if (watch && !json) {
            /* not a terminal: one plain snapshot after another, each headed by its time */
            time_t now = time(NULL);
            struct tm tm;
            char when[32];
            localtime_r(&now, &tm);
            strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
            printf("%s# memfence status at %s\n", shown++ ? "\n" : "", when);
        }
        if (json)
            print_json(stdout, l.rows, (int)l.n, l.groups, l.ng);
        else
            print_table(stdout, l.rows, (int)l.n, l.groups, l.ng, colour);
        fflush(stdout);
        if (!watch)
            break;
        for (int i = 0; i < 10 && !stop; i++)
            usleep(100000);
    } while (!stop);
    mf_cli_ledger_close(&l);
    return rc;
}
