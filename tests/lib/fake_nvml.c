/* fake_nvml.c — TEST DOUBLE of NVML (libnvidia-ml.so.1).  Not NVIDIA's library: it answers the
 * handful of calls a memory probe makes (init, device count, handle by index, index, memory
 * info v1 and v2) for FAKE_CUDA_DEVICES devices of FAKE_CUDA_MEM bytes each, like the CUDA
 * double.  "used" is FAKE_NVML_USED bytes (default 0) on every device.  Tests install it as
 * libnvidia-ml.so.1 in a directory on LD_LIBRARY_PATH. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fake_cuda.h"

struct fake_nvml_dev { unsigned index; };
static struct fake_nvml_dev devs[8] = { {0}, {1}, {2}, {3}, {4}, {5}, {6}, {7} };
static int inited;

static unsigned ndev(void) { unsigned n = (unsigned)fake_env_size("FAKE_CUDA_DEVICES", 1); return n > 8 ? 8 : n; }

nvmlReturn_t nvmlInit_v2(void) { inited = 1; return NVML_SUCCESS; }
nvmlReturn_t nvmlInit(void) { return nvmlInit_v2(); }
nvmlReturn_t nvmlShutdown(void) { inited = 0; return NVML_SUCCESS; }
nvmlReturn_t nvmlDeviceGetCount_v2(unsigned *n)
{
    if (!n) return NVML_ERROR_INVALID_ARGUMENT;
    *n = ndev();
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned i, nvmlDevice_t *d)
{
    if (!d || i >= ndev()) return NVML_ERROR_INVALID_ARGUMENT;
    *d = &devs[i];
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t d, unsigned *i)
{
    if (!d || !i) return NVML_ERROR_INVALID_ARGUMENT;
    *i = d->index;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned len)
{
    if (!d || !name || !len) return NVML_ERROR_INVALID_ARGUMENT;
    strncpy(name, "memfence fake NVML device (test double)", len - 1);
    name[len - 1] = 0;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m)
{
    if (!d || !m) return NVML_ERROR_INVALID_ARGUMENT;
    m->total = fake_env_size("FAKE_CUDA_MEM", 1ull << 30);
    m->used = fake_env_size("FAKE_NVML_USED", 0);
    m->free = m->total - m->used;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t d, nvmlMemory_v2_t *m)
{
    if (!d || !m || m->version != nvmlMemory_v2) return NVML_ERROR_INVALID_ARGUMENT;
    m->total = fake_env_size("FAKE_CUDA_MEM", 1ull << 30);
    m->reserved = 1 << 20;
    m->used = fake_env_size("FAKE_NVML_USED", 0);
    m->free = m->total - m->reserved - m->used;
    return NVML_SUCCESS;
}
