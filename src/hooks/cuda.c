/* cuda.c — the CUDA driver allocation hooks: thin wrappers that charge the device pool (or the
 * host pool for pinned memory) before the real call, record the block in the gpu module's
 * table after it, and credit it on free.  Also the memory view of cuMemGetInfo_v2 and
 * cuDeviceTotalMem_v2.  The symbols they replace are listed once, in hooks/cuda.def; hooks/dl.c
 * hands these hooks out in answer to dlsym, dlvsym and cuGetProcAddress.
 *
 * Never counted: cuMemAddressReserve and cuMemMap (address space, not memory); they are not
 * hooked at all.  A refusal returns CUDA_ERROR_OUT_OF_MEMORY, which the runtime turns into
 * cudaErrorMemoryAllocation.
 */
#include <dlfcn.h>
#include <errno.h>
#include <string.h>

#include "backend/resolve.h"
#include "base/calls.h"
#include "base/log.h"
#include "base/proc.h"
#include "family/gpu.h"
#include "hooks/cuda.h"

_Atomic(void *) mf_cu_real[MF_CU_COUNT];

typedef struct cu_entry {
    const char *name, *base;
    int since, stream;
    void *hook;
} cu_entry_t;

static const cu_entry_t cu_table[MF_CU_COUNT] = {
#define MF_CU(sym, base_, since_, stream_, ret, params, what) \
    [MF_CU_##sym] = { #sym, #base_, since_, stream_, (void *)mf_hk_##sym },
#include "hooks/cuda.def"
#undef MF_CU
};

/* ---- the table's lookups (hooks/dl.c) ---------------------------------------------------- */

int mf_cu_find(const char *name)
{
    for (int i = 0; i < MF_CU_COUNT; i++)
        if (strcmp(name, cu_table[i].name) == 0) return i;
    return -1;
}

/* Which stream flavour CU_GET_PROC_ADDRESS_DEFAULT means: per-thread when the process asked
 * for it with CUDA_API_PER_THREAD_DEFAULT_STREAM=1, as the driver does. */
static int default_stream(void)
{
    static _Atomic int cached;
    int v = atomic_load_explicit(&cached, memory_order_relaxed);
    if (!v) {
        const char *e = mf_getenv("CUDA_API_PER_THREAD_DEFAULT_STREAM", 0);
        v = (e && e[0] == '1') ? 2 : 1;
        atomic_store_explicit(&cached, v, memory_order_relaxed);
    }
    return v;
}

int mf_cu_match(const char *base, int version, cuuint64_t flags)
{
    int want = (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) ? 2
             : (flags & CU_GET_PROC_ADDRESS_LEGACY_STREAM) ? 1 : default_stream();
    int best = -1;
    for (int i = 0; i < MF_CU_COUNT; i++) {
        const cu_entry_t *e = &cu_table[i];
        if (e->since > version || (e->stream && e->stream != want) || strcmp(base, e->base))
            continue;
        if (best < 0 || e->since > cu_table[best].since) best = i;
    }
    if (best < 0) {                   /* asked by its full name ("cuMemAlloc_v2") */
        int i = mf_cu_find(base);
        if (i >= 0 && cu_table[i].since <= version) best = i;
    }
    return best;
}

void *mf_cu_hook(int i, void *real)
{
    if (i < 0 || i >= MF_CU_COUNT || !real) return real;
    if (real == cu_table[i].hook) return real;       /* our own hook came back: keep the real one */
    atomic_store_explicit(&mf_cu_real[i], real, memory_order_release);
    return cu_table[i].hook;
}

void *mf_cu_hook_of(int i) { return i >= 0 && i < MF_CU_COUNT ? cu_table[i].hook : NULL; }
const char *mf_cu_name(int i) { return i >= 0 && i < MF_CU_COUNT ? cu_table[i].name : ""; }

/* ---- helpers: functions called, not hooked ---------------------------------------------- */

typedef CUresult (*ctx_get_device_fn)(CUdevice *);
typedef CUresult (*total_mem_fn)(size_t *, CUdevice);
typedef CUresult (*mem_free_fn)(CUdeviceptr);
typedef CUresult (*getproc_v1_fn)(const char *, void **, int, cuuint64_t);
typedef CUresult (*getproc_v2_fn)(const char *, void **, int, cuuint64_t, CUdriverProcAddressQueryResult *);

static _Atomic(void *) h_ctx_get_device, h_total_mem, h_mem_free;

static void set_once(_Atomic(void *) *slot, void *p)
{
    void *none = NULL;
    if (p) atomic_compare_exchange_strong(slot, &none, p);
}

void mf_cu_helpers_from_handle(void *handle, int nvml)
{
    if (nvml) return;                 /* NVML's helper is looked up by hooks/dl.c */
    if (atomic_load(&h_ctx_get_device) && atomic_load(&h_total_mem) && atomic_load(&h_mem_free))
        return;
    mf_dl_guard++;
    set_once(&h_ctx_get_device, mf_resolve_in(handle, "cuCtxGetDevice"));
    set_once(&h_total_mem, mf_resolve_in(handle, "cuDeviceTotalMem_v2"));
    set_once(&h_mem_free, mf_resolve_in(handle, "cuMemFree_v2"));
    mf_dl_guard--;
}

void mf_cu_helpers_from_proc(void *real_getproc, int v2)
{
    if (atomic_load(&h_ctx_get_device) && atomic_load(&h_total_mem) && atomic_load(&h_mem_free))
        return;
    static const struct { const char *name; int ver; } want[3] = {
        { "cuCtxGetDevice", 2000 }, { "cuDeviceTotalMem", 3020 }, { "cuMemFree", 3020 } };
    _Atomic(void *) *slot[3] = { &h_ctx_get_device, &h_total_mem, &h_mem_free };
    mf_dl_guard++;
    for (int i = 0; i < 3; i++) {
        void *p = NULL;
        CUresult r = v2 ? ((getproc_v2_fn)real_getproc)(want[i].name, &p, want[i].ver, 0, NULL)
                        : ((getproc_v1_fn)real_getproc)(want[i].name, &p, want[i].ver, 0);
        if (r == CUDA_SUCCESS) set_once(slot[i], p);
    }
    mf_dl_guard--;
}

/* ---- the hooks' common steps -------------------------------------------------------------- */

#define NO_DEV (-2)

/* Hooks count only once memfence runs and never for memfence's own calls. */
static inline int counting(void)
{
    int st = atomic_load_explicit(&mf_state, memory_order_relaxed);
    return mf_tls.depth == 0 && (st == MF_STATE_COUNTING || st == MF_STATE_READY);
}

/* The device of the calling thread's current context; NO_DEV when there is none or it cannot
 * be asked (then the call passes uncounted: without a context the driver allocates nothing). */
static int current_device(void)
{
    ctx_get_device_fn f = (ctx_get_device_fn)atomic_load_explicit(&h_ctx_get_device,
                                                                    memory_order_acquire);
    CUdevice d = 0;
    if (!f || f(&d) != CUDA_SUCCESS) return NO_DEV;
    return d;
}

/* Tells the gpu module the device's size once, so a percentage budget resolves before the
 * device's first charge. */
static void know_device(int dev)
{
    if (dev < 0 || mf_gpu_known(dev)) return;
    total_mem_fn f = (total_mem_fn)atomic_load_explicit(&h_total_mem, memory_order_acquire);
    size_t total = 0;
    if (f && f(&total, dev) == CUDA_SUCCESS) mf_gpu_set_total(dev, total);
    else if (mf_gpu_pct_pending(dev))
        mf_log_limited(MF_RL_GPU, 1, "the size of CUDA device %d is unknown: its percentage "
                       "budget cannot apply yet; allocations are counted without a limit", dev);
}

/* Charges n bytes on dev before the real call.  Return: CUDA_SUCCESS (with *counted saying
 * whether a charge was made) or CUDA_ERROR_OUT_OF_MEMORY (refused, already reported). */
static CUresult charge(unsigned call, int dev, uint64_t n, int *counted)
{
    *counted = 0;
    if (dev == NO_DEV || n == 0) return CUDA_SUCCESS;
    know_device(dev);
    int rc = mf_gpu_charge(call, dev, n);
    if (rc == -ENOMEM) return CUDA_ERROR_OUT_OF_MEMORY;
    *counted = rc == 0;
    return CUDA_SUCCESS;
}

/* After the real call: record the block, or give the charge back when it failed (or when the
 * table cannot hold it: then the block is not fenced, rather than never credited). */
static void settle(CUresult r, int counted, unsigned kind, uint64_t key, int dev, uint64_t n)
{
    if (!counted) return;
    if (r != CUDA_SUCCESS || mf_gpu_track(kind, key, n, dev) != 0) mf_gpu_uncharge(dev, n);
}

/* Before a free: take the block out of the table (so an address the driver hands out again
 * at once cannot meet its old entry).  Return: 1 when it was there. */
static int take(unsigned kind, uint64_t key, uint64_t *n, int *dev)
{
    return key && mf_gpu_untrack(kind, key, n, dev) == 0;
}

/* After the real free: credit it, or put the entry back when the driver refused. */
static void release(CUresult r, int had, unsigned kind, uint64_t key, int dev, uint64_t n)
{
    if (!had) return;
    if (r == CUDA_SUCCESS) mf_gpu_uncharge(dev, n);
    else if (mf_gpu_track(kind, key, n, dev) != 0) mf_gpu_uncharge(dev, n);
}

#define CALL_REAL(sym, args) ({ mf_dl_guard++; CUresult cr_ = MF_CU_REAL(sym) args; \
                                mf_dl_guard--; cr_; })

