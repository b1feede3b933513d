/* fake_cuda.c — TEST DOUBLE of the CUDA driver (libcuda.so.1).  Not NVIDIA's driver: it owns no
 * GPU and hands out device pointers that must never be dereferenced.  It implements, with the
 * driver's ABI, the calls memfence hooks and a few it must pass through untouched, so the GPU
 * paths are tested on machines without a GPU.  Tests install it as libcuda.so.1 in a directory
 * on LD_LIBRARY_PATH (build/tests/lib/fake_cuda.so).
 *
 * Configuration (environment):
 *   FAKE_CUDA_DEVICES   number of devices (default 1, at most 8)
 *   FAKE_CUDA_MEM       memory of each device: bytes with an optional K/M/G suffix (default 1G)
 * Like the driver, it refuses with CUDA_ERROR_OUT_OF_MEMORY what does not fit in the device,
 * needs a current context for allocations (cuDevicePrimaryCtxRetain + cuCtxSetCurrent) and
 * answers cuGetProcAddress by base name and version, with _ptsz variants per the flags.
 * For the tests' own checks it exports fake_cuda_used(dev) (bytes held on the device) and
 * fake_cuda_calls(name) (how many times an entry point ran), names no real driver has.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "fake_cuda.h"

#define MAXDEV 8
#define SLOTS (1u << 18)

static int ndev = -1;
static uint64_t devmem;
static _Atomic uint64_t used[MAXDEV];
static _Atomic uint64_t next_addr = 0x700000000000ull;
static _Atomic uint64_t next_handle = 1;
static __thread int cur_dev = -1;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct blk { uint64_t key, size; int dev, kind; } blk_t;   /* kind 0: empty, -1: dead */
static blk_t *blocks;

/* per-entry-point call counters */
#define COUNTED(X) X(cuMemAlloc_v2) X(cuMemAllocAsync) X(cuMemAllocAsync_ptsz) \
    X(cuMemAllocFromPoolAsync) X(cuMemAllocFromPoolAsync_ptsz) X(cuMemFree_v2) \
    X(cuMemFreeAsync) X(cuMemFreeAsync_ptsz) X(cuMemcpyHtoD_v2) X(cuMemGetInfo_v2)
enum {
#define E(n) C_##n,
    COUNTED(E)
#undef E
    C_COUNT
};
static const char *cnames[] = {
#define E(n) #n,
    COUNTED(E)
#undef E
};
static _Atomic unsigned long calls[C_COUNT];
#define COUNT(n) atomic_fetch_add(&calls[C_##n], 1)

