/* profile_sites — three allocation sites of known live sizes, one churning site and one that
 * leaks steadily, for the profiler's integration test.
 *   profile_sites SECONDS     holds site_big 32 MiB (64 KiB blocks), site_mid 16 MiB (4 KiB
 *                             blocks), site_small 8 MiB (256 B blocks); leak_step adds 32 KiB
 *                             every 50 ms; churn allocates and frees.  Prints "ready PID" once
 *                             the three sites are filled, then runs SECONDS and exits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void **keep(size_t n)
{
    void **v = calloc(n, sizeof *v);
    if (!v)
        exit(3);
    return v;
}

__attribute__((noinline)) void site_big(void **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        v[i] = malloc(64 * 1024);
        memset(v[i], 1, 64);
    }
}

__attribute__((noinline)) void site_mid(void **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        v[i] = malloc(4096);
        memset(v[i], 2, 64);
    }
}

__attribute__((noinline)) void site_small(void **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        v[i] = malloc(256 - 8);      /* usable 248..264 on glibc: asked so usable is ~256 */
        memset(v[i], 3, 64);
    }
}

__attribute__((noinline)) void churn(void)
{
    for (int i = 0; i < 2000; i++) {
        void *p = malloc(1024 + (size_t)(i % 7) * 64);
        memset(p, 4, 16);
        free(p);
    }
}

static void *leaked[100000];
static size_t nleaked;

__attribute__((noinline)) void leak_step(void)
{
    for (int i = 0; i < 8 && nleaked < 100000; i++) {
        leaked[nleaked] = malloc(4096);
        memset(leaked[nleaked++], 5, 64);
    }
}

int main(int argc, char **argv)
{
    int seconds = argc > 1 ? atoi(argv[1]) : 5;
    site_big(keep(512), 512);
    site_mid(keep(4096), 4096);
    site_small(keep(32768), 32768);
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    struct timespec ts = { 0, 50 * 1000 * 1000 };
    for (int t = 0; t < seconds * 20; t++) {
        leak_step();
        churn();
        nanosleep(&ts, NULL);
    }
    return 0;
}
