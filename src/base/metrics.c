/* metrics.c — allocation-free readers of RSS, host memory, PSI and the memory cgroup (see
 * metrics.h).  Runs on the sampler thread; the parsers are pure and unit-tested. */
#include "base/metrics.h"

#include <errno.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/sysinfo.h>

#include "base/log.h"
#include "base/proc.h"
#include "base/size.h"
#include "base/sys.h"

#define READ_BUF 4096

/* ---- small text helpers ----------------------------------------------------------------- */

static const char *skip_spaces(const char *p)
{
    while (*p == ' ' || *p == '\t') p++;
    return p;
}

/* Parses a decimal number at *p; advances *p.  Return: false when there is no digit. */
static bool parse_u64(const char **p, uint64_t *v)
{
    const char *s = skip_spaces(*p);
    uint64_t x = 0;
    if (*s < '0' || *s > '9') return false;
    for (; *s >= '0' && *s <= '9'; s++) {
        uint64_t d = (uint64_t)(*s - '0');
        x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;   /* saturate */
    }
    *p = s;
    *v = x;
    return true;
}

/* "12.34" → 1234 (hundredths).  Return: -1 when malformed. */
static int parse_hundredths(const char *s)
{
    uint64_t whole, frac = 0;
    if (!parse_u64(&s, &whole) || whole > 100000) return -1;
    if (*s == '.') {
        s++;
        if (*s >= '0' && *s <= '9') frac = (uint64_t)(*s++ - '0') * 10;
        if (*s >= '0' && *s <= '9') frac += (uint64_t)(*s - '0');
    }
    return (int)(whole * 100 + frac);
}

static bool line_starts(const char *line, const char *prefix)
{
    return strncmp(line, prefix, strlen(prefix)) == 0;
}

static const char *next_line(const char *p)
{
    const char *nl = strchr(p, '\n');
    return nl ? nl + 1 : NULL;
}

