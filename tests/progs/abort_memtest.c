/* abort_memtest — a program that tests its own memory while it dies by abort(), as
 * redis-server's crash report does (crash-memcheck-enabled, on by default: patterns over every
 * private anonymous read-write mapping, a chunk at a time, each restored), here in its SIGABRT
 * handler.  A thread of memfence's that runs meanwhile reads memfence's state (its .bss is such
 * a mapping) or the allocator's while they hold patterns.
 *   abort_memtest [PASSES]   arms nothing itself; run it with the sampler started
 *                            (MEMFENCE_SAMPLER_WAIT=0, a short MEMFENCE_SAMPLE_INTERVAL).
 * Prints "tested N regions" and exits 42 from the handler when the test ran to its end; any
 * other end (SIGSEGV, SIGBUS) is the failure. */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char maps[1 << 16];
static uintptr_t lo[512], hi[512];
static int nregions, passes = 40;
static unsigned long save[1024];   /* one 8 KiB chunk */

static void say(const char *s)
{
    ssize_t r = write(2, s, strlen(s));
    (void)r;
}

/* A region's chunks, each saved, filled with patterns and read back, restored: no call made. */
static void test_region(uintptr_t a, uintptr_t b)
{
    const size_t chunk = sizeof save;
    for (uintptr_t c = a; c < b; c += chunk) {
        size_t n = b - c < chunk ? b - c : chunk;
        volatile unsigned long *w = (volatile unsigned long *)c;
        size_t words = n / sizeof(unsigned long);
        for (size_t i = 0; i < words; i++)
            save[i] = w[i];
        for (int p = 0; p < passes; p++) {
            unsigned long pat = (p & 1) ? 0x5555555555555555ul : 0xaaaaaaaaaaaaaaaaul;
            for (size_t i = 0; i < words; i++)
                w[i] = pat ^ (unsigned long)i;
            for (size_t i = 0; i < words; i++)
                if (w[i] != (pat ^ (unsigned long)i))
                    say("memory error\n");
        }
        for (size_t i = 0; i < words; i++)
            w[i] = save[i];
    }
}

static void on_abort(int sig)
{
    (void)sig;
    /* read the map first: nothing is called while a region holds patterns */
    int fd = open("/proc/self/maps", O_RDONLY);
    ssize_t len = 0, r;
    while (fd >= 0 && (r = read(fd, maps + len, sizeof maps - 1 - (size_t)len)) > 0)
        len += r;
    if (fd >= 0)
        close(fd);
    maps[len] = 0;
    for (char *l = maps; *l && nregions < 512;) {
        char *e = strchr(l, '\n');
        if (e)
            *e = 0;
        unsigned long a, b, off;
        char perm[8], dev[16];
        unsigned long ino;
        int name = 0;
        /* redis's choice: read-write, device 00:00 (anonymous), not the stack or vdso */
        if (sscanf(l, "%lx-%lx %7s %lx %15s %lu %n", &a, &b, perm, &off, dev, &ino, &name) >= 6 &&
            perm[0] == 'r' && perm[1] == 'w' && perm[3] == 'p' && !strcmp(dev, "00:00") &&
            !strstr(l, "stack") && !strstr(l, "vdso") && !strstr(l, "vsyscall") &&
            !((uintptr_t)save >= a && (uintptr_t)save < b) &&
            !((uintptr_t)maps >= a && (uintptr_t)maps < b)) {
            lo[nregions] = a;
            hi[nregions] = b;
            nregions++;
        }
        l = e ? e + 1 : l + strlen(l);
    }
    for (int i = 0; i < nregions; i++)
        test_region(lo[i], hi[i]);
    char msg[64];
    snprintf(msg, sizeof msg, "tested %d regions\n", nregions);
    say(msg);
    _exit(42);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        passes = atoi(argv[1]);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_abort;
    sigaction(SIGABRT, &sa, NULL);
    void *keep[64];
    for (int i = 0; i < 64; i++)              /* some heap, so the sampler has work */
        memset(keep[i] = malloc(64 << 10), 1, 64 << 10);
    struct timespec ts = { 0, 150 * 1000 * 1000 };
    nanosleep(&ts, NULL);                     /* the sampler's first ticks */
    abort();
}
