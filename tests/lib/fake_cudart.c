/* fake_cudart.c — TEST DOUBLE of the CUDA runtime (libcudart).  Not NVIDIA's runtime: it does
 * what matters to memfence the way the real one does it — dlopen("libcuda.so.1"), dlsym only
 * "cuGetProcAddress", ask that for cuGetProcAddress itself at CUDA 12.0 (getting _v2), then fetch
 * every driver entry point through cuGetProcAddress_v2 by base name — and maps cudaMalloc,
 * cudaFree, cudaMallocAsync, cudaMallocManaged, cudaMallocPitch, cudaMallocHost, cudaHostAlloc,
 * cudaHostRegister, cudaMemGetInfo, cudaSetDevice onto them.  Every thread gets device 0's primary
 * context on first use, as with the real runtime.
 *
 * Built as build/tests/lib/fake_cudart.so (the shared runtime, -cudart shared) and also compiled
 * into test programs with #include (nvcc's default: the runtime linked statically).
 * Environment: FAKE_CUDART_DRIVER overrides the driver's name; FAKE_CUDART_PTDS=1 asks for the
 * per-thread-default-stream entry points (like code built with --default-stream per-thread).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>

#include "fake_cuda.h"

typedef CUresult (*gp1_t)(const char *, void **, int, cuuint64_t);
typedef CUresult (*gp2_t)(const char *, void **, int, cuuint64_t, CUdriverProcAddressQueryResult *);

#define RT_DRIVER(X) \
    X(cuInit, 2000, CUresult, (unsigned)) \
    X(cuDevicePrimaryCtxRetain, 7000, CUresult, (CUcontext *, CUdevice)) \
    X(cuCtxSetCurrent, 4000, CUresult, (CUcontext)) \
    X(cuDeviceGetCount, 2000, CUresult, (int *)) \
    X(cuMemGetInfo, 3020, CUresult, (size_t *, size_t *)) \
    X(cuMemAlloc, 3020, CUresult, (CUdeviceptr *, size_t)) \
    X(cuMemAllocManaged, 6000, CUresult, (CUdeviceptr *, size_t, unsigned)) \
    X(cuMemAllocPitch, 3020, CUresult, (CUdeviceptr *, size_t *, size_t, size_t, unsigned)) \
    X(cuMemAllocAsync, 11020, CUresult, (CUdeviceptr *, size_t, CUstream)) \
    X(cuMemFree, 3020, CUresult, (CUdeviceptr)) \
    X(cuMemFreeAsync, 11020, CUresult, (CUdeviceptr, CUstream)) \
    X(cuMemAllocHost, 3020, CUresult, (void **, size_t)) \
    X(cuMemHostAlloc, 2020, CUresult, (void **, size_t, unsigned)) \
    X(cuMemFreeHost, 2000, CUresult, (void *)) \
    X(cuMemHostRegister, 6050, CUresult, (void *, size_t, unsigned)) \
    X(cuMemHostUnregister, 4000, CUresult, (void *))

static struct {
#define RT_FIELD(name, ver, ret, params) ret (*name) params;
    RT_DRIVER(RT_FIELD)
#undef RT_FIELD
} rt_drv;
static pthread_once_t rt_once = PTHREAD_ONCE_INIT;
static int rt_ok;
static __thread int rt_dev = -1;

static void rt_load(void)
{
    const char *name = getenv("FAKE_CUDART_DRIVER");
    void *h = dlopen(name && *name ? name : "libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) return;
    gp1_t gp1 = (gp1_t)dlsym(h, "cuGetProcAddress");
    gp2_t gp2 = NULL;
    if (!gp1 || gp1("cuGetProcAddress", (void **)&gp2, 12000, 0) != CUDA_SUCCESS || !gp2) return;
    const char *p = getenv("FAKE_CUDART_PTDS");
    cuuint64_t flags = p && p[0] == '1' ? CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM
                                        : CU_GET_PROC_ADDRESS_LEGACY_STREAM;
    CUdriverProcAddressQueryResult st;
#define RT_FETCH(name, ver, ret, params) \
    if (gp2(#name, (void **)&rt_drv.name, 12000, flags, &st) != CUDA_SUCCESS) return;
    RT_DRIVER(RT_FETCH)
#undef RT_FETCH
    rt_ok = rt_drv.cuInit(0) == CUDA_SUCCESS;
}

static cudaError_t rt_err(CUresult r)
{
    switch (r) {
    case CUDA_SUCCESS: return cudaSuccess;
    case CUDA_ERROR_OUT_OF_MEMORY: return cudaErrorMemoryAllocation;
    case CUDA_ERROR_INVALID_VALUE: return cudaErrorInvalidValue;
    default: return 999;  /* cudaErrorUnknown */
    }
}

