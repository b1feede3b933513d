/* core_edge.c — the malloc family's edge cases under memfence, and exact accounting checked
 * through the public API.  Run under LD_PRELOAD with MEMFENCE_LIMIT=64M.  Exit 0 when every
 * check holds; prints the failed checks otherwise. */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "memfence.h"

static int fails;
#define CHECK(c) do { if (!(c)) { fails++; printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); } } while (0)

static volatile size_t huge_half = SIZE_MAX / 2;   /* volatile: keep the compiler from judging */

int main(void)
{
    if (!memfence_present()) {
        printf("memfence is not loaded\n");
        return 2;
    }
    uint64_t limit = memfence_limit(MEMFENCE_POOL_HOST);
    CHECK(limit == 64ull << 20);

    free(NULL);                                       /* a no-op */
    uint64_t u0 = memfence_used(0);
    void *p = malloc(1000);
    CHECK(p && memfence_used(0) == u0 + memfence_charge_of(p));   /* charged = its chunk */
    free(p);
    CHECK(memfence_used(0) == u0);

    p = realloc(NULL, 100);                           /* = malloc(100) */
    CHECK(p != NULL);
    p = realloc(p, 5000);
    CHECK(p && memfence_used(0) == u0 + memfence_charge_of(p));
    p = realloc(p, 10);                               /* shrink */
    CHECK(p && memfence_used(0) == u0 + memfence_charge_of(p));
    errno = 0;
    CHECK(realloc(p, 0) == NULL);                     /* glibc: frees, returns NULL */
    CHECK(memfence_used(0) == u0);

    errno = 0;
    CHECK(calloc(huge_half, 4) == NULL && errno == ENOMEM);   /* overflow: nothing charged */
    CHECK(memfence_used(0) == u0);
    errno = 0;
    CHECK(reallocarray(NULL, huge_half, 4) == NULL && errno == ENOMEM);
    int *z = calloc(1000, sizeof(int));
    CHECK(z && z[0] == 0 && z[999] == 0);
    free(z);

    void *a = NULL;
    CHECK(posix_memalign(&a, 3, 64) == EINVAL);       /* not a power of two */
    CHECK(posix_memalign(&a, 4, 64) == EINVAL);       /* not a multiple of sizeof(void *) */
    CHECK(posix_memalign(&a, 4096, 100) == 0 && ((uintptr_t)a & 4095) == 0);
    CHECK(memfence_used(0) == u0 + memfence_charge_of(a));
    free(a);
    a = aligned_alloc(64, 128);
    CHECK(a && ((uintptr_t)a & 63) == 0);
    free(a);
    a = memalign(256, 10);
    CHECK(a && ((uintptr_t)a & 255) == 0);
    free(a);
    a = valloc(10);
    CHECK(a && ((uintptr_t)a & 4095) == 0);
    free(a);
    a = pvalloc(10);
    CHECK(a && ((uintptr_t)a & 4095) == 0 && malloc_usable_size(a) >= 4096);
    free(a);
    CHECK(memfence_used(0) == u0);

    errno = 0;
    CHECK(malloc(huge_half * 2 + 1) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(malloc(100 << 20) == NULL && errno == ENOMEM);     /* beyond the budget */
    CHECK(posix_memalign(&a, 64, 100 << 20) == ENOMEM);
    CHECK(memfence_used(0) == u0);

    /* fill to the limit with 1 MiB blocks: granted never exceeds it, and the last byte of room
     * is still grantable */
    void *blocks[128];
    int nb = 0;
    while (nb < 128 && (blocks[nb] = malloc(1 << 20)) != NULL)
        nb++;
    uint64_t used = memfence_used(0);
    CHECK(nb > 40 && used <= limit);
    CHECK(limit - used < (1 << 20) + 4096);           /* refused only when 1 MiB did not fit */
    /* a small block that fits is granted */
    if (limit - used > 256) {
        void *s = malloc(limit - used - 64);
        CHECK(s != NULL);
        CHECK(memfence_used(0) <= limit);
        void *t = malloc(limit - memfence_used(0) + 1);
        CHECK(t == NULL);
        free(s);
    }
    /* realloc near the limit: growth that does not fit fails and keeps the old block */
    char *r = malloc(64);
    strcpy(r, "intact");
    errno = 0;
    CHECK(realloc(r, 8 << 20) == NULL && errno == ENOMEM);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuse-after-free"   /* a failed realloc leaves r valid */
    CHECK(!strcmp(r, "intact"));
#pragma GCC diagnostic pop
    free(r);
    for (int i = 0; i < nb; i++)
        free(blocks[i]);
    CHECK(memfence_used(0) == u0);

    struct memfence_stats st;
    CHECK(memfence_get_stats_safe(&st) == 0 && st.refusals >= 3 && st.host_limit == limit);
    printf("%s\n", fails ? "core_edge: FAILED" : "core_edge: ok");
    return fails ? 1 : 0;
}
