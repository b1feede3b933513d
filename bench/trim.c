/* trim.c — a workload that fragments glibc's arenas, for bench/b-30-trim.sh.
 *
 *   trim frag OUT.tsv [--trim-loop]   THREADS threads (8) each allocate bursts of small blocks
 *       (32..1024 bytes, ~40 MiB a thread), free all but one in 256, spread over the
 *       burst; three rounds; then the process idles for SETTLE seconds (6).  RSS is sampled
 *       every 50 ms into OUT.tsv ("ms<TAB>MiB").  --trim-loop: the main thread calls
 *       malloc_trim(0) every 100 ms (a bare trim loop, the reference).  Prints the settled RSS
 *       (median of the last second) in MiB.
 *   trim idle SECONDS                 allocates a little, sleeps, and prints the CPU time of the
 *       thread named "memfence" from /proc/self/task/TID/stat (utime+stime, clock ticks) and
 *       /proc/self/task/TID/schedstat (ns), as a percentage of one core.
 */
#include <dirent.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define THREADS 8
#define ROUNDS 3
#define PER_THREAD (40u << 20)
#define SETTLE_S 6
#define KEEP 256             /* one block in KEEP survives a burst */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double rss_mib(void)
{
    unsigned long long size = 0, res = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%llu %llu", &size, &res) != 2) res = 0;
        fclose(f);
    }
    return res * (double)sysconf(_SC_PAGESIZE) / (1 << 20);
}

static void *worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u;
    size_t n = PER_THREAD / 528;
    void **v = malloc(n * sizeof *v);
    for (int r = 0; r < ROUNDS; r++) {
        for (size_t i = 0; i < n; i++) {
            size_t sz = 32 + rand_r(&seed) % 993;
            v[i] = malloc(sz);
            memset(v[i], 1, sz);
        }
        /* free all but one block in KEEP: the survivors are spread over the whole burst, so the
         * arena's top is never free and free() cannot shrink it; only a trim can give the
         * pages between them back */
        for (size_t i = 0; i < n; i++)
            if (i % KEEP != KEEP - 1) free(v[i]);
        usleep(20000);
    }
    return NULL;    /* the kept 5 % stay live (a cache the program holds) */
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int frag(const char *out, int trim_loop)
{
    FILE *f = fopen(out, "w");
    if (!f) { perror(out); return 2; }
    pthread_t th[THREADS];
    double t0 = now_ms(), last_trim = 0;
    for (long i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, worker, (void *)(i + 1));
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    double end = now_ms() + SETTLE_S * 1e3;
    double tail[64];
    int nt = 0;
    for (double t; (t = now_ms()) < end;) {
        if (trim_loop && t - last_trim >= 100) { malloc_trim(0); last_trim = t; }
        double r = rss_mib();
        fprintf(f, "%.0f\t%.1f\n", t - t0, r);
        if (end - t <= 1000 && nt < 64) tail[nt++] = r;
        usleep(50000);
    }
    fclose(f);
    qsort(tail, nt, sizeof *tail, cmp);
    printf("%.1f\n", nt ? tail[nt / 2] : rss_mib());
    return 0;
}

static int idle(int secs)
{
    void *volatile keep = malloc(1 << 20);
    (void)keep;
    usleep(100000);
    char tid[32] = "";
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[300], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (f && fgets(comm, sizeof comm, f) && !strcmp(comm, "memfence\n")) snprintf(tid, sizeof tid, "%.31s", e->d_name);
        if (f) fclose(f);
    }
    if (d) closedir(d);
    if (!tid[0]) { printf("no memfence thread\n"); return 1; }
    unsigned long long u0, s0, u1, s1, ns0, ns1;
    char path[64];
    #define READ_CPU(u, s, ns) do { \
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", tid); \
        FILE *f = fopen(path, "r"); char buf[1024]; size_t k = fread(buf, 1, sizeof buf - 1, f); \
        buf[k] = 0; fclose(f); char *p = strrchr(buf, ')') + 2; \
        for (int fld = 3; fld < 14; fld++) p = strchr(p, ' ') + 1; \
        sscanf(p, "%llu %llu", &u, &s); \
        snprintf(path, sizeof path, "/proc/self/task/%s/schedstat", tid); \
        f = fopen(path, "r"); if (!f || fscanf(f, "%llu", &ns) != 1) ns = 0; if (f) fclose(f); \
    } while (0)
    READ_CPU(u0, s0, ns0);
    double t0 = now_ms();
    sleep((unsigned)secs);
    READ_CPU(u1, s1, ns1);
    double wall = (now_ms() - t0) / 1e3;
    double hz = (double)sysconf(_SC_CLK_TCK);
    printf("stat %.3f %% schedstat %.4f %% (%llu ticks, %.2f ms cpu in %.1f s)\n",
           ((u1 + s1) - (u0 + s0)) / hz / wall * 100, (ns1 - ns0) / 1e9 / wall * 100,
           (u1 + s1) - (u0 + s0), (ns1 - ns0) / 1e6, wall);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "frag")) return frag(argv[2], argc > 3 && !strcmp(argv[3], "--trim-loop"));
    if (argc >= 3 && !strcmp(argv[1], "idle")) return idle(atoi(argv[2]));
    fprintf(stderr, "usage: trim frag OUT.tsv [--trim-loop] | trim idle SECONDS\n");
    return 2;
}