static void setup(void)
{
    if (ndev >= 0) return;
    pthread_mutex_lock(&lock);
    if (ndev < 0) {
        devmem = fake_env_size("FAKE_CUDA_MEM", 1ull << 30);
        int n = (int)fake_env_size("FAKE_CUDA_DEVICES", 1);
        blocks = mmap(NULL, SLOTS * sizeof(blk_t), PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        ndev = n < 0 ? 0 : n > MAXDEV ? MAXDEV : n;
    }
    pthread_mutex_unlock(&lock);
}

static uint64_t mix(uint64_t k) { k *= 0x9E3779B97F4A7C15ull; return k ^ (k >> 31); }

static void put(uint64_t key, uint64_t size, int dev, int kind)
{
    pthread_mutex_lock(&lock);
    uint32_t i = (uint32_t)mix(key) & (SLOTS - 1);
    while (blocks[i].kind > 0) i = (i + 1) & (SLOTS - 1);
    blocks[i] = (blk_t){ key, size, dev, kind };
    pthread_mutex_unlock(&lock);
}

/* Removes (key, kind); returns 0 and the block, or -1. */
static int take(uint64_t key, int kind, blk_t *out)
{
    int rc = -1;
    pthread_mutex_lock(&lock);
    uint32_t i = (uint32_t)mix(key) & (SLOTS - 1);
    while (blocks[i].kind != 0) {
        if (blocks[i].kind == kind && blocks[i].key == key) {
            *out = blocks[i];
            blocks[i].kind = -1;
            rc = 0;
            break;
        }
        i = (i + 1) & (SLOTS - 1);
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

enum { K_DEV = 1, K_HOST = 2, K_HANDLE = 3, K_REG = 4, K_VA = 5 };

static CUresult dev_take(int dev, uint64_t n)
{
    uint64_t u = atomic_load(&used[dev]);
    do {
        if (n > devmem || u + n > devmem) return CUDA_ERROR_OUT_OF_MEMORY;
    } while (!atomic_compare_exchange_weak(&used[dev], &u, u + n));
    return CUDA_SUCCESS;
}

static CUresult dev_alloc(CUdeviceptr *p, uint64_t n, int dev)
{
    setup();
    if (!p || n == 0) return CUDA_ERROR_INVALID_VALUE;
    if (dev < 0) return CUDA_ERROR_INVALID_CONTEXT;
    CUresult r = dev_take(dev, n);
    if (r) return r;
    uint64_t a = atomic_fetch_add(&next_addr, (n + 511) & ~511ull);
    put(a, n, dev, K_DEV);
    *p = a;
    return CUDA_SUCCESS;
}

static CUresult dev_free(CUdeviceptr p)
{
    blk_t b;
    if (p == 0) return CUDA_SUCCESS;
    if (take(p, K_DEV, &b) != 0) return CUDA_ERROR_INVALID_VALUE;
    atomic_fetch_sub(&used[b.dev], b.size);
    return CUDA_SUCCESS;
}

/* ---- test introspection (not driver API) ---------------------------------------------------- */
uint64_t fake_cuda_used(int dev) { setup(); return dev >= 0 && dev < ndev ? used[dev] : 0; }
unsigned long fake_cuda_calls(const char *name)
{
    for (int i = 0; i < C_COUNT; i++) if (!strcmp(name, cnames[i])) return calls[i];
    return (unsigned long)-1;
}

/* ---- initialisation, devices, contexts ------------------------------------------------------ */
CUresult cuInit(unsigned int flags) { setup(); return CUDA_SUCCESS; }
CUresult cuDriverGetVersion(int *v) { if (!v) return CUDA_ERROR_INVALID_VALUE; *v = 12040; return 0; }
CUresult cuDeviceGetCount(int *n) { setup(); if (!n) return CUDA_ERROR_INVALID_VALUE; *n = ndev; return 0; }
CUresult cuDeviceGet(CUdevice *d, int ord)
{
    setup();
    if (!d || ord < 0 || ord >= ndev) return CUDA_ERROR_INVALID_DEVICE;
    *d = ord;
    return CUDA_SUCCESS;
}
CUresult cuDeviceGetName(char *name, int len, CUdevice d)
{
    if (!name || len < 1) return CUDA_ERROR_INVALID_VALUE;
    strncpy(name, "memfence fake CUDA device (test double)", (size_t)len - 1);
    name[len - 1] = 0;
    return CUDA_SUCCESS;
}
CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice d)
{
    setup();
    if (!bytes) return CUDA_ERROR_INVALID_VALUE;
    if (d < 0 || d >= ndev) return CUDA_ERROR_INVALID_DEVICE;
    *bytes = devmem;
    return CUDA_SUCCESS;
}
CUresult cuDeviceTotalMem(unsigned int *bytes, CUdevice d)    /* the pre-3.2 ABI */
{
    setup();
    if (!bytes) return CUDA_ERROR_INVALID_VALUE;
    *bytes = devmem > 0xffffffffu ? 0xffffffffu : (unsigned)devmem;
    return CUDA_SUCCESS;
}
CUresult cuDevicePrimaryCtxRetain(CUcontext *ctx, CUdevice d)
{
    setup();
    if (!ctx) return CUDA_ERROR_INVALID_VALUE;
    if (d < 0 || d >= ndev) return CUDA_ERROR_INVALID_DEVICE;
    *ctx = (CUcontext)(uintptr_t)(0x1000 + d);
    return CUDA_SUCCESS;
}
CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d) { return CUDA_SUCCESS; }
CUresult cuCtxSetCurrent(CUcontext ctx)
{
    uintptr_t v = (uintptr_t)ctx;
    if (!ctx) { cur_dev = -1; return CUDA_SUCCESS; }
    if (v < 0x1000 || v >= 0x1000 + (uintptr_t)ndev) return CUDA_ERROR_INVALID_CONTEXT;
    cur_dev = (int)(v - 0x1000);
    return CUDA_SUCCESS;
}
CUresult cuCtxGetCurrent(CUcontext *ctx)
{
    if (!ctx) return CUDA_ERROR_INVALID_VALUE;
    *ctx = cur_dev < 0 ? NULL : (CUcontext)(uintptr_t)(0x1000 + cur_dev);
    return CUDA_SUCCESS;
}
CUresult cuCtxGetDevice(CUdevice *d)
{
    if (!d) return CUDA_ERROR_INVALID_VALUE;
    if (cur_dev < 0) return CUDA_ERROR_INVALID_CONTEXT;
    *d = cur_dev;
    return CUDA_SUCCESS;
}

/* ---- memory ---------------------------------------------------------------------------------- */
CUresult cuMemGetInfo_v2(size_t *free_b, size_t *total)
{
    COUNT(cuMemGetInfo_v2);
    setup();
    if (cur_dev < 0) return CUDA_ERROR_INVALID_CONTEXT;
    if (free_b) *free_b = devmem - used[cur_dev];
    if (total) *total = devmem;
    return CUDA_SUCCESS;
}
CUresult cuMemAlloc(unsigned int *p, unsigned int n) { return CUDA_ERROR_NOT_SUPPORTED; } /* v1 */
CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t n) { COUNT(cuMemAlloc_v2); return dev_alloc(p, n, cur_dev); }
CUresult cuMemAllocManaged(CUdeviceptr *p, size_t n, unsigned int flags) { return dev_alloc(p, n, cur_dev); }
CUresult cuMemAllocAsync(CUdeviceptr *p, size_t n, CUstream s) { COUNT(cuMemAllocAsync); return dev_alloc(p, n, cur_dev); }
CUresult cuMemAllocAsync_ptsz(CUdeviceptr *p, size_t n, CUstream s) { COUNT(cuMemAllocAsync_ptsz); return dev_alloc(p, n, cur_dev); }
CUresult cuMemAllocFromPoolAsync(CUdeviceptr *p, size_t n, CUmemoryPool pool, CUstream s)
{ COUNT(cuMemAllocFromPoolAsync); return dev_alloc(p, n, cur_dev); }
CUresult cuMemAllocFromPoolAsync_ptsz(CUdeviceptr *p, size_t n, CUmemoryPool pool, CUstream s)
{ COUNT(cuMemAllocFromPoolAsync_ptsz); return dev_alloc(p, n, cur_dev); }
CUresult cuMemAllocPitch_v2(CUdeviceptr *p, size_t *pitch, size_t w, size_t h, unsigned int elt)
{
    if (!pitch || w == 0 || h == 0 || (elt != 4 && elt != 8 && elt != 16)) return CUDA_ERROR_INVALID_VALUE;
    size_t pt = (w + 511) & ~(size_t)511;
    CUresult r = dev_alloc(p, (uint64_t)pt * h, cur_dev);
    if (r == CUDA_SUCCESS) *pitch = pt;
    return r;
}
CUresult cuMemFree_v2(CUdeviceptr p) { COUNT(cuMemFree_v2); return dev_free(p); }
CUresult cuMemFreeAsync(CUdeviceptr p, CUstream s) { COUNT(cuMemFreeAsync); return dev_free(p); }
CUresult cuMemFreeAsync_ptsz(CUdeviceptr p, CUstream s) { COUNT(cuMemFreeAsync_ptsz); return dev_free(p); }
CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t n) { COUNT(cuMemcpyHtoD_v2); return CUDA_SUCCESS; }

