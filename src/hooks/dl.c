/* dl.c — every path a program takes to the CUDA driver's and NVML's functions: dlsym and
 * dlvsym (exported), cuGetProcAddress and cuGetProcAddress_v2 (handed out when the driver is
 * looked up), and the NVML memory-information hooks.
 *
 * The CUDA runtime, static or shared, dlopens libcuda.so.1, looks up cuGetProcAddress with
 * dlsym, asks it for cuGetProcAddress itself and then for every entry point; ggml, NVML users
 * and ollama's probes use dlsym directly.  A name listed in hooks/cuda.def is answered with
 * memfence's hook once the real function is found in the handle the program used; any other
 * name, a failed lookup, RTLD_NEXT, and every lookup made while this thread is inside memfence
 * or inside a hooked CUDA call (the per-thread guard) pass through untouched.
 *
 * memfence exports dlsym, so its own lookups must reach the real one: mf_real_dlsym is found by
 * version with libc's dlvsym, itself found in libc's symbol table (calling "dlsym" or "dlvsym"
 * by name from inside memfence would bind to these very hooks).  Names memfence does
 * not hook go to the real dlsym in a tail call, so the real one still sees the program as its
 * caller (RTLD_NEXT and dlmopen namespaces are resolved from the caller's address).
 */
#include <dlfcn.h>
#include <string.h>

#include "backend/resolve.h"
#include "base/mf.h"
#include "base/proc.h"
#include "base/sys.h"
#include "family/gpu.h"
#include "hooks/cuda.h"
#include "hooks/elfdyn.h"

__thread int mf_dl_guard;

/* libc's own dlvsym.  It cannot be called by name from here: memfence exports dlvsym without a
 * version, and an unversioned definition first in the search order satisfies every versioned
 * reference too (that is how memfence interposes at all), so even dlvsym@GLIBC_2.2.5 would come
 * back to this file.  Instead libc's dynamic symbol table is searched directly (GNU hash, the
 * default version): no allocation, no lock but dl_iterate_phdr's recursive one. */
typedef void *(*dlvsym_fn)(void *, const char *, const char *);

static int find_libc(struct dl_phdr_info *info, size_t size, void *out)
{
    const char *n = info->dlpi_name, *slash = n ? strrchr(n, '/') : NULL;
    if (!n || strncmp(slash ? slash + 1 : n, "libc.so", 7) != 0) return 0;
    const ElfW(Dyn) *dyn = mf_elf_dynamic(info);
    if (!dyn) return 0;
    *(void **)out = mf_elf_lookup(info->dlpi_addr, dyn, "dlvsym");
    return *(void **)out != NULL;
}

static dlvsym_fn real_dlvsym;

static MF_COLD void dl_init(void)
{
    void *libc_dlvsym = NULL;
    dl_iterate_phdr(find_libc, &libc_dlvsym);
    if (!libc_dlvsym) {
        static const char msg[] = "memfence: cannot find libc's dlvsym; stopping\n";
        mf_sys_write(2, msg, sizeof msg - 1);
        mf_syscall6(SYS_exit_group, 127, 0, 0, 0, 0, 0);
    }
    dlvsym_fn lv = (dlvsym_fn)libc_dlvsym;
    /* The next dlsym / dlvsym after memfence: libc's, or another preloaded interposer's. */
    void *f = lv(RTLD_NEXT, "dlsym", "GLIBC_2.34");
    if (!f) f = lv(RTLD_NEXT, "dlsym", "GLIBC_2.2.5");
    void *v = lv(RTLD_NEXT, "dlvsym", "GLIBC_2.34");
    if (!v) v = lv(RTLD_NEXT, "dlvsym", "GLIBC_2.2.5");
    real_dlvsym = v ? (dlvsym_fn)v : lv;
    mf_real_dlsym = f ? (void *(*)(void *, const char *))f : NULL;
}

/* The names worth a look: "cu…" and "nvml…", outside memfence and outside hooked calls. */
static inline int interesting(void *handle, const char *name)
{
    if (handle == RTLD_NEXT || !name || mf_dl_guard || mf_tls.depth) return 0;
    return (name[0] == 'c' && name[1] == 'u') ||
           (name[0] == 'n' && name[1] == 'v' && name[2] == 'm' && name[3] == 'l');
}

static _Atomic(void *) h_nvml_index;

static MF_NOINLINE void *lookup(void *handle, const char *name, const char *version)
{
    int i = mf_cu_find(name);
    mf_dl_guard++;
    void *real = version ? real_dlvsym(handle, name, version) : mf_real_dlsym(handle, name);
    mf_dl_guard--;
    if (real) mf_cu_bind_direct();    /* a driver is in use: bind its direct callers too */
    if (i < 0 || !real) return real;
    if (name[0] == 'n') {
        if (!atomic_load(&h_nvml_index)) {
            void *none = NULL, *p = mf_resolve_in(handle, "nvmlDeviceGetIndex");
            if (p) atomic_compare_exchange_strong(&h_nvml_index, &none, p);
        }
    } else {
        mf_cu_helpers_from_handle(handle, 0);
    }
    /* The program's lookup succeeded: a helper that was missing must not leave an error for
     * its next dlerror() to find. */
    dlerror();
    return mf_cu_hook(i, real);
}

