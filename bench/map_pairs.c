/* map_pairs.c [PAIRS [TOUCH]] — a mapping-heavy workload: PAIRS (100 000) mmap/munmap pairs of
 * mixed sizes (4 KiB – 4 MiB, log-uniform; a few MAP_NORESERVE/PROT_NONE reservations with an
 * mprotect commit), 256 mappings live at any time so the region table has some depth.  With
 * TOUCH = 1 the first page of each writable mapping is written.  Prints "ns_per_pair=N" (wall
 * clock), "cpu_ns_per_pair=N" (user + system CPU time) and "user_ns_per_pair=N". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

#define LIVE 256

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

static uint64_t tv_ns(struct timeval tv) { return (uint64_t)tv.tv_sec * 1000000000ull + (uint64_t)tv.tv_usec * 1000; }

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    long pairs = argc > 1 ? atol(argv[1]) : 100000;
    int touch = argc > 2 ? atoi(argv[2]) : 0;
    void *ptr[LIVE] = { 0 };
    size_t len[LIVE] = { 0 };
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    uint64_t t0 = now_ns();
    for (long i = 0; i < pairs; i++) {
        int k = (int)(i % LIVE);
        if (ptr[k] && munmap(ptr[k], len[k]) != 0) {
            perror("munmap");
            return 1;
        }
        size_t n = (size_t)4096 << (rnd() % 11);            /* 4 KiB .. 4 MiB */
        int reserve = rnd() % 8 == 0;
        void *p = mmap(NULL, n, reserve ? PROT_NONE : PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | (reserve ? MAP_NORESERVE : 0), -1, 0);
        if (p == MAP_FAILED) {
            perror("mmap");
            return 1;
        }
        if (reserve && mprotect(p, 4096, PROT_READ | PROT_WRITE) != 0) {
            perror("mprotect");
            return 1;
        }
        if (touch)
            *(volatile char *)p = 1;
        ptr[k] = p;
        len[k] = n;
    }
    for (int k = 0; k < LIVE; k++)
        if (ptr[k])
            munmap(ptr[k], len[k]);
    uint64_t t1 = now_ns();
    getrusage(RUSAGE_SELF, &r1);
    uint64_t u = tv_ns(r1.ru_utime) - tv_ns(r0.ru_utime), k = tv_ns(r1.ru_stime) - tv_ns(r0.ru_stime);
    printf("ns_per_pair=%.1f\ncpu_ns_per_pair=%.1f\nuser_ns_per_pair=%.1f\n",
           (double)(t1 - t0) / (double)pairs, (double)(u + k) / (double)pairs, (double)u / (double)pairs);
    return 0;
}
