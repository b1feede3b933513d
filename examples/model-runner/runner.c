/* runner.c — a model runner that behaves like an ollama / llama.cpp runner.  The model story
 * itself is told on the real engine (llama.cpp through node-llama-cpp: examples/llama,
 * tests/integration/llama_engine.sh); this synthetic one stays for what the real engine cannot
 * show here: the GPU paths against memfence's CUDA test doubles (node-llama-cpp's prebuilt
 * build here is CPU only), and tests/integration/e2e_model.sh where node-llama-cpp is not
 * installed.  It is not a language model: the "weights" are a sparse file with a GGUF header,
 * and "generating" reads slices of them.  What it does the way the real one does:
 *
 *   1. maps the whole model file read-only (llama.cpp's llama_mmap: PROT_READ, MAP_SHARED);
 *   2. asks how much memory is free — cudaMemGetInfo when a CUDA runtime with a device is found
 *      (dlopen("libcudart.so.12"), as ggml-cuda is loaded), else sysinfo() and /proc/meminfo's
 *      MemAvailable — and sizes its KV cache (and, on a GPU, how many layers it offloads) from it;
 *   3. allocates the KV cache and the layers (malloc + touch on the CPU, cudaMalloc on a GPU),
 *      and fails the way ggml does when an allocation is refused;
 *   4. generates a few tokens, optionally holds its memory for a while, and exits 0.
 *
 * usage: runner [-m MODEL] [-s SIZE] [-L LAYERS] [-e EMBD] [-c CTX_MAX] [-t TOKENS] [-H SECONDS] [-C] [-N] [-P]
 *   -m  model file (created sparse with a GGUF header when missing; default ./model.gguf)
 *   -s  model size when creating it: bytes with K/M/G (default 512M)
 *   -L  layers (default 16)      -e  embedding width (default 1024): KV bytes per token =
 *                                    2 (K,V) x layers x embd x 2 (f16)
 *   -c  the largest context the model supports (default 16384 tokens)
 *   -t  tokens to generate (default 32)    -H  seconds to hold the memory before exiting (0)
 *   -C  CPU only, even when a CUDA runtime is found
 *   -N  only create the model file (when missing) and exit
 *   -P  only print what memory it sees (and the plan) and exit: allocates nothing
 * Exit: 0 ran; 2 the model could not be mapped; 3 the KV cache or a buffer could not be
 * allocated; 4 a GPU allocation failed; 1 usage or I/O error.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#define MIB (1024.0 * 1024.0)

typedef int (*cuda_count_fn)(int *);
typedef int (*cuda_info_fn)(size_t *, size_t *);
typedef int (*cuda_malloc_fn)(void **, size_t);
typedef int (*cuda_free_fn)(void *);

static struct {
    cuda_count_fn count;
    cuda_info_fn info;
    cuda_malloc_fn malloc_;
    cuda_free_fn free_;
} cuda;

static unsigned long long parse_size(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    switch (*end) {
    case 'k': case 'K': v *= 1024; break;
    case 'm': case 'M': v *= 1024 * 1024; break;
    case 'g': case 'G': v *= 1024.0 * 1024 * 1024; break;
    default: break;
    }
    return (unsigned long long)v;
}

/* A sparse file of `size` bytes that starts like a GGUF v3 file. */
static int create_model(const char *path, unsigned long long size, unsigned layers)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
        return -errno;
    unsigned char hdr[24];
    uint32_t version = 3;
    uint64_t tensors = 2ull * layers, kvs = 0;
    memcpy(hdr, "GGUF", 4);
    memcpy(hdr + 4, &version, 4);
    memcpy(hdr + 8, &tensors, 8);
    memcpy(hdr + 16, &kvs, 8);
    int rc = 0;
    if (write(fd, hdr, sizeof hdr) != (ssize_t)sizeof hdr || ftruncate(fd, (off_t)size) != 0)
        rc = -errno;
    close(fd);
    return rc;
}

/* Free memory as the CPU backend sees it: MemAvailable from /proc/meminfo when it can be read,
 * else sysinfo's free + buffer RAM.  Both figures are printed. */
