/* trigger.c — the sampler's memory-pressure trigger (see trigger.h): opening a PSI trigger or
 * systemd's $MEMORY_PRESSURE_WATCH (decoding its base64 $MEMORY_PRESSURE_WRITE), polling it
 * between samples, and telling our descriptor from one the program closed and reused.  The
 * level logic, the actions and the thread itself are sampler.c's.
 */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/calls.h"
#include "base/log.h"
#include "base/proc.h"
#include "base/sys.h"
#include "sampler/trigger.h"

#define MS_NS 1000000ULL
#define S_NS 1000000000ULL
#define PSI_TRIGGER "some 200000 2000000" /* 200 ms stalled in a 2 s window (unprivileged-ok) */

/* Owned by the sampler thread. */
static struct {
    int fd;
    short events;
    uint64_t dev, ino;              /* what fd is: a program may close and reuse it */
} G = { .fd = -1 };

static struct timespec ns_to_ts(uint64_t ns)
{ return (struct timespec){ .tv_sec = (time_t)(ns / S_NS), .tv_nsec = (long)(ns % S_NS) }; }

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

/* Decodes base64 text into out (NUL-terminated).  Return: the length, or -EINVAL. */
static long b64_decode(const char *in, char *out, size_t size)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (; *in && *in != '='; in++) {
        int v = b64_value(*in);
        if (v < 0) return -EINVAL;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n + 1 >= size) return -EINVAL;
            out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[n] = '\0';
    return (long)n;
}

void mf_trigger_close(void)
{
    if (G.fd >= 0) mf_sys_close(G.fd);
    G.fd = -1;
}

void mf_trigger_forget(void)
{
    G.fd = -1;
}

void mf_trigger_open(const char *psi_path)
{
    const char *path = psi_path, *text = PSI_TRIGGER;
    char decoded[256];
    const char *watch = mf_getenv("MEMORY_PRESSURE_WATCH", 1);
    mf_trigger_close();
    if (watch) {
        if (!*watch || strcmp(watch, "/dev/null") == 0) return;      /* systemd: disabled */
        const char *w = mf_getenv("MEMORY_PRESSURE_WRITE", 0);
        path = watch;
        text = NULL;
        if (w && *w) {
            if (b64_decode(w, decoded, sizeof decoded) <= 0) {
                mf_log("MEMORY_PRESSURE_WRITE is not base64; ignoring MEMORY_PRESSURE_WATCH");
                return;
            }
            text = decoded;
        }
    }
    if (!path[0]) return;
    /* read-write even without text to write: a FIFO then always has a writer (us) and never
     * reports POLLHUP when the program that pokes it closes its end */
    int fd = mf_sys_open(path, O_RDWR | O_NONBLOCK, 0);
    if (fd < 0 && !text) fd = mf_sys_open(path, O_RDONLY | O_NONBLOCK, 0);
    if (fd < 0) {
        if (watch && fd == -ENXIO)
            mf_log("MEMORY_PRESSURE_WATCH=%s: sockets are not supported; sampling on the timer only", watch);
        return;
    }
    struct stat st;
    if (mf_syscall6(SYS_fstat, fd, (long)&st, 0, 0, 0, 0) < 0 ||
        (text && mf_sys_write(fd, text, strlen(text) + 1) < 0)) {   /* PSI wants the NUL too */
        mf_sys_close(fd);
        return;
    }
    G.fd = fd;
    G.dev = st.st_dev;
    G.ino = st.st_ino;
    G.events = S_ISFIFO(st.st_mode) ? POLLIN : POLLPRI;
}

bool mf_trigger_wait(uint64_t deadline, uint64_t last_tick, _Atomic int *stop)
{
    const uint64_t min_gap = 20 * MS_NS;        /* at most 50 samples a second however woken */
    for (;;) {
        uint64_t now = mf_now_ns();
        if (now >= deadline || atomic_load(stop)) return false;
        if (G.fd < 0) {
            mf_sleep_until_set(stop, deadline);   /* ends early when woken with *stop set */
            return false;
        }
        struct pollfd p = { .fd = G.fd, .events = G.events };
        struct timespec ts = ns_to_ts(deadline - now);
        long r = mf_syscall6(SYS_ppoll, (long)&p, 1, (long)&ts, 0, 8, 0);
        if (r <= 0) continue;                   /* timeout (loop returns) or EINTR */
        struct stat st;
        if (mf_syscall6(SYS_fstat, G.fd, (long)&st, 0, 0, 0, 0) < 0 ||
            st.st_dev != G.dev || st.st_ino != G.ino) {
            G.fd = -1;                          /* closed and reused by the program: not ours */
            continue;
        }
        if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) {
            /* closed under us, or a FIFO whose writer went away: timer only from now on */
            if (p.revents & POLLNVAL) G.fd = -1;
            else mf_trigger_close();
            continue;
        }
        if (p.revents & POLLIN) {
            char junk[256];
            while (mf_sys_read(G.fd, junk, sizeof junk) > 0)
                ;
        }
        if (mf_now_ns() - last_tick >= min_gap) return true;
        mf_sleep_until(last_tick + min_gap);
        return true;
    }
}