/* Pinned allocations: the driver maps the pages itself; they are counted here, once, so its
 * mmaps are marked as the backend's own (the map module passes those). */
#define CALL_REAL_PINNED(sym, args) ({ mf_tls.in_backend++; CUresult cp_ = CALL_REAL(sym, args); \
                                       mf_tls.in_backend--; cp_; })

/* A device allocation of n bytes on the current device, returned through *dptr. */
#define DEVICE_ALLOC(sym, call, n, dptr, args) do {                                      \
        int dev_ = counting() ? current_device() : NO_DEV, counted_;                     \
        CUresult r_ = charge(call, dev_, (n), &counted_);                                \
        if (r_ != CUDA_SUCCESS) return r_;                                               \
        r_ = CALL_REAL(sym, args);                                                       \
        settle(r_, counted_, MF_GPU_DEVPTR, (dptr) ? *(dptr) : 0, dev_, (n));            \
        return r_;                                                                       \
    } while (0)

#define DEVICE_FREE(sym, kind, key, args) do {                                           \
        uint64_t n_ = 0; int dev_ = 0;                                                   \
        int had_ = take(kind, (key), &n_, &dev_);                                        \
        CUresult r_ = CALL_REAL(sym, args);                                              \
        release(r_, had_, kind, (key), dev_, n_);                                        \
        return r_;                                                                       \
    } while (0)

