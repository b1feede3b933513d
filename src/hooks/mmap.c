/* hooks/mmap.c — the exported mmap family: mmap, mmap64, munmap, mremap, mprotect,
 * pkey_mprotect, shmat, shmdt, brk, sbrk.  Each hook brackets the real call with the map
 * module (src/map.h), which decides what counts; nothing else happens here.
 *
 * The real functions are resolved once through mf_resolve_next from the list in mmap.def.
 * Until they are (a call made while symbols are being looked up), the system-call wrappers
 * are served by raw system calls, so no call is ever lost.
 */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/shm.h>

#include "backend/resolve.h"
#include "base/mf.h"
#include "base/sys.h"
#include "family/map.h"

static struct {
#define MF_HOOK(name, ret, params, req) ret (*name) params;
#include "hooks/mmap.def"
#undef MF_HOOK
} real;

static const mf_sym_t syms[] = {
#define MF_HOOK(name, ret, params, req) { #name, req },
#include "hooks/mmap.def"
#undef MF_HOOK
};

static mf_resolve_once_t resolved;

/* True when `real` is filled in; false for a call made from inside the lookup itself (dlsym's
 * own mappings), which then uses raw system calls. */
static inline int ready(void)
{
    return mf_resolve_once(&resolved, syms, (void **)&real, MF_ARRAY_LEN(syms));
}

static long raw_ret(long r)
{
    if ((unsigned long)r > -4096UL) {
        errno = (int)-r;
        return -1;
    }
    return r;
}

static void *raw_mmap(void *a, size_t n, int prot, int flags, int fd, off_t off)
{
    return (void *)raw_ret(mf_syscall6(SYS_mmap, (long)a, (long)n, prot, flags, fd, off));
}

static void *do_mmap(void *(*fn)(void *, size_t, int, int, int, off_t), void *addr, size_t len,
                     int prot, int flags, int fd, off_t off, const void *caller)
{
    if (!fn)
        fn = raw_mmap;
    mf_map_op_t op;
    if (mf_map_mmap_begin(&op, addr, len, prot, flags, fd, off, caller) < 0) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    void *p = fn(addr, len, prot, flags, fd, off);
    int e = errno;
    mf_map_end(&op, p != MAP_FAILED, (uintptr_t)p);
    errno = e;
    return p;
}

MF_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return do_mmap(ready() ? real.mmap : NULL, addr, len, prot, flags, fd, off,
                   __builtin_return_address(0));
}

MF_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    void *(*fn)(void *, size_t, int, int, int, off_t) = NULL;
    if (ready())
        fn = real.mmap64 ? real.mmap64 : real.mmap;
    return do_mmap(fn, addr, len, prot, flags, fd, off, __builtin_return_address(0));
}

MF_EXPORT int munmap(void *addr, size_t len)
{
    mf_map_op_t op;
    if (mf_map_munmap_begin(&op, addr, len) < 0) {
        errno = ENOMEM;
        return -1;
    }
    int rc = ready() ? real.munmap(addr, len)
                     : (int)raw_ret(mf_syscall6(SYS_munmap, (long)addr, (long)len, 0, 0, 0, 0));
    int e = errno;
    mf_map_end(&op, rc == 0, 0);
    errno = e;
    return rc;
}

MF_EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
    void *dest = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        dest = va_arg(ap, void *);
        va_end(ap);
    }
    mf_map_op_t op;
    if (mf_map_mremap_begin(&op, old, old_len, new_len, flags, dest,
                            __builtin_return_address(0)) < 0) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    void *p = ready() ? real.mremap(old, old_len, new_len, flags, dest)
                      : (void *)raw_ret(mf_syscall6(SYS_mremap, (long)old, (long)old_len,
                                                    (long)new_len, flags, (long)dest, 0));
    int e = errno;
    mf_map_end(&op, p != MAP_FAILED, (uintptr_t)p);
    errno = e;
    return p;
}

