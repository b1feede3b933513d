/* calls.h — THE table of allocation calls memfence reports on and can fail on purpose.
 * X(id, "name shown in reports", family).  Families select calls for `fail = calls=...`. */
#ifndef MF_CALLS_H
#define MF_CALLS_H

enum mf_family { MF_FAM_MALLOC = 1, MF_FAM_MMAP = 2, MF_FAM_CUDA = 4 };

#define MF_CALLS(X)                                   \
    X(MALLOC,         "malloc",          MALLOC)      \
    X(CALLOC,         "calloc",          MALLOC)      \
    X(REALLOC,        "realloc",         MALLOC)      \
    X(REALLOCARRAY,   "reallocarray",    MALLOC)      \
    X(POSIX_MEMALIGN, "posix_memalign",  MALLOC)      \
    X(ALIGNED_ALLOC,  "aligned_alloc",   MALLOC)      \
    X(MEMALIGN,       "memalign",        MALLOC)      \
    X(VALLOC,         "valloc",          MALLOC)      \
    X(PVALLOC,        "pvalloc",         MALLOC)      \
    X(MMAP,           "mmap",            MMAP)        \
    X(MREMAP,         "mremap",          MMAP)        \
    X(MPROTECT,       "mprotect",        MMAP)        \
    X(SHMAT,          "shmat",           MMAP)        \
    X(BRK,            "brk",             MMAP)        \
    X(CU_MEM_ALLOC,   "cuMemAlloc",      CUDA)        \
    X(CU_MEM_PITCH,   "cuMemAllocPitch", CUDA)        \
    X(CU_MEM_MANAGED, "cuMemAllocManaged", CUDA)      \
    X(CU_MEM_ASYNC,   "cuMemAllocAsync", CUDA)        \
    X(CU_MEM_POOL,    "cuMemAllocFromPoolAsync", CUDA) \
    X(CU_MEM_HOST,    "cuMemHostAlloc",  CUDA)        \
    X(CU_MEM_ALLOC_HOST, "cuMemAllocHost", CUDA)      \
    X(CU_MEM_REGISTER, "cuMemHostRegister", CUDA)     \
    X(CU_MEM_CREATE,  "cuMemCreate",     CUDA)

enum mf_call {
#define MF_CALL_ENUM(id, name, fam) MF_CALL_##id,
    MF_CALLS(MF_CALL_ENUM)
#undef MF_CALL_ENUM
    MF_CALL_COUNT
};

/* The call's report name and family. */
const char *mf_call_name(unsigned call);
unsigned mf_call_family(unsigned call);

#endif