/* ---- device memory ------------------------------------------------------------------------ */

CUresult mf_hk_cuMemAlloc_v2(CUdeviceptr *dptr, size_t n)
{ DEVICE_ALLOC(cuMemAlloc_v2, MF_CALL_CU_MEM_ALLOC, n, dptr, (dptr, n)); }

CUresult mf_hk_cuMemAllocManaged(CUdeviceptr *dptr, size_t n, unsigned int flags)
{ DEVICE_ALLOC(cuMemAllocManaged, MF_CALL_CU_MEM_MANAGED, n, dptr, (dptr, n, flags)); }

CUresult mf_hk_cuMemAllocAsync(CUdeviceptr *dptr, size_t n, CUstream s)
{ DEVICE_ALLOC(cuMemAllocAsync, MF_CALL_CU_MEM_ASYNC, n, dptr, (dptr, n, s)); }

CUresult mf_hk_cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t n, CUstream s)
{ DEVICE_ALLOC(cuMemAllocAsync_ptsz, MF_CALL_CU_MEM_ASYNC, n, dptr, (dptr, n, s)); }

CUresult mf_hk_cuMemAllocFromPoolAsync(CUdeviceptr *dptr, size_t n, CUmemoryPool p, CUstream s)
{ DEVICE_ALLOC(cuMemAllocFromPoolAsync, MF_CALL_CU_MEM_POOL, n, dptr, (dptr, n, p, s)); }

