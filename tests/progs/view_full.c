/* view_full — fills the budget to the last bytes (1 MiB blocks, then 64-byte ones, until
 * malloc refuses), then reads /proc/meminfo, sysinfo and a cgroup-free sysconf.  The view must
 * still answer — from a memfd, with no room left — because it is built without the heap.
 * Prints "MemTotal MemAvailable fd-kind" and exits 0, or 1 when the budget never filled. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

static long long field(const char *text, const char *name)
{
    const char *p = strstr(text, name);
    return p ? strtoll(p + strlen(name), NULL, 10) * 1024 : -1;
}

int main(void)
{
    size_t blocks = 0, sizes[] = { 1 << 20, 4096, 64 };
    char buf[8192], link[64], target[128];
    ssize_t n, len = 0;
    int fd;
    for (size_t i = 0; i < 3; i++)
        while (malloc(sizes[i]) != NULL)
            if (++blocks > (1u << 26))
                return 1;           /* no budget: never refused */
    fd = open("/proc/meminfo", O_RDONLY);
    if (fd < 0)
        return 1;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    n = readlink(link, target, sizeof target - 1);
    target[n > 0 ? n : 0] = '\0';
    while ((n = read(fd, buf + len, sizeof buf - 1 - (size_t)len)) > 0)
        len += n;
    buf[len] = '\0';
    close(fd);
    printf("%lld %lld %s\n", field(buf, "MemTotal:"), field(buf, "MemAvailable:"),
           strncmp(target, "/memfd:", 7) == 0 ? "memfd" : "real");
    return 0;
}
