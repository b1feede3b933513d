/* sweep.c — `memfence run --fail-sweep [--max N] [--sample K] [--timeout S] [--fail FILTERS]
 * [--markdown] -- CMD [ARGS]`: the allocation-failure test failmalloc used to give.
 * run.c parses the command line and calls mf_cmd_fail_sweep (contract in cli.h).
 *
 * 1. A counting run: CMD under `fail=FILTERS,count=0` (nothing fails) with MEMFENCE_FAIL_REPORT
 *    pointing at a shared counting file (fail_spec.h); it tells how many eligible calls a process of
 *    CMD makes (the highest count of any of its processes) and how long a clean run takes.
 * 2. One run per chosen call K (all of 1..N, N = min(count, --max), or --sample K of them spread
 *    evenly): CMD under `fail=FILTERS,every=K,count=1,fail_log=on`, so the Kth eligible call of
 *    each process fails like a refusal, and nothing else.
 * 3. A table: per K, whether CMD survived (exit 0, or a clean error exit with its last stderr
 *    line), crashed (the signal, and the failed call with its stack from memfence's log), hung
 *    (killed after --timeout), or never reached call K.
 * Exit status: 0 when nothing crashed or hung, 1 otherwise, 2 on a usage error.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/size.h"
#include "cli/cli.h"
#include "config/config.h"
#include "config/fail_spec.h"

enum outcome { OUT_OK, OUT_ERROR, OUT_CRASH, OUT_HUNG, OUT_UNREACHED, OUT_COUNT };
static const char *const outcome_name[OUT_COUNT] = { "ok", "error", "CRASH", "HUNG",
                                                     "not reached" };

typedef struct sweep_opts {
    uint64_t max;           /* 0: no cap */
    uint64_t sample;        /* calls to try at most */
    double timeout_s;       /* 0: derived from the counting run */
    const char *filters;    /* --fail FILTERS, or NULL */
    const char *limit;      /* -l SIZE */
    bool markdown;
    bool quiet;             /* no progress line */
    char **cmd;
    const char *target;     /* the program swept when CMD reaches it through wrappers, or NULL */
} sweep_opts_t;

typedef struct run_result {
    enum outcome out;
    int code;               /* exit code or signal */
    double secs;
    uint64_t injected;
    uint64_t eligible;
    uint64_t processes;
    char message[160];      /* last stderr line of CMD */
    char failed[512];       /* the injected-failure line from memfence's log */
    uint32_t top_images;    /* images of the command's own process (> 1: it exec'd) */
    char top_exe[256];      /* the last of them: the program the command finally runs */
} run_result_t;

#define BASE_MAX (MF_NAME_MAX * 4)  /* the filters in canonical form */

