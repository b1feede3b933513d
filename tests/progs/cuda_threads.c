/* cuda_threads.c — many threads allocate and free device memory through the runtime double at
 * once, near the budget; checks that the device never holds more than the budget, that every
 * refusal is CUDA's out-of-memory code, and that all is credited at the end.
 *   cuda_threads THREADS ITERATIONS BUDGET_BYTES      (run under memfence, fake 1 GiB device) */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "../lib/fake_cudart.c"

static unsigned long long budget;
static int iters;
static _Atomic long granted, refused, bad_codes, over_budget;
static uint64_t (*dev_used)(int);

static void *worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u + 1;
    void *live[16] = { 0 };
    for (int i = 0; i < iters; i++) {
        int k = (int)(rand_r(&seed) % 16);
        if (live[k]) {
            if (cudaFree(live[k]) != cudaSuccess) bad_codes++;
            live[k] = NULL;
        } else {
            size_t n = 4096 + rand_r(&seed) % (1u << 20);
            cudaError_t e = cudaMalloc(&live[k], n);
            if (e == cudaSuccess) granted++;
            else if (e == cudaErrorMemoryAllocation) { refused++; live[k] = NULL; }
            else bad_codes++;
        }
        if (dev_used && dev_used(0) > budget) over_budget++;
    }
    for (int k = 0; k < 16; k++) if (live[k]) cudaFree(live[k]);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 4) return 2;
    int nt = atoi(argv[1]);
    iters = atoi(argv[2]);
    budget = strtoull(argv[3], NULL, 10);
    pthread_t t[64];
    size_t f = 0, tot = 0;
    if (cudaMemGetInfo(&f, &tot) != cudaSuccess) { printf("FAIL: no runtime\n"); return 1; }
    void *drv = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    dev_used = drv ? (uint64_t (*)(int))dlsym(drv, "fake_cuda_used") : NULL;
    for (int i = 0; i < nt && i < 64; i++) pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < nt && i < 64; i++) pthread_join(t[i], NULL);
    cudaMemGetInfo(&f, &tot);
    printf("granted %ld refused %ld bad_codes %ld over_budget %ld free %zu total %zu device_used %llu\n",
           (long)granted, (long)refused, (long)bad_codes, (long)over_budget, f, tot,
           (unsigned long long)(dev_used ? dev_used(0) : 0));
    int ok = bad_codes == 0 && over_budget == 0 && refused > 0 && granted > 0 && f == budget &&
             tot == budget && dev_used && dev_used(0) == 0;
    printf("%s\n", ok ? "ok" : "FAIL");
    return ok ? 0 : 1;
}
