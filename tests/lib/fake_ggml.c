/* fake_ggml.c — TEST library that calls the driver the way ggml-cuda's VMM pool does: by name,
 * through its own GOT (undefined here, bound by the dynamic loader to the libcuda.so.1 in the
 * global scope), never through dlsym or cuGetProcAddress.  Loaded by tests/progs/cuda_direct. */
#include "fake_cuda.h"

CUresult cuDevicePrimaryCtxRetain(CUcontext *, CUdevice);
CUresult cuCtxSetCurrent(CUcontext);
CUresult cuMemCreate(CUmemGenericAllocationHandle *, size_t, const CUmemAllocationProp *, unsigned long long);
CUresult cuMemRelease(CUmemGenericAllocationHandle);
CUresult cuMemAddressReserve(CUdeviceptr *, size_t, size_t, CUdeviceptr, unsigned long long);
CUresult cuMemAlloc_v2(CUdeviceptr *, size_t);
CUresult cuMemFree_v2(CUdeviceptr);
CUresult cuMemGetInfo_v2(size_t *, size_t *);

/* A pointer taken to a driver function (a GLOB_DAT relocation rather than a PLT slot). */
CUresult (*fake_ggml_free_ptr)(CUdeviceptr) = cuMemFree_v2;

int fake_ggml_init(void)
{
    CUcontext ctx;
    int r = cuDevicePrimaryCtxRetain(&ctx, 0);
    return r ? r : cuCtxSetCurrent(ctx);
}
int fake_ggml_create(size_t n, unsigned long long *h)
{
    CUmemAllocationProp p = { .type = CU_MEM_ALLOCATION_TYPE_PINNED, .location = { CU_MEM_LOCATION_TYPE_DEVICE, 0 } };
    return cuMemCreate(h, n, &p, 0);
}
int fake_ggml_release(unsigned long long h) { return cuMemRelease(h); }
int fake_ggml_reserve(size_t n) { CUdeviceptr va; return cuMemAddressReserve(&va, n, 0, 0, 0); }
int fake_ggml_alloc(size_t n, CUdeviceptr *p) { return cuMemAlloc_v2(p, n); }
int fake_ggml_free(CUdeviceptr p) { return fake_ggml_free_ptr(p); }
int fake_ggml_info(size_t *f, size_t *t) { return cuMemGetInfo_v2(f, t); }
