/* config_trust.c — where the INI file is and whether it may be trusted: the search order
 * (MEMFENCE_CONFIG, $XDG_CONFIG_HOME, ~/.config, /etc; environment paths ignored in
 * secure-execution mode through mf_getenv) and the checks on the file and its directories
 * (owner, write permission of others, size, a regular file) before config_file.c reads it.
 * Raw system calls only, as everything the preload runs at initialisation.
 */
#include <errno.h>
#include <ini.h>
#include <string.h>
#include <sys/stat.h>

#include "base/log.h"
#include "base/proc.h"
#include "base/sys.h"
#include "config/config_file.h"

#define MAX_FILE (256u << 10)       /* larger files are refused: a config file is small */

static int exists(const char *path)
{
    return mf_syscall6(SYS_faccessat, AT_FDCWD, (long)path, F_OK, 0, 0, 0) == 0;
}

int mf_cfg_file_locate(char *buf, size_t size)
{
    const char *e = mf_getenv("MEMFENCE_CONFIG", 1);
    if (e) {
        if (!*e || !strcmp(e, "none"))
            return -ENOENT;
        mf_fmt(buf, size, "%s", e);
        return 0;
    }
    const char *x = mf_getenv("XDG_CONFIG_HOME", 1);
    if (x && *x == '/') {
        mf_fmt(buf, size, "%s/memfence/memfence.conf", x);
        if (exists(buf))
            return 0;
    }
    const char *h = mf_getenv("HOME", 1);
    if (h && *h == '/') {
        mf_fmt(buf, size, "%s/.config/memfence/memfence.conf", h);
        if (exists(buf))
            return 0;
    }
    mf_fmt(buf, size, "/etc/memfence.conf");
    if (exists(buf))
        return 0;
    buf[0] = '\0';
    return -ENOENT;
}

static long sys_fstatat(const char *path, struct stat *st)
{
    return mf_syscall6(SYS_newfstatat, AT_FDCWD, (long)path, (long)st, 0, 0, 0);
}

/* A mode in octal ("644"); mf_fmt has no %o. */
static char *octal(char *buf, unsigned mode)
{
    char tmp[8];
    int n = 0;
    do
        tmp[n++] = (char)('0' + (mode & 7));
    while ((mode >>= 3) && n < 7);
    for (int i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
    return buf;
}
#define OCT(m) octal((char[8]){ 0 }, (unsigned)((m) & 07777))

static int trusted_owner(uid_t uid)
{
    return uid == 0 || uid == (uid_t)mf_syscall6(SYS_getuid, 0, 0, 0, 0, 0, 0) ||
           uid == (uid_t)mf_syscall6(SYS_geteuid, 0, 0, 0, 0, 0, 0);
}

/* Writable by someone other than its owner (group write counts unless it is our own group). */
static int others_write(const struct stat *st)
{
    if (st->st_mode & S_IWOTH)
        return 1;
    return (st->st_mode & S_IWGRP) &&
           st->st_gid != (gid_t)mf_syscall6(SYS_getegid, 0, 0, 0, 0, 0, 0) &&
           st->st_gid != (gid_t)mf_syscall6(SYS_getgid, 0, 0, 0, 0, 0, 0);
}

/* Checks the file's directories up to /: owned by root or us, not replaceable by others. */
static int check_dirs(const char *shown, int fd)
{
    char link[64], real[512];
    mf_fmt(link, sizeof link, "/proc/self/fd/%d", fd);
    long n = mf_syscall6(SYS_readlink, (long)link, (long)real, sizeof real - 1, 0, 0, 0);
    if (n <= 0 || real[0] != '/')
        return 0;                           /* no /proc: the file's own checks still hold */
    real[n] = '\0';
    for (char *slash = strrchr(real, '/'); slash; slash = strrchr(real, '/')) {
        if (slash == real)
            slash[1] = '\0';
        else
            *slash = '\0';
        struct stat st;
        if (sys_fstatat(real, &st) != 0)
            return 0;
        if (!trusted_owner(st.st_uid)) {
            mf_config_report("%s: refused: its directory %s belongs to uid %u, neither root nor "
                             "this user", shown, real, (unsigned)st.st_uid);
            return -EPERM;
        }
        if (others_write(&st) && !(st.st_mode & S_ISVTX)) {
            mf_config_report("%s: refused: its directory %s can be written by other users "
                             "(mode %s); run chmod go-w %s", shown, real, OCT(st.st_mode), real);
            return -EPERM;
        }
        if (slash == real)
            break;
    }
    return 0;
}

int mf_cfg_file_load(mf_cfg_file_t *f, const char *path)
{
    memset(f, 0, sizeof *f);
    int fd = mf_sys_open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0);
    if (fd < 0) {
        mf_config_report("%s: cannot open the configuration file: %s", path,
                         fd == -ENOENT ? "no such file" : fd == -EACCES ? "permission denied"
                                                                        : "error");
        return fd;
    }
    struct stat st;
    int rc = 0;
    if (mf_syscall6(SYS_fstat, fd, (long)&st, 0, 0, 0, 0) != 0) {
        rc = -EIO;
        mf_config_report("%s: cannot stat the configuration file", path);
    } else if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        mf_config_report("%s: refused: not a regular file", path);
    } else if (!trusted_owner(st.st_uid)) {
        rc = -EPERM;
        mf_config_report("%s: refused: owned by uid %u, neither root nor this user", path,
                         (unsigned)st.st_uid);
    } else if (others_write(&st)) {
        rc = -EPERM;
        mf_config_report("%s: refused: other users can write it (mode %s); run chmod go-w %s",
                         path, OCT(st.st_mode), path);
    } else if (st.st_size > (off_t)MAX_FILE) {
        rc = -EFBIG;
        mf_config_report("%s: refused: larger than %u KiB", path, MAX_FILE >> 10);
    } else {
        rc = check_dirs(path, fd);
    }
    if (rc == 0 && mf_in_preload && !ini_use_stack) {
        rc = -ENOTSUP;
        mf_config_report("%s: not read: libinih was set to allocate its line buffer", path);
    }
    if (rc) {
        mf_sys_close(fd);
        return rc;
    }
    return mf_cfg_file_read(f, path, fd, (size_t)st.st_size);
}