static char tmpdir[256];
static char report_path[300], log_path[300], err_path[300];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int report_reset(void)
{
    mf_fail_report_t r;
    char page[4096];
    memset(page, 0, sizeof page);
    memset(&r, 0, sizeof r);
    r.magic = MF_FAIL_REPORT_MAGIC;
    memcpy(page, &r, sizeof r);
    int fd = open(report_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return -errno;
    ssize_t n = write(fd, page, sizeof page);
    close(fd);
    return n == (ssize_t)sizeof page ? 0 : -EIO;
}

static void report_read(run_result_t *res)
{
    mf_fail_report_t r;
    int fd = open(report_path, O_RDONLY | O_CLOEXEC);
    memset(&r, 0, sizeof r);
    if (fd >= 0) {
        if (read(fd, &r, sizeof r) != (ssize_t)sizeof r) memset(&r, 0, sizeof r);
        close(fd);
    }
    res->eligible = r.max_eligible;
    res->injected = r.injected;
    res->processes = r.processes;
    res->top_images = r.top_images;
    memcpy(res->top_exe, r.top_exe, sizeof res->top_exe);
    res->top_exe[sizeof res->top_exe - 1] = '\0';
}

/* Copies a line of a file (of its last 64 KiB): with `must_have`, the first line containing it;
 * else the first (`first`) or the last non-empty line not written by memfence. */
static void pick_line(const char *path, const char *must_have, bool first, char *out, size_t size)
{
    char buf[65536];
    out[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    off_t end = lseek(fd, 0, SEEK_END);
    off_t from = end > (off_t)sizeof buf - 1 ? end - (off_t)sizeof buf + 1 : 0;
    ssize_t n = pread(fd, buf, sizeof buf - 1, from);
    close(fd);
    if (n <= 0) return;
    buf[n] = '\0';
    char *line = NULL;
    for (char *p = strtok(buf, "\n"); p; p = strtok(NULL, "\n")) {
        while (isspace((unsigned char)*p)) p++;
        if (!*p) continue;
        if (must_have ? strstr(p, must_have) != NULL : strncmp(p, "memfence[", 9) != 0) {
            line = p;
            if (must_have || first) break;
        }
    }
    if (line) snprintf(out, size, "%s", line);
}

/* Runs the command once with fault spec `spec`.  Return: 0, or -errno when it could not start. */
static int run_once(const sweep_opts_t *o, const char *spec, const char *lib, double timeout_s,
                    run_result_t *res)
{
    memset(res, 0, sizeof *res);
    if (report_reset() != 0) return -EIO;
    unlink(log_path);
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0) return -errno;
    if (pid == 0) {
        setpgid(0, 0);
        /* this process is the command's own: its images record themselves (fail_spec.h) */
        int32_t me = (int32_t)getpid();
        int rfd = open(report_path, O_WRONLY | O_CLOEXEC);
        if (rfd >= 0) {
            if (pwrite(rfd, &me, sizeof me, offsetof(mf_fail_report_t, top_pid)) != sizeof me) {}
            close(rfd);
        }
        int in = open("/dev/null", O_RDONLY);
        int out = open("/dev/null", O_WRONLY);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in >= 0) dup2(in, 0);
        if (out >= 0) dup2(out, 1);
        if (err >= 0) dup2(err, 2);
        const char *old = getenv("LD_PRELOAD");
        if (!old || !strstr(old, "libmemfence.so")) {       /* `run` put it there already */
            char preload[4096];
            snprintf(preload, sizeof preload, "%s%s%s", lib, old && *old ? " " : "",
                     old ? old : "");
            setenv("LD_PRELOAD", preload, 1);
        }
        setenv("MEMFENCE_FAIL", spec, 1);
        setenv("MEMFENCE_FAIL_LOG", "on", 1);
        setenv("MEMFENCE_LOG", log_path, 1);
        setenv("MEMFENCE_FAIL_REPORT", report_path, 1);
        if (o->target) setenv("MEMFENCE_FAIL_EXE", o->target, 1);
        else unsetenv("MEMFENCE_FAIL_EXE");
        if (o->limit) setenv("MEMFENCE_LIMIT", o->limit, 1);
        execvp(o->cmd[0], o->cmd);
        fprintf(stderr, "memfence: cannot run %s: %s\n", o->cmd[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    int status = 0;
    bool hung = false;
    long sleep_ns = 200000;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) break;
        if (now_s() - t0 > timeout_s) {
            hung = true;
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        struct timespec ts = { 0, sleep_ns };
        nanosleep(&ts, NULL);
        if (sleep_ns < 10000000) sleep_ns *= 2;
    }
    kill(-pid, SIGKILL);        /* leftovers of the command's own process group */
    res->secs = now_s() - t0;
    report_read(res);
    pick_line(log_path, "injected failure", false, res->failed, sizeof res->failed);
    if (hung) {
        res->out = OUT_HUNG;
    } else if (WIFSIGNALED(status)) {
        res->out = OUT_CRASH;
        res->code = WTERMSIG(status);
    } else {
        int code = WEXITSTATUS(status);
        int sig = code - 128;
        res->code = code;
        /* a shell in between reports its child's death as 128 + signal */
        if (code > 128 && (sig == SIGSEGV || sig == SIGABRT || sig == SIGBUS || sig == SIGILL ||
                           sig == SIGFPE || sig == SIGTRAP)) {
            res->out = OUT_CRASH;
            res->code = sig;
        } else {
            res->out = code == 0 ? OUT_OK : OUT_ERROR;
        }
    }
    /* an error's message ends its output; a crash's reason (abort, assertion) usually opens it */
    pick_line(err_path, NULL, res->out != OUT_ERROR, res->message, sizeof res->message);
    return 0;
}

static int usage(const char *msg)
{
    if (msg) mf_cli_error("%s", msg);
    fprintf(stderr, "usage: memfence run --fail-sweep [--max N] [--sample K] [--timeout S] "
                    "[--fail FILTERS] [-l SIZE] [--markdown] -- CMD [ARGS]\n"
                    "  FILTERS: size>=SIZE, calls=malloc+mmap+cuda, from=MODULE (comma-separated)\n");
    return 2;
}

static int parse_count(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || *s == '-') return -EINVAL;
    *out = v;
    return 0;
}

static int parse_timeout(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end != s && *end == '\0' && v > 0) { *out = v; return 0; }   /* bare: seconds */
    uint64_t ns;
    if (mf_duration_parse(s, &ns) != 0 || ns == 0) return -EINVAL;
    *out = ns / 1e9;
    return 0;
}

