/* view.c — the memory a process sees (the 'view' module, issue "Shrink"): pure builders of a
 * virtualized /proc/meminfo and cgroup memory files, and the runtime that serves them as memfd
 * copies to the open hooks (hooks/view.c).  See view.h for the contracts.
 *
 * What is handled and what is not.  A path is classified by its lexical form (symlinks not
 * followed), but the text is read through the caller's own spelling, so an open the kernel would
 * refuse is refused as before (the real open runs):
 *   - "/proc/meminfo" in any spelling that normalises to it: "//proc//meminfo", "/proc/./meminfo",
 *     "/proc/self/../meminfo" (lexically right: /proc/self and /proc/PID are entries of /proc);
 *     relative paths ("meminfo" with the cwd in /proc, "../meminfo" from /proc/self) and openat
 *     relative to a directory descriptor (its path read from /proc/self/fd).
 *   - cgroup files under /sys/fs/cgroup whose directory is the process's own memory cgroup or
 *     an ancestor of it (v1 "memory" hierarchy, v2 unified, hybrid "unified/").
 *   - Not handled: /proc/thread-self/../meminfo (lexically /proc/meminfo, really
 *     /proc/PID/task/meminfo, which does not exist: the real open fails, as it should),
 *     /proc/self/root/... and other symlink detours, paths longer than MF_VIEW_PATH_MAX,
 *     a cgroup mounted anywhere but /sys/fs/cgroup, and reads that never call open (statically
 *     linked programs, Go's runtime and other raw-syscall readers): for those, a cgroup limit
 *     is the way to make the kernel itself report the budget.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/memfd.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>

#include "base/proc.h"
#include "base/sys.h"
#include "config/config.h"
#include "family/view.h"
#include "gate/gate.h"
#include "gate/policy.h"

/* ---- pure builders ------------------------------------------------------------------------ */

int mf_view_normalize(const char *path, const char *base, char *out, size_t size)
{
    size_t n = 0;
    const char *parts[2] = { NULL, path };
    if (path == NULL || *path == '\0' || size < 2)
        return -EINVAL;
    if (*path != '/') {
        if (base == NULL || *base != '/')
            return -EINVAL;
        parts[0] = base;
    }
    out[n++] = '/';
    for (int i = 0; i < 2; i++) {
        const char *p = parts[i];
        if (p == NULL)
            continue;
        while (*p) {
            const char *c;
            size_t len;
            while (*p == '/')
                p++;
            if (!*p)
                break;
            for (c = p; *c && *c != '/'; c++)
                ;
            len = (size_t)(c - p);
            if (len == 1 && p[0] == '.') {
                /* nothing */
            } else if (len == 2 && p[0] == '.' && p[1] == '.') {
                while (n > 1 && out[n - 1] != '/')
                    n--;
                if (n > 1)
                    n--;            /* the slash before the dropped component */
            } else {
                if (n > 1) {
                    if (n + 1 >= size)
                        return -ENAMETOOLONG;
                    out[n++] = '/';
                }
                if (n + len >= size)
                    return -ENAMETOOLONG;
                memcpy(out + n, p, len);
                n += len;
            }
            p = c;
        }
    }
    out[n] = '\0';
    return (int)n;
}

static const char cg_root[] = "/sys/fs/cgroup/";

static const struct { const char *name; int kind; } cg_files[] = {
    { "memory.max", MF_VIEW_CG_MAX },
    { "memory.high", MF_VIEW_CG_HIGH },
    { "memory.current", MF_VIEW_CG_CURRENT },
    { "memory.limit_in_bytes", MF_VIEW_CG1_LIMIT },
    { "memory.soft_limit_in_bytes", MF_VIEW_CG1_SOFT },
    { "memory.usage_in_bytes", MF_VIEW_CG1_USAGE },
    { "memory.stat", MF_VIEW_CG_STAT },
};

