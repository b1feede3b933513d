/* sys.h — raw system calls for memfence's own I/O, and the clock.
 *
 * memfence interposes libc functions (open, mmap, sysinfo, ...); a call from inside memfence to
 * the libc name would land back in memfence's own hook.  Everything memfence does for itself goes
 * through these wrappers, which enter the kernel directly, never allocate and never recurse.
 * Return: as the kernel does, a negative errno on failure (errno itself is left untouched).
 */
#ifndef MF_SYS_H
#define MF_SYS_H

#include <fcntl.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

static inline long mf_syscall6(long n, long a, long b, long c, long d, long e, long f)
{
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

static inline int mf_sys_open(const char *path, int flags, int mode)
{ return (int)mf_syscall6(SYS_openat, AT_FDCWD, (long)path, flags | O_CLOEXEC, mode, 0, 0); }
static inline ssize_t mf_sys_read(int fd, void *buf, size_t n)
{ return mf_syscall6(SYS_read, fd, (long)buf, (long)n, 0, 0, 0); }
static inline ssize_t mf_sys_write(int fd, const void *buf, size_t n)
{ return mf_syscall6(SYS_write, fd, (long)buf, (long)n, 0, 0, 0); }
static inline ssize_t mf_sys_pread(int fd, void *buf, size_t n, off_t off)
{ return mf_syscall6(SYS_pread64, fd, (long)buf, (long)n, (long)off, 0, 0); }
static inline int mf_sys_close(int fd)
{ return (int)mf_syscall6(SYS_close, fd, 0, 0, 0, 0, 0); }
static inline void *mf_sys_mmap(void *a, size_t n, int prot, int flags, int fd, off_t off)
{ return (void *)mf_syscall6(SYS_mmap, (long)a, (long)n, prot, flags, fd, (long)off); }
static inline int mf_sys_munmap(void *a, size_t n)
{ return (int)mf_syscall6(SYS_munmap, (long)a, (long)n, 0, 0, 0, 0); }
static inline int mf_sys_mprotect(void *a, size_t n, int prot)
{ return (int)mf_syscall6(SYS_mprotect, (long)a, (long)n, prot, 0, 0, 0); }
static inline pid_t mf_sys_getpid(void) { return (pid_t)mf_syscall6(SYS_getpid, 0, 0, 0, 0, 0, 0); }
static inline pid_t mf_sys_gettid(void) { return (pid_t)mf_syscall6(SYS_gettid, 0, 0, 0, 0, 0, 0); }

/* True when mf_sys_mmap's return value is an error. */
static inline int mf_sys_mmap_failed(void *p) { return (unsigned long)p > -4096UL; }

/* Reads a whole small file (/proc, /sys) into buf, NUL-terminated.  Return: bytes read, or a
 * negative errno.  Never allocates. */
long mf_sys_read_file(const char *path, char *buf, size_t size);

/* The page size (the auxiliary vector's; 4096 when it has none).  Never allocates. */
uintptr_t mf_page_size(void);

/* Monotonic clock in nanoseconds; sleeps until it reads `deadline`, through signals. */
uint64_t mf_now_ns(void);
void mf_sleep_until(uint64_t deadline);

/* The same, ending early once *word is not 0: whoever sets it wakes the sleeper with
 * mf_wake_all(word) (a futex on the word; no descriptor, no signal). */
void mf_sleep_until_set(_Atomic int *word, uint64_t deadline);
void mf_wake_all(_Atomic int *word);

#endif
