/* fence_check.c — a CUDA program that checks memfence's GPU fence from the inside.
 *
 * Built two ways:
 *   on a GPU machine, by tests/gpu/real-gpu.sh with nvcc (`nvcc -x cu ... -lcuda`): the runtime
 *     linked statically (nvcc's default) and shared (`-cudart shared`); the driver calls of the
 *     VMM check are direct calls (this program's GOT, as in ggml) and, a second time, entry
 *     points from cudaGetDriverEntryPointByVersion (cuGetProcAddress, as in PyTorch);
 *   in `make test`, with -DMF_DOUBLE against the CUDA TEST DOUBLES (tests/lib/fake_cudart.c
 *     compiled in, the fake libcuda.so.1 found on LD_LIBRARY_PATH): the same checks, less the
 *     ones the doubles do not model (memory pools, entry points by version, cuMemSetAccess).
 *
 *   fence_check check BUDGET_BYTES     every check; "ok: ..." / "FAIL: ..." lines, exit 1 on a FAIL
 *   fence_check time N                 per-call cost: "time: NAME NS_PER_CALL" lines (no checks)
 *
 * The program's own count is compared with memfence's (memfence_used(), found with dlsym so
 * that the program also runs without memfence): every charge and every credit must be exact.
 * With FENCE_MEMFENCE=/path/to/memfence it is also compared once with the ledger, as
 * `memfence status --json` shows it to another process.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef MF_DOUBLE
#include "fake_cudart.c"
typedef CUresult CUres;
static cudaError_t cudaGetLastError(void) { return cudaSuccess; }
static cudaError_t cudaStreamSynchronize(CUstream s) { (void)s; return cudaSuccess; }
#define CU_MEM_ALLOC_GRAN_MINIMUM 0
#else
#include <cuda.h>
#include <cuda_runtime.h>
typedef CUresult CUres;
#endif

#define MiB (1ull << 20)

static int bad;
#define CHECK(c, ...) do { int ok_ = !!(c); printf("%s: ", ok_ ? "ok" : "FAIL"); \
                           printf(__VA_ARGS__); printf("\n"); bad += !ok_; } while (0)

/* ---- memfence's own figures -------------------------------------------------------------- */

typedef uint64_t (*used_fn)(int);
static used_fn mf_used, mf_limit;
#define POOL_HOST 0
#define POOL_GPU0 1

static uint64_t used(int pool) { return mf_used ? mf_used(pool) : 0; }

/* What the ledger shows for this process's GPU 0 (`memfence status --json`, the memfence command
 * named by FENCE_MEMFENCE), polled until it equals want or 5 s pass.  Return: the last figure
 * seen, or -1 when none was. */
static long long ledger_gpu_used(const char *memfence, unsigned long long want)
{
    static char buf[1 << 16];
    char cmd[600], key[48];
    long long seen = -1;
    snprintf(cmd, sizeof cmd, "'%s' status --json 2>/dev/null", memfence);
    snprintf(key, sizeof key, "{\"pid\":%d,", (int)getpid());
    for (int tries = 0; tries < 50; tries++) {
        FILE *f = popen(cmd, "r");
        if (!f) return -1;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = 0;
        pclose(f);
        char *me = strstr(buf, key), *rss = me ? strstr(me, "\"rss\":") : NULL;
        char *g = me ? strstr(me, "\"gpu\":[{\"device\":0,\"used\":") : NULL;
        if (g && rss && g < rss) {                /* within this process's record */
            seen = strtoll(g + strlen("\"gpu\":[{\"device\":0,\"used\":"), NULL, 10);
            if ((unsigned long long)seen == want) return seen;
        }
        usleep(100 * 1000);
    }
    return seen;
}

/* ---- the VMM driver calls, two ways ------------------------------------------------------- */

