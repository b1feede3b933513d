/* sampler_hold.c — drives the sampler from the outside: holds a chosen amount of live heap in
 * small blocks (below throttle_min, so holding is never throttled itself) and answers commands
 * on stdin, one per line, with one line on stdout:
 *   hold MIB        grow or shrink the live heap to MIB MiB (16 KiB blocks, touched)
 *   wait MS         sleep MS milliseconds
 *   level           print the pressure level (memfence_level) after waiting for two samples
 *   stats           print "trims T trimmed B throttled N throttle_ns NS signals S rss R level L"
 *   time SIZE       print how many microseconds malloc(SIZE) took, and "ok" or "ENOMEM"
 *   sigs            print how many times the SIGUSR1/SIGUSR2 handler ran
 *   fork            fork; the child prints its sampler thread count and exits; print child status
 *   threads         print the number of this process's threads named "memfence"
 *   sigblk          print the SigBlk mask of the "memfence" thread
 *   frag MIB        allocate MIB MiB in 1000-byte blocks, free all but every 64th (a heap
 *                   glibc cannot shrink by itself); print "rss BYTES" right after
 *   rss             print "rss BYTES" (resident set size now)
 *   poke PATH       write one byte to PATH (a FIFO) without blocking; print "poked" or the error
 *   fds             print "fds N": how many of the program's descriptors are open on a
 *                   memory.pressure or /proc/pressure/memory file (the PSI trigger)
 *   taskfds         the same over every thread's table ("taskfds N"; the sampler has its own)
 *   quit
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "memfence.h"

#define BLOCK (16 << 10)
static void **blocks;
static size_t nblocks, cap;
static volatile sig_atomic_t sigs;

static unsigned long long rss_now(void)
{
    unsigned long long size = 0, res = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%llu %llu", &size, &res) != 2) res = 0;
        fclose(f);
    }
    return res * (unsigned long long)sysconf(_SC_PAGESIZE);
}

static void frag(size_t mib)
{
    size_t n = mib * (1 << 20) / 1000;
    void **v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        v[i] = malloc(1000);
        if (v[i]) memset(v[i], 2, 1000);
    }
    for (size_t i = 0; i < n; i++)
        if (i % 64 != 63) free(v[i]);                /* the kept ones pin the heap's top */
    free(v);
    printf("rss %llu\n", rss_now());
}

static void on_sig(int s) { (void)s; sigs++; }

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void hold(size_t mib)
{
    size_t want = mib * (1 << 20) / BLOCK;
    if (want > cap) {
        cap = want;
        blocks = realloc(blocks, cap * sizeof *blocks);
    }
    while (nblocks < want) {
        void *p = malloc(BLOCK - 64);
        if (!p) { printf("ENOMEM at %zu blocks\n", nblocks); return; }
        memset(p, 1, BLOCK - 64);
        blocks[nblocks++] = p;
    }
    while (nblocks > want) free(blocks[--nblocks]);
    printf("held %zu MiB\n", mib);
}

/* The tid of the thread named "memfence", or -1. */
static int sampler_tid(int *count)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int tid = -1;
    *count = 0;
    while (d && (e = readdir(d))) {
        char path[300], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (fgets(comm, sizeof comm, f) && strcmp(comm, "memfence\n") == 0) {
            tid = atoi(e->d_name);
            (*count)++;
        }
        fclose(f);
    }
    if (d) closedir(d);
    return tid;
}

