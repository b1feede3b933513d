/* map_semantics.c — what counts, call by call, checked through the public API's map_bytes
 * (run under the preload with no limit, or a generous one).  Each step states the kernel rule
 * it mirrors; the expected deltas are exact.  Prints "map_semantics ok". */
#include <pthread.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include "map_common.h"

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

static const int RW = PROT_READ | PROT_WRITE;
static const int PA = MAP_PRIVATE | MAP_ANONYMOUS;

#define DELTA(expr, want) do { uint64_t b_ = map_bytes(); expr; \
    CHECK_EQ((int64_t)(map_bytes() - b_), (int64_t)(want)); } while (0)

static void *worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 2000; i++) {
        size_t n = (size_t)(1 + i % 7) * 65536;
        char *p = mmap(NULL, n, RW, PA, -1, 0);
        CHECK(p != MAP_FAILED);
        p[0] = 1;
        if (i % 3 == 0)
            CHECK(mprotect(p, 4096, PROT_NONE) == 0);
        CHECK(munmap(p, n) == 0);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    api_init();
    char *p, *q;

    /* accountable_mapping(): private writable counts, page-rounded */
    DELTA(p = mmap(NULL, 1, RW, PA, -1, 0), 4096);
    DELTA(munmap(p, 1), -4096);
    /* MAP_NORESERVE and PROT_NONE count nothing */
    DELTA(p = mmap(NULL, 64 * MiB, RW, PA | MAP_NORESERVE, -1, 0), 0);
    DELTA(munmap(p, 64 * MiB), 0);
    DELTA(p = mmap(NULL, 64 * MiB, PROT_NONE, PA | MAP_NORESERVE, -1, 0), 0);
    /* the JVM's commit: MAP_FIXED writable over the reservation; uncommit: MAP_FIXED PROT_NONE */
    DELTA(q = mmap(p, 8 * MiB, RW, PA | MAP_FIXED, -1, 0), 8 * MiB);
    CHECK(q == p);
    DELTA(mmap(p, 8 * MiB, RW, PA | MAP_FIXED, -1, 0), 0);          /* replaces, same size */
    DELTA(mmap(p + 4 * MiB, 8 * MiB, RW, PA | MAP_FIXED, -1, 0), 4 * MiB);
    DELTA(mmap(p, 12 * MiB, PROT_NONE, PA | MAP_FIXED | MAP_NORESERVE, -1, 0), -12 * MiB);
    /* V8's commit: mprotect writable on a MAP_NORESERVE reservation counts */
    DELTA(mprotect(p + 16 * MiB, 2 * MiB, RW), 2 * MiB);
    DELTA(mprotect(p + 16 * MiB, 2 * MiB, RW), 0);                  /* already writable */
    DELTA(mprotect(p + 17 * MiB, 1 * MiB, PROT_READ), -1 * MiB);    /* write removed */
    DELTA(mprotect(p + 16 * MiB, 2 * MiB, PROT_NONE), -1 * MiB);
    /* pkey_mprotect with the default key is mprotect */
    uint64_t pk = map_bytes();
    if (pkey_mprotect(p + 20 * MiB, 1 * MiB, RW, -1) == 0) {
        CHECK_EQ(map_bytes() - pk, 1 * MiB);
        DELTA(mprotect(p + 20 * MiB, 1 * MiB, PROT_NONE), -1 * MiB);
    }
    /* a hole punched in the middle of a counted region: exactly the hole comes back */
    DELTA(mprotect(p + 32 * MiB, 8 * MiB, RW), 8 * MiB);
    DELTA(munmap(p + 34 * MiB, 1 * MiB), -1 * MiB);
    DELTA(munmap(p + 30 * MiB, 4 * MiB), -2 * MiB);
    DELTA(munmap(p, 64 * MiB), -5 * MiB);

    /* mremap: shrink returns the tail, grow charges the growth, a move carries the books */
    DELTA(p = mmap(NULL, 8 * MiB, RW, PA, -1, 0), 8 * MiB);
    DELTA(q = mremap(p, 8 * MiB, 4 * MiB, 0), -4 * MiB);
    CHECK(q == p);
    DELTA(q = mremap(p, 4 * MiB, 12 * MiB, MREMAP_MAYMOVE), 8 * MiB);
    CHECK(q != MAP_FAILED);
    char *dst = mmap(NULL, 16 * MiB, RW, PA, -1, 0);               /* +16 MiB */
    CHECK(dst != MAP_FAILED);
    /* MREMAP_FIXED onto a counted mapping: the 12 MiB moved replace 12 of its 16 */
    DELTA(p = mremap(q, 12 * MiB, 12 * MiB, MREMAP_MAYMOVE | MREMAP_FIXED, dst), -12 * MiB);
    CHECK(p == dst);
    /* MREMAP_DONTUNMAP: the old range stays mapped (and counted), the new copy counts too */
    q = mremap(p, 4 * MiB, 4 * MiB, MREMAP_MAYMOVE | MREMAP_DONTUNMAP);
    if (q != MAP_FAILED) {
        CHECK(munmap(q, 4 * MiB) == 0);
        DELTA(q = mremap(p, 4 * MiB, 4 * MiB, MREMAP_MAYMOVE | MREMAP_DONTUNMAP), 4 * MiB);
        DELTA(munmap(q, 4 * MiB), -4 * MiB);
    }
    DELTA(munmap(dst, 16 * MiB), -16 * MiB);

    /* shared anonymous: the object counts whatever the protection (shmem_acct_size) */
    DELTA(p = mmap(NULL, 8 * MiB, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, -1, 0), 8 * MiB);
    DELTA(mprotect(p, 8 * MiB, RW), 0);
    /* growing it does not grow the object: the kernel charges nothing more */
    DELTA(q = mremap(p, 8 * MiB, 12 * MiB, MREMAP_MAYMOVE), 0);
    CHECK(q != MAP_FAILED);
    DELTA(munmap(q, 12 * MiB), -8 * MiB);
    DELTA(p = mmap(NULL, 8 * MiB, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0), 0);
    DELTA(munmap(p, 8 * MiB), 0);

    /* files: read-only private and shared file mappings are not charged; a private file
     * mapping made writable is (it is copy-on-write memory) */
    char path[] = "/tmp/map_semantics.XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && ftruncate(fd, 4 * MiB) == 0);
    unlink(path);
    DELTA(p = mmap(NULL, 4 * MiB, PROT_READ, MAP_PRIVATE, fd, 0), 0);
    DELTA(mprotect(p, 1 * MiB, RW), 1 * MiB);
    DELTA(munmap(p, 4 * MiB), -1 * MiB);
    DELTA(p = mmap(NULL, 4 * MiB, RW, MAP_SHARED, fd, 0), 0);
    DELTA(munmap(p, 4 * MiB), 0);
    DELTA(p = mmap(NULL, 4 * MiB, RW, MAP_PRIVATE, fd, 0), 4 * MiB);
    DELTA(munmap(p, 4 * MiB), -4 * MiB);
    close(fd);

    /* System V segments: an attachment counts the segment, shmdt returns it */
    int id = shmget(IPC_PRIVATE, 4 * MiB, IPC_CREAT | 0600);
    if (id >= 0) {
        DELTA(p = shmat(id, NULL, 0), 4 * MiB);
        CHECK(p != (void *)-1);
        DELTA(q = shmat(id, NULL, SHM_RDONLY), 0);
        DELTA(shmdt(q), 0);
        DELTA(shmdt(p), -4 * MiB);
        shmctl(id, IPC_RMID, NULL);
    }

    /* brk/sbrk called by the program count the pages the break moves over */
    char *b0 = sbrk(0);
    uintptr_t pg0 = ((uintptr_t)b0 + 4095) & ~(uintptr_t)4095;
    uintptr_t pg1 = ((uintptr_t)b0 + 1 * MiB + 4095) & ~(uintptr_t)4095;
    DELTA(CHECK(sbrk(1 * MiB) == b0), pg1 - pg0);
    DELTA(CHECK(brk(b0) == 0), -(int64_t)(pg1 - pg0));

    /* the allocator's own mappings are heap, not counted again */
    DELTA(q = malloc(64 * MiB), 0);
    CHECK(q);
    memset(q, 1, 64 * MiB);
    DELTA(free(q), 0);

    /* fork: the child inherits the table (a copy of the address space) and its books */
    DELTA(p = mmap(NULL, 4 * MiB, RW, PA, -1, 0), 4 * MiB);
    uint64_t before = map_bytes();
    pid_t pid = fork();
    if (pid == 0) {
        CHECK_EQ(map_bytes(), before);
        DELTA(munmap(p, 4 * MiB), -4 * MiB);
        DELTA(q = mmap(NULL, 2 * MiB, RW, PA, -1, 0), 2 * MiB);
        _exit(0);
    }
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_EQ(map_bytes(), before);
    DELTA(munmap(p, 4 * MiB), -4 * MiB);

    /* threads mapping and unmapping at once leave the books where they were, and forks made
     * meanwhile get a table whose lock is free (the child maps and unmaps without hanging) */
    uint64_t b = map_bytes();
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&th[i], NULL, worker, NULL) == 0);
    for (int i = 0; i < 20; i++) {
        pid = fork();
        if (pid == 0) {
            uint64_t c0 = map_bytes();
            char *x = mmap(NULL, 1 * MiB, RW, PA, -1, 0);
            if (x == MAP_FAILED || map_bytes() != c0 + 1 * MiB || munmap(x, 1 * MiB) != 0)
                _exit(1);
            _exit(map_bytes() == c0 ? 0 : 1);
        }
        CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(map_bytes(), b);

    printf("map_semantics ok\n");
    return 0;
}