typedef struct vmm_api {
    const char *how;
    CUres (*create)(CUmemGenericAllocationHandle *, size_t, const CUmemAllocationProp *, unsigned long long);
    CUres (*release)(CUmemGenericAllocationHandle);
    CUres (*reserve)(CUdeviceptr *, size_t, size_t, CUdeviceptr, unsigned long long);
    CUres (*addr_free)(CUdeviceptr, size_t);
    CUres (*map)(CUdeviceptr, size_t, size_t, CUmemGenericAllocationHandle, unsigned long long);
    CUres (*unmap)(CUdeviceptr, size_t);
} vmm_api_t;

#ifndef MF_DOUBLE
/* Direct calls: each wrapper calls the driver through this program's PLT/GOT. */
static CUres d_create(CUmemGenericAllocationHandle *h, size_t n, const CUmemAllocationProp *p, unsigned long long f) { return cuMemCreate(h, n, p, f); }
static CUres d_release(CUmemGenericAllocationHandle h) { return cuMemRelease(h); }
static CUres d_reserve(CUdeviceptr *p, size_t n, size_t a, CUdeviceptr at, unsigned long long f) { return cuMemAddressReserve(p, n, a, at, f); }
static CUres d_addr_free(CUdeviceptr p, size_t n) { return cuMemAddressFree(p, n); }
static CUres d_map(CUdeviceptr p, size_t n, size_t o, CUmemGenericAllocationHandle h, unsigned long long f) { return cuMemMap(p, n, o, h, f); }
static CUres d_unmap(CUdeviceptr p, size_t n) { return cuMemUnmap(p, n); }

static void *entry(const char *name)
{
    void *p = NULL;
    cudaDriverEntryPointQueryResult q;
    if (cudaGetDriverEntryPointByVersion(name, &p, 12000, cudaEnableDefault, &q) != cudaSuccess ||
        q != cudaDriverEntryPointSuccess)
        return NULL;
    return p;
}
#else
static void *entry(const char *name)
{
    static void *drv;
    if (!drv) drv = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
    return drv ? dlsym(drv, name) : NULL;
}
#endif

static int fill_entry_points(vmm_api_t *a)
{
    a->create = (CUres (*)(CUmemGenericAllocationHandle *, size_t, const CUmemAllocationProp *, unsigned long long))entry("cuMemCreate");
    a->release = (CUres (*)(CUmemGenericAllocationHandle))entry("cuMemRelease");
    a->reserve = (CUres (*)(CUdeviceptr *, size_t, size_t, CUdeviceptr, unsigned long long))entry("cuMemAddressReserve");
    a->addr_free = (CUres (*)(CUdeviceptr, size_t))entry("cuMemAddressFree");
    a->map = (CUres (*)(CUdeviceptr, size_t, size_t, CUmemGenericAllocationHandle, unsigned long long))entry("cuMemMap");
    a->unmap = (CUres (*)(CUdeviceptr, size_t))entry("cuMemUnmap");
    return a->create && a->release && a->reserve && a->addr_free && a->map && a->unmap ? 0 : -1;
}

