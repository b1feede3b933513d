/* cuda_driver.c — a CUDA driver API user for the GPU tests (with the fake libcuda.so.1 double):
 * reaches every call memfence hooks through dlsym, dlvsym and cuGetProcAddress_v2 and checks
 * what it sees.  Run under memfence with MEMFENCE_GPU_LIMIT=64M, MEMFENCE_LIMIT=256M and a
 * 1 GiB fake device.  Prints "ok: ..." per check and "FAIL: ..." on failure; exit 1 on any failure.
 *   cuda_driver fenced     all checks under the budget
 *   cuda_driver plain      without memfence: the double's own answers (sanity of the double) */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/fake_cuda.h"

#define M (1ull << 20)
static int failures;
#define CHECK(c, ...) do { if (c) { printf("ok: "); } else { printf("FAIL: "); failures++; } \
    printf(__VA_ARGS__); printf("\n"); } while (0)

typedef CUresult (*gp2_t)(const char *, void **, int, cuuint64_t, CUdriverProcAddressQueryResult *);
typedef CUresult (*gp1_t)(const char *, void **, int, cuuint64_t);
static void *drv;

static const char *owner(void *p)
{
    Dl_info di;
    if (!p || !dladdr(p, &di) || !di.dli_fname) return "?";
    const char *s = strrchr(di.dli_fname, '/');
    return s ? s + 1 : di.dli_fname;
}
static int in_double(void *p) { return strstr(owner(p), "fake_cuda") || strstr(owner(p), "libcuda"); }
static int in_memfence(void *p) { return strstr(owner(p), "memfence") != NULL; }

static CUresult (*MemGetInfo)(size_t *, size_t *);
static size_t view_free(void) { size_t f = 0, t = 0; MemGetInfo(&f, &t); return f; }

int main(int argc, char **argv)
{
    int fenced = argc > 1 && !strcmp(argv[1], "fenced");
    unsigned long long B = 64 * M, DEVMEM = 1024 * M;
    CHECK(dlsym(RTLD_DEFAULT, "cuMemAlloc_v2") == NULL, "no driver symbol before the driver is loaded");
    drv = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!drv) { printf("FAIL: dlopen libcuda.so.1: %s\n", dlerror()); return 1; }
    uint64_t (*used)(int) = (uint64_t (*)(int))dlsym(drv, "fake_cuda_used");
    unsigned long (*calls)(const char *) = (unsigned long (*)(const char *))dlsym(drv, "fake_cuda_calls");
    CHECK(used && calls, "the double's introspection passes through dlsym");

