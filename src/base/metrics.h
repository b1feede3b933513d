/* metrics.h — allocation-free readers of the numbers the sampler watches: the process's RSS
 * (/proc/self/statm), the host's MemTotal/MemAvailable (/proc/meminfo), memory pressure stall
 * information (PSI: the cgroup's memory.pressure or /proc/pressure/memory), and the cgroup's
 * memory usage and limit (v2 memory.current/memory.max, v1 memory.usage_in_bytes/limit_in_bytes,
 * both less inactive file cache, the "working set" a container runtime would kill on).
 *
 * Every reader opens, reads and closes its file each time (a few microseconds): no descriptor
 * of memfence's stays open where the program could close or reuse it, and a forked child reads
 * its own /proc/self.  The one descriptor kept is the PSI trigger, which must stay open to be
 * polled; its owner (the sampler) treats POLLNVAL/POLLERR as "gone".
 *
 * The parsers are pure functions over text, exposed for the unit tests.
 * Error convention: 0 or a negative errno.
 */
#ifndef MF_METRICS_H
#define MF_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MF_METRICS_PATH_MAX 512
#define MF_UNKNOWN UINT64_MAX       /* a value that could not be read */

/* Where the readers look; found once by mf_metrics_discover (on the sampler thread). */
typedef struct mf_metrics_src {
    char cg_dir[MF_METRICS_PATH_MAX];   /* the process's memory cgroup directory, "" if none */
    int cg_version;                     /* 1 or 2; 0 when no memory cgroup was found */
    char psi_path[MF_METRICS_PATH_MAX]; /* memory.pressure of the cgroup, or /proc/pressure/memory */
    uint64_t page_size;
} mf_metrics_src_t;

/* One sample.  Fields that could not be read are MF_UNKNOWN (PSI: -1). */
typedef struct mf_metrics {
    uint64_t rss;               /* resident set size, bytes */
    uint64_t rss_anon;          /* anonymous and shmem resident pages (RssAnon + RssShmem): what
                                 * the budget can count; never file pages (a mapped model, text) */
    uint64_t mem_total;         /* host MemTotal, bytes */
    uint64_t mem_avail;         /* host MemAvailable, bytes */
    uint64_t cg_usage;          /* cgroup working set (usage - inactive_file), bytes */
    uint64_t cg_limit;          /* cgroup limit, bytes; MF_UNKNOWN when none */
    int psi_some10;             /* PSI some avg10 in hundredths of a percent (123 = 1.23 %) */
    int psi_full10;
} mf_metrics_t;

/* Finds the memory cgroup and the PSI file from /proc/self/cgroup and /proc/self/mountinfo.
 * Never fails: what is not found stays empty and its readers report MF_UNKNOWN. */
void mf_metrics_discover(mf_metrics_src_t *src);

/* Reads everything into *m.  Return: 0, or -errno when even RSS could not be read. */
int mf_metrics_read(const mf_metrics_src_t *src, mf_metrics_t *m);

/* Reads only the RSS (before and after a trim; at admission).  `page_size` is for kernels older
 * than 4.5 (0: 4096).  Return: 0 or -errno. */
int mf_metrics_rss(uint64_t page_size, uint64_t *rss, uint64_t *rss_anon);

/* ---- pure parsers (unit-tested) --------------------------------------------------------- */

/* /proc/PID/status: rss = RssAnon + RssFile + RssShmem, rss_anon = RssAnon + RssShmem.
 * Return: 0 or -EINVAL (a kernel without those lines). */
int mf_metrics_parse_status(const char *text, uint64_t *rss, uint64_t *rss_anon);

/* "size resident shared text lib data dt" in pages.  Return: 0 or -EINVAL. */
int mf_metrics_parse_statm(const char *text, uint64_t page, uint64_t *rss, uint64_t *rss_anon);

/* The value of "Key:" (a line of /proc/meminfo, "NNN kB") or "key NNN" (memory.stat) in text,
 * scaled by `unit`.  Return: 0 or -ENOENT. */
int mf_metrics_parse_kv(const char *text, const char *key, uint64_t unit, uint64_t *val);

/* "some avg10=1.23 ..." / "full avg10=..." into hundredths of a percent (-1 when a line is
 * missing).  Return: 0 or -EINVAL when neither line is there. */
int mf_metrics_parse_psi(const char *text, int *some10, int *full10);

/* A cgroup limit file: a number, or "max" (v2) / a value near 2^63 (v1) for none, which gives
 * MF_UNKNOWN.  Return: 0 or -EINVAL. */
int mf_metrics_parse_limit(const char *text, uint64_t *limit);

/* From /proc/self/cgroup text: the v2 path ("0::PATH") and the v1 memory controller's path.
 * Either may come back "".  Return: 0. */
int mf_metrics_parse_cgroup(const char *text, char *v2, size_t v2size, char *v1mem, size_t v1size);

/* One line of /proc/self/mountinfo: when it is a cgroup2 mount (want_v2) or a v1 cgroup mount
 * with the memory controller, its root and mount point.  Return: true when it matches. */
bool mf_metrics_parse_mount(const char *line, bool want_v2, char *root, size_t rsize, char *mnt,
                            size_t msize);

/* Joins a mount point, its root and a cgroup path into the cgroup's directory.  Return: 0, or
 * -ENAMETOOLONG, or -ENOENT when the cgroup path is not below the mount's root. */
int mf_metrics_cg_join(const char *mnt, const char *root, const char *cgpath, char *out, size_t size);

/* ---- the process's memory cgroups: the one reader ---------------------------------------- */

/* Calls fn with the directory of this process's memory cgroup and of each ancestor up to the
 * hierarchy's mount, leaf first, in each hierarchy that has the memory controller (v2 first,
 * then v1's memory controller): from /proc/self/cgroup and the mount in /proc/self/mountinfo
 * (a cgroup outside the mount's root, as in a cgroup namespace, is the mount itself; v1 falls
 * back to the mount when the joined directory has no memory files).  MEMFENCE_TEST_CGROUP_ROOT
 * replaces the mounts with ROOT (v2) and ROOT/memory (v1): tests only, a fake hierarchy. */
void mf_cgroup_walk(void (*fn)(const char *dir, int v2, void *ctx), void *ctx);

/* One number from a file of such a directory: MF_UNLIMITED for "max", v1's "no limit", absent
 * or unreadable. */
uint64_t mf_cgroup_value(const char *dir, const char *file);

/* Physical memory the process can really have: min(MemTotal, every cgroup limit above it).
 * Read on first use (sysinfo and the cgroup files: a few system calls) and cached; callers ask
 * only when a size is a share of it, so a process whose sizes are all in bytes never reads it. */
uint64_t mf_host_memory(void);

#endif