static int do_mprotect(void *addr, size_t len, int prot, int pkey, int with_key,
                       const void *caller)
{
    mf_map_op_t op;
    if (mf_map_mprotect_begin(&op, addr, len, prot, caller) < 0) {
        errno = ENOMEM;
        return -1;
    }
    int rc;
    if (!ready())
        rc = (int)raw_ret(with_key ? mf_syscall6(SYS_pkey_mprotect, (long)addr, (long)len, prot,
                                                 pkey, 0, 0)
                                   : mf_syscall6(SYS_mprotect, (long)addr, (long)len, prot, 0,
                                                 0, 0));
    else if (with_key && real.pkey_mprotect)
        rc = real.pkey_mprotect(addr, len, prot, pkey);
    else if (with_key)
        rc = (int)raw_ret(mf_syscall6(SYS_pkey_mprotect, (long)addr, (long)len, prot, pkey, 0, 0));
    else
        rc = real.mprotect(addr, len, prot);
    int e = errno;
    mf_map_end(&op, rc == 0, 0);
    errno = e;
    return rc;
}

MF_EXPORT int mprotect(void *addr, size_t len, int prot)
{
    return do_mprotect(addr, len, prot, 0, 0, __builtin_return_address(0));
}

MF_EXPORT int pkey_mprotect(void *addr, size_t len, int prot, int pkey)
{
    return do_mprotect(addr, len, prot, pkey, 1, __builtin_return_address(0));
}

MF_EXPORT void *shmat(int shmid, const void *addr, int shmflg)
{
    mf_map_op_t op;
    if (mf_map_shmat_begin(&op, shmid, addr, shmflg, __builtin_return_address(0)) < 0) {
        errno = ENOMEM;
        return (void *)-1;
    }
    void *p = ready() ? real.shmat(shmid, addr, shmflg)
                      : (void *)raw_ret(mf_syscall6(SYS_shmat, shmid, (long)addr, shmflg, 0, 0,
                                                    0));
    int e = errno;
    mf_map_end(&op, p != (void *)-1, (uintptr_t)p);
    errno = e;
    return p;
}

MF_EXPORT int shmdt(const void *addr)
{
    mf_map_op_t op;
    if (mf_map_shmdt_begin(&op, addr) < 0) {
        errno = ENOMEM;
        return -1;
    }
    int rc = ready() ? real.shmdt(addr)
                     : (int)raw_ret(mf_syscall6(SYS_shmdt, (long)addr, 0, 0, 0, 0, 0));
    int e = errno;
    mf_map_end(&op, rc == 0, 0);
    errno = e;
    return rc;
}

/* brk and sbrk keep glibc's idea of the break (__curbrk): no raw fallback. */
MF_EXPORT int brk(void *addr)
{
    if (!ready() || !real.brk || !real.sbrk) {
        errno = ENOMEM;
        return -1;
    }
    mf_map_op_t op;
    uintptr_t cur = (uintptr_t)real.sbrk(0);
    if (mf_map_brk_begin(&op, cur, (uintptr_t)addr, __builtin_return_address(0)) < 0) {
        errno = ENOMEM;
        return -1;
    }
    int rc = real.brk(addr);
    int e = errno;
    mf_map_end(&op, rc == 0, 0);
    errno = e;
    return rc;
}

MF_EXPORT void *sbrk(intptr_t incr)
{
    if (!ready() || !real.sbrk) {
        errno = ENOMEM;
        return (void *)-1;
    }
    if (incr == 0)
        return real.sbrk(0);
    mf_map_op_t op;
    uintptr_t cur = (uintptr_t)real.sbrk(0);
    if (mf_map_brk_begin(&op, cur, cur + (uintptr_t)incr, __builtin_return_address(0)) < 0) {
        errno = ENOMEM;
        return (void *)-1;
    }
    void *p = real.sbrk(incr);
    int e = errno;
    mf_map_end(&op, p != (void *)-1, 0);
    errno = e;
    return p;
}
