/* cuda_direct.c — a library linked directly against the driver (tests/lib/fake_ggml.so, like
 * ggml-cuda's VMM pool) under a 64 MiB GPU budget: its calls must be fenced although they never
 * pass through dlsym.  The driver is loaded RTLD_GLOBAL first, then the library (RTLD_NOW, or
 * RTLD_LAZY with "lazy": its PLT slots still unbound), then a runtime-style lookup happens.
 *   cuda_direct now|lazy     prints ok/FAIL lines; exit 1 on a failure */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/fake_cuda.h"

#define M (1ull << 20)
static int failures;
#define CHECK(c, ...) do { if (c) printf("ok: "); else { printf("FAIL: "); failures++; } \
    printf(__VA_ARGS__); printf("\n"); } while (0)

int main(int argc, char **argv)
{
    int lazy = argc > 1 && !strcmp(argv[1], "lazy");
    const char *path = getenv("FAKE_GGML");
    void *drv = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
    void *g = drv && path ? dlopen(path, lazy ? RTLD_LAZY : RTLD_NOW) : NULL;
    if (!g) { printf("FAIL: load: %s\n", dlerror()); return 1; }
    (void)dlsym(drv, "cuInit");      /* what the runtime does on its first call */
    int (*init)(void) = (int (*)(void))dlsym(g, "fake_ggml_init");
    int (*create)(size_t, unsigned long long *) = (int (*)(size_t, unsigned long long *))dlsym(g, "fake_ggml_create");
    int (*release)(unsigned long long) = (int (*)(unsigned long long))dlsym(g, "fake_ggml_release");
    int (*reserve)(size_t) = (int (*)(size_t))dlsym(g, "fake_ggml_reserve");
    int (*alloc)(size_t, CUdeviceptr *) = (int (*)(size_t, CUdeviceptr *))dlsym(g, "fake_ggml_alloc");
    int (*dfree)(CUdeviceptr) = (int (*)(CUdeviceptr))dlsym(g, "fake_ggml_free");
    int (*info)(size_t *, size_t *) = (int (*)(size_t *, size_t *))dlsym(g, "fake_ggml_info");
    uint64_t (*used)(int) = (uint64_t (*)(int))dlsym(drv, "fake_cuda_used");
    size_t f = 0, t = 0;
    unsigned long long h1 = 0, h2 = 0;
    CUdeviceptr p = 0, q = 0;
    CHECK(init() == 0, "context");
    CHECK(info(&f, &t) == 0 && t == 64 * M && f == 64 * M, "direct cuMemGetInfo_v2 shows the budget (%zu)", t);
    CHECK(reserve(32ull << 30) == 0, "a 32 GiB reservation");
    CHECK(create(48 * M, &h1) == 0 && create(32 * M, &h2) == CUDA_ERROR_OUT_OF_MEMORY && used(0) == 48 * M,
          "direct cuMemCreate fenced");
    CHECK(alloc(16 * M, &p) == 0 && alloc(M, &q) == CUDA_ERROR_OUT_OF_MEMORY, "direct cuMemAlloc_v2 fenced");
    CHECK(dfree(p) == 0 && release(h1) == 0 && info(&f, &t) == 0 && f == 64 * M && used(0) == 0,
          "direct frees (through a function pointer too) credited");
    return failures ? 1 : 0;
}
