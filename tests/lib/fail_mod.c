/* fail_mod.c — a shared object loaded late by tests/progs/fail_prog.c: its allocations come
 * from a caller address inside this object (the from=MODULE test). */
#include <stdlib.h>

__attribute__((visibility("default"), noinline)) void *fail_mod_alloc(size_t n)
{
    void *p = malloc(n);
    __asm__ volatile("" ::: "memory");      /* keep the call a call, not a tail jump */
    return p;
}