static const char *sig_name(int sig)
{
    static char buf[16];
    const char *a = sigabbrev_np(sig);
    if (a) snprintf(buf, sizeof buf, "SIG%s", a);
    else snprintf(buf, sizeof buf, "signal %d", sig);
    return buf;
}

/* The part of memfence's log line after "eligible call K: ": "malloc(64 B) from x; stack: ..." */
static const char *failed_call(const run_result_t *r)
{
    const char *p = strstr(r->failed, "eligible call ");
    if (p) p = strstr(p, ": ");
    return p ? p + 2 : r->failed;
}

static void print_row(const sweep_opts_t *o, uint64_t k, const run_result_t *r)
{
    char detail[200];
    switch (r->out) {
    case OUT_OK: snprintf(detail, sizeof detail, "exit 0"); break;
    case OUT_ERROR:
        snprintf(detail, sizeof detail, "exit %d%s%.120s%s", r->code, r->message[0] ? ": \"" : "",
                 r->message, r->message[0] ? "\"" : "");
        break;
    case OUT_CRASH:
        snprintf(detail, sizeof detail, "%s%s%.120s%s", sig_name(r->code),
                 r->message[0] ? ": \"" : "", r->message, r->message[0] ? "\"" : "");
        break;
    case OUT_HUNG: snprintf(detail, sizeof detail, "killed after %.1f s", r->secs); break;
    default: snprintf(detail, sizeof detail, "ran %.2f s", r->secs); break;
    }
    const char *call = r->injected ? failed_call(r) : "";
    char shortcall[sizeof r->failed];
    snprintf(shortcall, sizeof shortcall, "%s", call);
    char *semi = strstr(shortcall, "; stack:");
    if (semi) *semi = '\0';
    for (char *p = detail; *p; p++) if (*p == '|') *p = '/';
    bool show_stack = (r->out == OUT_CRASH || r->out == OUT_HUNG) && semi;
    if (o->markdown)
        printf("| %llu | %s | %s | %s%s%s |\n", (unsigned long long)k, outcome_name[r->out], detail,
               shortcall, show_stack ? "<br>" : "", show_stack ? strstr(call, "stack:") : "");
    else
        printf("%8llu  %-11s  %-40s  %s\n", (unsigned long long)k, outcome_name[r->out], detail,
               shortcall);
    if (!o->markdown && show_stack)
        printf("%8s  %s\n", "", strstr(call, "stack:"));
}

/* Parses the options; the command starts at o->cmd.  Return: -1 to go on, or the exit status
 * (2: a usage error, reported). */
static int parse_options(int argc, char **argv, sweep_opts_t *o)
{
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--")) { i++; break; }
        if (!strcmp(a, "--fail-sweep")) continue;
        if (!strcmp(a, "--markdown")) { o->markdown = true; continue; }
        if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) { o->quiet = true; continue; }
        if (!v) {
            if (a[0] == '-') return usage("an option needs a value, or -- is missing before CMD");
            break;
        }
        if (!strcmp(a, "--max")) {
            if (parse_count(v, &o->max) || o->max == 0) return usage("--max wants a number >= 1");
        } else if (!strcmp(a, "--sample")) {
            if (parse_count(v, &o->sample) || o->sample == 0)
                return usage("--sample wants a number >= 1");
        } else if (!strcmp(a, "--timeout")) {
            if (parse_timeout(v, &o->timeout_s))
                return usage("--timeout wants seconds (or 500ms, 2m)");
        } else if (!strcmp(a, "--fail")) {
            o->filters = v;
        } else if (!strcmp(a, "-l") || !strcmp(a, "--limit")) {
            o->limit = v;
        } else if (a[0] == '-') {
            mf_cli_error("--fail-sweep: unknown option %s", a);
            return usage(NULL);
        } else {
            break;
        }
        i++;
    }
    if (i >= argc) return usage("no command given");
    o->cmd = argv + i;
    if (!o->filters) o->filters = mf_config()->fail;      /* `run --fail FILTERS` */
    return -1;
}