#define SYM(name, ret, ...) ret (*name)(__VA_ARGS__) = (ret (*)(__VA_ARGS__))dlsym(drv, #name)
    SYM(cuInit, CUresult, unsigned);
    SYM(cuDevicePrimaryCtxRetain, CUresult, CUcontext *, CUdevice);
    SYM(cuCtxSetCurrent, CUresult, CUcontext);
    SYM(cuMemAlloc_v2, CUresult, CUdeviceptr *, size_t);
    SYM(cuMemFree_v2, CUresult, CUdeviceptr);
    SYM(cuMemAllocPitch_v2, CUresult, CUdeviceptr *, size_t *, size_t, size_t, unsigned);
    SYM(cuMemAllocManaged, CUresult, CUdeviceptr *, size_t, unsigned);
    SYM(cuMemAllocFromPoolAsync, CUresult, CUdeviceptr *, size_t, CUmemoryPool, CUstream);
    SYM(cuMemFreeAsync, CUresult, CUdeviceptr, CUstream);
    SYM(cuMemCreate, CUresult, CUmemGenericAllocationHandle *, size_t, const CUmemAllocationProp *, unsigned long long);
    SYM(cuMemRelease, CUresult, CUmemGenericAllocationHandle);
    SYM(cuMemAddressReserve, CUresult, CUdeviceptr *, size_t, size_t, CUdeviceptr, unsigned long long);
    SYM(cuMemMap, CUresult, CUdeviceptr, size_t, size_t, CUmemGenericAllocationHandle, unsigned long long);
    SYM(cuMemUnmap, CUresult, CUdeviceptr, size_t);
    SYM(cuMemAddressFree, CUresult, CUdeviceptr, size_t);
    SYM(cuMemAllocHost_v2, CUresult, void **, size_t);
    SYM(cuMemHostAlloc, CUresult, void **, size_t, unsigned);
    SYM(cuMemFreeHost, CUresult, void *);
    SYM(cuMemHostRegister_v2, CUresult, void *, size_t, unsigned);
    SYM(cuMemHostUnregister, CUresult, void *);
    SYM(cuDeviceTotalMem_v2, CUresult, size_t *, CUdevice);
    SYM(cuMemcpyHtoD_v2, CUresult, CUdeviceptr, const void *, size_t);
    gp1_t cuGetProcAddress = (gp1_t)dlsym(drv, "cuGetProcAddress");
    MemGetInfo = (CUresult (*)(size_t *, size_t *))dlsym(drv, "cuMemGetInfo_v2");

    /* lookups: hooked names come from memfence, others from the driver untouched */
    CHECK(fenced ? in_memfence((void *)cuMemAlloc_v2) : in_double((void *)cuMemAlloc_v2),
          "dlsym(cuMemAlloc_v2) answered by %s", owner((void *)cuMemAlloc_v2));
    CHECK(in_double((void *)cuMemcpyHtoD_v2) && in_double((void *)cuInit) && in_double((void *)cuMemMap) &&
          in_double((void *)cuMemAddressReserve), "unhooked names pass through (cuMemcpyHtoD_v2 in %s)",
          owner((void *)cuMemcpyHtoD_v2));
    CHECK(dlsym(drv, "cuNoSuchFunction") == NULL, "an unknown name stays unknown");
    void *vs = dlvsym(drv, "cuMemFree_v2", "libcuda.so.1");
    CHECK(vs == NULL || (fenced ? in_memfence(vs) : in_double(vs)), "dlvsym(cuMemFree_v2) answered by %s", owner(vs));

    CUcontext ctx;
    CHECK(cuInit(0) == 0 && cuDevicePrimaryCtxRetain(&ctx, 0) == 0 && cuCtxSetCurrent(ctx) == 0, "context");
    size_t f = 0, t = 0, tot = 0;
    CHECK(MemGetInfo(&f, &t) == 0 && t == (fenced ? B : DEVMEM) && f == t, "cuMemGetInfo_v2: free %zu total %zu", f, t);
    CHECK(MemGetInfo(NULL, &t) == 0 && MemGetInfo(&f, NULL) == 0 && MemGetInfo(NULL, NULL) == 0, "cuMemGetInfo_v2 with NULL pointers");
    CHECK(cuDeviceTotalMem_v2(&tot, 0) == 0 && tot == (fenced ? B : DEVMEM), "cuDeviceTotalMem_v2: %zu", tot);
    if (!fenced) return failures ? 1 : 0;

    /* cuMemAlloc_v2 / cuMemFree_v2 */
    CUdeviceptr a = 0, b = 0, c = 0;
    CHECK(cuMemAlloc_v2(&a, 40 * M) == 0 && view_free() == B - 40 * M, "cuMemAlloc_v2 40M charged");
    CHECK(cuMemAlloc_v2(&b, 30 * M) == CUDA_ERROR_OUT_OF_MEMORY && used(0) == 40 * M,
          "cuMemAlloc_v2 beyond the budget: CUDA_ERROR_OUT_OF_MEMORY, nothing reached the device");
    CHECK(cuMemAlloc_v2(&b, 24 * M) == 0 && view_free() == 0, "allocations up to the budget exactly fit");
    CHECK(cuMemAlloc_v2(&c, 1) == CUDA_ERROR_OUT_OF_MEMORY, "one byte more is refused");
    CHECK(cuMemFree_v2(b) == 0 && cuMemFree_v2(a) == 0 && view_free() == B && used(0) == 0, "cuMemFree_v2 credits");
    CHECK(cuMemFree_v2(a) == CUDA_ERROR_INVALID_VALUE && view_free() == B, "a double free credits nothing");

    /* pitch: the real pitch x height */
    size_t pitch = 0;
    CHECK(cuMemAllocPitch_v2(&a, &pitch, 1000, 1000, 16) == 0 && pitch == 1024 && view_free() == B - 1024 * 1000,
          "cuMemAllocPitch_v2 charges pitch x height (%zu x 1000)", pitch);
    CHECK(cuMemFree_v2(a) == 0 && view_free() == B, "pitched block credited");

    /* managed, pool, async (legacy stream) */
    CHECK(cuMemAllocManaged(&a, 16 * M, 1) == 0 && cuMemAllocFromPoolAsync(&b, 16 * M, NULL, NULL) == 0 &&
          view_free() == B - 32 * M, "cuMemAllocManaged + cuMemAllocFromPoolAsync charged");
    CHECK(cuMemAllocFromPoolAsync(&c, 40 * M, NULL, NULL) == CUDA_ERROR_OUT_OF_MEMORY, "pool allocation refused at the budget");
    CHECK(cuMemFreeAsync(b, NULL) == 0 && cuMemFree_v2(a) == 0 && view_free() == B, "cuMemFreeAsync credits");

    /* VMM: reservations and mappings never count; physical memory does */
    CUdeviceptr va = 0;
    CUmemGenericAllocationHandle h1 = 0, h2 = 0, hh = 0;
    CUmemAllocationProp prop = { .type = CU_MEM_ALLOCATION_TYPE_PINNED, .location = { CU_MEM_LOCATION_TYPE_DEVICE, 0 } };
    CHECK(cuMemAddressReserve(&va, 32ull << 30, 0, 0, 0) == 0 && view_free() == B, "a 32 GiB cuMemAddressReserve counts nothing");
    CHECK(cuMemCreate(&h1, 32 * M, &prop, 0) == 0 && view_free() == B - 32 * M, "cuMemCreate on the device charged");
    CHECK(cuMemMap(va, 32 * M, 0, h1, 0) == 0 && view_free() == B - 32 * M, "cuMemMap counts nothing");
    CHECK(cuMemCreate(&h2, 40 * M, &prop, 0) == CUDA_ERROR_OUT_OF_MEMORY, "cuMemCreate beyond the budget refused");
    CHECK(cuMemUnmap(va, 32 * M) == 0 && cuMemRelease(h1) == 0 && cuMemAddressFree(va, 32ull << 30) == 0 &&
          view_free() == B, "cuMemRelease credits");
    prop.location.type = CU_MEM_LOCATION_TYPE_HOST;
    CHECK(cuMemCreate(&hh, 300 * M, &prop, 0) == CUDA_ERROR_OUT_OF_MEMORY, "cuMemCreate at a host location: the host budget");
    CHECK(cuMemCreate(&hh, 8 * M, &prop, 0) == 0 && view_free() == B && cuMemRelease(hh) == 0, "host-located handle leaves the device pool alone");

    /* pinned host memory: the host budget (256M) */
    void *p1 = NULL, *p2 = NULL, *p3 = NULL;
    CHECK(cuMemAllocHost_v2(&p1, 100 * M) == 0 && cuMemHostAlloc(&p2, 100 * M, 0) == 0, "pinned allocations within the host budget");
    CHECK(cuMemHostAlloc(&p3, 100 * M, 0) == CUDA_ERROR_OUT_OF_MEMORY, "pinned allocation beyond the host budget refused");
    CHECK(cuMemFreeHost(p1) == 0 && cuMemHostAlloc(&p3, 100 * M, 0) == 0, "cuMemFreeHost makes room");
    CHECK(cuMemFreeHost(p2) == 0 && cuMemFreeHost(p3) == 0, "pinned memory freed");
    static char big[64 << 20];
    CHECK(cuMemHostRegister_v2(big, sizeof big, 0) == 0 && cuMemHostUnregister(big) == 0, "cuMemHostRegister_v2 / cuMemHostUnregister");
    CHECK(view_free() == B && used(0) == 0, "device back to empty");

    /* cuGetProcAddress: the runtime's path */
    gp2_t gp2 = NULL;
    CHECK(cuGetProcAddress && in_memfence((void *)cuGetProcAddress), "dlsym(cuGetProcAddress) answered by memfence");
    CHECK(cuGetProcAddress("cuGetProcAddress", (void **)&gp2, 12000, 0) == 0 && in_memfence((void *)gp2),
          "cuGetProcAddress(cuGetProcAddress, 12000) gives memfence's _v2");
    void *fn = NULL;
    CUdriverProcAddressQueryResult st = -1;
    CHECK(gp2("cuMemAlloc", &fn, 12000, 0, &st) == 0 && st == 0 && in_memfence(fn), "cuGetProcAddress_v2(cuMemAlloc, 12000) hooked");
    CHECK(gp2("cuMemAlloc", &fn, 3000, 0, &st) == 0 && in_double(fn), "cuMemAlloc at 3.0 (the 32-bit ABI) passes untouched");
    CHECK(gp2("cuMemcpyHtoD", &fn, 12000, 0, &st) == 0 && in_double(fn), "unhooked entry points pass untouched");
    CHECK(gp2("cuNoSuchThing", &fn, 12000, 0, &st) == CUDA_ERROR_NOT_FOUND && fn == NULL && st == 1, "unknown names: the driver's answer");
    CUresult (*aa)(CUdeviceptr *, size_t, CUstream) = NULL;
    CUresult (*fa)(CUdeviceptr, CUstream) = NULL;
    unsigned long before = calls("cuMemAllocAsync_ptsz");
    CHECK(gp2("cuMemAllocAsync", (void **)&aa, 12000, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, &st) == 0 &&
          gp2("cuMemFreeAsync", (void **)&fa, 12000, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, &st) == 0 &&
          in_memfence((void *)aa) && in_memfence((void *)fa), "per-thread-stream entry points hooked");
    CHECK(aa(&a, 8 * M, NULL) == 0 && calls("cuMemAllocAsync_ptsz") == before + 1 && view_free() == B - 8 * M,
          "the hook reaches the driver's _ptsz entry point and charges");
    CHECK(aa(&b, 60 * M, NULL) == CUDA_ERROR_OUT_OF_MEMORY, "async allocation refused at the budget");
    CHECK(fa(a, NULL) == 0 && calls("cuMemFreeAsync_ptsz") >= 1 && view_free() == B, "async free credits");
    unsigned long legacy = calls("cuMemAllocAsync");
    CHECK(gp2("cuMemAllocAsync", (void **)&aa, 12000, CU_GET_PROC_ADDRESS_LEGACY_STREAM, &st) == 0 &&
          aa(&a, M, NULL) == 0 && calls("cuMemAllocAsync") == legacy + 1 && cuMemFree_v2(a) == 0,
          "the legacy-stream entry point stays distinct");
    CHECK(gp2("cuMemGetInfo", &fn, 12000, 0, &st) == 0 && in_memfence(fn), "cuMemGetInfo through cuGetProcAddress hooked");
    gp2_t gp2d = (gp2_t)dlsym(drv, "cuGetProcAddress_v2");
    CHECK(gp2d && in_memfence((void *)gp2d) && gp2d("cuMemFree", &fn, 12000, 0, &st) == 0 && in_memfence(fn),
          "dlsym(cuGetProcAddress_v2) answered by memfence, and its answers hooked");
    unsigned long plain = calls("cuMemAlloc_v2");
    CUresult (*ma)(CUdeviceptr *, size_t) = NULL;
    CHECK(gp2d("cuMemAlloc", (void **)&ma, 12000, 0, &st) == 0 && ma(&a, 70 * M) == CUDA_ERROR_OUT_OF_MEMORY &&
          ma(&a, M) == 0 && calls("cuMemAlloc_v2") == plain + 1 && cuMemFree_v2(a) == 0 && view_free() == B,
          "an entry point from cuGetProcAddress_v2 is fenced and reaches the driver once per grant");
    CUresult (*pa)(CUdeviceptr *, size_t, CUmemoryPool, CUstream) = NULL;
    unsigned long pc = calls("cuMemAllocFromPoolAsync_ptsz");
    CHECK(gp2("cuMemAllocFromPoolAsync", (void **)&pa, 12000, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, &st) == 0 &&
          in_memfence((void *)pa) && pa(&a, 60 * M, NULL, NULL) == 0 && pa(&b, 8 * M, NULL, NULL) == CUDA_ERROR_OUT_OF_MEMORY &&
          calls("cuMemAllocFromPoolAsync_ptsz") == pc + 1 && cuMemFree_v2(a) == 0 && view_free() == B,
          "cuMemAllocFromPoolAsync_ptsz fenced");
    CHECK(cuGetProcAddress("cuMemAlloc", &fn, 11040, 0) == 0 && in_memfence(fn) &&
          ((CUresult (*)(CUdeviceptr *, size_t))fn)(&a, 65 * M) == CUDA_ERROR_OUT_OF_MEMORY,
          "cuGetProcAddress (v1, CUDA 11.4) answers hooked names too");
    const char *ptds = getenv("CUDA_API_PER_THREAD_DEFAULT_STREAM");
    if (ptds && ptds[0] == '1') {
        unsigned long c0 = calls("cuMemAllocAsync_ptsz");
        CHECK(gp2("cuMemAllocAsync", (void **)&aa, 12000, CU_GET_PROC_ADDRESS_DEFAULT, &st) == 0 &&
              in_memfence((void *)aa) && aa(&a, M, NULL) == 0 && calls("cuMemAllocAsync_ptsz") == c0 + 1 &&
              cuMemFree_v2(a) == 0, "default flags with CUDA_API_PER_THREAD_DEFAULT_STREAM=1: the _ptsz entry point");
    }
    return failures ? 1 : 0;
}
