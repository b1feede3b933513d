/* view_probe — reads the memory view through every entry point memfence hooks and prints one
 * "key value" line each, plus checks of the open hooks' pass-through semantics ("ok" lines).
 * Used by tests/integration/view_probe.sh with virtualize on and off.
 *   total.<how>   MemTotal in bytes as read through <how>   (open, open64, openat, openat_dir,
 *                 openat64, open_2, open64_2, openat_2, openat64_2, fopen, fopen64, dotdot,
 *                 slashes, dot, relative)
 *   sysinfo.total / sysinfo.free   sysinfo's totalram, freeram × mem_unit
 *   sysconf.phys / sysconf.avphys  pages × page size; get_phys_pages.phys likewise
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

static int bad;

static void check(int cond, const char *what)
{
    if (!cond) {
        printf("FAILED %s (errno %d)\n", what, errno);
        bad = 1;
    }
}

/* MemTotal in bytes from a descriptor, or -1. */
static long long total_fd(int fd)
{
    char buf[8192];
    ssize_t n, len = 0;
    char *p;
    if (fd < 0)
        return -1;
    while ((n = read(fd, buf + len, sizeof buf - 1 - (size_t)len)) > 0)
        len += n;
    close(fd);
    buf[len] = '\0';
    p = strstr(buf, "MemTotal:");
    return p ? strtoll(p + 9, NULL, 10) * 1024 : -1;
}

/* True when fd is a memfd (the view's copy) rather than the real file. */
static int is_memfd(int fd)
{
    char link[64], target[256];
    ssize_t n;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    n = readlink(link, target, sizeof target - 1);
    if (n < 0)
        return 0;
    target[n] = '\0';
    return strncmp(target, "/memfd:", 7) == 0;
}

static long long total_file(FILE *f)
{
    char line[256];
    long long v = -1;
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "MemTotal:", 9) == 0)
            v = strtoll(line + 9, NULL, 10) * 1024;
    fclose(f);
    return v;
}