/* The filters may only choose calls; the sweep supplies the trigger itself.  Writes them in
 * canonical form to base ("" for none).  Return: 0, or the exit status of a usage error. */
static int filter_base(const sweep_opts_t *o, char *base, size_t size)
{
    if (!o->filters || !*o->filters)
        return 0;
    mf_fail_spec_t s;
    char why[200];
    if (mf_fail_parse(o->filters, &s, why, sizeof why) != 0) return usage(why);
    if (s.every || s.has_after || s.has_prob || s.count != MF_FAIL_NO_COUNT)
        return usage("--fail with --fail-sweep takes only filters: size>=, calls=, from=");
    mf_fail_format(&s, base, size);
    return 0;
}

/* The scratch directory of the counting file, memfence's log and CMD's stderr.
 * Return: 0, or -1 (reported). */
static int make_scratch(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/memfence-sweep.XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmpdir)) {
        mf_cli_error("cannot create a scratch directory: %s", strerror(errno));
        return -1;
    }
    snprintf(report_path, sizeof report_path, "%s/count", tmpdir);
    snprintf(log_path, sizeof log_path, "%s/log", tmpdir);
    snprintf(err_path, sizeof err_path, "%s/stderr", tmpdir);
    return 0;
}

/* What the counting run found, and the calls the sweep will fail. */
typedef struct plan {
    unsigned wrappers;          /* wrapper images before the program swept */
    uint64_t all_processes;     /* processes of CMD in the counting run */
    uint64_t total;             /* eligible calls in the busiest swept process */
    uint64_t upto;              /* calls 1..upto are candidates */
    uint64_t tries;             /* how many of them are failed */
    double timeout_s;           /* per run */
} plan_t;

/* The counting run (nothing fails), again with only the final program armed when CMD reaches
 * it through wrappers; o->target then points into `target` (sizeof r->top_exe bytes).
 * Return: 0 with r and p filled, or -1 (reported). */
static int count_calls(sweep_opts_t *o, const char *spec, const char *lib, char *target,
                       run_result_t *r, plan_t *p)
{
    double count_timeout = o->timeout_s > 0 ? o->timeout_s : 600;
    if (run_once(o, spec, lib, count_timeout, r) != 0) {
        mf_cli_error("cannot run %s", o->cmd[0]);
        return -1;
    }
    if (r->processes == 0) {
        mf_cli_error("%s did not load memfence (a static program, or exec failed: %s)", o->cmd[0],
                     r->message[0] ? r->message : "no message");
        return -1;
    }
    if (r->out != OUT_OK && r->out != OUT_ERROR) {
        mf_cli_error("the counting run without failures did not finish cleanly (%s); the sweep "
                     "would tell nothing", outcome_name[r->out]);
        return -1;
    }
    /* A command that reaches its program through wrappers (a pyenv shim: bash scripts that
     * exec python): sweep that program, the last image of the command's own process, and not
     * the wrappers' processes; count again with only it armed. */
    p->wrappers = r->top_images > 1 ? r->top_images - 1 : 0;
    p->all_processes = r->processes;
    if (p->wrappers && r->top_exe[0]) {
        snprintf(target, sizeof r->top_exe, "%s", r->top_exe);
        o->target = target;
        double clean = r->secs;
        if (run_once(o, spec, lib, count_timeout, r) != 0) {
            mf_cli_error("cannot run %s", o->cmd[0]);
            return -1;
        }
        r->secs = MF_MAX(r->secs, clean);
    }
    p->timeout_s = o->timeout_s > 0 ? o->timeout_s : MF_MAX(5.0, 10 * r->secs);
    p->total = r->eligible;
    p->upto = o->max && o->max < p->total ? o->max : p->total;
    p->tries = MF_MIN(p->upto, o->sample);
    return 0;
}

static void print_header(const sweep_opts_t *o, const char *base, const run_result_t *r,
                         const plan_t *p)
{
    printf("%smemfence fail-sweep: %s%s%s\n", o->markdown ? "### " : "", o->cmd[0],
           base[0] ? " with " : "", base);
    if (o->markdown) printf("\n");
    if (o->target)
        printf("swept: %s, the program %s finally runs (through %u wrapper image%s, e.g. a shell "
               "script; their processes are not failed)\n", o->target, o->cmd[0], p->wrappers,
               p->wrappers == 1 ? "" : "s");
    else
        printf("swept: every process of %s\n", o->cmd[0]);
    printf("clean run: exit %d in %.2f s, %llu eligible allocation calls in its busiest swept "
           "process (%llu process%s in all); failing %llu of calls 1..%llu, timeout %.1f s\n\n",
           r->code, r->secs, (unsigned long long)p->total, (unsigned long long)p->all_processes,
           p->all_processes == 1 ? "" : "es", (unsigned long long)p->tries,
           (unsigned long long)p->upto, p->timeout_s);
}