static unsigned long long cpu_free(void)
{
    struct sysinfo si;
    unsigned long long si_free = 0, avail = 0;
    if (sysinfo(&si) == 0)
        si_free = ((unsigned long long)si.freeram + si.bufferram) * si.mem_unit;
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemAvailable: %llu kB", &avail) == 1) {
                avail *= 1024;
                break;
            }
        fclose(f);
    }
    printf("runner: free memory: sysinfo %.1f MiB, /proc/meminfo MemAvailable %.1f MiB\n",
           si_free / MIB, avail / MIB);
    return avail ? avail : si_free;
}

/* A CUDA runtime with at least one device, or 0. */
static int cuda_open(void)
{
    const char *name = getenv("RUNNER_CUDART");
    void *h = dlopen(name && *name ? name : "libcudart.so.12", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return 0;
    cuda.count = (cuda_count_fn)dlsym(h, "cudaGetDeviceCount");
    cuda.info = (cuda_info_fn)dlsym(h, "cudaMemGetInfo");
    cuda.malloc_ = (cuda_malloc_fn)dlsym(h, "cudaMalloc");
    cuda.free_ = (cuda_free_fn)dlsym(h, "cudaFree");
    int n = 0;
    if (!cuda.info || !cuda.malloc_ || !cuda.free_)
        return 0;
    if (cuda.count && (cuda.count(&n) != 0 || n < 1))
        return 0;
    return 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: runner [-m MODEL] [-s SIZE] [-L LAYERS] [-e EMBD] [-c CTX_MAX] "
                    "[-t TOKENS] [-H SECONDS] [-C] [-N] [-P]\n");
}

