/* core_nested.c — blocks made while the thread is inside memfence, freed by the program.
 *   signal    a SIGALRM handler that frees and allocates, firing every 200 µs while the main
 *             thread opens /proc/meminfo in a loop (memfence's view answers it, inside memfence);
 *             the handler's first blocks come before the thread has a credit slot.  Every block
 *             must be charged once and credited once, whatever path made or freed it.
 *   realloc   random reallocs up and down (small and mmapped sizes), usage checked against the
 *             sum of memfence_charge_of as it goes.
 * Prints "used U live L" (usage over the start and what the live blocks count); exit 0 when
 * they are equal at every check. */
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "memfence.h"

enum { RING = 64, LIVE = 500 };
static void *ring[RING];
static volatile unsigned fired;

static void handler(int sig)
{
    (void)sig;
    unsigned k = fired++ % RING;
    free(ring[k]);
    ring[k] = malloc(1000 + k * 16);
}

static int signal_case(uint64_t base)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval on = { { 0, 200 }, { 0, 200 } }, off = { { 0, 0 }, { 0, 0 } };
    setitimer(ITIMER_REAL, &on, NULL);
    char buf[4096];
    for (int i = 0; i < 20000; i++) {
        int fd = open("/proc/meminfo", O_RDONLY);
        if (fd < 0)
            continue;
        while (read(fd, buf, sizeof buf) > 0)
            ;
        close(fd);
    }
    setitimer(ITIMER_REAL, &off, NULL);
    uint64_t live = 0;
    for (unsigned k = 0; k < RING; k++)
        if (ring[k])
            live += memfence_charge_of(ring[k]);
    int64_t used = (int64_t)(memfence_used(0) - base);
    printf("signals %u used %lld live %llu\n", fired, (long long)used, (unsigned long long)live);
    return used == (int64_t)live ? 0 : 1;
}

static int realloc_case(uint64_t base)
{
    static void *p[LIVE];
    uint64_t x = 7;
    int bad = 0;
    for (int it = 0; it < 100000; it++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        size_t n = (x >> 20) % 100 < 90 ? 1 + (x >> 32) % 3000 : 1 + (x >> 32) % 300000;
        void *q = realloc(p[x % LIVE], n);
        if (!q)
            return 2;
        p[x % LIVE] = q;
        if (it % 997 == 0 || it == 99999) {
            uint64_t live = 0;
            for (int i = 0; i < LIVE; i++)
                if (p[i])
                    live += memfence_charge_of(p[i]);
            int64_t used = (int64_t)(memfence_used(0) - base);
            if (used != (int64_t)live && bad++ < 3)
                printf("at %d: used %lld live %llu\n", it, (long long)used, (unsigned long long)live);
        }
    }
    for (int i = 0; i < LIVE; i++)
        free(p[i]);
    int64_t left = (int64_t)(memfence_used(0) - base);   /* before printf's own buffer */
    printf("realloc: used %lld after freeing all, %d mismatches\n", (long long)left, bad);
    return bad || left != 0;
}

int main(int argc, char **argv)
{
    if (!memfence_present()) {
        puts("not under memfence");
        return 77;
    }
    uint64_t base = memfence_used(0);
    if (argc > 1 && !strcmp(argv[1], "realloc"))
        return realloc_case(base);
    return signal_case(base);
}