MF_EXPORT void *dlsym(void *restrict handle, const char *restrict name)
{
    if (mf_unlikely(!mf_real_dlsym)) dl_init();
    if (mf_unlikely(interesting(handle, name))) return lookup(handle, name, NULL);
    return mf_real_dlsym(handle, name);
}

MF_EXPORT void *dlvsym(void *restrict handle, const char *restrict name,
                       const char *restrict version)
{
    if (mf_unlikely(!mf_real_dlsym)) dl_init();
    if (mf_unlikely(interesting(handle, name))) return lookup(handle, name, version);
    return real_dlvsym(handle, name, version);
}

/* ---- cuGetProcAddress ---------------------------------------------------------------------- */

/* Rewrites the driver's answer for a hooked name; helpers are fetched the same way. */
static void *answer(const char *sym, void *real_fn, int version, cuuint64_t flags,
                    void *getproc, int v2)
{
    if (!sym || !real_fn || mf_dl_guard || mf_tls.depth) return real_fn;
    int i = mf_cu_match(sym, version, flags);
    if (i < 0) return real_fn;
    mf_cu_helpers_from_proc(getproc, v2);
    mf_cu_bind_direct();
    return mf_cu_hook(i, real_fn);
}

CUresult mf_hk_cuGetProcAddress(const char *sym, void **pfn, int version, cuuint64_t flags)
{
    mf_cu_fn_cuGetProcAddress real = MF_CU_REAL(cuGetProcAddress);
    mf_dl_guard++;
    CUresult r = real(sym, pfn, version, flags);
    mf_dl_guard--;
    if (r == CUDA_SUCCESS && pfn) *pfn = answer(sym, *pfn, version, flags, (void *)real, 0);
    return r;
}

CUresult mf_hk_cuGetProcAddress_v2(const char *sym, void **pfn, int version, cuuint64_t flags,
                                   CUdriverProcAddressQueryResult *status)
{
    mf_cu_fn_cuGetProcAddress_v2 real = MF_CU_REAL(cuGetProcAddress_v2);
    mf_dl_guard++;
    CUresult r = real(sym, pfn, version, flags, status);
    mf_dl_guard--;
    if (r == CUDA_SUCCESS && pfn) *pfn = answer(sym, *pfn, version, flags, (void *)real, 1);
    return r;
}

/* ---- NVML ---------------------------------------------------------------------------------- */

typedef nvmlReturn_t (*nvml_index_fn)(nvmlDevice_t, unsigned int *);

/* NVML numbers devices as the machine has them; CUDA's ordinals follow CUDA_VISIBLE_DEVICES.
 * Return: the CUDA ordinal of an NVML device, or -1 (not visible to CUDA, or a list given by
 * UUID or MIG name that memfence cannot map: then the view passes unchanged). */
static int cuda_ordinal(nvmlDevice_t d)
{
    nvml_index_fn f = (nvml_index_fn)atomic_load(&h_nvml_index);
    unsigned idx = 0;
    if (!f || f(d, &idx) != NVML_SUCCESS) return -1;
    const char *v = mf_getenv("CUDA_VISIBLE_DEVICES", 0);
    if (!v) return idx < MF_GPU_MAX ? (int)idx : -1;
    for (int ord = 0; *v; ord++) {
        if (*v < '0' || *v > '9') return -1;
        unsigned n = 0;
        while (*v >= '0' && *v <= '9') n = n * 10 + (unsigned)(*v++ - '0');
        if (n == idx) return ord < MF_GPU_MAX ? ord : -1;
        if (*v == ',') v++;
        else if (*v) return -1;
    }
    return -1;
}

/* The device's view with a budget, or 0 when NVML's own figures stand. */
static int nvml_view(nvmlDevice_t d, unsigned long long *total, unsigned long long *free_b)
{
    if (mf_tls.depth) return 0;
    int dev = cuda_ordinal(d);
    if (dev < 0) return 0;
    mf_gpu_set_total(dev, *total);
    if (mf_gpu_budget(dev) == MF_UNLIMITED) return 0;
    uint64_t f, t;
    mf_gpu_view(dev, *free_b, *total, &f, &t);
    *total = t;
    *free_b = f;
    return 1;
}

nvmlReturn_t mf_hk_nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m)
{
    nvmlReturn_t r = MF_CU_REAL(nvmlDeviceGetMemoryInfo)(d, m);
    if (r == NVML_SUCCESS && m && nvml_view(d, &m->total, &m->free))
        m->used = m->total - m->free;
    return r;
}

nvmlReturn_t mf_hk_nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t d, nvmlMemory_v2_t *m)
{
    nvmlReturn_t r = MF_CU_REAL(nvmlDeviceGetMemoryInfo_v2)(d, m);
    if (r == NVML_SUCCESS && m && nvml_view(d, &m->total, &m->free)) {
        unsigned long long taken = m->total - m->free;
        if (m->reserved > taken) m->reserved = taken;
        m->used = taken - m->reserved;
    }
    return r;
}