int main(int argc, char **argv)
{
    const char *tmp = argc > 1 ? argv[1] : "/tmp";
    struct sysinfo si;
    long ps = sysconf(_SC_PAGESIZE);
    int dir = open("/proc", O_RDONLY | O_DIRECTORY);
    char path[4096];

    printf("total.open %lld\n", total_fd(open("/proc/meminfo", O_RDONLY)));
    printf("total.open64 %lld\n", total_fd(open64("/proc/meminfo", O_RDONLY)));
    printf("total.openat %lld\n", total_fd(openat(AT_FDCWD, "/proc/meminfo", O_RDONLY)));
    printf("total.openat_dir %lld\n", total_fd(openat(dir, "meminfo", O_RDONLY)));
    printf("total.openat64 %lld\n", total_fd(openat64(dir, "./meminfo", O_RDONLY)));
    printf("total.open_2 %lld\n", total_fd(__open_2("/proc/meminfo", O_RDONLY)));
    printf("total.open64_2 %lld\n", total_fd(__open64_2("/proc/meminfo", O_RDONLY)));
    printf("total.openat_2 %lld\n", total_fd(__openat_2(AT_FDCWD, "/proc/meminfo", O_RDONLY)));
    printf("total.openat64_2 %lld\n", total_fd(__openat64_2(dir, "meminfo", O_RDONLY)));
    printf("total.fopen %lld\n", total_file(fopen("/proc/meminfo", "r")));
    printf("total.fopen64 %lld\n", total_file(fopen64("/proc/meminfo", "re")));
    printf("total.dotdot %lld\n", total_fd(open("/proc/self/../meminfo", O_RDONLY)));
    printf("total.slashes %lld\n", total_fd(open("//proc//meminfo", O_RDONLY)));
    printf("total.dot %lld\n", total_fd(open("/proc/./meminfo", O_RDONLY)));
    if (chdir("/proc/self") == 0)
        printf("total.relative %lld\n", total_fd(open("../meminfo", O_RDONLY)));
    close(dir);

    sysinfo(&si);
    printf("sysinfo.total %llu\n", (unsigned long long)si.totalram * si.mem_unit);
    printf("sysinfo.free %llu\n", (unsigned long long)si.freeram * si.mem_unit);
    printf("sysconf.phys %lld\n", (long long)sysconf(_SC_PHYS_PAGES) * ps);
    printf("sysconf.avphys %lld\n", (long long)sysconf(_SC_AVPHYS_PAGES) * ps);
    printf("get_phys_pages.phys %lld\n", (long long)get_phys_pages() * ps);
    printf("get_avphys_pages.avphys %lld\n", (long long)get_avphys_pages() * ps);

    {
        int fd = open("/proc/meminfo", O_RDONLY);
        printf("meminfo.fd %s\n", is_memfd(fd) ? "memfd" : "real");
        close(fd);
    }
    /* The view leaves errno alone and closes on exec when asked. */
    {
        int fd;
        errno = 4242;
        fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
        check(fd >= 0 && errno == 4242, "errno kept by a successful open of /proc/meminfo");
        check((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0, "O_CLOEXEC honoured");
        check(!is_memfd(fd) || write(fd, "x", 1) < 0, "the view is read-only");
        close(fd);
        fd = open("/proc/meminfo", O_RDONLY);
        check((fcntl(fd, F_GETFD) & FD_CLOEXEC) == 0, "no O_CLOEXEC when not asked");
        close(fd);
        errno = 4242;
        {
            FILE *f = fopen("/proc/meminfo", "r");
            check(f != NULL && errno == 4242, "errno kept by fopen of /proc/meminfo");
            if (f)
                fclose(f);
        }
    }
    /* Everything else passes straight through with the real semantics. */
    {
        static const char *const others[] = { "/proc/self/status", "/proc/cpuinfo",
                                               "/proc/self/cgroup", "/proc/vmstat" };
        int fd;
        for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
            fd = open(others[i], O_RDONLY);
            check(fd >= 0 && !is_memfd(fd), others[i]);
            close(fd);
        }
        struct stat st;
        mode_t old = umask(0);
        errno = 0;
        check(open("/nonexistent/meminfo", O_RDONLY) == -1 && errno == ENOENT, "ENOENT kept");
        errno = 0;
        check(open("/proc/nonexistent", O_RDONLY) == -1 && errno == ENOENT, "ENOENT in /proc");
        /* lexically /proc/meminfo, really /proc/PID/task/meminfo: fails as it does without */
        errno = 0;
        check(open("/proc/thread-self/../meminfo", O_RDONLY) == -1 && errno == ENOENT,
              "/proc/thread-self/../meminfo: the kernel's ENOENT");
        errno = 0;
        check(open("/sys/fs/cgroup/nonexistent/memory.max", O_RDONLY) == -1 && errno == ENOENT,
              "ENOENT for a missing cgroup file");
        fd = open("/proc/meminfo", O_WRONLY);     /* root may open it; the write fails */
        check(fd < 0 || !is_memfd(fd), "an open for writing is the real file's");
        if (fd >= 0)
            close(fd);
        snprintf(path, sizeof path, "%s/view_probe_created", tmp);
        unlink(path);
        fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0640);
        check(fd >= 0 && fstat(fd, &st) == 0 && (st.st_mode & 0777) == 0640, "open mode kept");
        close(fd);
        errno = 0;
        check(open(path, O_CREAT | O_EXCL | O_WRONLY, 0640) == -1 && errno == EEXIST, "EEXIST");
        unlink(path);
        snprintf(path, sizeof path, "%s/meminfo", tmp);
        fd = openat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, 0604);
        check(fd >= 0 && fstat(fd, &st) == 0 && (st.st_mode & 0777) == 0604, "openat mode kept");
        check(write(fd, "MemTotal: 1 kB\n", 15) == 15, "write to a file named meminfo");
        close(fd);
        fd = open(path, O_RDONLY);
        check(total_fd(fd) == 1024, "a file named meminfo elsewhere is the file itself");
        unlink(path);
        fd = open(tmp, O_TMPFILE | O_RDWR, 0600);
        check(fd >= 0 || errno == EOPNOTSUPP, "O_TMPFILE with its mode");
        if (fd >= 0)
            close(fd);
        umask(old);
        {
            FILE *f = fopen("/proc/meminfo", "r+");
            check(f == NULL || !is_memfd(fileno(f)), "fopen for update is the real file's");
            if (f)
                fclose(f);
        }
    }
    printf("%s\n", bad ? "probe: FAILED" : "probe: ok");
    return bad;
}
