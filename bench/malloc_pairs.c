/* malloc_pairs.c — malloc/free pairs of one size on N threads; prints nanoseconds per pair.
 * usage: malloc_pairs THREADS SIZE PAIRS_PER_THREAD
 * Each thread keeps a small ring of live blocks so the allocator does real work, not just
 * hand the same chunk back. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static size_t size;
static long pairs;

static void *worker(void *arg)
{
    (void)arg;
    void *ring[64] = { 0 };
    for (long i = 0; i < pairs; i++) {
        unsigned k = (unsigned)i & 63;
        free(ring[k]);
        ring[k] = malloc(size);
        if (!ring[k])
            abort();
        *(volatile char *)ring[k] = 1;
    }
    for (int k = 0; k < 64; k++)
        free(ring[k]);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s THREADS SIZE PAIRS\n", argv[0]);
        return 2;
    }
    int threads = atoi(argv[1]);
    size = strtoul(argv[2], NULL, 0);
    pairs = atol(argv[3]);
    pthread_t t[64];
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
    printf("%.2f\n", ns / ((double)pairs * threads));
    return 0;
}
