/* cuda_nvml.c — an NVML memory probe (like nvidia-smi's library users and ollama's discovery):
 * dlopens libnvidia-ml.so.1 and prints, for each device, what nvmlDeviceGetMemoryInfo and
 * nvmlDeviceGetMemoryInfo_v2 report:  "dev I v1 total T free F used U" and "... v2 ...". */
#include <dlfcn.h>
#include <stdio.h>

#include "../lib/fake_cuda.h"

int main(void)
{
    void *h = dlopen("libnvidia-ml.so.1", RTLD_NOW);
    if (!h) { printf("FAIL: %s\n", dlerror()); return 1; }
    nvmlReturn_t (*init)(void) = (nvmlReturn_t (*)(void))dlsym(h, "nvmlInit_v2");
    nvmlReturn_t (*count)(unsigned *) = (nvmlReturn_t (*)(unsigned *))dlsym(h, "nvmlDeviceGetCount_v2");
    nvmlReturn_t (*get)(unsigned, nvmlDevice_t *) = (nvmlReturn_t (*)(unsigned, nvmlDevice_t *))dlsym(h, "nvmlDeviceGetHandleByIndex_v2");
    nvmlReturn_t (*mem1)(nvmlDevice_t, nvmlMemory_t *) = (nvmlReturn_t (*)(nvmlDevice_t, nvmlMemory_t *))dlsym(h, "nvmlDeviceGetMemoryInfo");
    nvmlReturn_t (*mem2)(nvmlDevice_t, nvmlMemory_v2_t *) = (nvmlReturn_t (*)(nvmlDevice_t, nvmlMemory_v2_t *))dlsym(h, "nvmlDeviceGetMemoryInfo_v2");
    unsigned n = 0;
    if (!init || !count || !get || !mem1 || !mem2 || init() || count(&n)) { printf("FAIL: nvml\n"); return 1; }
    for (unsigned i = 0; i < n; i++) {
        nvmlDevice_t d;
        nvmlMemory_t m1;
        nvmlMemory_v2_t m2 = { .version = nvmlMemory_v2 };
        if (get(i, &d) || mem1(d, &m1) || mem2(d, &m2)) { printf("FAIL: dev %u\n", i); return 1; }
        printf("dev %u v1 total %llu free %llu used %llu\n", i, m1.total, m1.free, m1.used);
        printf("dev %u v2 total %llu free %llu used %llu reserved %llu\n", i, m2.total, m2.free, m2.used, m2.reserved);
        printf("dev %u null -> %d\n", i, mem1(d, NULL));
    }
    return 0;
}