/* cuMemCreate physical memory is charged; cuMemAddressReserve and cuMemMap are not. */
static void check_vmm(const vmm_api_t *a, uint64_t B)
{
    CUmemAllocationProp prop;
    memset(&prop, 0, sizeof prop);
    prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    prop.location.id = 0;
    size_t gran = 2 * MiB;
#ifndef MF_DOUBLE
    if (cuMemGetAllocationGranularity(&gran, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM) != CUDA_SUCCESS || !gran)
        gran = 2 * MiB;
#endif
    size_t n = (size_t)((B / 4 + gran - 1) / gran * gran);
    uint64_t u0 = used(POOL_GPU0);
    CUmemGenericAllocationHandle h = 0, h2 = 0;
    CUdeviceptr va = 0;
    CUres r = a->create(&h, n, &prop, 0);
    CHECK(r == CUDA_SUCCESS && used(POOL_GPU0) - u0 == n,
          "VMM (%s): cuMemCreate(%zu MiB) granted, charged exactly (memfence +%llu B)", a->how,
          (size_t)(n / MiB), (unsigned long long)(used(POOL_GPU0) - u0));
    CHECK(a->reserve(&va, 4 * (size_t)B, 0, 0, 0) == CUDA_SUCCESS && used(POOL_GPU0) - u0 == n,
          "VMM (%s): cuMemAddressReserve(4 x budget) granted and not charged", a->how);
    CHECK(a->map(va, n, 0, h, 0) == CUDA_SUCCESS && used(POOL_GPU0) - u0 == n,
          "VMM (%s): cuMemMap not charged", a->how);
#ifndef MF_DOUBLE
    CUmemAccessDesc acc;
    memset(&acc, 0, sizeof acc);
    acc.location = prop.location;
    acc.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
    CHECK(cuMemSetAccess(va, n, &acc, 1) == CUDA_SUCCESS &&
          cudaMemset((void *)va, 0x5a, n) == cudaSuccess && cudaDeviceSynchronize() == cudaSuccess,
          "VMM (%s): the mapped memory is usable (cudaMemset)", a->how);
#endif
    size_t big = (size_t)((B + gran - 1) / gran * gran);
    r = a->create(&h2, big, &prop, 0);
    CHECK(r == CUDA_ERROR_OUT_OF_MEMORY && used(POOL_GPU0) - u0 == n,
          "VMM (%s): cuMemCreate(budget) beyond: CUDA_ERROR_OUT_OF_MEMORY (got %d), nothing charged",
          a->how, (int)r);
    CHECK(a->unmap(va, n) == CUDA_SUCCESS && a->release(h) == CUDA_SUCCESS &&
          a->addr_free(va, 4 * (size_t)B) == CUDA_SUCCESS && used(POOL_GPU0) == u0,
          "VMM (%s): cuMemUnmap + cuMemRelease credit it back exactly", a->how);
}

/* ---- the checks ------------------------------------------------------------------------- */