int main(int argc, char **argv)
{
    const char *path = "model.gguf";
    unsigned long long size = 512ull << 20;
    unsigned layers = 16, embd = 1024, ctx_max = 16384, tokens = 32, hold = 0;
    int cpu_only = 0, create_only = 0, plan_only = 0, c;
    while ((c = getopt(argc, argv, "m:s:L:e:c:t:H:CNPh")) != -1) {
        switch (c) {
        case 'm': path = optarg; break;
        case 's': size = parse_size(optarg); break;
        case 'L': layers = (unsigned)atoi(optarg); break;
        case 'e': embd = (unsigned)atoi(optarg); break;
        case 'c': ctx_max = (unsigned)atoi(optarg); break;
        case 't': tokens = (unsigned)atoi(optarg); break;
        case 'H': hold = (unsigned)atoi(optarg); break;
        case 'C': cpu_only = 1; break;
        case 'N': create_only = 1; break;
        case 'P': plan_only = 1; break;
        default: usage(); return 1;
        }
    }
    if (!layers || !embd || !ctx_max || size < 4096) {
        usage();
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    struct stat st;
    if (stat(path, &st) != 0) {
        int rc = create_model(path, size, layers);
        if (rc) {
            fprintf(stderr, "runner: cannot create %s: %s\n", path, strerror(-rc));
            return 1;
        }
        stat(path, &st);
        printf("runner: created %s: %.1f MiB GGUF file (sparse: %.1f MiB on disk)\n", path,
               st.st_size / MIB, st.st_blocks * 512.0 / MIB);
    }
    size = (unsigned long long)st.st_size;
    if (create_only)
        return 0;

    /* 1. load: map the whole file, as llama_mmap does */
    printf("runner: loading model %s (%.1f MiB, %u layers)\n", path, size / MIB, layers);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        fprintf(stderr, "runner: %s: %s\n", path, strerror(errno));
        return 1;
    }
    const unsigned char *weights = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    if (weights == MAP_FAILED) {
        printf("runner: llama_model_load: error loading model: mmap of %s failed: %s\n", path,
               strerror(errno));
        printf("runner: exit: model does not fit\n");
        return 2;
    }
    close(fd);
    if (memcmp(weights, "GGUF", 4) != 0)
        printf("runner: warning: %s has no GGUF magic\n", path);

    /* 2. how much memory is there */
    int gpu = !cpu_only && cuda_open();
    unsigned long long free_b, layer_b = size / layers;
    unsigned long long kv_tok = 2ull * layers * embd * 2, compute_b = 8ull << 20;
    if (gpu) {
        size_t f = 0, t = 0;
        cuda.info(&f, &t);
        free_b = f;
        printf("runner: CUDA device 0: cudaMemGetInfo free %.1f MiB of %.1f MiB\n", f / MIB, t / MIB);
    } else {
        free_b = cpu_free();
    }

    /* 3. plan: on a GPU, offload as many layers as fit beside a minimal cache; the KV cache
     * takes what is left (capped by the model's context).  On the CPU the weights are the
     * mapping, which will be resident too: they come off the free memory first. */
    unsigned gpu_layers = 0;
    unsigned long long avail = free_b > compute_b ? free_b - compute_b : 0;
    if (gpu) {
        unsigned long long min_kv = 256ull * kv_tok;
        gpu_layers = avail > min_kv ? (unsigned)((avail - min_kv) / layer_b) : 0;
        if (gpu_layers > layers)
            gpu_layers = layers;
        avail -= (unsigned long long)gpu_layers * layer_b;
    } else {
        avail = avail > size ? avail - size : 0;
    }
    unsigned long long ctx = avail / 10 * 9 / kv_tok;    /* 10 % headroom */
    if (ctx > ctx_max)
        ctx = ctx_max;
    ctx -= ctx % 256;
    if (ctx < 256) {
        printf("runner: not enough memory for a context of 256 tokens (%.1f MiB free)\n",
               free_b / MIB);
        ctx = 256;    /* llama.cpp tries anyway, and fails at the allocation */
    }
    unsigned long long kv_b = ctx * kv_tok;
    printf("runner: plan: context %llu tokens -> KV cache %.1f MiB%s", ctx, kv_b / MIB,
           ctx == ctx_max ? " (the model's maximum)" : " (sized to the free memory)");
    if (gpu)
        printf(", %u/%u layers on the GPU (%.1f MiB)", gpu_layers, layers,
               gpu_layers * (double)layer_b / MIB);
    printf("\n");
    if (plan_only)
        return 0;

    /* 4. allocate */
    void **dev_layers = calloc(layers, sizeof *dev_layers);
    unsigned char *compute = malloc(compute_b);
    if (!dev_layers || !compute) {
        printf("runner: ggml: failed to allocate the compute buffer (%.1f MiB)\n", compute_b / MIB);
        return 3;
    }
    memset(compute, 1, compute_b);
    for (unsigned i = 0; i < gpu_layers; i++)
        if (cuda.malloc_(&dev_layers[i], layer_b) != 0) {
            printf("runner: ggml_cuda: cudaMalloc failed: out of memory (layer %u, %.1f MiB)\n",
                   i, layer_b / MIB);
            return 4;
        }
    void *dev_kv = NULL;
    unsigned char *kv = NULL;
    if (gpu) {
        if (cuda.malloc_(&dev_kv, kv_b) != 0) {
            printf("runner: ggml_cuda: cudaMalloc failed: out of memory (KV cache, %.1f MiB)\n",
                   kv_b / MIB);
            return 4;
        }
    } else {
        kv = malloc(kv_b);
        if (!kv) {
            printf("runner: llama_kv_cache_init: failed to allocate buffer for kv cache "
                   "(%.1f MiB): %s\n", kv_b / MIB, strerror(errno));
            return 3;
        }
        memset(kv, 0, kv_b);    /* resident, as a cache being filled would be */
    }

    /* 5. generate: each token reads a slice of every layer's weights */
    unsigned long long sum = 0;
    for (unsigned t = 0; t < tokens; t++) {
        for (unsigned l = 0; l < layers; l++) {
            const unsigned char *w = weights + (unsigned long long)l * layer_b;
            for (unsigned long long off = (t * 4096ull) % layer_b; off < layer_b; off += 64 * 4096)
                sum += w[off];
        }
        if (kv)
            kv[(t * kv_tok) % kv_b] = (unsigned char)t;
        compute[t % compute_b] ^= (unsigned char)sum;
    }
    printf("runner: generated %u tokens (context %llu, KV cache %.1f MiB%s)\n", tokens, ctx,
           kv_b / MIB, gpu ? " on the GPU" : "");
    if (hold) {
        printf("runner: holding the model for %u s\n", hold);
        sleep(hold);
    }
    for (unsigned i = 0; i < gpu_layers; i++)
        cuda.free_(dev_layers[i]);
    if (dev_kv)
        cuda.free_(dev_kv);
    free(kv);
    free(compute);
    free(dev_layers);
    munmap((void *)weights, size);
    printf("runner: done\n");
    return 0;
}