int mf_view_classify(const char *norm)
{
    const char *base;
    if (strcmp(norm, "/proc/meminfo") == 0)
        return MF_VIEW_MEMINFO;
    if (strncmp(norm, cg_root, sizeof cg_root - 1) != 0)
        return MF_VIEW_NONE;
    base = strrchr(norm, '/') + 1;
    for (size_t i = 0; i < MF_ARRAY_LEN(cg_files); i++)
        if (strcmp(base, cg_files[i].name) == 0)
            return cg_files[i].kind;
    return MF_VIEW_NONE;
}

/* True when `dir` (len bytes, no leading or trailing slash; empty = the root) is `own` (a
 * cgroup path from /proc/self/cgroup, starting with '/', len ownlen) or one of its ancestors. */
static bool cg_ancestor(const char *dir, size_t len, const char *own, size_t ownlen)
{
    if (len == 0)
        return true;
    if (ownlen < len + 1 || own[0] != '/' || memcmp(own + 1, dir, len) != 0)
        return false;
    return ownlen == len + 1 || own[len + 1] == '/';
}

/* True when the comma-separated list s[0..len) names the controller "memory". */
static bool has_memory(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && s[j] != ',')
            j++;
        if (j - i == 6 && memcmp(s + i, "memory", 6) == 0)
            return true;
        i = j + 1;
    }
    return false;
}

/* True when a line of /proc/self/cgroup for the wanted version (v1: a hierarchy with the
 * memory controller; v2: "0::") names dir[0..len) or a descendant of it. */
static bool cg_listed(const char *dir, size_t len, const char *self_cgroup, bool v1)
{
    for (const char *line = self_cgroup; *line; ) {
        const char *end = strchr(line, '\n'), *c1, *c2;
        if (end == NULL)
            end = line + strlen(line);
        c1 = memchr(line, ':', (size_t)(end - line));
        c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
        if (c2 != NULL) {
            bool is_v2 = c1 == line + 1 && line[0] == '0' && c2 == c1 + 1;
            bool match = v1 ? !is_v2 && has_memory(c1 + 1, (size_t)(c2 - c1 - 1)) : is_v2;
            if (match && cg_ancestor(dir, len, c2 + 1, (size_t)(end - c2 - 1)))
                return true;
        }
        line = *end ? end + 1 : end;
    }
    return false;
}

bool mf_view_cgroup_own(const char *norm, const char *self_cgroup)
{
    const char *rel, *slash, *c;
    size_t dirlen, first;
    if (strncmp(norm, cg_root, sizeof cg_root - 1) != 0 || self_cgroup == NULL)
        return false;
    rel = norm + sizeof cg_root - 1;
    slash = strrchr(rel, '/');
    dirlen = slash ? (size_t)(slash - rel) : 0;     /* rel[0..dirlen) is the directory */
    c = memchr(rel, '/', dirlen);
    first = c ? (size_t)(c - rel) : dirlen;         /* its first component */
    /* v1: the first component is a hierarchy with the memory controller. */
    if (first > 0 && has_memory(rel, first) &&
        cg_listed(rel + first + (first < dirlen), dirlen - first - (first < dirlen),
                  self_cgroup, true))
        return true;
    /* hybrid: the v2 tree lives in unified/ */
    if (first == 7 && memcmp(rel, "unified", 7) == 0 &&
        cg_listed(rel + 7 + (dirlen > 7), dirlen - 7 - (dirlen > 7), self_cgroup, false))
        return true;
    return cg_listed(rel, dirlen, self_cgroup, false);
}

/* Appends s[0..n) to out at *pos.  Return: 0 or -ENOSPC. */
static int put(char *out, size_t size, size_t *pos, const char *s, size_t n)
{
    if (*pos + n >= size)
        return -ENOSPC;
    memcpy(out + *pos, s, n);
    *pos += n;
    return 0;
}