static void check_all(uint64_t B)
{
    size_t f = 0, t = 0;
    void *a = NULL, *b = NULL, *h = NULL;
    cudaError_t e;

    CHECK(cudaSetDevice(0) == cudaSuccess && cudaFree(0) == cudaSuccess, "CUDA context on device 0");
    uint64_t base = used(POOL_GPU0);
    printf("   memfence: GPU 0 budget %llu B, charged at start %llu B\n",
           (unsigned long long)(mf_limit ? mf_limit(POOL_GPU0) : 0), (unsigned long long)base);
    CHECK(cudaMemGetInfo(&f, &t) == cudaSuccess && t == B && f <= t && f == B - base,
          "cudaMemGetInfo reports the budget: total %zu, free %zu", t, f);

    CHECK(cudaMalloc(&a, B / 2) == cudaSuccess && used(POOL_GPU0) - base == B / 2,
          "cudaMalloc(budget/2) granted, charged exactly");
    const char *mfbin = getenv("FENCE_MEMFENCE");
    if (mfbin && *mfbin) {
        long long l = ledger_gpu_used(mfbin, base + B / 2);
        CHECK(l >= 0 && (uint64_t)l == base + B / 2,
              "the ledger (memfence status --json) shows GPU 0 used %lld = the program's count %llu",
              l, (unsigned long long)(base + B / 2));
    }
    e = cudaMalloc(&b, B);
    CHECK(e == cudaErrorMemoryAllocation && used(POOL_GPU0) - base == B / 2,
          "cudaMalloc(budget) beyond: cudaErrorMemoryAllocation (got %d), nothing charged", (int)e);
    cudaGetLastError();
    CHECK(cudaFree(a) == cudaSuccess && used(POOL_GPU0) == base, "cudaFree credits it back exactly");
    CHECK(cudaMalloc(&b, B * 3 / 4) == cudaSuccess && cudaFree(b) == cudaSuccess && used(POOL_GPU0) == base,
          "the program carries on: cudaMalloc(3/4 budget) after the refusal, then cudaFree");

    size_t pitch = 0;
    CHECK(cudaMallocPitch(&a, &pitch, 1000, 1000) == cudaSuccess &&
          used(POOL_GPU0) - base == (uint64_t)pitch * 1000 && cudaFree(a) == cudaSuccess &&
          used(POOL_GPU0) == base, "cudaMallocPitch(1000 x 1000): pitch %zu x height charged exactly", pitch);

    CHECK(cudaMallocAsync(&a, B / 4, 0) == cudaSuccess && used(POOL_GPU0) - base == B / 4,
          "cudaMallocAsync(budget/4) on the default pool: charged exactly");
    e = cudaMallocAsync(&b, B, 0);
    CHECK(e == cudaErrorMemoryAllocation && used(POOL_GPU0) - base == B / 4,
          "cudaMallocAsync(budget) beyond: cudaErrorMemoryAllocation (got %d)", (int)e);
    cudaGetLastError();
    CHECK(cudaFreeAsync(a, 0) == cudaSuccess && cudaStreamSynchronize(0) == cudaSuccess &&
          used(POOL_GPU0) == base, "cudaFreeAsync credits it back exactly");

#ifndef MF_DOUBLE
    {
        cudaMemPool_t pool;
        cudaMemPoolProps pp;
        cudaStream_t s;
        memset(&pp, 0, sizeof pp);
        pp.allocType = cudaMemAllocationTypePinned;
        pp.location.type = cudaMemLocationTypeDevice;
        pp.location.id = 0;
        CHECK(cudaMemPoolCreate(&pool, &pp) == cudaSuccess && cudaStreamCreate(&s) == cudaSuccess,
              "an explicit memory pool and a stream");
        CHECK(cudaMallocFromPoolAsync(&a, B / 4, pool, s) == cudaSuccess && used(POOL_GPU0) - base == B / 4,
              "cudaMallocFromPoolAsync(budget/4): charged exactly");
        e = cudaMallocFromPoolAsync(&b, B, pool, s);
        CHECK(e == cudaErrorMemoryAllocation && used(POOL_GPU0) - base == B / 4,
              "cudaMallocFromPoolAsync(budget) beyond: cudaErrorMemoryAllocation (got %d)", (int)e);
        cudaGetLastError();
        CHECK(cudaFreeAsync(a, s) == cudaSuccess && cudaStreamSynchronize(s) == cudaSuccess &&
              used(POOL_GPU0) == base, "cudaFreeAsync to the pool credits it back exactly");
        CHECK(cudaStreamDestroy(s) == cudaSuccess && cudaMemPoolDestroy(pool) == cudaSuccess,
              "the pool and the stream destroyed");
    }
#endif

    CHECK(cudaMallocManaged(&a, 16 * MiB, 1) == cudaSuccess && used(POOL_GPU0) - base == 16 * MiB,
          "cudaMallocManaged(16 MiB): charged exactly");
    e = cudaMallocManaged(&b, B, 1);
    CHECK(e == cudaErrorMemoryAllocation && used(POOL_GPU0) - base == 16 * MiB,
          "cudaMallocManaged(budget) beyond: refused before the driver (got %d)", (int)e);
    cudaGetLastError();
    CHECK(cudaFree(a) == cudaSuccess && used(POOL_GPU0) == base, "managed memory credited back exactly");

    vmm_api_t api;
    memset(&api, 0, sizeof api);
#ifndef MF_DOUBLE
    vmm_api_t direct = { "direct calls", d_create, d_release, d_reserve, d_addr_free, d_map, d_unmap };
    check_vmm(&direct, B);
    api.how = "cudaGetDriverEntryPointByVersion";
#else
    api.how = "dlsym";
#endif
    if (fill_entry_points(&api) == 0) check_vmm(&api, B);
    else CHECK(0, "VMM (%s): the driver's entry points", api.how);

    /* Pinned host memory: the host pool.  Other threads of the runtime may allocate meanwhile,
     * so the host figures are checked to within a slot's credit (1 MiB). */
    uint64_t hl = mf_limit ? mf_limit(POOL_HOST) : 0, h0 = used(POOL_HOST);
    int64_t d;
    e = cudaMallocHost(&h, 64 * MiB);
    d = (int64_t)(used(POOL_HOST) - h0);
    CHECK(e == cudaSuccess && d >= (int64_t)(63 * MiB) && d <= (int64_t)(66 * MiB),
          "cudaMallocHost(64 MiB): charged to the host budget (+%.1f MiB)", d / (double)MiB);
    CHECK(cudaFreeHost(h) == cudaSuccess && (int64_t)(used(POOL_HOST) - h0) < (int64_t)(2 * MiB),
          "cudaFreeHost credits it back");
    CHECK(cudaHostAlloc(&h, 32 * MiB, 0) == cudaSuccess &&
          (int64_t)(used(POOL_HOST) - h0) >= (int64_t)(31 * MiB) && cudaFreeHost(h) == cudaSuccess,
          "cudaHostAlloc(32 MiB): charged to the host budget");
    void *m = malloc(16 * MiB);
    uint64_t h1 = used(POOL_HOST);
    CHECK(m && cudaHostRegister(m, 16 * MiB, 0) == cudaSuccess &&
          (int64_t)(used(POOL_HOST) - h1) >= (int64_t)(15 * MiB) && cudaHostUnregister(m) == cudaSuccess,
          "cudaHostRegister(16 MiB): the pinned range charged to the host budget");
    free(m);
    if (hl && hl < (1ull << 50)) {
        uint64_t ask = hl - used(POOL_HOST) + 64 * MiB;
        e = cudaMallocHost(&h, (size_t)ask);
        CHECK(e == cudaErrorMemoryAllocation, "cudaMallocHost(%.0f MiB, past the host budget): "
              "cudaErrorMemoryAllocation (got %d)", ask / (double)MiB, (int)e);
        cudaGetLastError();
    }

    CHECK(cudaMemGetInfo(&f, &t) == cudaSuccess && t == B && used(POOL_GPU0) == base,
          "at the end: the budget still reported, GPU 0 charge back to its start (%llu B)",
          (unsigned long long)used(POOL_GPU0));
}

