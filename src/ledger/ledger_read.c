/* ledger_read.c — reading every ledger of this user: the directory walk, the rows and group
 * totals `memfence status` shows (their Prometheus text: prometheus.c), and mailbox requests to
 * a live instance (`memfence report PID`).  Allocation-free, so the sampler of a fenced process
 * can use it too. */
#include <errno.h>
#include <stdarg.h>
#include <sys/mman.h>

#include "base/log.h"
#include "base/proc.h"
#include "base/stats.h"
#include "ledger/ledger_int.h"

/* ---- reading every ledger ---------------------------------------------------------------------- */

struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/* Fills group with the name encoded in a ledger file name of uid; false when not one. */
static bool parse_name(const char *name, unsigned uid, char *group, size_t size)
{
    char prefix[48];
    size_t pl = mf_fmt(prefix, sizeof prefix, "memfence-v%u-%u-", MF_LEDGER_VERSION, uid);
    size_t n = strlen(name);
    if (strncmp(name, prefix, pl) || n < pl + 7 || strcmp(name + n - 7, ".ledger"))
        return false;
    const char *rest = name + pl;
    size_t rl = n - pl - 7;
    if (rl == 4 && !strncmp(rest, "solo", 4)) {
        group[0] = '\0';
        return true;
    }
    if (rl < 3 || strncmp(rest, "g-", 2) || rl - 2 >= size)
        return false;
    memcpy(group, rest + 2, rl - 2);
    group[rl - 2] = '\0';
    return mf_ledger_group_valid(group);
}

static void row_from_slot(mf_ledger_row_t *r, const char *group, const mf_ledger_slot_t *s)
{
    memset(r, 0, sizeof *r);
    copy_name(r->group, sizeof r->group, group);
    copy_name(r->instance, sizeof r->instance, s->instance);
    copy_name(r->program, sizeof r->program, s->program);
    r->pid = s->pid;
    r->ppid = s->ppid;
    r->flags = s->flags;
    r->reserve = s->reserve;
    for (unsigned p = 0; p < MF_POOL_COUNT; p++)
        r->charged[p] = atomic_load(&s->charged[p]);
    mf_ledger_read_pub(s, &r->pub);
    if (r->pub.gpu_count >= MF_POOL_COUNT)
        r->pub.gpu_count = MF_POOL_COUNT - 1;
    if (r->pub.level > MF_LEVEL_CRITICAL)
        r->pub.level = MF_LEVEL_CRITICAL;
    copy_name(r->last_event, sizeof r->last_event, s->last_event);
    r->last_event_ns = s->last_event_ns;
    r->joined_ns = s->joined_ns;
}

static int row_cmp(const mf_ledger_row_t *a, const mf_ledger_row_t *b)
{
    int c = strcmp(a->group, b->group);
    return c ? c : (a->pid > b->pid) - (a->pid < b->pid);
}

static void scan_file(const char *path, const char *group, mf_ledger_row_t *rows,
                      size_t max_rows, size_t *nrows, mf_ledger_group_t *groups,
                      size_t max_groups, size_t *ngroups, char *warn, size_t warnlen)
{
    mf_ledger_t l;
    char why[512];
    if (mf_ledger_open(path, group, false, &l, why, sizeof why)) {
        if (warn && warnlen) {
            size_t n = strlen(warn);
            mf_fmt(warn + n, warnlen - n, "ledger %s\n", why);
        }
        return;
    }
    mf_ledger_reclaim(&l);
    mf_ledger_group_t *g = *ngroups < max_groups ? &groups[(*ngroups)++] : NULL;
    if (g) {
        memset(g, 0, sizeof *g);
        copy_name(g->group, sizeof g->group, group);
        copy_name(g->path, sizeof g->path, path);
        for (unsigned p = 0; p < MF_POOL_COUNT; p++) {
            g->limit[p] = l.hdr->limit[p];
            g->total[p] = atomic_load(&l.hdr->total[p]);
        }
        g->refusals = atomic_load(&l.hdr->refusals);
        g->reclaimed = atomic_load(&l.hdr->reclaimed);
        g->admissions_refused = atomic_load(&l.hdr->admissions_refused);
        g->turned_away = atomic_load(&l.hdr->turned_away);
    }
    for (unsigned i = 0, top = mf_ledger_top(&l); i < top; i++) {
        const mf_ledger_slot_t *s = &l.slots[i];
        if (!atomic_load_explicit(&l.hdr->pids[i], memory_order_relaxed) ||
            atomic_load_explicit(&s->state, memory_order_acquire) != MF_LSLOT_LIVE)
            continue;
        if (g)
            g->members++;
        if (*nrows < max_rows)
            row_from_slot(&rows[(*nrows)++], group, s);
    }
    mf_ledger_close(&l);
}

/* The directories to look in: dir when given, else $XDG_RUNTIME_DIR and /dev/shm. */
static unsigned ledger_dirs(const char *dir, const char *dirs[2])
{
    unsigned nd = 0;
    if (dir && *dir) {
        dirs[nd++] = dir;
    } else {
        const char *x = mf_getenv("XDG_RUNTIME_DIR", 1);
        if (x && x[0] == '/' && strcmp(x, "/dev/shm"))
            dirs[nd++] = x;
        dirs[nd++] = "/dev/shm";
    }
    return nd;
}

/* Calls fn(dir, path, group, arg) for every ledger file of this user in the directories to look
 * in, until fn returns non-zero.  Return: fn's non-zero value, 0, or -ENOENT when no directory
 * could be read. */
typedef int (*ledger_visit_fn)(const char *dir, const char *path, const char *group, void *arg);

