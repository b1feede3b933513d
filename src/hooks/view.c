/* hooks/view.c — the memory-view calls (hooks/view.def): sysinfo, sysconf, get_phys_pages,
 * get_avphys_pages, and the open family for /proc/meminfo and the cgroup memory files.
 *
 * Thin: every hook calls the real function, or asks src/view.c for a virtualized answer and
 * falls back to the real function whenever the view has none.  The open hooks run on every open
 * of the process, so they test the path with mf_view_maybe (a few bytes for nearly every path)
 * before anything else, forward the mode argument only when the flags carry one (O_CREAT,
 * O_TMPFILE), and leave errno as the real call leaves it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "backend/resolve.h"
#include "base/mf.h"
#include "base/proc.h"
#include "base/sys.h"
#include "family/view.h"

/* The fortify variants have no declaration without _FORTIFY_SOURCE. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

enum {
#define MF_HOOK(name, ret, params, req) H_##name,
#include "hooks/view.def"
#undef MF_HOOK
    H_COUNT
};

static const mf_sym_t view_syms[H_COUNT] = {
#define MF_HOOK(name, ret, params, req) [H_##name] = { #name, req },
#include "hooks/view.def"
#undef MF_HOOK
};

static union {
    struct {
#define MF_HOOK(name, ret, params, req) ret (*name) params;
#include "hooks/view.def"
#undef MF_HOOK
    } f;
    void *p[H_COUNT];
} real;
static mf_resolve_once_t resolved;

/* Resolved at load, after the runtime's constructor (102), so that the first open in a signal
 * handler does not have to call dlsym; resolving on first use covers calls made earlier. */
__attribute__((constructor(103))) static void view_constructor(void)
{
    mf_resolve_once(&resolved, view_syms, real.p, H_COUNT);
}

/* The real function `name`, resolving on first use; errno = ENOSYS and return `fail` when the
 * libc underneath has none. */
#define REAL(name, fail)                                                      \
    do {                                                                      \
        if (mf_unlikely(!mf_resolve_once(&resolved, view_syms, real.p, H_COUNT) || \
                        real.f.name == NULL)) {                               \
            errno = ENOSYS;                                                   \
            return fail;                                                      \
        }                                                                     \
    } while (0)

/* The view's descriptor for a path that passed mf_view_maybe, or -1 (then: the real open). */
static MF_NOINLINE int view_fd(int dirfd, const char *path, int flags)
{
    int fd;
    if (mf_tls.depth > 0)
        return -1;
    mf_tls.depth++;
    fd = mf_view_open(dirfd, path, flags);
    mf_tls.depth--;
    return fd;
}

#define OPEN_NEEDS_MODE(flags) (((flags) & O_CREAT) || ((flags) & O_TMPFILE) == O_TMPFILE)

/* The view's answer, or the real call.  The mode is read with va_arg only when the flags carry
 * one, as glibc does; passing 0 otherwise is what glibc's own wrappers do. */
#define VIEW_OR_REAL(name, dirfd, ...)                                        \
    int fd;                                                                   \
    if (mf_unlikely(mf_view_maybe(path)) && (fd = view_fd(dirfd, path, flags)) >= 0) \
        return fd;                                                            \
    REAL(name, -1);                                                           \
    return real.f.name(__VA_ARGS__)

#define OPEN_MODE()                                                           \
    int mode = 0;                                                             \
    if (OPEN_NEEDS_MODE(flags)) {                                             \
        va_list ap;                                                           \
        va_start(ap, flags);                                                  \
        mode = va_arg(ap, int);                                               \
        va_end(ap);                                                           \
    }

#define OPEN_HOOK(name)                                                       \
    MF_EXPORT int name(const char *path, int flags, ...)                      \
    {                                                                         \
        OPEN_MODE()                                                           \
        VIEW_OR_REAL(name, AT_FDCWD, path, flags, mode);                      \
    }
