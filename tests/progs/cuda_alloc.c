/* cuda_alloc.c — a CUDA runtime user for the GPU tests, driven by its arguments.
 *   cuda_alloc static|shared CMD...
 * static: the runtime double is compiled in (like nvcc's default, cudart linked statically);
 * shared: it is dlopened from $FAKE_CUDART (like -cudart shared, or PyTorch and ggml).
 * Commands (each prints one line "CMD ARG -> RESULT"):
 *   dev N | malloc N | async N | managed N | pitch W H | host N | hostalloc N | register N
 *   free (the last block) | freeall | info (prints free and total) | fill N (cudaMalloc N-byte
 *   blocks until refused, prints how many) ; N takes K/M/G suffixes. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/fake_cudart.c"

static struct {
    cudaError_t (*SetDevice)(int);
    cudaError_t (*Malloc)(void **, size_t);
    cudaError_t (*MallocAsync)(void **, size_t, CUstream);
    cudaError_t (*MallocManaged)(void **, size_t, unsigned);
    cudaError_t (*MallocPitch)(void **, size_t *, size_t, size_t);
    cudaError_t (*MallocHost)(void **, size_t);
    cudaError_t (*HostAlloc)(void **, size_t, unsigned);
    cudaError_t (*HostRegister)(void *, size_t, unsigned);
    cudaError_t (*HostUnregister)(void *);
    cudaError_t (*Free)(void *);
    cudaError_t (*FreeAsync)(void *, CUstream);
    cudaError_t (*FreeHost)(void *);
    cudaError_t (*MemGetInfo)(size_t *, size_t *);
} rt;

enum { B_DEV, B_ASYNC, B_HOST, B_REG };
static struct { void *p; int kind; } stack[4096];
static int top;

static size_t num(const char *s)
{
    char *e;
    size_t v = strtoull(s, &e, 10);
    if (*e == 'K' || *e == 'k') v <<= 10;
    else if (*e == 'M' || *e == 'm') v <<= 20;
    else if (*e == 'G' || *e == 'g') v <<= 30;
    return v;
}

static int pop(void)
{
    if (!top) return -1;
    top--;
    void *p = stack[top].p;
    switch (stack[top].kind) {
    case B_DEV: return rt.Free(p);
    case B_ASYNC: return rt.FreeAsync(p, NULL);
    case B_HOST: return rt.FreeHost(p);
    default: { int r = rt.HostUnregister(p); free(p); return r; }
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) return 2;
    if (!strcmp(argv[1], "shared")) {
        const char *path = getenv("FAKE_CUDART");
        void *h = dlopen(path ? path : "libcudart.so.12", RTLD_NOW);
        if (!h) { printf("dlopen runtime: %s\n", dlerror()); return 3; }
#define L(f) *(void **)&rt.f = dlsym(h, "cuda" #f)
        L(SetDevice); L(Malloc); L(MallocAsync); L(MallocManaged); L(MallocPitch); L(MallocHost);
        L(HostAlloc); L(HostRegister); L(HostUnregister); L(Free); L(FreeAsync); L(FreeHost);
        L(MemGetInfo);
#undef L
    } else {
#define S(f) rt.f = cuda##f
        S(SetDevice); S(Malloc); S(MallocAsync); S(MallocManaged); S(MallocPitch); S(MallocHost);
        S(HostAlloc); S(HostRegister); S(HostUnregister); S(Free); S(FreeAsync); S(FreeHost);
        S(MemGetInfo);
#undef S
    }
    for (int i = 2; i < argc; i++) {
        const char *c = argv[i];
        void *p = NULL;
        int r = 0;
        if (!strcmp(c, "dev")) { r = rt.SetDevice((int)num(argv[++i])); printf("dev %s -> %d\n", argv[i], r); }
        else if (!strcmp(c, "malloc") || !strcmp(c, "async") || !strcmp(c, "managed") ||
                 !strcmp(c, "host") || !strcmp(c, "hostalloc")) {
            size_t n = num(argv[++i]);
            int kind = B_DEV;
            if (!strcmp(c, "malloc")) r = rt.Malloc(&p, n);
            else if (!strcmp(c, "async")) { r = rt.MallocAsync(&p, n, NULL); kind = B_ASYNC; }
            else if (!strcmp(c, "managed")) r = rt.MallocManaged(&p, n, 1);
            else if (!strcmp(c, "host")) { r = rt.MallocHost(&p, n); kind = B_HOST; }
            else { r = rt.HostAlloc(&p, n, 0); kind = B_HOST; }
            if (r == 0) { stack[top].p = p; stack[top++].kind = kind; }
            printf("%s %s -> %d\n", c, argv[i], r);
        } else if (!strcmp(c, "register")) {
            size_t n = num(argv[++i]);
            p = malloc(n);
            r = rt.HostRegister(p, n, 0);
            if (r == 0) { stack[top].p = p; stack[top++].kind = B_REG; } else free(p);
            printf("register %s -> %d\n", argv[i], r);
        } else if (!strcmp(c, "pitch")) {
            size_t w = num(argv[i + 1]), h = num(argv[i + 2]), pitch = 0;
            r = rt.MallocPitch(&p, &pitch, w, h);
            if (r == 0) { stack[top].p = p; stack[top++].kind = B_DEV; }
            printf("pitch %s %s -> %d pitch %zu\n", argv[i + 1], argv[i + 2], r, pitch);
            i += 2;
        } else if (!strcmp(c, "free")) {
            printf("free -> %d\n", pop());
        } else if (!strcmp(c, "freeall")) {
            int bad = 0;
            while (top) bad |= pop();
            printf("freeall -> %d\n", bad);
        } else if (!strcmp(c, "info")) {
            size_t f = 0, t = 0;
            r = rt.MemGetInfo(&f, &t);
            printf("info -> %d free %zu total %zu\n", r, f, t);
        } else if (!strcmp(c, "fill")) {
            size_t n = num(argv[++i]);
            int k = 0;
            while (top < 4096 && (r = rt.Malloc(&p, n)) == 0) { stack[top].p = p; stack[top++].kind = B_DEV; k++; }
            printf("fill %s -> %d blocks, then %d\n", argv[i], k, r);
        } else {
            printf("unknown command %s\n", c);
            return 2;
        }
        fflush(stdout);
    }
    return 0;
}
