/* profile_realloc — realloc under profiling: blocks the profiler sampled, grown and shrunk in
 * place and moved by realloc, must leave the profile and the budget exactly as free would.
 *   churn_site   NBLOCKS blocks, each realloc'd through sizes from 16 B to 96 KiB (in place,
 *                moved, into and out of glibc's mapped chunks) and freed: nothing of it may stay
 *                live in the profile;
 *   kept_site    4096 blocks grown by realloc from 16 B to 4 KiB and kept: 16 MiB live.
 * Prints "used BEFORE AFTER" (memfence_used around churn_site, equal when every realloc's charge
 * was settled) and "ready PID". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memfence.h"

static const size_t steps[] = { 24, 200, 40, 3000, 100, 70000, 500, 98304, 16, 5000, 64 };

__attribute__((noinline)) void churn_site(size_t nblocks)
{
    void **v = calloc(nblocks, sizeof *v);
    if (!v)
        exit(3);
    for (size_t i = 0; i < nblocks; i++) {
        v[i] = malloc(16);
        if (!v[i])
            exit(3);
        memset(v[i], 7, 16);
    }
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++)
        for (size_t i = 0; i < nblocks; i++) {
            size_t k = (i + s) % (sizeof steps / sizeof steps[0]);
            unsigned char *q = realloc(v[i], steps[k]);
            if (!q)
                exit(4);
            if (q[0] != 7) {          /* the first byte survives every move */
                fprintf(stderr, "realloc lost the block's contents\n");
                exit(5);
            }
            q[steps[k] - 1] = 1;
            v[i] = q;
        }
    for (size_t i = 0; i < nblocks; i++)
        free(v[i]);
    free(v);
}

__attribute__((noinline)) void **kept_site(void)
{
    void **v = calloc(4096, sizeof *v);
    if (!v)
        exit(3);
    for (size_t i = 0; i < 4096; i++) {
        v[i] = malloc(16);
        void *q = realloc(v[i], 4096 - 16);   /* usable 4096 - 8 on glibc */
        if (!q)
            exit(4);
        v[i] = q;
    }
    return v;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 20000;
    setvbuf(stdout, NULL, _IONBF, 0);
    printf("start\n");
    uint64_t before = memfence_present() ? memfence_used(0) : 0;
    churn_site(n);
    uint64_t after = memfence_present() ? memfence_used(0) : 0;
    printf("used %llu %llu\n", (unsigned long long)before, (unsigned long long)after);
    void **kept = kept_site();
    printf("ready %d\n", (int)getpid());
    (void)kept;
    return 0;
}