static cudaError_t rt_use(int dev)
{
    pthread_once(&rt_once, rt_load);
    if (!rt_ok) return cudaErrorInitializationError;
    CUcontext ctx;
    CUresult r = rt_drv.cuDevicePrimaryCtxRetain(&ctx, dev);
    if (r == CUDA_SUCCESS) r = rt_drv.cuCtxSetCurrent(ctx);
    if (r == CUDA_SUCCESS) rt_dev = dev;
    return r == CUDA_SUCCESS ? cudaSuccess : 101; /* cudaErrorInvalidDevice */
}
#define RT_ENTER() do { if (rt_dev < 0) { cudaError_t e_ = rt_use(0); if (e_) return e_; } } while (0)

cudaError_t cudaSetDevice(int dev) { return rt_use(dev); }
cudaError_t cudaGetDeviceCount(int *n) { RT_ENTER(); return rt_err(rt_drv.cuDeviceGetCount(n)); }
cudaError_t cudaMemGetInfo(size_t *f, size_t *t) { RT_ENTER(); return rt_err(rt_drv.cuMemGetInfo(f, t)); }
cudaError_t cudaMalloc(void **p, size_t n)
{
    RT_ENTER();
    if (!p) return cudaErrorInvalidValue;
    if (n == 0) { *p = NULL; return cudaSuccess; }
    return rt_err(rt_drv.cuMemAlloc((CUdeviceptr *)p, n));
}
cudaError_t cudaMallocManaged(void **p, size_t n, unsigned flags)
{ RT_ENTER(); return rt_err(rt_drv.cuMemAllocManaged((CUdeviceptr *)p, n, flags ? flags : 1)); }
cudaError_t cudaMallocPitch(void **p, size_t *pitch, size_t w, size_t h)
{ RT_ENTER(); return rt_err(rt_drv.cuMemAllocPitch((CUdeviceptr *)p, pitch, w, h, 16)); }
cudaError_t cudaMallocAsync(void **p, size_t n, CUstream s)
{ RT_ENTER(); return rt_err(rt_drv.cuMemAllocAsync((CUdeviceptr *)p, n, s)); }
cudaError_t cudaFree(void *p) { RT_ENTER(); return rt_err(rt_drv.cuMemFree((CUdeviceptr)p)); }
cudaError_t cudaFreeAsync(void *p, CUstream s) { RT_ENTER(); return rt_err(rt_drv.cuMemFreeAsync((CUdeviceptr)p, s)); }
cudaError_t cudaMallocHost(void **p, size_t n) { RT_ENTER(); return rt_err(rt_drv.cuMemAllocHost(p, n)); }
cudaError_t cudaHostAlloc(void **p, size_t n, unsigned flags) { RT_ENTER(); return rt_err(rt_drv.cuMemHostAlloc(p, n, flags)); }
cudaError_t cudaFreeHost(void *p) { RT_ENTER(); return rt_err(rt_drv.cuMemFreeHost(p)); }
cudaError_t cudaHostRegister(void *p, size_t n, unsigned flags) { RT_ENTER(); return rt_err(rt_drv.cuMemHostRegister(p, n, flags)); }
cudaError_t cudaHostUnregister(void *p) { RT_ENTER(); return rt_err(rt_drv.cuMemHostUnregister(p)); }