/* virtual memory management: physical handles, address reservations, mappings */
CUresult cuMemCreate(CUmemGenericAllocationHandle *h, size_t n, const CUmemAllocationProp *prop,
                     unsigned long long flags)
{
    setup();
    if (!h || !prop || n == 0) return CUDA_ERROR_INVALID_VALUE;
    int dev = -1;
    if (prop->location.type == CU_MEM_LOCATION_TYPE_DEVICE) {
        dev = prop->location.id;
        if (dev < 0 || dev >= ndev) return CUDA_ERROR_INVALID_DEVICE;
        CUresult r = dev_take(dev, n);
        if (r) return r;
    } else if (prop->location.type != CU_MEM_LOCATION_TYPE_HOST) {
        return CUDA_ERROR_INVALID_VALUE;
    }
    uint64_t k = atomic_fetch_add(&next_handle, 1);
    put(k, n, dev, K_HANDLE);
    *h = k;
    return CUDA_SUCCESS;
}
CUresult cuMemRelease(CUmemGenericAllocationHandle h)
{
    blk_t b;
    if (take(h, K_HANDLE, &b) != 0) return CUDA_ERROR_INVALID_VALUE;
    if (b.dev >= 0) atomic_fetch_sub(&used[b.dev], b.size);
    return CUDA_SUCCESS;
}
CUresult cuMemAddressReserve(CUdeviceptr *p, size_t n, size_t align, CUdeviceptr addr,
                             unsigned long long flags)
{
    if (!p || n == 0) return CUDA_ERROR_INVALID_VALUE;
    *p = atomic_fetch_add(&next_addr, (n + 0xfffff) & ~0xfffffull);
    return CUDA_SUCCESS;
}
CUresult cuMemAddressFree(CUdeviceptr p, size_t n) { return CUDA_SUCCESS; }
CUresult cuMemMap(CUdeviceptr p, size_t n, size_t off, CUmemGenericAllocationHandle h,
                  unsigned long long flags)
{ return p && n ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE; }
CUresult cuMemUnmap(CUdeviceptr p, size_t n) { return CUDA_SUCCESS; }

