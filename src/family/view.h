/* view.h — the memory a process sees: sysinfo, sysconf and the /proc/meminfo and cgroup memory
 * files answered from the budget when `virtualize = on` (LXCFS-style, but per process).
 *
 * Two halves.  The pure builders below (path test, normalisation, classification, the rewriting
 * of meminfo / cgroup text and of sysinfo / page counts) take every input as a parameter, never
 * allocate and are unit-tested from the core archive.  The runtime half (mf_view_active,
 * mf_view_open) reads the budget from the gate and is what the hooks in hooks/view.c call.
 *
 * Honesty: every total the view reports is min(budget, the real value the same source gives),
 * and every free figure is min(room left in the budget, the real free figure): a process never
 * sees more memory than the machine has.  memfence's own reads of these files go through raw
 * system calls (sys.h) and always see the real values.
 */
#ifndef MF_VIEW_H
#define MF_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/module.h"

struct sysinfo;

/* What a path names, once normalised. */
enum mf_view_kind {
    MF_VIEW_NONE = 0,
    MF_VIEW_MEMINFO,        /* /proc/meminfo */
    MF_VIEW_CG_MAX,         /* cgroup v2 memory.max */
    MF_VIEW_CG_HIGH,        /* cgroup v2 memory.high */
    MF_VIEW_CG_CURRENT,     /* cgroup v2 memory.current */
    MF_VIEW_CG1_LIMIT,      /* cgroup v1 memory.limit_in_bytes */
    MF_VIEW_CG1_SOFT,       /* cgroup v1 memory.soft_limit_in_bytes (libuv reads it) */
    MF_VIEW_CG1_USAGE,      /* cgroup v1 memory.usage_in_bytes */
    MF_VIEW_CG_STAT,        /* memory.stat: v1's hierarchical_memory_limit (the JVM reads it) */
};

/* Longest normalised path the view considers; longer ones are passed through untouched. */
#define MF_VIEW_PATH_MAX 1024

/* The cheap test every open runs first.  An absolute path qualifies only when, after its
 * leading slashes, it starts with "proc" or "sys"; then (and for relative paths) its last
 * component must be "meminfo" or start with "memory.".  Anything else — nearly every open —
 * is rejected after a few bytes.  Return: true when the path may be virtualized. */
static inline bool mf_view_maybe(const char *path)
{
    const char *p = path, *last;
    if (path == NULL)
        return false;
    if (*p == '/') {
        while (*p == '/')
            p++;
        if (!((p[0] == 'p' && p[1] == 'r') || (p[0] == 's' && p[1] == 'y')))
            return false;
    }
    for (last = p; *p; p++)
        if (*p == '/')
            last = p + 1;
    if (last[0] != 'm' || last[1] != 'e' || last[2] != 'm')
        return false;
    return (last[3] == 'i' && last[4] == 'n' && last[5] == 'f' && last[6] == 'o' && !last[7]) ||
           (last[3] == 'o' && last[4] == 'r' && last[5] == 'y' && last[6] == '.');
}

/* Joins `path` to `base` (when `path` is relative and base is not NULL) and normalises the
 * result lexically into out: repeated slashes collapse, "." vanishes, ".." drops the previous
 * component (never above "/").  Symbolic links are not followed (see view.c for what that
 * means for /proc/self).  Return: the length, or -ENAMETOOLONG, or -EINVAL (relative without
 * base, empty path). */
int mf_view_normalize(const char *path, const char *base, char *out, size_t size);

/* Classifies a normalised absolute path.  Return: enum mf_view_kind. */
int mf_view_classify(const char *norm);

/* True when the directory of the cgroup file `norm` (a normalised path under /sys/fs/cgroup) is
 * the process's own memory cgroup or one of its ancestors, given the text of /proc/self/cgroup.
 * v1 paths are /sys/fs/cgroup/<controllers containing memory>/<path>/file; v2 paths are
 * /sys/fs/cgroup[/unified]/<path>/file. */
bool mf_view_cgroup_own(const char *norm, const char *self_cgroup);

/* Rewrites the text of /proc/meminfo for a budget of `limit` bytes of which `used` are in use.
 * MemTotal becomes min(limit, real MemTotal); MemFree and MemAvailable min(real, room left);
 * Buffers, Cached, SwapCached, SwapTotal, SwapFree and SReclaimable 0 (page cache, reclaimable
 * kernel memory and swap are no part of a budget; `free` then shows used = budget used); every other kB field is clamped to the new MemTotal; lines without a kB unit
 * (HugePages_Total, ...) are copied.  Return: the length written into out (NUL-terminated), or
 * -ENOSPC, or -EINVAL when the text has no MemTotal line. */
long mf_view_meminfo(const char *in, size_t inlen, char *out, size_t outsize,
                     uint64_t limit, uint64_t used);

/* Rewrites the text of a cgroup memory file of `kind` (MF_VIEW_CG_*): limits (max, high,
 * limit_in_bytes, soft_limit_in_bytes) become min(real, limit) ("max" counts as infinite);
 * usage (current, usage_in_bytes) becomes min(used, limit); in memory.stat the
 * hierarchical_memory_limit and hierarchical_memsw_limit lines are clamped to limit, the rest
 * copied.  Return: length written (NUL-terminated), -ENOSPC, or -EINVAL (unparsable text). */
long mf_view_cgroup(int kind, const char *in, size_t inlen, char *out, size_t outsize,
                    uint64_t limit, uint64_t used);

/* Rewrites a filled struct sysinfo: totalram = min(real, limit), freeram = min(real, room);
 * the other fields are untouched. */
void mf_view_sysinfo_apply(struct sysinfo *si, uint64_t limit, uint64_t used);

/* A page count seen through the budget: min(real_pages, bytes / page_size).  Negative real
 * values (errors) are returned as they are. */
long mf_view_pages(long real_pages, long page_size, uint64_t bytes);

/* ---- runtime (the hooks' side) ------------------------------------------------------------ */

/* True when the view is on: `virtualize` is set and the host pool has a limit.  On success
 * *limit and *used hold the budget and its live usage. */
bool mf_view_active(uint64_t *limit, uint64_t *used);

/* The view's answer to an open of `path` (relative to `dirfd`, AT_FDCWD or a directory
 * descriptor) with open(2) `flags`: a sealed memfd holding the rewritten contents, positioned at
 * 0, close-on-exec when flags ask for it.  Call only when mf_view_maybe(path).  Builds the text
 * with raw system calls into mf_sys_mmap memory: no heap, errno untouched.
 * Return: the descriptor, or -1 when the real open should run instead (not a virtualized
 * file, view off, write access asked, or any failure while building). */
int mf_view_open(int dirfd, const char *path, int flags);

/* The module's lifecycle (module.h). */
MF_MODULE_DECL(view);

#endif
