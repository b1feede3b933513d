/* sys.c — small helpers over raw system calls (see sys.h). */
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