#define OPENAT_HOOK(name)                                                     \
    MF_EXPORT int name(int dirfd, const char *path, int flags, ...)           \
    {                                                                         \
        OPEN_MODE()                                                           \
        VIEW_OR_REAL(name, dirfd, dirfd, path, flags, mode);                  \
    }
/* The fortify variants: no mode (they abort on O_CREAT without one, in the real function). */
#define OPEN2_HOOK(name)                                                      \
    MF_EXPORT int name(const char *path, int flags)                           \
    {                                                                         \
        VIEW_OR_REAL(name, AT_FDCWD, path, flags);                            \
    }
#define OPENAT2_HOOK(name)                                                    \
    MF_EXPORT int name(int dirfd, const char *path, int flags)                \
    {                                                                         \
        VIEW_OR_REAL(name, dirfd, dirfd, path, flags);                        \
    }

OPEN_HOOK(open)
OPEN_HOOK(open64)
OPENAT_HOOK(openat)
OPENAT_HOOK(openat64)
OPEN2_HOOK(__open_2)
OPEN2_HOOK(__open64_2)
OPENAT2_HOOK(__openat_2)
OPENAT2_HOOK(__openat64_2)

/* fopen of a virtualized file: a stream on the view's memfd.  fdopen allocates the FILE
 * through the program's own malloc, in the program's name: it is the program's stream. */
static MF_NOINLINE FILE *view_stream(const char *path, const char *mode)
{
    int saved = errno, fd;
    FILE *f;
    if (mode == NULL || mode[0] != 'r' || strchr(mode, '+') != NULL)
        return NULL;
    fd = view_fd(AT_FDCWD, path, O_RDONLY | (strchr(mode, 'e') ? O_CLOEXEC : 0));
    if (fd < 0)
        return NULL;
    f = fdopen(fd, "r");
    if (f == NULL)
        mf_sys_close(fd);
    errno = saved;
    return f;
}

#define FOPEN_HOOK(name)                                                      \
    MF_EXPORT FILE *name(const char *path, const char *mode)                  \
    {                                                                         \
        FILE *f;                                                              \
        if (mf_unlikely(mf_view_maybe(path)) && (f = view_stream(path, mode)) != NULL) \
            return f;                                                         \
        REAL(name, NULL);                                                     \
        return real.f.name(path, mode);                                       \
    }
FOPEN_HOOK(fopen)
FOPEN_HOOK(fopen64)

MF_EXPORT int sysinfo(struct sysinfo *info)
{
    uint64_t limit, used;
    int ret;
    REAL(sysinfo, -1);
    ret = real.f.sysinfo(info);
    if (ret == 0 && info != NULL && mf_tls.depth == 0 && mf_view_active(&limit, &used))
        mf_view_sysinfo_apply(info, limit, used);
    return ret;
}

/* Pages seen through the budget: all of it for the total, the room left for the free count. */
static long view_pages(long real_pages, int avail)
{
    uint64_t limit, used;
    long page_size;
    if (mf_tls.depth > 0 || !mf_view_active(&limit, &used))
        return real_pages;
    page_size = real.f.sysconf(_SC_PAGESIZE);
    return mf_view_pages(real_pages, page_size,
                         avail ? (limit > used ? limit - used : 0) : limit);
}

MF_EXPORT long sysconf(int name)
{
    long ret;
    REAL(sysconf, -1);
    ret = real.f.sysconf(name);
    if (mf_unlikely(name == _SC_PHYS_PAGES || name == _SC_AVPHYS_PAGES))
        ret = view_pages(ret, name == _SC_AVPHYS_PAGES);
    return ret;
}

MF_EXPORT long get_phys_pages(void)
{
    REAL(get_phys_pages, -1);
    REAL(sysconf, -1);
    return view_pages(real.f.get_phys_pages(), 0);
}

MF_EXPORT long get_avphys_pages(void)
{
    REAL(get_avphys_pages, -1);
    REAL(sysconf, -1);
    return view_pages(real.f.get_avphys_pages(), 1);
}
