/* map_budget.c — the mmap family under a 64 MiB budget (run with MEMFENCE_LIMIT=64M):
 *   reserve 8 GiB PROT_NONE: succeeds, counts nothing;
 *   mprotect 100 MiB of it writable: ENOMEM, nothing counted;
 *   mprotect 32 MiB writable: succeeds, 32 MiB counted;
 *   munmap half of those: exactly 16 MiB comes back (public API: map_bytes and host used);
 *   mremap grow of a 16 MiB mapping to 128 MiB: ENOMEM, the old mapping intact;
 *   mprotect back to PROT_NONE returns the rest.
 * Prints "map_budget ok" at the end. */
#include <sys/mman.h>
#include <unistd.h>

#include "map_common.h"

int main(void)
{
    api_init();
    uint64_t m0 = map_bytes(), u0 = host_used();

    char *res = mmap(NULL, 8192 * MiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                     -1, 0);
    CHECK(res != MAP_FAILED);
    CHECK_EQ(map_bytes(), m0);

    errno = 0;
    CHECK(mprotect(res, 100 * MiB, PROT_READ | PROT_WRITE) == -1 && errno == ENOMEM);
    CHECK_EQ(map_bytes(), m0);
    CHECK_EQ(host_used(), u0);

    CHECK(mprotect(res, 32 * MiB, PROT_READ | PROT_WRITE) == 0);
    memset(res, 1, 32 * MiB);
    CHECK_EQ(map_bytes(), m0 + 32 * MiB);
    CHECK_EQ(host_used(), u0 + 32 * MiB);

    /* munmapping half of the committed part returns exactly that half */
    CHECK(munmap(res + 16 * MiB, 16 * MiB) == 0);
    CHECK_EQ(map_bytes(), m0 + 16 * MiB);
    CHECK_EQ(host_used(), u0 + 16 * MiB);

    /* mremap grow beyond the budget fails and leaves the old mapping intact */
    char *m = mmap(NULL, 16 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED);
    for (size_t i = 0; i < 16 * MiB; i += 4096)
        m[i] = (char)(i >> 12);
    CHECK_EQ(map_bytes(), m0 + 32 * MiB);
    errno = 0;
    CHECK(mremap(m, 16 * MiB, 128 * MiB, MREMAP_MAYMOVE) == MAP_FAILED && errno == ENOMEM);
    for (size_t i = 0; i < 16 * MiB; i += 4096)
        CHECK(m[i] == (char)(i >> 12));
    CHECK_EQ(map_bytes(), m0 + 32 * MiB);
    /* a grow that fits is fine, and counted */
    char *m2 = mremap(m, 16 * MiB, 24 * MiB, MREMAP_MAYMOVE);
    CHECK(m2 != MAP_FAILED);
    CHECK(m2[4096] == 1);
    CHECK_EQ(map_bytes(), m0 + 40 * MiB);
    CHECK(munmap(m2, 24 * MiB) == 0);

    /* back to PROT_NONE returns the bytes */
    CHECK(mprotect(res, 16 * MiB, PROT_NONE) == 0);
    CHECK_EQ(map_bytes(), m0);
    CHECK_EQ(host_used(), u0);
    CHECK(munmap(res, 8192 * MiB) == 0);
    CHECK_EQ(map_bytes(), m0);

    /* a writable anonymous mapping that does not fit: MAP_FAILED, ENOMEM */
    errno = 0;
    CHECK(mmap(NULL, 65 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) ==
          MAP_FAILED && errno == ENOMEM);
    printf("map_budget ok\n");
    return 0;
}
