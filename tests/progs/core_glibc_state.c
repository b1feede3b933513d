/* core_glibc_state.c — what glibc's malloc decides for the program, as the program can see it:
 * whether a 200 KiB block is a mapping (glibc's default mmap threshold is 128 KiB, and it moves
 * only when the program frees a mapped block), and the heap's in-use bytes at the start of main.
 * core_c.sh runs it with and without the preload and wants the first line the same. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    struct mallinfo2 before = mallinfo2();
    char *volatile p = malloc(200 * 1024);
    if (!p)
        return 1;
    p[0] = 1;
    struct mallinfo2 m = mallinfo2();
    printf("200 KiB mapped: %s\n", m.hblks > before.hblks ? "yes" : "no");
    printf("in use at main: %zu\n", before.uordblks);
    free(p);
    return 0;
}
