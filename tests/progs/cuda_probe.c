/* cuda_probe.c — what a CUDA probe in a program that never uses CUDA sees under memfence: no
 * driver, runtime or NVML name resolves in the global scope, no CUDA library is mapped, and
 * ordinary dlsym lookups (RTLD_DEFAULT, RTLD_NEXT, a handle) still work.  Prints "ok" lines;
 * exit 1 on a failure. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    static const char *names[] = { "cuInit", "cuGetProcAddress", "cuGetProcAddress_v2", "cuMemAlloc_v2",
        "cuMemGetInfo_v2", "cuDeviceTotalMem_v2", "cudaMalloc", "cudaGetDeviceCount", "cudaMemGetInfo",
        "nvmlInit_v2", "nvmlDeviceGetMemoryInfo" };
    int bad = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (dlsym(RTLD_DEFAULT, names[i])) { printf("FAIL: %s resolves\n", names[i]); bad++; }
    if (!dlsym(RTLD_DEFAULT, "printf") || !dlsym(RTLD_NEXT, "puts")) { printf("FAIL: plain lookups\n"); bad++; }
    void *m = dlopen("libm.so.6", RTLD_NOW);
    if (!m || !dlsym(m, "cos") || !dlvsym(m, "cos", "GLIBC_2.2.5")) { printf("FAIL: handle lookups\n"); bad++; }
    char line[512];
    FILE *f = fopen("/proc/self/maps", "r");
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, "libcuda") || strstr(line, "nvidia-ml") || strstr(line, "cudart")) {
            printf("FAIL: mapped: %s", line); bad++;
        }
    if (f) fclose(f);
    printf("%s\n", bad ? "FAIL" : "ok: no CUDA name, no CUDA library, lookups intact");
    return bad ? 1 : 0;
}
