/* ledger_gpu.c — a CUDA runtime user (the runtime double compiled in) for the group GPU test:
 * reads commands from stdin and answers one line each:
 *   malloc MIB -> "ok" or "refused" (cudaMalloc)      free -> "ok" (the last block)      exit */
#include <stdio.h>
#include <string.h>

#include "../lib/fake_cudart.c"

int main(void)
{
    void *blocks[256];
    int n = 0;
    char line[64];
    unsigned mib;
    setvbuf(stdout, NULL, _IOLBF, 0);
    while (fgets(line, sizeof line, stdin)) {
        if (sscanf(line, "malloc %u", &mib) == 1 && n < 256) {
            void *p = NULL;
            puts(cudaMalloc(&p, (size_t)mib << 20) == 0 ? (blocks[n++] = p, "ok") : "refused");
        } else if (!strncmp(line, "free", 4) && n) {
            cudaFree(blocks[--n]);
            puts("ok");
        } else if (!strncmp(line, "exit", 4)) {
            break;
        } else {
            puts("?");
        }
    }
    return 0;
}