CUresult mf_hk_cuMemAllocFromPoolAsync_ptsz(CUdeviceptr *dptr, size_t n, CUmemoryPool p,
                                             CUstream s)
{ DEVICE_ALLOC(cuMemAllocFromPoolAsync_ptsz, MF_CALL_CU_MEM_POOL, n, dptr, (dptr, n, p, s)); }

/* The driver picks the pitch; memfence charges a 512-byte-aligned estimate first (no GPU
 * pitches wider), then settles on the real pitch × height. */
CUresult mf_hk_cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pitch, size_t width, size_t height,
                                  unsigned int elt)
{
    uint64_t row = ((uint64_t)width + 511) & ~(uint64_t)511, est;
    int dev = counting() ? current_device() : NO_DEV, counted;
    if (__builtin_mul_overflow(row, (uint64_t)height, &est)) dev = NO_DEV;   /* driver refuses */
    CUresult r = charge(MF_CALL_CU_MEM_PITCH, dev, est, &counted);
    if (r != CUDA_SUCCESS) return r;
    r = CALL_REAL(cuMemAllocPitch_v2, (dptr, pitch, width, height, elt));
    if (!counted) return r;
    if (r != CUDA_SUCCESS || !dptr || !pitch) {
        mf_gpu_uncharge(dev, est);
        return r;
    }
    uint64_t real = (uint64_t)*pitch * height;
    if (real < est) {
        mf_gpu_uncharge(dev, est - real);
    } else if (real > est && mf_gpu_charge(MF_CALL_CU_MEM_PITCH, dev, real - est) != 0) {
        mem_free_fn f = (mem_free_fn)atomic_load(&h_mem_free);
        if (f) {
            mf_dl_guard++;
            f(*dptr);
            mf_dl_guard--;
            mf_gpu_uncharge(dev, est);
            *dptr = 0;
            return CUDA_ERROR_OUT_OF_MEMORY;
        }
        real = est;                   /* cannot undo: keep the block, charged as estimated */
    }
    settle(CUDA_SUCCESS, 1, MF_GPU_DEVPTR, *dptr, dev, real);
    return r;
}

CUresult mf_hk_cuMemFree_v2(CUdeviceptr p)
{ DEVICE_FREE(cuMemFree_v2, MF_GPU_DEVPTR, p, (p)); }

CUresult mf_hk_cuMemFreeAsync(CUdeviceptr p, CUstream s)
{ DEVICE_FREE(cuMemFreeAsync, MF_GPU_DEVPTR, p, (p, s)); }

CUresult mf_hk_cuMemFreeAsync_ptsz(CUdeviceptr p, CUstream s)
{ DEVICE_FREE(cuMemFreeAsync_ptsz, MF_GPU_DEVPTR, p, (p, s)); }

/* ---- virtual memory management: physical allocations only -------------------------------- */

CUresult mf_hk_cuMemCreate(CUmemGenericAllocationHandle *h, size_t n,
                           const CUmemAllocationProp *prop, unsigned long long flags)
{
    int dev = NO_DEV, counted;
    if (counting() && prop) {
        int t = prop->location.type;
        if (t == CU_MEM_LOCATION_TYPE_DEVICE) dev = prop->location.id;
        else if (t >= CU_MEM_LOCATION_TYPE_HOST && t <= CU_MEM_LOCATION_TYPE_HOST_NUMA_CURRENT)
            dev = MF_GPU_HOST;
    }
    CUresult r = charge(MF_CALL_CU_MEM_CREATE, dev, n, &counted);
    if (r != CUDA_SUCCESS) return r;
    r = dev == MF_GPU_HOST ? CALL_REAL_PINNED(cuMemCreate, (h, n, prop, flags))
                           : CALL_REAL(cuMemCreate, (h, n, prop, flags));
    settle(r, counted, MF_GPU_HANDLE, h ? *h : 0, dev, n);
    return r;
}