int main(void)
{
    char line[128];
    signal(SIGUSR1, on_sig);
    signal(SIGUSR2, on_sig);
    setvbuf(stdout, NULL, _IOLBF, 0);
    while (fgets(line, sizeof line, stdin)) {
        long v = 0;
        char cmd[32];
        if (sscanf(line, "%31s %ld", cmd, &v) < 1) continue;
        if (!strcmp(cmd, "hold")) hold((size_t)v);
        else if (!strcmp(cmd, "wait")) { usleep((useconds_t)v * 1000); printf("waited\n"); }
        else if (!strcmp(cmd, "level")) {
            usleep(350 * 1000);
            printf("level %d\n", memfence_level ? memfence_level() : -1);
        } else if (!strcmp(cmd, "stats")) {
            struct memfence_stats st;
            if (memfence_get_stats_safe(&st) != 0) { printf("no memfence\n"); continue; }
            printf("trims %llu trimmed %llu throttled %llu throttle_ns %llu signals %llu rss %llu level %u\n",
                   (unsigned long long)st.trims, (unsigned long long)st.trimmed_bytes,
                   (unsigned long long)st.throttled, (unsigned long long)st.throttle_ns,
                   (unsigned long long)st.signals, (unsigned long long)st.rss, st.level);
        } else if (!strcmp(cmd, "time")) {
            double t0 = now_us();
            void *p = malloc((size_t)v);
            double t1 = now_us();
            int err = errno;
            printf("%.0f %s\n", t1 - t0, p ? "ok" : err == ENOMEM ? "ENOMEM" : "fail");
            free(p);
        } else if (!strcmp(cmd, "sigs")) printf("sigs %d\n", (int)sigs);
        else if (!strcmp(cmd, "threads")) { int n; sampler_tid(&n); printf("threads %d\n", n); }
        else if (!strcmp(cmd, "sigblk")) {
            int n, tid = sampler_tid(&n);
            char path[64], l[128];
            snprintf(path, sizeof path, "/proc/self/task/%d/status", tid);
            FILE *f = fopen(path, "r");
            while (f && fgets(l, sizeof l, f))
                if (!strncmp(l, "SigBlk:", 7)) fputs(l, stdout);
            if (f) fclose(f);
            else printf("SigBlk: none\n");
        } else if (!strcmp(cmd, "fork")) {
            pid_t pid = fork();
            if (pid == 0) {
                void *volatile q = malloc(100);   /* the first allocation in the child starts it */
                free(q);
                usleep(300 * 1000);
                int n;
                sampler_tid(&n);
                _exit(n == 1 ? 0 : 10 + n);
            }
            int status = 0;
            waitpid(pid, &status, 0);
            printf("child %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        } else if (!strcmp(cmd, "frag")) frag((size_t)v);
        else if (!strcmp(cmd, "rss")) printf("rss %llu\n", rss_now());
        else if (!strcmp(cmd, "poke")) {
            char path[100] = "";
            sscanf(line, "%*s %99s", path);
            int fd = open(path, O_WRONLY | O_NONBLOCK);
            if (fd >= 0 && write(fd, "x", 1) == 1) printf("poked\n");
            else printf("poke: %s\n", strerror(errno));
            if (fd >= 0) close(fd);
        } else if (!strcmp(cmd, "fds") || !strcmp(cmd, "taskfds")) {
            /* fds: the program's own table; taskfds: every thread's (the sampler has its own) */
            int n = 0;
            char dirs[64][300];
            int nd = 0;
            if (!strcmp(cmd, "fds")) {
                snprintf(dirs[nd++], sizeof dirs[0], "/proc/self/fd");
            } else {
                DIR *t = opendir("/proc/self/task");
                struct dirent *te;
                while (t && (te = readdir(t)) && nd < 64)
                    if (te->d_name[0] != '.')
                        snprintf(dirs[nd++], sizeof dirs[0], "/proc/self/task/%s/fd", te->d_name);
                if (t) closedir(t);
            }
            for (int i = 0; i < nd; i++) {
                DIR *d = opendir(dirs[i]);
                struct dirent *e;
                while (d && (e = readdir(d))) {
                    char path[600], target[256];
                    snprintf(path, sizeof path, "%.300s/%.255s", dirs[i], e->d_name);
                    ssize_t k = readlink(path, target, sizeof target - 1);
                    if (k <= 0) continue;
                    target[k] = 0;
                    if (strstr(target, "memory.pressure") || strstr(target, "pressure/memory")) n++;
                }
                if (d) closedir(d);
            }
            printf("%s %d\n", cmd, n);
        }
        else if (!strcmp(cmd, "quit")) break;
        else printf("unknown %s\n", cmd);
    }
    return 0;
}
