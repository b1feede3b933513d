/* gpu.h — CUDA device memory: one budget pool per device, the pointer/handle → size table that
 * lets a free credit what its allocation charged, and the memory view reported from the budget.
 *
 * The hooks (src/hooks/cuda.c, src/hooks/dl.c) only forward here.  Nothing in this module knows
 * a CUDA symbol; it deals in devices, bytes and keys, so it is tested without any CUDA library.
 * Devices are the driver's ordinals as the process sees them (CUDA_VISIBLE_DEVICES applied).
 * Error convention: 0 or a negative errno.
 */
#ifndef MF_GPU_H
#define MF_GPU_H

#include <stdint.h>

#include "base/module.h"
#include "config/config.h"
#include "gate/gate.h"

/* What a table key is: a device pointer, a pinned host pointer, or a VMM allocation handle. */
enum mf_gpu_kind { MF_GPU_DEVPTR = 1, MF_GPU_HOSTPTR = 2, MF_GPU_HANDLE = 3 };

/* The "device" of pinned host memory: charged to the host pool. */
#define MF_GPU_HOST (-1)

/* The gate pool of device `dev` (MF_GPU_HOST: the host pool).  Return: the pool, or -1 when the
 * device is beyond MF_GPU_MAX (then it is not fenced). */
static inline int mf_gpu_pool(int dev)
{
    if (dev == MF_GPU_HOST) return MF_POOL_HOST;
    return (dev >= 0 && dev < MF_GPU_MAX) ? MF_POOL_GPU0 + dev : -1;
}

/* Charges n bytes of an allocation made by `call` (MF_CALL_*) on device dev (or MF_GPU_HOST):
 * runs the policy (fault injection), then the gate.  A refusal is reported (one line) here.
 * Return: 0, -ENOMEM (refused: the hook returns CUDA_ERROR_OUT_OF_MEMORY), or -ERANGE (device
 * not fenced: the hook passes the call through uncounted).  With on_limit = warn a charge beyond
 * the budget is granted anyway and reported. */
int mf_gpu_charge(unsigned call, int dev, uint64_t n);
void mf_gpu_uncharge(int dev, uint64_t n);

/* The table: allocation-free, thread-safe, in memory of its own (mf_sys_mmap, mapped at the
 * first use, so a process that never uses CUDA never maps it).  Keys are unique per kind.
 * track: 0 or -ENOSPC (table full: the caller uncharges, the block stays unfenced).
 * untrack: 0 with *size and *dev filled, or -ENOENT (not an allocation memfence counted). */
int mf_gpu_track(unsigned kind, uint64_t key, uint64_t size, int dev);
int mf_gpu_untrack(unsigned kind, uint64_t key, uint64_t *size, int *dev);
uint64_t mf_gpu_tracked(void);           /* live entries (tests, reports) */

/* Records device dev's physical memory as the driver reports it and resolves a percentage
 * budget against it.  Idempotent.  Return: 0 or -ERANGE (device beyond MF_GPU_MAX). */
int mf_gpu_set_total(int dev, uint64_t total);
int mf_gpu_known(int dev);               /* true once set_total ran for dev */
int mf_gpu_pct_pending(int dev);         /* true while dev's % budget waits for its size */

/* Device dev's budget in bytes; MF_UNLIMITED when it has none (or its % is not resolved). */
uint64_t mf_gpu_budget(int dev);

/* The memory view of device dev: total = min(budget, physical), free = max(0, total − usage)
 * clamped by the real free memory.  Without a budget, or with virtualize = off, the real figures
 * pass unchanged (the budget still holds: only what the program is told changes). */
void mf_gpu_view(int dev, uint64_t real_free, uint64_t real_total, uint64_t *free_out,
                 uint64_t *total_out);

/* Unit tests: forget budgets, totals and table entries (the gate is reset separately). */
void mf_gpu_reset(void);

/* The module's lifecycle (module.h). */
MF_MODULE_DECL(gpu);

#endif
