/* map_oracle.c [OPS [SEED]] — an independent oracle for memfence's mapping books: thousands of
 * random mmap (MAP_FIXED), mprotect, mremap (in place, MREMAP_FIXED, MREMAP_DONTUNMAP) and
 * munmap calls inside an arena of its own, and after each few, memfence's map_bytes (public
 * API) compared with the kernel's view: the sum of the private writable anonymous regions in
 * /proc/self/smaps inside the arena.  Nothing else maps into the arena (no malloc, no stdio,
 * no threads while it runs), so the backend's own mappings are outside the comparison.
 * Prints "map_oracle ok: N calls, M checks".  Debugging: MAP_ORACLE_EVERY=K compares every K
 * calls (default 3), MAP_ORACLE_TRACE=1 prints each call, MAP_ORACLE_DUMP=1 the maps on a
 * mismatch. */
#include <dirent.h>
#include <unistd.h>
#include <string.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "map_common.h"

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

#define PG 4096ul
#define NPG 8192ul                         /* a 32 MiB arena */

static char buf[16 << 20];
static unsigned char mapped[NPG];
static uintptr_t arena;
static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

static uint64_t hex(const char **s)
{
    uint64_t v = 0;
    for (;; (*s)++) {
        char c = **s;
        if (c >= '0' && c <= '9') v = v * 16 + (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v = v * 16 + (uint64_t)(c - 'a' + 10);
        else return v;
    }
}

/* Reads a /proc file into buf (no malloc: nothing may map into the arena meanwhile). */
static void slurp(const char *path)
{
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    size_t len = 0;
    ssize_t n;
    while ((n = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)n;
    close(fd);
    buf[len] = 0;
}

/* Bytes of private writable anonymous regions inside the arena, from /proc/self/smaps. */
/* True once a thread named "memfence" runs in this process. */
static int memfence_thread_up(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int up = 0;
    while (d && !up && (e = readdir(d))) {
        char path[300], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%.200s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (f) {
            up = fgets(comm, sizeof comm, f) && !strncmp(comm, "memfence", 8);
            fclose(f);
        }
    }
    if (d)
        closedir(d);
    return up;
}

static uint64_t oracle(void)
{
    slurp("/proc/self/smaps");
    uint64_t sum = 0;
    uintptr_t lo = arena, hi = arena + NPG * PG;
    for (const char *l = buf; *l; ) {
        const char *s = l;
        /* header lines look like "start-end perms offset dev inode [path]" */
        if ((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')) {
            uint64_t a = hex(&s);
            if (*s == '-') {
                s++;
                uint64_t b = hex(&s);
                s++;
                int rwp = s[0] == 'r' && s[1] == 'w' && s[3] == 'p';
                /* skip perms, offset, dev: inode 0 and no path means anonymous */
                for (int f = 0; f < 3; f++) { while (*s && *s != ' ') s++; while (*s == ' ') s++; }
                int anon = s[0] == '0' && s[1] == ' ';
                if (anon) { s++; while (*s == ' ') s++; anon = *s == '\n'; }
                /* only pages of the arena this program mapped itself: after a munmap the
                 * kernel may place another mapping in the hole (a thread stack glibc maps for
                 * memfence's sampler, say), which is not this program's to count */
                if (rwp && anon && b > lo && a < hi)
                    for (uintptr_t p = a > lo ? a : lo; p < (b < hi ? b : hi); p += PG)
                        sum += mapped[(p - lo) / PG] ? PG : 0;
            }
        }
        while (*l && *l != '\n') l++;
        if (*l) l++;
    }
    return sum;
}

static int random_prot(void)
{
    static const int prots[] = { PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE,
                                 PROT_READ | PROT_WRITE };
    return prots[rnd() % 4];
}

static void set_mapped(unsigned a, unsigned n, int v) { memset(mapped + a, v, n); }

/* After a failed mremap (which may have unmapped part of its range before failing), the
 * model of what is mapped is read again from /proc/self/maps. */
static void resync(void)
{
    slurp("/proc/self/maps");
    memset(mapped, 0, sizeof mapped);
    for (const char *l = buf; *l; ) {
        const char *s = l;
        uint64_t a = hex(&s), b = (*s == '-') ? (s++, hex(&s)) : 0;
        for (uint64_t x = a; x < b; x += PG)
            if (x >= arena && x < arena + NPG * PG)
                mapped[(x - arena) / PG] = 1;
        while (*l && *l != '\n') l++;
        if (*l) l++;
    }
}

static int all_mapped(unsigned a, unsigned n)
{
    for (unsigned i = a; i < a + n; i++)
        if (!mapped[i])
            return 0;
    return 1;
}

int main(int argc, char **argv)
{
    api_init();
    /* memfence's sampler thread starts at the first allocation and glibc maps its stack (a
     * mapping no hook sees).  This program maps MAP_FIXED into holes of its arena, so the
     * thread must exist before the arena does, or its stack could land in such a hole. */
    free(malloc(64));
    for (int i = 0; i < 300 && !memfence_thread_up(); i++)
        usleep(10000);
    unsigned ops = argc > 1 ? (unsigned)atoi(argv[1]) : 5000;
    if (argc > 2)
        rng = strtoull(argv[2], NULL, 0) | 1;
    void *ar = mmap(NULL, NPG * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CHECK(ar != MAP_FAILED);
    arena = (uintptr_t)ar;
    set_mapped(0, NPG, 1);
    uint64_t base = map_bytes();
    CHECK_EQ(oracle(), 0);
    unsigned checks = 0, done[5] = { 0 };
    unsigned every = getenv("MAP_ORACLE_EVERY") ? (unsigned)atoi(getenv("MAP_ORACLE_EVERY")) : 3;
    for (unsigned i = 0; i < ops; i++) {
        unsigned a = (unsigned)(rnd() % NPG);
        unsigned n = 1 + (unsigned)(rnd() % (rnd() % 8 == 0 ? 512 : 32));
        if (a + n > NPG)
            n = NPG - a;
        char *p = (char *)(arena + a * PG);
        unsigned op = (unsigned)(rnd() % 5);
        if (getenv("MAP_ORACLE_TRACE")) fprintf(stderr, "%u: op %u a=%u n=%u\n", i, op, a, n);
        if (op == 0) {
            int prot = random_prot();
            int fl = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
            if (!(prot & PROT_WRITE) && rnd() % 2)
                fl |= MAP_NORESERVE;
            CHECK(mmap(p, n * PG, prot, fl, -1, 0) == p);
            set_mapped(a, n, 1);
            if (prot & PROT_WRITE)
                p[0] = 1;
            done[0]++;
        } else if (op == 1) {
            if (!all_mapped(a, n))
                continue;        /* mprotect over a hole fails half way: not what is tested */
            CHECK(mprotect(p, n * PG, random_prot()) == 0);
            done[1]++;
        } else if (op == 2) {
            CHECK(munmap(p, n * PG) == 0);
            set_mapped(a, n, 0);
            done[2]++;
        } else if (op == 3) {
            /* in place: shrink or grow (fails when the old range spans mappings or the pages
             * after it are taken: no change then) */
            unsigned m = 1 + (unsigned)(rnd() % 64);
            if (a + m > NPG)
                continue;
            void *r = mremap(p, n * PG, m * PG, 0);
            if (getenv("MAP_ORACLE_DUMP")) fprintf(stderr, "op3 a=%u n=%u m=%u -> %s\n", a, n, m, r == MAP_FAILED ? "failed" : "ok");
            if (r != MAP_FAILED) {
                CHECK(r == p);
                if (m < n) set_mapped(a + m, n - m, 0);
                else set_mapped(a, m, 1);
                done[3]++;
            } else {
                resync();
            }
        } else {
            unsigned d = (unsigned)(rnd() % NPG);
            unsigned m = rnd() % 2 ? n : 1 + (unsigned)(rnd() % 64);
            int dontunmap = m == n && rnd() % 3 == 0;
            if (d + m > NPG || (d < a + n && a < d + m))
                continue;
            int fl = MREMAP_MAYMOVE | MREMAP_FIXED | (dontunmap ? MREMAP_DONTUNMAP : 0);
            void *r = mremap(p, n * PG, m * PG, fl, (void *)(arena + d * PG));
            if (getenv("MAP_ORACLE_DUMP")) fprintf(stderr, "op4 a=%u n=%u d=%u m=%u dontunmap=%d -> %s\n", a, n, d, m, dontunmap, r == MAP_FAILED ? "failed" : "ok");
            if (r != MAP_FAILED) {
                CHECK(r == (void *)(arena + d * PG));
                /* Linux 6.17+ moves a same-size range of several mappings with gaps, mapping
                 * by mapping: the destination under a gap stays as it was */
                for (unsigned k = 0; k < m; k++)
                    mapped[d + k] |= m != n || mapped[a + k];
                if (!dontunmap)
                    set_mapped(a, n, 0);
                done[4]++;
            } else {
                resync();
            }
        }
        if (i % every == 0 || i == ops - 1) {
            uint64_t k = oracle(), mf = map_bytes() - base;
            if (k != mf) {
                if (getenv("MAP_ORACLE_DUMP")) { fprintf(stderr, "arena %lx\n", (unsigned long)arena); int fd = open("/proc/self/maps", O_RDONLY); ssize_t r; while ((r = read(fd, buf, 65536)) > 0) write(2, buf, (size_t)r); }
                fprintf(stderr, "call %u (op %u, page %u, %u pages): memfence %llu, smaps %llu\n",
                        i, op, a, n, (unsigned long long)mf, (unsigned long long)k);
                return 1;
            }
            checks++;
        }
    }
    CHECK(munmap(ar, NPG * PG) == 0);
    CHECK_EQ(map_bytes(), base);
    printf("map_oracle ok: %u calls (mmap %u, mprotect %u, munmap %u, mremap %u, mremap-move %u), "
           "%u checks\n", done[0] + done[1] + done[2] + done[3] + done[4], done[0], done[1],
           done[2], done[3], done[4], checks);
    return 0;
}
