/* cuda_alloc.c — the cudaMalloc/cudaFree loop of the GPU benchmark (bench/b-40-cuda.sh): the
 * runtime double compiled in (like nvcc's static runtime) on the fake driver, or a real
 * libcudart when BENCH_CUDART names one.  Prints the median nanoseconds of one
 * cudaMalloc + cudaFree pair over ROUNDS rounds of N pairs.
 *   cuda_alloc N ROUNDS SIZE */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../tests/lib/fake_cudart.c"

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000, rounds = argc > 2 ? atol(argv[2]) : 7;
    size_t size = argc > 3 ? strtoull(argv[3], NULL, 10) : 1 << 20;
    cudaError_t (*mall)(void **, size_t) = cudaMalloc;
    cudaError_t (*fr)(void *) = cudaFree;
    const char *real = getenv("BENCH_CUDART");
    if (real && *real) {
        void *h = dlopen(real, RTLD_NOW);
        if (!h) { fprintf(stderr, "%s\n", dlerror()); return 2; }
        mall = (cudaError_t (*)(void **, size_t))dlsym(h, "cudaMalloc");
        fr = (cudaError_t (*)(void *))dlsym(h, "cudaFree");
    }
    void *p;
    if (!mall || !fr || mall(&p, size) != 0 || fr(p) != 0) { fprintf(stderr, "no CUDA\n"); return 2; }
    double *ns = calloc((size_t)rounds, sizeof *ns);
    for (long r = 0; r < rounds; r++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (long i = 0; i < n; i++) {
            if (mall(&p, size) != 0) return 3;
            fr(p);
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        ns[r] = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n;
    }
    qsort(ns, (size_t)rounds, sizeof *ns, cmp);
    printf("%.1f\n", ns[rounds / 2]);
    return 0;
}
