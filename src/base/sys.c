/* sys.c — small helpers over raw system calls (see sys.h). */
#include <errno.h>
#include <limits.h>
#include <sys/auxv.h>
#include <time.h>
#include <linux/futex.h>

#include "base/sys.h"

long mf_sys_read_file(const char *path, char *buf, size_t size)
{
    if (size == 0)
        return -22;
    int fd = mf_sys_open(path, O_RDONLY, 0);
    if (fd < 0)
        return fd;
    size_t len = 0;
    while (len + 1 < size) {
        ssize_t n = mf_sys_read(fd, buf + len, size - 1 - len);
        if (n == -4) /* EINTR */
            continue;
        if (n < 0) {
            mf_sys_close(fd);
            return n;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    mf_sys_close(fd);
    return (long)len;
}

uint64_t mf_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void mf_sleep_until(uint64_t deadline)
{
    struct timespec ts = { .tv_sec = (time_t)(deadline / 1000000000ull),
                           .tv_nsec = (long)(deadline % 1000000000ull) };
    while (mf_syscall6(SYS_clock_nanosleep, CLOCK_MONOTONIC, TIMER_ABSTIME, (long)&ts, 0, 0, 0) == -EINTR)
        ;
}

void mf_sleep_until_set(_Atomic int *word, uint64_t deadline)
{
    /* FUTEX_WAIT_BITSET: an absolute CLOCK_MONOTONIC deadline; it returns at once when the word
     * is no longer 0, and on a wake, a signal or the deadline */
    struct timespec ts = { .tv_sec = (time_t)(deadline / 1000000000ull),
                           .tv_nsec = (long)(deadline % 1000000000ull) };
    while (atomic_load(word) == 0 &&
           mf_syscall6(SYS_futex, (long)word, FUTEX_WAIT_BITSET_PRIVATE, 0, (long)&ts, 0,
                       FUTEX_BITSET_MATCH_ANY) != -ETIMEDOUT)
        ;
}

void mf_wake_all(_Atomic int *word)
{
    mf_syscall6(SYS_futex, (long)word, FUTEX_WAKE_PRIVATE, INT_MAX, 0, 0, 0);
}

uintptr_t mf_page_size(void)
{
    static uintptr_t ps;
    if (__builtin_expect(ps == 0, 0)) {
        unsigned long v = getauxval(AT_PAGESZ);
        ps = v ? v : 4096;
    }
    return ps;
}