static int each_ledger(const char *dir, ledger_visit_fn fn, void *arg)
{
    const char *dirs[2];
    unsigned nd = ledger_dirs(dir, dirs), uid = sys_getuid();
    int found_dir = 0;
    for (unsigned d = 0; d < nd; d++) {
        int fd = mf_sys_open(dirs[d], O_RDONLY | O_DIRECTORY, 0);
        if (fd < 0)
            continue;
        found_dir = 1;
        char buf[4096];
        long n;
        while ((n = mf_syscall6(SYS_getdents64, fd, (long)buf, sizeof buf, 0, 0, 0)) > 0) {
            for (long off = 0; off < n;) {
                struct linux_dirent64 *e = (struct linux_dirent64 *)(buf + off);
                off += e->d_reclen;
                char g[MF_NAME_MAX], path[600];
                if (!parse_name(e->d_name, uid, g, sizeof g))
                    continue;
                mf_fmt(path, sizeof path, "%s/%s", dirs[d], e->d_name);
                int r = fn(dirs[d], path, g, arg);
                if (r) {
                    mf_sys_close(fd);
                    return r;
                }
            }
        }
        mf_sys_close(fd);
    }
    return found_dir ? 0 : -ENOENT;
}

struct scan_arg {
    const char *group;
    mf_ledger_row_t *rows;
    size_t max_rows, nrows;
    mf_ledger_group_t *groups;
    size_t max_groups, *ngroups;
    char *warn;
    size_t warnlen;
};

static int scan_visit(const char *dir, const char *path, const char *group, void *arg)
{
    struct scan_arg *a = arg;
    (void)dir;
    if (!a->group || !strcmp(a->group, group))
        scan_file(path, group, a->rows, a->max_rows, &a->nrows, a->groups, a->max_groups,
                  a->ngroups, a->warn, a->warnlen);
    return 0;
}

static void swap_rows(mf_ledger_row_t *a, mf_ledger_row_t *b)
{
    mf_ledger_row_t t;
    memcpy(&t, a, sizeof t);
    memcpy(a, b, sizeof t);
    memcpy(b, &t, sizeof t);
}

static void sift_down(mf_ledger_row_t *rows, size_t i, size_t n)
{
    for (size_t c; (c = 2 * i + 1) < n; i = c) {
        if (c + 1 < n && row_cmp(&rows[c], &rows[c + 1]) < 0)
            c++;
        if (row_cmp(&rows[i], &rows[c]) >= 0)
            return;
        swap_rows(&rows[i], &rows[c]);
    }
}

/* Heapsort: no qsort (it may allocate), and n log n for a group of thousands of members. */
static void sort_rows(mf_ledger_row_t *rows, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift_down(rows, i, n);
    for (size_t end = n; end > 1; end--) {
        swap_rows(&rows[0], &rows[end - 1]);
        sift_down(rows, 0, end - 1);
    }
}

int mf_ledger_scan(const char *dir, const char *group, mf_ledger_row_t *rows, size_t max_rows,
                   mf_ledger_group_t *groups, size_t max_groups, size_t *ngroups,
                   char *warn, size_t warnlen)
{
    if (warn && warnlen)
        warn[0] = '\0';
    *ngroups = 0;
    struct scan_arg a = { group, rows, max_rows, 0, groups, max_groups, ngroups, warn, warnlen };
    int r = each_ledger(dir, scan_visit, &a);
    sort_rows(rows, a.nrows);
    return r < 0 ? r : (int)a.nrows;
}

/* ---- mailbox ---------------------------------------------------------------------------------- */

struct request_arg {
    pid_t pid;
    uint64_t start;
    unsigned kind, timeout_ms;
    char *path;
    size_t size;
};

/* Asks the slot of a->pid in this ledger, if it has one.  Return: 1 + -rc when it was there
 * (so 1 means success), 0 when not. */
static int request_visit(const char *dir, const char *lp, const char *group, void *arg)
{
    struct request_arg *a = arg;
    mf_ledger_t l;
    if (mf_ledger_open(lp, group, false, &l, NULL, 0))
        return 0;
    for (unsigned i = 0, top = mf_ledger_top(&l); i < top; i++) {
        mf_ledger_slot_t *s = &l.slots[i];
        if (atomic_load(&s->state) != MF_LSLOT_LIVE || s->pid != a->pid ||
            s->start_time != a->start)
            continue;
        atomic_store(&s->req_kind, a->kind);
        uint32_t ticket = atomic_fetch_add(&s->req, 1) + 1;
        int rc = -ETIMEDOUT;
        for (unsigned waited = 0; waited <= a->timeout_ms; waited += 10) {
            if (atomic_load_explicit(&s->done, memory_order_acquire) == ticket) {
                rc = s->done_status;
                break;
            }
            if (atomic_load(&s->state) != MF_LSLOT_LIVE || s->pid != a->pid) {
                rc = -ESRCH;
                break;
            }
            sleep_ms(10);
        }
        if (rc == 0)
            rc = mf_ledger_reply_path(dir, sys_getuid(), a->pid, a->path, a->size);
        mf_ledger_close(&l);
        return 1 - rc;
    }
    mf_ledger_close(&l);
    return 0;
}

int mf_ledger_request(const char *dir, pid_t pid, unsigned kind, unsigned timeout_ms,
                      char *path, size_t size)
{
    struct request_arg a = { pid, mf_ledger_proc_start(pid), kind, timeout_ms, path, size };
    if (!a.start)
        return -ESRCH;
    int r = each_ledger(dir, request_visit, &a);
    return r > 0 ? 1 - r : -ESRCH;
}
