/* sampler_leak.c — leaks steadily: RATE MiB per second for SECONDS seconds, in touched 16 KiB
 * blocks paced by the clock (so the rate is exact whatever the scheduling), then prints the
 * true rate in MiB per hour.  Usage: sampler_leak RATE_MIB_S SECONDS */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BLOCK 16376           /* a 16 KiB chunk in glibc: usable size == request */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    double rate = argc > 1 ? atof(argv[1]) : 4, secs = argc > 2 ? atof(argv[2]) : 7;
    double t0 = now_s(), t;
    double leaked = 0;
    while ((t = now_s() - t0) < secs) {
        while (leaked < rate * (1 << 20) * t) {
            char *p = malloc(BLOCK);
            if (!p) { perror("malloc"); return 1; }
            memset(p, 3, BLOCK);
            leaked += BLOCK;
        }
        usleep(5000);
    }
    printf("true rate %.1f MiB/h, leaked %.1f MiB\n", rate * 3600, leaked / (1 << 20));
    return 0;
}
