/* log.c — memfence's own printf subset and its sinks; never allocates, one write(2) per line.
 *
 * Why not vsnprintf: glibc's may allocate (wide strings, positional args, large precision) and
 * takes locale locks; a hook that logs must be safe where malloc is not.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "base/log.h"
#include "base/mf.h"
#include "base/sys.h"

enum { SINK_STDERR, SINK_FILE, SINK_SYSLOG, SINK_OFF };
static int sink_kind = SINK_STDERR;
static int sink_fd = 2;
/* A thread with a descriptor table of its own (the sampler) writes to its own copy: fd + 1,
 * 0 for none. */
static __thread int thread_sink_fd __attribute__((tls_model("initial-exec")));

int mf_log_fd(void) { return sink_kind == SINK_OFF ? -1 : sink_fd; }
void mf_log_thread_fd(int fd) { thread_sink_fd = fd + 1; }

struct fmt_out {
    char *buf;
    size_t size, len;
};

static void put(struct fmt_out *o, char c)
{
    if (o->len + 1 < o->size)
        o->buf[o->len] = c;
    o->len++;
}

static void puts_n(struct fmt_out *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put(o, s[i]);
}

static void put_uint(struct fmt_out *o, unsigned long long v, unsigned base, int width, char pad)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (width-- > n)
        put(o, pad);
    while (n)
        put(o, tmp[--n]);
}

char *mf_fmt_bytes(char *buf, size_t size, uint64_t bytes)
{
    static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
    if (bytes == UINT64_MAX) {
        mf_fmt(buf, size, "unlimited");
        return buf;
    }
    unsigned u = 0;
    uint64_t whole = bytes, scale = 1;
    while (whole >= 1024 && u < 5) {
        whole /= 1024;
        scale *= 1024;
        u++;
    }
    if (u == 0) {
        mf_fmt(buf, size, "%llu B", (unsigned long long)bytes);
    } else {
        /* one decimal, rounded down so a budget is never shown larger than it is */
        uint64_t tenth = ((bytes - whole * scale) * 10) / scale;
        mf_fmt(buf, size, "%llu.%llu %s", (unsigned long long)whole, (unsigned long long)tenth,
               unit[u]);
    }
    return buf;
}

size_t mf_vfmt(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct fmt_out o = { buf, size, 0 };
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            put(&o, *p);
            continue;
        }
        p++;
        char pad = ' ';
        int width = 0, lng = 0, sz = 0;
        if (*p == '0') {
            pad = '0';
            p++;
        }
        if (*p == '-')  /* left alignment is not supported; ignore the flag */
            p++;
        while (*p >= '0' && *p <= '9')
            width = width * 10 + (*p++ - '0');
        while (*p == 'l') {
            lng++;
            p++;
        }
        if (*p == 'z') {
            sz = 1;
            p++;
        }
        switch (*p) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            size_t n = strlen(s);
            for (int w = (int)n; w < width; w++)
                put(&o, ' ');
            puts_n(&o, s, n);
            break;
        }
        case 'c':
            put(&o, (char)va_arg(ap, int));
            break;
        case 'd':
        case 'i': {
            long long v = sz ? (long long)va_arg(ap, ssize_t)
                        : lng ? va_arg(ap, long long) : va_arg(ap, int);
            unsigned long long m = (unsigned long long)v;
            if (v < 0) {
                put(&o, '-');
                m = -m;
            }
            put_uint(&o, m, 10, width, pad);
            break;
        }
        case 'u':
        case 'x': {
            unsigned long long v = sz ? va_arg(ap, size_t)
                                 : lng ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned);
            put_uint(&o, v, *p == 'x' ? 16 : 10, width, pad);
            break;
        }
        case 'p':
            puts_n(&o, "0x", 2);
            put_uint(&o, (unsigned long long)(uintptr_t)va_arg(ap, void *), 16, 0, ' ');
            break;
        case '%':
            put(&o, '%');
            break;
        case '\0':
            p--;
            break;
        default:
            put(&o, '%');
            put(&o, *p);
        }
    }
    if (size)
        buf[o.len < size ? o.len : size - 1] = '\0';
    return o.len < size ? o.len : (size ? size - 1 : 0);
}