/* pinned host memory: real pages, mapped like the driver maps them */
static CUresult host_alloc(void **pp, size_t n)
{
    setup();
    if (!pp || n == 0) return CUDA_ERROR_INVALID_VALUE;
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return CUDA_ERROR_OUT_OF_MEMORY;
    put((uintptr_t)p, n, -1, K_HOST);
    *pp = p;
    return CUDA_SUCCESS;
}
CUresult cuMemAllocHost_v2(void **pp, size_t n) { return host_alloc(pp, n); }
CUresult cuMemHostAlloc(void **pp, size_t n, unsigned int flags) { return host_alloc(pp, n); }
CUresult cuMemFreeHost(void *p)
{
    blk_t b;
    if (take((uintptr_t)p, K_HOST, &b) != 0) return CUDA_ERROR_INVALID_VALUE;
    munmap(p, b.size);
    return CUDA_SUCCESS;
}
CUresult cuMemHostRegister_v2(void *p, size_t n, unsigned int flags)
{
    setup();
    if (!p || n == 0) return CUDA_ERROR_INVALID_VALUE;
    put((uintptr_t)p, n, -1, K_REG);
    return CUDA_SUCCESS;
}
CUresult cuMemHostUnregister(void *p)
{
    blk_t b;
    return take((uintptr_t)p, K_REG, &b) == 0 ? CUDA_SUCCESS : CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED;
}