CUresult mf_hk_cuMemRelease(CUmemGenericAllocationHandle h)
{ DEVICE_FREE(cuMemRelease, MF_GPU_HANDLE, h, (h)); }

/* ---- pinned host memory: the host pool --------------------------------------------------- */

#define HOST_ALLOC(sym, call, key, n, args) do {                                         \
        int dev_ = counting() ? MF_GPU_HOST : NO_DEV, counted_;                          \
        CUresult r_ = charge(call, dev_, (n), &counted_);                                \
        if (r_ != CUDA_SUCCESS) return r_;                                               \
        r_ = CALL_REAL_PINNED(sym, args);                                                \
        settle(r_, counted_, MF_GPU_HOSTPTR, (uint64_t)(uintptr_t)(key), dev_, (n));     \
        return r_;                                                                       \
    } while (0)

CUresult mf_hk_cuMemAllocHost_v2(void **pp, size_t n)
{ HOST_ALLOC(cuMemAllocHost_v2, MF_CALL_CU_MEM_ALLOC_HOST, pp ? *pp : NULL, n, (pp, n)); }

CUresult mf_hk_cuMemHostAlloc(void **pp, size_t n, unsigned int flags)
{ HOST_ALLOC(cuMemHostAlloc, MF_CALL_CU_MEM_HOST, pp ? *pp : NULL, n, (pp, n, flags)); }

CUresult mf_hk_cuMemHostRegister_v2(void *p, size_t n, unsigned int flags)
{ HOST_ALLOC(cuMemHostRegister_v2, MF_CALL_CU_MEM_REGISTER, p, n, (p, n, flags)); }

CUresult mf_hk_cuMemFreeHost(void *p)
{ DEVICE_FREE(cuMemFreeHost, MF_GPU_HOSTPTR, (uint64_t)(uintptr_t)p, (p)); }

CUresult mf_hk_cuMemHostUnregister(void *p)
{ DEVICE_FREE(cuMemHostUnregister, MF_GPU_HOSTPTR, (uint64_t)(uintptr_t)p, (p)); }

/* ---- the memory view ---------------------------------------------------------------------- */

/* Either pointer may be NULL: the driver is asked with memfence's own variables and only the
 * figures the caller wants are written. */
CUresult mf_hk_cuMemGetInfo_v2(size_t *free_out, size_t *total_out)
{
    size_t f = 0, t = 0;
    CUresult r = CALL_REAL(cuMemGetInfo_v2, (&f, &t));
    if (r != CUDA_SUCCESS) return r;
    int dev = mf_tls.depth == 0 ? current_device() : NO_DEV;
    uint64_t vf = f, vt = t;
    if (dev >= 0) {
        mf_gpu_set_total(dev, t);
        mf_gpu_view(dev, f, t, &vf, &vt);
    }
    if (free_out) *free_out = (size_t)vf;
    if (total_out) *total_out = (size_t)vt;
    return r;
}

CUresult mf_hk_cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev)
{
    size_t t = 0;
    CUresult r = CALL_REAL(cuDeviceTotalMem_v2, (&t, dev));
    if (r != CUDA_SUCCESS) return r;
    uint64_t vt = t;
    if (mf_tls.depth == 0 && dev >= 0) {
        mf_gpu_set_total(dev, t);
        mf_gpu_view(dev, t, t, NULL, &vt);
    }
    if (!bytes) return CUDA_ERROR_INVALID_VALUE;
    *bytes = (size_t)vt;
    return r;
}