size_t mf_fmt(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = mf_vfmt(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

static void emit(const char *fmt, va_list ap, const char *suffix)
{
    if (sink_kind == SINK_OFF)
        return;
    char line[1024];
    size_t n;
    if (sink_kind == SINK_SYSLOG)  /* <12> = user.warning */
        n = mf_fmt(line, sizeof line, "<12>memfence[%d]: ", (int)mf_sys_getpid());
    else
        n = mf_fmt(line, sizeof line, "memfence[%d]: ", (int)mf_sys_getpid());
    n += mf_vfmt(line + n, sizeof line - n, fmt, ap);
    if (suffix)
        n += mf_fmt(line + n, sizeof line - n, "%s", suffix);
    if (n >= sizeof line - 1)
        n = sizeof line - 2;
    line[n++] = '\n';
    int saved = errno;
    int fd = thread_sink_fd ? thread_sink_fd - 1 : sink_fd;
    if (sink_kind == SINK_SYSLOG) {
        if (mf_sys_write(fd, line, n - 1) < 0 && !thread_sink_fd) /* datagram: no newline */
            mf_sys_write(2, line + 4, n - 4);
    } else {
        mf_sys_write(fd, line, n);
    }
    errno = saved;
}

void mf_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(fmt, ap, NULL);
    va_end(ap);
}

static struct {
    _Atomic uint64_t second;
    _Atomic unsigned count;
    _Atomic unsigned dropped;
} limits[MF_RL_COUNT];

void mf_log_limited(unsigned key, unsigned per_sec, const char *fmt, ...)
{
    if (key >= MF_RL_COUNT)
        key = MF_RL_MISC;
    uint64_t now = mf_now_ns() / 1000000000ull;
    uint64_t sec = atomic_load_explicit(&limits[key].second, memory_order_relaxed);
    if (sec != now && atomic_compare_exchange_strong(&limits[key].second, &sec, now))
        atomic_store(&limits[key].count, 0);
    if (atomic_fetch_add(&limits[key].count, 1) >= per_sec) {
        atomic_fetch_add(&limits[key].dropped, 1);
        return;
    }
    unsigned dropped = atomic_exchange(&limits[key].dropped, 0);
    char suffix[64] = "";
    if (dropped)
        mf_fmt(suffix, sizeof suffix, " (%u similar lines suppressed)", dropped);
    va_list ap;
    va_start(ap, fmt);
    emit(fmt, ap, dropped ? suffix : NULL);
    va_end(ap);
}

int mf_log_set_sink(const char *sink)
{
    if (!sink || !*sink || !strcmp(sink, "stderr")) {
        sink_kind = SINK_STDERR;
        sink_fd = 2;
        return 0;
    }
    if (!strcmp(sink, "off") || !strcmp(sink, "none")) {
        sink_kind = SINK_OFF;
        return 0;
    }
    if (!strcmp(sink, "syslog")) {
        int fd = (int)mf_syscall6(SYS_socket, AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, 0, 0, 0);
        if (fd < 0)
            return fd;
        struct sockaddr_un a = { .sun_family = AF_UNIX, .sun_path = "/dev/log" };
        long r = mf_syscall6(SYS_connect, fd, (long)&a, sizeof a, 0, 0, 0);
        if (r < 0) {
            mf_sys_close(fd);
            return (int)r;
        }
        sink_kind = SINK_SYSLOG;
        sink_fd = fd;
        return 0;
    }
    int fd = mf_sys_open(sink, O_WRONLY | O_APPEND | O_CREAT, 0600);
    if (fd < 0)
        return fd;
    sink_kind = SINK_FILE;
    sink_fd = fd;
    return 0;
}
