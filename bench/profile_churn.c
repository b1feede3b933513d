/* profile_churn.c — an allocation-heavy workload for the profiler's overhead: each thread keeps
 * a ring of 256 live blocks and replaces one per step with a block of a mixed size (mostly small,
 * some pages, a few 64 KiB), touching it.  Prints nanoseconds per malloc/free pair.
 * usage: profile_churn THREADS PAIRS_PER_THREAD */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long pairs;

static void *worker(void *arg)
{
    unsigned x = (unsigned)(unsigned long)arg * 2654435761u + 1;
    void *ring[256] = { 0 };
    for (long i = 0; i < pairs; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        unsigned r = x % 1000;
        size_t n = r < 900 ? 16 + (x >> 10) % 496 : r < 995 ? 512 + (x >> 10) % 3584 : 65536;
        unsigned k = (x >> 20) & 255;
        free(ring[k]);
        ring[k] = malloc(n);
        if (!ring[k])
            abort();
        *(volatile char *)ring[k] = 1;
    }
    for (int k = 0; k < 256; k++)
        free(ring[k]);
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    pairs = argc > 2 ? atol(argv[2]) : 2000000;
    pthread_t t[64];
    if (threads < 1 || threads > 64)
        return 2;
    struct timespec a, b;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, (void *)(unsigned long)(i + 1));
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
    printf("%.2f\n", ns / ((double)pairs * threads));
    return 0;
}