/* ---- the cost per call ------------------------------------------------------------------ */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void time_calls(int n)
{
    void *p = NULL;
    size_t f, t;
    cudaSetDevice(0);
    cudaFree(0);
    for (int i = 0; i < 100; i++) { cudaMalloc(&p, MiB); cudaFree(p); }   /* warm */
    int nm = n / 4 > 0 ? n / 4 : 1;    /* cudaMalloc is ~50 times slower than the rest */
    double t0 = now();
    for (int i = 0; i < nm; i++) { cudaMalloc(&p, MiB); cudaFree(p); }
    double t1 = now();
    for (int i = 0; i < n; i++) { cudaMallocAsync(&p, MiB, 0); cudaFreeAsync(p, 0); }
    cudaStreamSynchronize(0);
    double t2 = now();
    for (int i = 0; i < n; i++) cudaMemGetInfo(&f, &t);
    double t3 = now();
    printf("time: cudaMalloc+cudaFree(1MiB) %.0f\n", (t1 - t0) * 1e9 / nm);
    printf("time: cudaMallocAsync+cudaFreeAsync(1MiB) %.0f\n", (t2 - t1) * 1e9 / n);
    printf("time: cudaMemGetInfo %.0f\n", (t3 - t2) * 1e9 / n);
#ifndef MF_DOUBLE
    CUdevice d;                       /* not hooked: what each hooked allocation asks the driver */
    for (int i = 0; i < n; i++) cuCtxGetDevice(&d);
    printf("time: cuCtxGetDevice (not hooked) %.0f\n", (now() - t3) * 1e9 / n);
#endif
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: fence_check check BUDGET_BYTES | time N\n");
        return 2;
    }
    mf_used = (used_fn)dlsym(RTLD_DEFAULT, "memfence_used");
    mf_limit = (used_fn)dlsym(RTLD_DEFAULT, "memfence_limit");
    if (!strcmp(argv[1], "time")) {
        time_calls(atoi(argv[2]));
        return 0;
    }
    if (!mf_used) {
        printf("FAIL: memfence is not loaded (memfence_used not found)\n");
        return 1;
    }
    check_all(strtoull(argv[2], NULL, 10));
    printf("%s\n", bad ? "fence_check: FAILED" : "fence_check: all checks passed");
    return bad ? 1 : 0;
}
