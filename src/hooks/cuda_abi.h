/* cuda_abi.h — the few CUDA driver and NVML types memfence's hooks need, written from the
 * published ABI (cuda.h, nvml.h) so that memfence builds without the CUDA toolkit and never links
 * a CUDA library.  Only what the hooks touch is described; everything else stays opaque.
 */
#ifndef MF_CUDA_ABI_H
#define MF_CUDA_ABI_H

#include <stddef.h>
#include <stdint.h>

typedef int CUresult;                               /* enum cudaError_enum */
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;             /* 64-bit since CUDA 3.2 (_v2 entry points) */
typedef unsigned long long CUmemGenericAllocationHandle;
typedef unsigned long long cuuint64_t;
typedef void *CUstream;
typedef void *CUmemoryPool;
typedef int CUdriverProcAddressQueryResult;

enum {
    CUDA_SUCCESS = 0,
    CUDA_ERROR_INVALID_VALUE = 1,
    CUDA_ERROR_OUT_OF_MEMORY = 2,
    CUDA_ERROR_NOT_INITIALIZED = 3,
    CUDA_ERROR_NOT_FOUND = 500,
};

/* cuGetProcAddress flags */
enum { CU_GET_PROC_ADDRESS_LEGACY_STREAM = 1, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM = 2 };

/* CUmemLocationType */
enum { CU_MEM_LOCATION_TYPE_DEVICE = 1, CU_MEM_LOCATION_TYPE_HOST = 2,
       CU_MEM_LOCATION_TYPE_HOST_NUMA = 3, CU_MEM_LOCATION_TYPE_HOST_NUMA_CURRENT = 4 };

typedef struct CUmemLocation_st { int type; int id; } CUmemLocation;

typedef struct CUmemAllocationProp_st {
    int type;                       /* CUmemAllocationType */
    int requestedHandleTypes;
    CUmemLocation location;
    void *win32HandleMetaData;
    struct { unsigned char compressionType, gpuDirectRDMACapable; unsigned short usage;
             unsigned char reserved[4]; } allocFlags;
} CUmemAllocationProp;

/* NVML */
typedef int nvmlReturn_t;
typedef void *nvmlDevice_t;
enum { NVML_SUCCESS = 0, NVML_ERROR_INVALID_ARGUMENT = 2 };
typedef struct nvmlMemory_st { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct nvmlMemory_v2_st {
    unsigned int version;
    unsigned long long total, reserved, free, used;
} nvmlMemory_v2_t;

#endif