/* ---- cuGetProcAddress ------------------------------------------------------------------------- */
typedef struct proc { const char *base; int since, stream; void *fn; } proc_t;
#define P(base, since, stream, fn) { base, since, stream, (void *)fn }
CUresult cuGetProcAddress(const char *, void **, int, cuuint64_t);
CUresult cuGetProcAddress_v2(const char *, void **, int, cuuint64_t, CUdriverProcAddressQueryResult *);
static const proc_t procs[] = {
    P("cuGetProcAddress", 11030, 0, cuGetProcAddress), P("cuGetProcAddress", 12000, 0, cuGetProcAddress_v2),
    P("cuInit", 2000, 0, cuInit), P("cuDriverGetVersion", 2020, 0, cuDriverGetVersion),
    P("cuDeviceGetCount", 2000, 0, cuDeviceGetCount), P("cuDeviceGet", 2000, 0, cuDeviceGet),
    P("cuDeviceGetName", 2000, 0, cuDeviceGetName),
    P("cuDeviceTotalMem", 2000, 0, cuDeviceTotalMem), P("cuDeviceTotalMem", 3020, 0, cuDeviceTotalMem_v2),
    P("cuDevicePrimaryCtxRetain", 7000, 0, cuDevicePrimaryCtxRetain),
    P("cuDevicePrimaryCtxRelease", 11000, 0, cuDevicePrimaryCtxRelease_v2),
    P("cuCtxSetCurrent", 4000, 0, cuCtxSetCurrent), P("cuCtxGetCurrent", 4000, 0, cuCtxGetCurrent),
    P("cuCtxGetDevice", 2000, 0, cuCtxGetDevice),
    P("cuMemGetInfo", 3020, 0, cuMemGetInfo_v2),
    P("cuMemAlloc", 2000, 0, cuMemAlloc), P("cuMemAlloc", 3020, 0, cuMemAlloc_v2),
    P("cuMemAllocPitch", 3020, 0, cuMemAllocPitch_v2),
    P("cuMemAllocManaged", 6000, 0, cuMemAllocManaged),
    P("cuMemAllocAsync", 11020, 1, cuMemAllocAsync), P("cuMemAllocAsync", 11020, 2, cuMemAllocAsync_ptsz),
    P("cuMemAllocFromPoolAsync", 11020, 1, cuMemAllocFromPoolAsync),
    P("cuMemAllocFromPoolAsync", 11020, 2, cuMemAllocFromPoolAsync_ptsz),
    P("cuMemFree", 3020, 0, cuMemFree_v2),
    P("cuMemFreeAsync", 11020, 1, cuMemFreeAsync), P("cuMemFreeAsync", 11020, 2, cuMemFreeAsync_ptsz),
    P("cuMemcpyHtoD", 3020, 0, cuMemcpyHtoD_v2),
    P("cuMemCreate", 10020, 0, cuMemCreate), P("cuMemRelease", 10020, 0, cuMemRelease),
    P("cuMemAddressReserve", 10020, 0, cuMemAddressReserve), P("cuMemAddressFree", 10020, 0, cuMemAddressFree),
    P("cuMemMap", 10020, 0, cuMemMap), P("cuMemUnmap", 10020, 0, cuMemUnmap),
    P("cuMemAllocHost", 3020, 0, cuMemAllocHost_v2), P("cuMemHostAlloc", 2020, 0, cuMemHostAlloc),
    P("cuMemFreeHost", 2000, 0, cuMemFreeHost),
    P("cuMemHostRegister", 6050, 0, cuMemHostRegister_v2), P("cuMemHostUnregister", 4000, 0, cuMemHostUnregister),
};

static CUresult lookup(const char *sym, void **pfn, int ver, cuuint64_t flags, int *status)
{
    if (!sym || !pfn) return CUDA_ERROR_INVALID_VALUE;
    const char *e = getenv("CUDA_API_PER_THREAD_DEFAULT_STREAM");
    int want = (flags & 2) ? 2 : (flags & 1) ? 1 : (e && e[0] == '1') ? 2 : 1;
    const proc_t *best = NULL;
    int seen = 0;
    for (size_t i = 0; i < sizeof procs / sizeof procs[0]; i++) {
        const proc_t *p = &procs[i];
        if (strcmp(p->base, sym) || (p->stream && p->stream != want)) continue;
        seen = 1;
        if (p->since <= ver && (!best || p->since > best->since)) best = p;
    }
    *pfn = best ? best->fn : NULL;
    *status = best ? 0 : seen ? 2 /* VERSION_NOT_SUFFICIENT */ : 1 /* SYMBOL_NOT_FOUND */;
    return best ? CUDA_SUCCESS : CUDA_ERROR_NOT_FOUND;
}

CUresult cuGetProcAddress(const char *sym, void **pfn, int ver, cuuint64_t flags)
{
    int st;
    return lookup(sym, pfn, ver, flags, &st);
}

CUresult cuGetProcAddress_v2(const char *sym, void **pfn, int ver, cuuint64_t flags,
                             CUdriverProcAddressQueryResult *status)
{
    int st;
    CUresult r = lookup(sym, pfn, ver, flags, &st);
    if (status) *status = st;
    return r;
}