/* One run per chosen call, a row each, then the summary.  Return: the exit status (0 nothing
 * crashed or hung, 1 something did, 2 a run could not start). */
static int sweep_calls(const sweep_opts_t *o, const char *lib, const char *base, const plan_t *p)
{
    char spec[BASE_MAX + 64];
    run_result_t r;
    uint64_t counts[OUT_COUNT] = { 0 };
    bool progress = !o->quiet && isatty(2) && !isatty(1);   /* the table goes to a file */
    uint64_t prev = 0, tries = p->tries, upto = p->upto;
    for (uint64_t n = 0; n < tries; n++) {
        uint64_t k = tries == 1 ? 1 : 1 + (n * (upto - 1) + (tries - 1) / 2) / (tries - 1);
        if (k == prev) continue;
        prev = k;
        snprintf(spec, sizeof spec, "%s%severy=%llu,count=1", base, base[0] ? "," : "",
                 (unsigned long long)k);
        if (progress) {
            fprintf(stderr, "\r  run %llu of %llu: failing call %llu ",
                    (unsigned long long)(n + 1), (unsigned long long)tries, (unsigned long long)k);
            fflush(stderr);
        }
        if (run_once(o, spec, lib, p->timeout_s, &r) != 0) {
            mf_cli_error("cannot run %s", o->cmd[0]);
            return 2;
        }
        if (progress) fprintf(stderr, "\r\033[K");
        if (r.injected == 0 && r.out != OUT_CRASH && r.out != OUT_HUNG) r.out = OUT_UNREACHED;
        counts[r.out]++;
        print_row(o, k, &r);
        fflush(stdout);
    }
    printf("\n%s%llu runs: %llu survived (%llu exit 0, %llu clean error), %llu crashed, "
           "%llu hung, %llu did not reach the call\n", o->markdown ? "" : "",
           (unsigned long long)(counts[OUT_OK] + counts[OUT_ERROR] + counts[OUT_CRASH] +
                                counts[OUT_HUNG] + counts[OUT_UNREACHED]),
           (unsigned long long)(counts[OUT_OK] + counts[OUT_ERROR]),
           (unsigned long long)counts[OUT_OK], (unsigned long long)counts[OUT_ERROR],
           (unsigned long long)counts[OUT_CRASH], (unsigned long long)counts[OUT_HUNG],
           (unsigned long long)counts[OUT_UNREACHED]);
    return counts[OUT_CRASH] || counts[OUT_HUNG] ? 1 : 0;
}

/* The sweep itself, once the scratch directory exists.  Return: the exit status. */
static int sweep(sweep_opts_t *o, const char *lib, const char *base)
{
    char spec[BASE_MAX + 64];
    char target[sizeof ((run_result_t *)0)->top_exe] = "";
    run_result_t r;
    plan_t p;
    snprintf(spec, sizeof spec, "%s%scount=0", base, base[0] ? "," : "");
    if (count_calls(o, spec, lib, target, &r, &p) != 0)
        return 2;
    print_header(o, base, &r, &p);
    if (p.tries == 0) {
        printf("nothing to sweep: no eligible call\n");
        return 0;
    }
    if (o->markdown)
        printf("| call | outcome | detail | failed call |\n| ---: | --- | --- | --- |\n");
    else
        printf("%8s  %-11s  %-40s  %s\n", "call", "outcome", "detail", "failed call");
    fflush(stdout);
    return sweep_calls(o, lib, base, &p);
}

int mf_cmd_fail_sweep(int argc, char **argv)
{
    sweep_opts_t o = { .sample = 200 };
    char base[BASE_MAX] = "";
    int rc = parse_options(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if ((rc = filter_base(&o, base, sizeof base)) != 0)
        return rc;
    const char *lib = mf_cli_library_path();
    if (!lib) {
        mf_cli_error("cannot find libmemfence.so (looked %s)", mf_cli_library_places());
        return 2;
    }
    if (make_scratch() != 0)
        return 2;
    rc = sweep(&o, lib, base);
    unlink(report_path);
    unlink(log_path);
    unlink(err_path);
    rmdir(tmpdir);
    return rc;
}
