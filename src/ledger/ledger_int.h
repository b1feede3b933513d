/* ledger_int.h — what the ledger's files share (not an interface for other modules):
 * raw-syscall helpers, clocks, saturating arithmetic, and two cross-file functions.
 *   ledger.c       files, validation, slots, group accounting (any ledger)
 *   ledger_self.c  this process: module lifecycle, the gate's parent budget, tick, admission
 *   ledger_read.c  reading every ledger: the status/metrics scan, mailbox requests
 *   prometheus.c   the scan's rows as Prometheus text (memfence metrics, metrics_file)
 */
#ifndef MF_LEDGER_INT_H
#define MF_LEDGER_INT_H

#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/sys.h"
#include "ledger/ledger.h"

static inline int sys_fstat(int fd, struct stat *st)
{ return (int)mf_syscall6(SYS_fstat, fd, (long)st, 0, 0, 0, 0); }
static inline int sys_ftruncate(int fd, off_t n)
{ return (int)mf_syscall6(SYS_ftruncate, fd, (long)n, 0, 0, 0, 0); }
static inline int sys_rename(const char *a, const char *b)
{ return (int)mf_syscall6(SYS_rename, (long)a, (long)b, 0, 0, 0, 0); }
static inline int sys_unlink(const char *p)
{ return (int)mf_syscall6(SYS_unlink, (long)p, 0, 0, 0, 0, 0); }
static inline unsigned sys_getuid(void) { return (unsigned)mf_syscall6(SYS_getuid, 0, 0, 0, 0, 0, 0); }
static inline pid_t sys_getppid(void) { return (pid_t)mf_syscall6(SYS_getppid, 0, 0, 0, 0, 0, 0); }

static inline void sleep_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    mf_syscall6(SYS_nanosleep, (long)&ts, 0, 0, 0, 0, 0);
}

static inline uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t pidns_ino(void)
{
    struct stat st;
    if (mf_syscall6(SYS_newfstatat, AT_FDCWD, (long)"/proc/self/ns/pid", (long)&st, 0, 0, 0))
        return 0;
    return (uint64_t)st.st_ino;
}

static inline void copy_name(char *dst, size_t size, const char *src)
{
    size_t n = src ? strnlen(src, size - 1) : 0;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

static inline uint64_t sat_sub(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }
static inline uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

/* The group's pre-flight report for a refused reservation (ledger.c); `self` is the slot of the
 * asking instance (left out of the list of holders), or -1.  Return: its length. */
size_t mf_ledger_admission_report(char *buf, size_t size, const char *group,
                                  const char *instance, uint64_t reserve, uint64_t limit,
                                  uint64_t total, const mf_ledger_t *l, int self,
                                  double margin_pct);

/* The ledger directory this process joined ("" before mf_ledger_init) (ledger_self.c). */
const char *mf_ledger_self_dir(void);

#endif
