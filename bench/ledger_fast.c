/* ledger_fast.c — the allocation fast path, for comparing a process in a group with one alone.
 *   ledger_fast small N     N malloc(64)/free pairs (per-thread credit only)
 *   ledger_fast churn N     N rounds of 512 x malloc(4096) then 512 frees (2 MiB a round,
 *                           more than a thread's credit: leases and returns every round, each
 *                           charging the group)
 *   ledger_fast threads N   2 threads doing `churn` N/2 rounds each
 * glibc is told to keep its heap (no trim, no mmap for these sizes) so the kernel's page faults
 * do not drown what is measured.  Prints the nanoseconds per allocation+free pair. */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void *volatile sink;

static void churn(long rounds)
{
    void *p[512];
    for (long r = 0; r < rounds; r++) {
        for (int i = 0; i < 512; i++) {
            p[i] = malloc(4096);
            *(volatile char *)p[i] = 1;
        }
        for (int i = 0; i < 512; i++)
            free(p[i]);
    }
}

static void *churn_thread(void *arg)
{
    churn((long)arg);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: ledger_fast small|churn|threads N\n");
        return 2;
    }
    long n = atol(argv[2]);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_ARENA_MAX, 8);
    double t0 = now(), ops = 0;
    if (!strcmp(argv[1], "small")) {
        for (long i = 0; i < n; i++) {
            sink = malloc(64);
            free(sink);
        }
        ops = (double)n;
    } else if (!strcmp(argv[1], "churn")) {
        churn(n);
        ops = 512.0 * n;
    } else {
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            pthread_create(&t[i], NULL, churn_thread, (void *)(n / 2));
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
        ops = 512.0 * (n / 2) * 2;
    }
    printf("%.2f\n", (now() - t0) / ops);
    return 0;
}