static void copy_str(char *dst, size_t size, const char *src, size_t n)
{
    if (size == 0) return;
    if (n >= size) n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* ---- pure parsers ----------------------------------------------------------------------- */

int mf_metrics_parse_statm(const char *text, uint64_t page, uint64_t *rss, uint64_t *rss_anon)
{
    uint64_t size, res, shared;
    const char *p = text;
    if (!parse_u64(&p, &size) || !parse_u64(&p, &res) || !parse_u64(&p, &shared)) return -EINVAL;
    *rss = res * page;
    *rss_anon = (res > shared ? res - shared : 0) * page;
    return 0;
}

int mf_metrics_parse_kv(const char *text, const char *key, uint64_t unit, uint64_t *val)
{
    size_t klen = strlen(key);
    for (const char *l = text; l && *l; l = next_line(l)) {
        if (strncmp(l, key, klen) != 0) continue;
        const char *p = l + klen;
        if (*p == ':') p++;
        else if (*p != ' ' && *p != '\t') continue;     /* "Active(file)" is not "Active" */
        uint64_t v;
        if (!parse_u64(&p, &v)) return -ENOENT;
        *val = v > UINT64_MAX / unit ? UINT64_MAX : v * unit;
        return 0;
    }
    return -ENOENT;
}

int mf_metrics_parse_psi(const char *text, int *some10, int *full10)
{
    *some10 = *full10 = -1;
    for (const char *l = text; l && *l; l = next_line(l)) {
        int *dst = line_starts(l, "some ") ? some10 : line_starts(l, "full ") ? full10 : NULL;
        if (!dst) continue;
        const char *a = strstr(l, "avg10=");
        const char *nl = strchr(l, '\n');
        if (a && (!nl || a < nl)) *dst = parse_hundredths(a + 6);
    }
    return (*some10 < 0 && *full10 < 0) ? -EINVAL : 0;
}

int mf_metrics_parse_limit(const char *text, uint64_t *limit)
{
    const char *p = skip_spaces(text);
    uint64_t v;
    if (strncmp(p, "max", 3) == 0) {
        *limit = MF_UNKNOWN;
        return 0;
    }
    if (!parse_u64(&p, &v)) return -EINVAL;
    *limit = v >= (1ULL << 62) ? MF_UNKNOWN : v;       /* v1 "unlimited" is ~2^63 */
    return 0;
}

int mf_metrics_parse_cgroup(const char *text, char *v2, size_t v2size, char *v1mem, size_t v1size)
{
    if (v2size) v2[0] = '\0';
    if (v1size) v1mem[0] = '\0';
    for (const char *l = text; l && *l; l = next_line(l)) {
        const char *c1 = strchr(l, ':');
        const char *nl = strchr(l, '\n');
        size_t llen = nl ? (size_t)(nl - l) : strlen(l);
        if (!c1 || c1 >= l + llen) continue;
        const char *c2 = memchr(c1 + 1, ':', (size_t)(l + llen - c1 - 1));
        if (!c2) continue;
        const char *path = c2 + 1;
        size_t plen = (size_t)(l + llen - path);
        if (c1 - l == 1 && l[0] == '0' && c2 == c1 + 1) {
            copy_str(v2, v2size, path, plen);
            continue;
        }
        /* controllers: comma-separated list between the two colons */
        for (const char *c = c1 + 1; c < c2;) {
            const char *e = memchr(c, ',', (size_t)(c2 - c));
            if (!e) e = c2;
            if (e - c == 6 && memcmp(c, "memory", 6) == 0) copy_str(v1mem, v1size, path, plen);
            c = e + 1;
        }
    }
    return 0;
}

/* The n-th space-separated field of a line (0-based), as pointer + length. */
static bool field(const char *line, int n, const char **f, size_t *len)
{
    const char *p = line;
    for (int i = 0;; i++) {
        while (*p == ' ') p++;
        if (*p == '\0' || *p == '\n') return false;
        const char *s = p;
        while (*p && *p != ' ' && *p != '\n') p++;
        if (i == n) {
            *f = s;
            *len = (size_t)(p - s);
            return true;
        }
    }
}

bool mf_metrics_parse_mount(const char *line, bool want_v2, char *root, size_t rsize, char *mnt,
                            size_t msize)
{
    /* id parent maj:min root mountpoint options [optional...] - fstype source superoptions */
    const char *sep = strstr(line, " - ");
    const char *nl = strchr(line, '\n');
    if (!sep || (nl && sep > nl)) return false;
    const char *fs, *opts, *r, *m;
    size_t fslen, optslen, rlen, mlen;
    if (!field(sep + 3, 0, &fs, &fslen) || !field(line, 3, &r, &rlen) || !field(line, 4, &m, &mlen))
        return false;
    if (want_v2) {
        if (fslen != 7 || memcmp(fs, "cgroup2", 7) != 0) return false;
    } else {
        if (fslen != 6 || memcmp(fs, "cgroup", 6) != 0) return false;
        if (!field(sep + 3, 2, &opts, &optslen)) return false;
        bool mem = false;
        for (const char *c = opts; c < opts + optslen;) {
            const char *e = memchr(c, ',', (size_t)(opts + optslen - c));
            if (!e) e = opts + optslen;
            if (e - c == 6 && memcmp(c, "memory", 6) == 0) mem = true;
            c = e + 1;
        }
        if (!mem) return false;
    }
    copy_str(root, rsize, r, rlen);
    copy_str(mnt, msize, m, mlen);
    return true;
}

int mf_metrics_cg_join(const char *mnt, const char *root, const char *cgpath, char *out, size_t size)
{
    size_t rlen = strlen(root);
    const char *rest = cgpath;
    if (!(rlen == 1 && root[0] == '/')) {
        /* the mount shows a subtree: the cgroup must be inside it */
        if (strncmp(cgpath, root, rlen) != 0 || (cgpath[rlen] != '/' && cgpath[rlen] != '\0'))
            return -ENOENT;
        rest = cgpath + rlen;
    }
    while (*rest == '/') rest++;
    size_t mlen = strlen(mnt), tlen = strlen(rest);
    if (mlen + 1 + tlen + 1 > size) return -ENAMETOOLONG;
    memcpy(out, mnt, mlen);
    size_t n = mlen;
    if (tlen) {
        out[n++] = '/';
        memcpy(out + n, rest, tlen);
        n += tlen;
    }
    out[n] = '\0';
    return 0;
}

/* ---- readers ---------------------------------------------------------------------------- */

static long read_at(const char *dir, const char *file, char *buf, size_t size)
{
    char path[MF_METRICS_PATH_MAX + 32];
    size_t dl = strlen(dir), fl = strlen(file);
    if (dl + fl + 2 > sizeof path) return -ENAMETOOLONG;
    memcpy(path, dir, dl);
    path[dl] = '/';
    memcpy(path + dl + 1, file, fl + 1);
    return mf_sys_read_file(path, buf, size);
}

static bool file_exists(const char *dir, const char *file)
{
    char buf[64];
    return read_at(dir, file, buf, sizeof buf) >= 0;
}

/* Scans /proc/self/mountinfo (any size) in chunks for the mount of the wanted hierarchy. */
static bool find_mount(bool want_v2, char *root, size_t rsize, char *mnt, size_t msize)
{
    char buf[READ_BUF + 1];
    int fd = mf_sys_open("/proc/self/mountinfo", O_RDONLY, 0);
    if (fd < 0) return false;
    size_t have = 0;
    bool found = false;
    for (;;) {
        ssize_t n = mf_sys_read(fd, buf + have, READ_BUF - have);
        if (n <= 0) break;
        have += (size_t)n;
        buf[have] = '\0';
        char *line = buf, *nl;
        while ((nl = strchr(line, '\n')) != NULL) {
            if (mf_metrics_parse_mount(line, want_v2, root, rsize, mnt, msize)) {
                found = true;
                goto out;
            }
            line = nl + 1;
        }
        have = (size_t)(buf + have - line);
        if (have == READ_BUF) have = 0;              /* a line longer than the buffer: drop it */
        memmove(buf, line, have);
    }
out:
    mf_sys_close(fd);
    return found;
}

/* ---- the process's memory cgroups ------------------------------------------------------- */

/* The hierarchy's mount (and the part of the hierarchy it shows, its root):
 * MEMFENCE_TEST_CGROUP_ROOT when set, else from /proc/self/mountinfo, else the usual place. */
static void cgroup_mount(bool v2, char *root, size_t rsize, char *mnt, size_t msize)
{
    const char *test = mf_getenv("MEMFENCE_TEST_CGROUP_ROOT", 1);
    if ((test && *test) || !find_mount(v2, root, rsize, mnt, msize)) {
        mf_fmt(root, rsize, "/");
        mf_fmt(mnt, msize, "%s%s", test && *test ? test : "/sys/fs/cgroup", v2 ? "" : "/memory");
    }
}

void mf_cgroup_walk(void (*fn)(const char *dir, int v2, void *ctx), void *ctx)
{
    char text[2048], path[2][MF_METRICS_PATH_MAX];     /* /proc/self/cgroup: a few lines */
    if (mf_sys_read_file("/proc/self/cgroup", text, sizeof text) < 0)
        return;
    mf_metrics_parse_cgroup(text, path[1], sizeof path[1], path[0], sizeof path[0]);
    for (int v2 = 1; v2 >= 0; v2--) {
        if (!path[v2][0])
            continue;
        char root[MF_METRICS_PATH_MAX], mnt[MF_METRICS_PATH_MAX], dir[MF_METRICS_PATH_MAX];
        cgroup_mount(v2, root, sizeof root, mnt, sizeof mnt);
        if (mf_metrics_cg_join(mnt, root, path[v2], dir, sizeof dir) != 0 ||
            (!v2 && !file_exists(dir, "memory.limit_in_bytes") &&
             !file_exists(dir, "memory.usage_in_bytes")))
            mf_fmt(dir, sizeof dir, "%s", mnt);             /* a namespaced view */
        /* from the process's cgroup up to the mount, each level once */
        size_t top = strlen(mnt);
        for (;;) {
            fn(dir, v2, ctx);
            char *slash = strrchr(dir, '/');
            if (strlen(dir) <= top || !slash || (size_t)(slash - dir) < top)
                break;
            *slash = '\0';
        }
    }
}

uint64_t mf_cgroup_value(const char *dir, const char *file)
{
    char text[64];
    uint64_t v;
    if (read_at(dir, file, text, sizeof text) <= 0 || mf_metrics_parse_limit(text, &v) < 0 ||
        v == MF_UNKNOWN)
        return MF_UNLIMITED;
    return v;
}

static void limit_level(const char *dir, int v2, void *ctx)
{
    uint64_t *best = ctx, v = mf_cgroup_value(dir, v2 ? "memory.max" : "memory.limit_in_bytes");
    *best = MF_MIN(*best, v);
}

uint64_t mf_host_memory(void)
{
    static uint64_t cache;
    if (cache)
        return cache;
    struct sysinfo si;
    uint64_t total = MF_UNLIMITED, cg = MF_UNLIMITED;
    if (mf_syscall6(SYS_sysinfo, (long)&si, 0, 0, 0, 0, 0) == 0)
        total = (uint64_t)si.totalram * si.mem_unit;
    mf_cgroup_walk(limit_level, &cg);
    cache = MF_MIN(total, cg);
    return cache;
}

/* What mf_metrics_discover keeps of the walk: the first (the process's own) directory of each
 * hierarchy. */
typedef struct leaves {
    char dir[2][MF_METRICS_PATH_MAX];
} leaves_t;

static void take_leaf(const char *dir, int v2, void *ctx)
{
    leaves_t *l = ctx;
    if (!l->dir[v2][0])
        mf_fmt(l->dir[v2], sizeof l->dir[v2], "%s", dir);
}

void mf_metrics_discover(mf_metrics_src_t *src)
{
    leaves_t l = { 0 };
    memset(src, 0, sizeof *src);
    src->page_size = getauxval(AT_PAGESZ);
    if (!src->page_size) src->page_size = 4096;
    strcpy(src->psi_path, "/proc/pressure/memory");
    mf_cgroup_walk(take_leaf, &l);
    /* cgroup v2 first: its directory gives both the limit and a per-cgroup PSI file */
    const char *d2 = l.dir[1];
    if (d2[0]) {
        if (file_exists(d2, "memory.pressure") && strlen(d2) + 17 < sizeof src->psi_path)
            mf_fmt(src->psi_path, sizeof src->psi_path, "%s/memory.pressure", d2);
        if (file_exists(d2, "memory.current")) {
            mf_fmt(src->cg_dir, sizeof src->cg_dir, "%s", d2);
            src->cg_version = 2;
            return;
        }
    }
    if (l.dir[0][0] && file_exists(l.dir[0], "memory.usage_in_bytes")) {
        mf_fmt(src->cg_dir, sizeof src->cg_dir, "%s", l.dir[0]);
        src->cg_version = 1;
    }
}

int mf_metrics_parse_status(const char *text, uint64_t *rss, uint64_t *rss_anon)
{
    uint64_t anon, file, shmem;
    if (mf_metrics_parse_kv(text, "RssAnon", 1024, &anon) < 0 ||
        mf_metrics_parse_kv(text, "RssFile", 1024, &file) < 0 ||
        mf_metrics_parse_kv(text, "RssShmem", 1024, &shmem) < 0)
        return -EINVAL;
    *rss = anon + file + shmem;
    *rss_anon = anon + shmem;
    return 0;
}

int mf_metrics_rss(uint64_t page_size, uint64_t *rss, uint64_t *rss_anon)
{
    char text[2048];     /* the Rss lines come early; this also runs on a program's thread */
    long n = mf_sys_read_file("/proc/self/status", text, sizeof text);
    if (n > 0 && mf_metrics_parse_status(text, rss, rss_anon) == 0)
        return 0;
    /* before Linux 4.5: statm's "shared" is file and shmem pages together */
    n = mf_sys_read_file("/proc/self/statm", text, sizeof text);
    if (n < 0) return (int)n;
    return mf_metrics_parse_statm(text, page_size ? page_size : 4096, rss, rss_anon);
}

static void read_cgroup(const mf_metrics_src_t *src, mf_metrics_t *m)
{
    char text[READ_BUF];
    uint64_t usage, inactive = 0;
    bool v2 = src->cg_version == 2;
    if (!src->cg_version) return;
    if (read_at(src->cg_dir, v2 ? "memory.current" : "memory.usage_in_bytes", text, sizeof text) < 0 ||
        mf_metrics_parse_limit(text, &usage) < 0)
        return;
    if (read_at(src->cg_dir, v2 ? "memory.max" : "memory.limit_in_bytes", text, sizeof text) >= 0)
        mf_metrics_parse_limit(text, &m->cg_limit);
    if (read_at(src->cg_dir, "memory.stat", text, sizeof text) >= 0)
        mf_metrics_parse_kv(text, v2 ? "inactive_file" : "total_inactive_file", 1, &inactive);
    m->cg_usage = usage > inactive ? usage - inactive : 0;
}

int mf_metrics_read(const mf_metrics_src_t *src, mf_metrics_t *m)
{
    char text[READ_BUF];
    m->rss = m->rss_anon = m->mem_total = m->mem_avail = MF_UNKNOWN;
    m->cg_usage = m->cg_limit = MF_UNKNOWN;
    m->psi_some10 = m->psi_full10 = -1;
    int rc = mf_metrics_rss(src->page_size, &m->rss, &m->rss_anon);
    if (mf_sys_read_file("/proc/meminfo", text, sizeof text) >= 0) {
        mf_metrics_parse_kv(text, "MemTotal", 1024, &m->mem_total);
        mf_metrics_parse_kv(text, "MemAvailable", 1024, &m->mem_avail);
    }
    if (src->psi_path[0] && mf_sys_read_file(src->psi_path, text, sizeof text) >= 0)
        mf_metrics_parse_psi(text, &m->psi_some10, &m->psi_full10);
    read_cgroup(src, m);
    return rc;
}