/* Appends a decimal number right-aligned in `width` columns. */
static int put_u64(char *out, size_t size, size_t *pos, uint64_t v, int width)
{
    char d[24];
    int n = 0;
    do {
        d[sizeof d - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (width-- > n)
        if (put(out, size, pos, " ", 1))
            return -ENOSPC;
    return put(out, size, pos, d + sizeof d - n, (size_t)n);
}

/* Parses a decimal at *p (after blanks).  Return: true with *v set and *p past the digits. */
static bool get_u64(const char **p, const char *end, uint64_t *v)
{
    const char *s = *p;
    uint64_t x = 0;
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    if (s >= end || *s < '0' || *s > '9')
        return false;
    for (; s < end && *s >= '0' && *s <= '9'; s++)
        x = x > (UINT64_MAX - 9) / 10 ? UINT64_MAX : x * 10 + (uint64_t)(*s - '0');
    *v = x;
    *p = s;
    return true;
}

enum { RULE_KEEP, RULE_ZERO, RULE_FREE };

static int meminfo_rule(const char *name, size_t len)
{
    static const struct { const char *n; int rule; } rules[] = {
        { "MemFree", RULE_FREE }, { "MemAvailable", RULE_FREE },
        { "Buffers", RULE_ZERO }, { "Cached", RULE_ZERO }, { "SwapCached", RULE_ZERO },
        { "SwapTotal", RULE_ZERO }, { "SwapFree", RULE_ZERO }, { "SReclaimable", RULE_ZERO },
    };
    for (size_t i = 0; i < MF_ARRAY_LEN(rules); i++)
        if (strlen(rules[i].n) == len && memcmp(rules[i].n, name, len) == 0)
            return rules[i].rule;
    return RULE_KEEP;
}

/* Finds "Name: N kB" in text and returns N (kB), or UINT64_MAX when absent. */
static uint64_t meminfo_field(const char *in, size_t inlen, const char *name)
{
    size_t nl = strlen(name);
    const char *p = in, *end = in + inlen;
    while (p < end) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        uint64_t v;
        if (e == NULL)
            e = end;
        if ((size_t)(e - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *q = p + nl + 1;
            if (get_u64(&q, e, &v))
                return v;
        }
        p = e + 1;
    }
    return UINT64_MAX;
}

long mf_view_meminfo(const char *in, size_t inlen, char *out, size_t outsize,
                     uint64_t limit, uint64_t used)
{
    uint64_t real_total = meminfo_field(in, inlen, "MemTotal");
    uint64_t total, room;
    const char *p = in, *end = in + inlen;
    size_t pos = 0;
    if (real_total == UINT64_MAX || outsize == 0)
        return -EINVAL;
    total = MF_MIN(limit / 1024, real_total);
    room = limit > used ? (limit - used) / 1024 : 0;
    room = MF_MIN(room, total);
    while (p < end) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        const char *colon, *q;
        uint64_t v;
        size_t nlen;
        if (e == NULL)
            e = end;
        colon = memchr(p, ':', (size_t)(e - p));
        q = colon ? colon + 1 : e;
        if (colon == NULL || !get_u64(&q, e, &v) || (size_t)(e - q) < 3 ||
            memcmp(q, " kB", 3) != 0) {
            if (put(out, outsize, &pos, p, (size_t)(e - p)) || put(out, outsize, &pos, "\n", 1))
                return -ENOSPC;
            p = e + 1;
            continue;
        }
        nlen = (size_t)(colon - p);
        if (nlen == 8 && memcmp(p, "MemTotal", 8) == 0) {
            v = total;
        } else {
            switch (meminfo_rule(p, nlen)) {
            case RULE_ZERO: v = 0; break;
            case RULE_FREE: v = MF_MIN(v, room); break;
            default: v = MF_MIN(v, total); break;
            }
        }
        /* The kernel's layout: the name and colon padded to 16 columns, 8 for the value. */
        if (put(out, outsize, &pos, p, nlen + 1))
            return -ENOSPC;
        for (size_t pad = nlen + 1; pad < 15; pad++)
            if (put(out, outsize, &pos, " ", 1))
                return -ENOSPC;
        if (put(out, outsize, &pos, " ", 1) || put_u64(out, outsize, &pos, v, 8) ||
            put(out, outsize, &pos, q, (size_t)(e - q)) || put(out, outsize, &pos, "\n", 1))
            return -ENOSPC;
        p = e + 1;
    }
    out[pos] = '\0';
    return (long)pos;
}

long mf_view_cgroup(int kind, const char *in, size_t inlen, char *out, size_t outsize,
                    uint64_t limit, uint64_t used)
{
    size_t pos = 0;
    const char *p = in, *end = in + inlen;
    uint64_t v;
    if (outsize == 0)
        return -EINVAL;
    switch (kind) {
    case MF_VIEW_CG_MAX: case MF_VIEW_CG_HIGH: case MF_VIEW_CG1_LIMIT: case MF_VIEW_CG1_SOFT:
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if ((size_t)(end - p) >= 3 && memcmp(p, "max", 3) == 0)
            v = UINT64_MAX;
        else if (!get_u64(&p, end, &v))
            return -EINVAL;
        v = MF_MIN(v, limit);
        break;
    case MF_VIEW_CG_CURRENT: case MF_VIEW_CG1_USAGE:
        v = MF_MIN(used, limit);
        break;
    case MF_VIEW_CG_STAT:
        while (p < end) {
            const char *e = memchr(p, '\n', (size_t)(end - p)), *sp, *q;
            if (e == NULL)
                e = end;
            sp = q = memchr(p, ' ', (size_t)(e - p));
            if (q != NULL && ((q - p == 25 && memcmp(p, "hierarchical_memory_limit", 25) == 0) ||
                              (q - p == 24 && memcmp(p, "hierarchical_memsw_limit", 24) == 0)) &&
                get_u64(&q, e, &v)) {
                if (put(out, outsize, &pos, p, (size_t)(sp - p)) || put(out, outsize, &pos, " ", 1) ||
                    put_u64(out, outsize, &pos, MF_MIN(v, limit), 0))
                    return -ENOSPC;
            } else if (put(out, outsize, &pos, p, (size_t)(e - p))) {
                return -ENOSPC;
            }
            if (e < end && put(out, outsize, &pos, "\n", 1))
                return -ENOSPC;
            p = e + 1;
        }
        out[pos] = '\0';
        return (long)pos;
    default:
        return -EINVAL;
    }
    if (put_u64(out, outsize, &pos, v, 0) || put(out, outsize, &pos, "\n", 1))
        return -ENOSPC;
    out[pos] = '\0';
    return (long)pos;
}

void mf_view_sysinfo_apply(struct sysinfo *si, uint64_t limit, uint64_t used)
{
    uint64_t unit = si->mem_unit ? si->mem_unit : 1;
    uint64_t room = limit > used ? limit - used : 0;
    if ((uint64_t)si->totalram > limit / unit)
        si->totalram = (unsigned long)(limit / unit);
    if ((uint64_t)si->freeram > room / unit)
        si->freeram = (unsigned long)(room / unit);
    /* the other fields stay, clamped so no sum a program makes exceeds the total */
    if (si->bufferram > si->totalram - si->freeram)
        si->bufferram = si->totalram - si->freeram;
    if (si->sharedram > si->totalram)
        si->sharedram = si->totalram;
}

long mf_view_pages(long real_pages, long page_size, uint64_t bytes)
{
    uint64_t pages;
    if (real_pages < 0 || page_size <= 0)
        return real_pages;
    pages = bytes / (uint64_t)page_size;
    return (uint64_t)real_pages < pages ? real_pages : (long)pages;
}

/* ---- runtime ------------------------------------------------------------------------------ */

static bool view_on;        /* virtualize = on; set once in init, read by the hooks */

bool mf_view_active(uint64_t *limit, uint64_t *used)
{
    uint64_t l, u;
    if (!__atomic_load_n(&view_on, __ATOMIC_RELAXED))
        return false;
    mf_policy_budget(&u, &l);       /* its own budget, or its group's (all members' usage) */
    if (l == MF_UNLIMITED)
        return false;
    *limit = l;
    *used = u;
    return true;
}

/* Scratch memory of one build: the real text, the rewritten text and the paths. */
#define VIEW_TEXT 16384
typedef struct view_buf {
    char in[VIEW_TEXT];
    char out[VIEW_TEXT];
    char norm[MF_VIEW_PATH_MAX];
    char base[MF_VIEW_PATH_MAX];
    char joined[2 * MF_VIEW_PATH_MAX];
    char self_cgroup[4096];
} view_buf_t;

/* The directory `dirfd` names (AT_FDCWD: the cwd) into buf.  Return: 0 or -errno. */
static int dir_path(int dirfd, char *buf, size_t size)
{
    long n;
    if (dirfd == AT_FDCWD) {
        n = mf_syscall6(SYS_getcwd, (long)buf, (long)size, 0, 0, 0, 0);
        return n < 0 ? (int)n : 0;
    } else {
        char link[32] = "/proc/self/fd/";
        size_t pos = 14;
        char d[12];
        int k = 0;
        unsigned fd = (unsigned)dirfd;
        if (dirfd < 0)
            return -EBADF;
        do {
            d[k++] = (char)('0' + fd % 10);
            fd /= 10;
        } while (fd);
        while (k)
            link[pos++] = d[--k];
        link[pos] = '\0';
        n = mf_syscall6(SYS_readlinkat, AT_FDCWD, (long)link, (long)buf, (long)size - 1, 0, 0);
        if (n < 0)
            return (int)n;
        buf[n] = '\0';
        return buf[0] == '/' ? 0 : -ENOTDIR;
    }
}

/* Builds the view of the file `path` (normalised: b->norm, of `kind`) into b->out.
 * Return: length, or -errno. */
static long view_build(view_buf_t *b, int dirfd, const char *path, int kind, uint64_t limit,
                       uint64_t used)
{
    long n;
    if (kind != MF_VIEW_MEMINFO) {
        n = mf_sys_read_file("/proc/self/cgroup", b->self_cgroup, sizeof b->self_cgroup);
        if (n < 0)
            return n;
        if (!mf_view_cgroup_own(b->norm, b->self_cgroup))
            return -ENOENT;
    }
    /* Read by the caller's own spelling, not the lexical form: a path the kernel resolves
     * differently (a symlink followed by "..") then fails or succeeds as the real open would.
     * Relative to a directory descriptor: its path joined as it is, without normalising. */
    if (path[0] != '/' && dirfd != AT_FDCWD) {
        size_t bl = strlen(b->base), pl = strlen(path);
        if (bl + 1 + pl >= sizeof b->joined)
            return -ENAMETOOLONG;
        memcpy(b->joined, b->base, bl);
        b->joined[bl] = '/';
        memcpy(b->joined + bl + 1, path, pl + 1);
        path = b->joined;
    }
    n = mf_sys_read_file(path, b->in, sizeof b->in);
    if (n < 0)
        return n;
    if ((size_t)n >= sizeof b->in - 1)
        return -EFBIG;          /* truncated: better the real file than half a view */
    if (kind == MF_VIEW_MEMINFO)
        return mf_view_meminfo(b->in, (size_t)n, b->out, sizeof b->out, limit, used);
    return mf_view_cgroup(kind, b->in, (size_t)n, b->out, sizeof b->out, limit, used);
}

/* A sealed memfd holding text[0..len).  Return: the descriptor or -errno. */
static int view_memfd(const char *text, size_t len, bool cloexec)
{
    unsigned mflags = MFD_ALLOW_SEALING | (cloexec ? MFD_CLOEXEC : 0);
    int fd = (int)mf_syscall6(SYS_memfd_create, (long)"memfence-view", mflags, 0, 0, 0, 0);
    size_t off = 0;
    if (fd < 0)
        return fd;
    while (off < len) {
        long w = mf_syscall6(SYS_pwrite64, fd, (long)(text + off), (long)(len - off),
                             (long)off, 0, 0);
        if (w <= 0) {
            mf_sys_close(fd);
            return w < 0 ? (int)w : -EIO;
        }
        off += (size_t)w;
    }
    /* Read-only from now on, like the file it stands for.  Best effort. */
    mf_syscall6(SYS_fcntl, fd, F_ADD_SEALS,
                F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE, 0, 0, 0);
    return fd;
}

int mf_view_open(int dirfd, const char *path, int flags)
{
    uint64_t limit, used;
    view_buf_t *b;
    int kind, fd = -1;
    long len;
    if ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_PATH | O_DIRECTORY)) ||
        (flags & O_TMPFILE) == O_TMPFILE || !mf_view_active(&limit, &used))
        return -1;
    b = mf_sys_mmap(NULL, sizeof *b, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mf_sys_mmap_failed(b))
        return -1;
    if (path[0] != '/' && dir_path(dirfd, b->base, sizeof b->base) < 0)
        goto out;
    if (mf_view_normalize(path, path[0] == '/' ? NULL : b->base, b->norm, sizeof b->norm) < 0)
        goto out;
    kind = mf_view_classify(b->norm);
    if (kind == MF_VIEW_NONE)
        goto out;
    len = view_build(b, dirfd, path, kind, limit, used);
    if (len < 0)
        goto out;
    fd = view_memfd(b->out, (size_t)len, (flags & O_CLOEXEC) != 0);
    if (fd < 0)
        fd = -1;
out:
    mf_sys_munmap(b, sizeof *b);
    return fd;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

int mf_view_init(const mf_config_t *cfg)
{
    /* virtualize without a limit is silent: every process of a tree would say it again. */
    __atomic_store_n(&view_on, cfg->virtualize, __ATOMIC_RELAXED);
    return 0;
}

#ifndef MF_ARCHIVE
/* node: V8 sizes its heap from the machine's memory (here: the budget) but never below about
 * 256 MiB, and its collector allocates, unchecked, in proportion to the heap; so a JavaScript
 * heap growing into a smaller budget would meet refusals its collector does not survive.  Under
 * a budget below 512 MiB node is told a heap limit of 5/8 of it through NODE_OPTIONS (read by
 * node's main, after this constructor), unless one is set: V8 then stops at its own limit, with
 * its own "JavaScript heap out of memory".  After runtime.c's constructor (102). */
__attribute__((constructor(104))) static void view_node_heap(void)
{
    if (!__atomic_load_n(&view_on, __ATOMIC_RELAXED) || getauxval(AT_SECURE))
        return;
    const char *prog = mf_program_name();
    if (!prog || (strcmp(prog, "node") && strcmp(prog, "nodejs")))
        return;
    uint64_t used, budget;
    mf_policy_budget(&used, &budget);           /* its own budget, or its group's */
    if (budget == MF_UNLIMITED || budget >= (512u << 20))
        return;
    const char *old = getenv("NODE_OPTIONS");
    if (old && (strstr(old, "max-old-space-size") || strstr(old, "max_old_space_size")))
        return;
    unsigned long mib = (unsigned long)(budget / 8 * 5 >> 20);
    char opt[1024];
    if (snprintf(opt, sizeof opt, "%s%s--max-old-space-size=%lu", old ? old : "",
                 old && *old ? " " : "", mib < 16 ? 16 : mib) >= (int)sizeof opt)
        return;
    mf_tls.depth++;                 /* setenv's copy is memfence's, not the program's usage */
    setenv("NODE_OPTIONS", opt, 1);
    mf_tls.depth--;
}
#endif

void mf_view_fork_prepare(void) {}
void mf_view_fork_parent(void) {}
void mf_view_fork_child(void) {}    /* the child keeps the parent's switch and its own gate */

void mf_view_fini(void)
{
    /* Programs may still read /proc/meminfo from destructors: keep answering. */
}
