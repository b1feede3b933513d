/* stress.c — the allocation-failure stress benchmarks (bench/b-10-stress.sh runs them).
 *
 *   stress storm THREADS SECONDS [CAP]
 *       Refusal storm: THREADS threads allocate (random sizes, 16 B .. 2 MiB, log-uniform) and
 *       free for SECONDS, right at the budget: each allocates with probability 0.6 and frees
 *       with 0.4, and frees a random block after every refusal, so usage hugs the limit.  Every
 *       call is timed with clock_gettime.  The program keeps its own count of what its blocks
 *       count (memfence_charge_of: glibc's chunks; malloc_usable_size without memfence), added
 *       after a grant, removed before a free; `over` is the most that count ever exceeded the limit,
 *       plus what the process held before the storm.  With CAP (bytes) and no memfence, the
 *       program refuses itself at CAP without calling malloc: the plain allocator's latency at
 *       the same working set.  A watchdog reports a deadlock when the threads do not stop.
 *   stress spawn CHILDREN PARALLEL HOLD SHARED_FILE
 *       Fork-and-exec storm: keeps PARALLEL children running until CHILDREN have run; each is
 *       this program exec'd as `stress child SHARED_FILE HOLD`.
 *   stress child SHARED_FILE HOLD
 *       Allocates HOLD bytes in 64 KiB blocks, holds them 20 ms, frees, exits 0 (all granted)
 *       or 1 (some refused).  Adds what it holds (and what it held before) to a counter in
 *       SHARED_FILE, so the parent sees the group's usage from the members' own counts.
 *   stress probe SIZE
 *       Exit 0 when malloc(SIZE) is refused, 1 when granted (is a budget in force?).
 * Output: one line of key=value pairs.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "memfence.h"

/* What a block counts against the budget (memfence.h), or its usable size without memfence. */
static size_t counted(void *p)
{
    return memfence_charge_of ? (size_t)memfence_charge_of(p) : malloc_usable_size(p);
}

/* ---- latency histograms: 32 sub-buckets per power of two (3 % resolution) ---------------- */

#define HBUCKETS (64 + 40 * 32)

typedef struct hist {
    uint64_t n, max;
    uint64_t b[HBUCKETS];
} hist_t;

static unsigned hbucket(uint64_t v)
{
    if (v < 64) return (unsigned)v;
    unsigned e = 63 - (unsigned)__builtin_clzll(v);     /* >= 6 */
    unsigned i = 64 + (e - 6) * 32 + (unsigned)((v >> (e - 5)) & 31);
    return i < HBUCKETS ? i : HBUCKETS - 1;
}

static uint64_t hlow(unsigned i)
{
    if (i < 64) return i;
    unsigned e = (i - 64) / 32 + 6, sub = (i - 64) % 32;
    return (1ull << e) + ((uint64_t)sub << (e - 5));
}

static void hadd(hist_t *h, uint64_t v)
{
    h->n++;
    h->b[hbucket(v)]++;
    if (v > h->max) h->max = v;
}

static uint64_t hpct(const hist_t *h, double p)
{
    if (!h->n) return 0;
    uint64_t want = (uint64_t)(p * (double)h->n);
    if (want >= h->n) want = h->n - 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HBUCKETS; i++) {
        seen += h->b[i];
        if (seen > want) return hlow(i);
    }
    return h->max;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- the refusal storm ------------------------------------------------------------------ */

#define LIVE_MAX 8192

typedef struct worker {
    pthread_t t;
    unsigned id;
    uint64_t rng;
    uint64_t grants, refusals;
    hist_t granted, refused;
    void *live[LIVE_MAX];
    size_t usable[LIVE_MAX];
    unsigned nlive;
} worker_t;

static _Atomic int go, stop;
static _Atomic uint64_t live_bytes, live_max;
static uint64_t self_cap;           /* 0: memfence decides */
static _Atomic int done_threads;

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void drop_one(worker_t *w)
{
    unsigned k = (unsigned)(xorshift(&w->rng) % w->nlive);
    atomic_fetch_sub_explicit(&live_bytes, w->usable[k], memory_order_relaxed);
    free(w->live[k]);
    w->nlive--;
    w->live[k] = w->live[w->nlive];
    w->usable[k] = w->usable[w->nlive];
}

static void *storm(void *arg)
{
    worker_t *w = arg;
    while (!atomic_load_explicit(&go, memory_order_acquire)) {}
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        uint64_t r = xorshift(&w->rng);
        if (w->nlive == LIVE_MAX || (w->nlive && r % 10 < 4)) {
            drop_one(w);
            continue;
        }
        unsigned e = 4 + (unsigned)((r >> 8) % 17);         /* 16 B .. 1 MiB, then jitter */
        size_t size = ((size_t)1 << e) + (size_t)((r >> 16) & (((uint64_t)1 << e) - 1));
        void *p;
        uint64_t t0 = now_ns();
        if (self_cap && atomic_load_explicit(&live_bytes, memory_order_relaxed) + size > self_cap)
            p = NULL;
        else
            p = malloc(size);
        uint64_t dt = now_ns() - t0;
        if (!p) {
            w->refusals++;
            hadd(&w->refused, dt);
            if (w->nlive) drop_one(w);
            continue;
        }
        w->grants++;
        hadd(&w->granted, dt);
        *(volatile char *)p = 1;
        size_t u = counted(p);
        uint64_t now = atomic_fetch_add_explicit(&live_bytes, u, memory_order_relaxed) + u;
        uint64_t m = atomic_load_explicit(&live_max, memory_order_relaxed);
        while (now > m && !atomic_compare_exchange_weak_explicit(&live_max, &m, now,
                                                                 memory_order_relaxed,
                                                                 memory_order_relaxed)) {}
        w->live[w->nlive] = p;
        w->usable[w->nlive] = u;
        w->nlive++;
    }
    while (w->nlive) drop_one(w);
    atomic_fetch_add(&done_threads, 1);
    return NULL;
}

static int cmd_storm(int threads, double secs, uint64_t cap)
{
    if (threads < 1 || threads > 64) return 2;
    self_cap = cap;
    worker_t *w = mmap(NULL, sizeof *w * (size_t)threads, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);   /* not from the fenced heap */
    if (w == MAP_FAILED) return 2;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 << 10);
    for (int i = 0; i < threads; i++) {
        w[i].id = (unsigned)i;
        w[i].rng = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
        if (pthread_create(&w[i].t, &attr, storm, &w[i]) != 0) return 2;
    }
    /* what the process holds before the storm: thread stacks, TLS, stdio */
    struct timespec settle = { 0, 20 * 1000 * 1000 };
    nanosleep(&settle, NULL);
    uint64_t limit = memfence_present() ? memfence_limit(0) : cap;
    uint64_t base = memfence_present() ? memfence_used(0) : 0;
    uint64_t t0 = now_ns();
    atomic_store_explicit(&go, 1, memory_order_release);
    struct timespec run = { (time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9) };
    nanosleep(&run, NULL);
    atomic_store(&stop, 1);
    uint64_t t1 = now_ns();
    /* watchdog: the threads must stop within 10 s */
    int deadlock = 0;
    for (int i = 0; i < threads; i++) {
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += 10;
        if (pthread_timedjoin_np(w[i].t, NULL, &dl) != 0) deadlock = 1;
    }
    if (deadlock) {
        printf("threads=%d deadlock=1 done=%d\n", threads, atomic_load(&done_threads));
        fflush(stdout);
        _exit(3);
    }
    hist_t g, r;
    memset(&g, 0, sizeof g);
    memset(&r, 0, sizeof r);
    uint64_t grants = 0, refusals = 0;
    for (int i = 0; i < threads; i++) {
        grants += w[i].grants;
        refusals += w[i].refusals;
        g.n += w[i].granted.n;
        r.n += w[i].refused.n;
        if (w[i].granted.max > g.max) g.max = w[i].granted.max;
        if (w[i].refused.max > r.max) r.max = w[i].refused.max;
        for (unsigned b = 0; b < HBUCKETS; b++) {
            g.b[b] += w[i].granted.b[b];
            r.b[b] += w[i].refused.b[b];
        }
    }
    double el = (double)(t1 - t0) / 1e9;
    uint64_t peak = base + atomic_load(&live_max);
    uint64_t over = limit != MEMFENCE_UNLIMITED && peak > limit ? peak - limit : 0;
    struct memfence_stats st;
    memset(&st, 0, sizeof st);
    memfence_get_stats_safe(&st);
    printf("threads=%d secs=%.2f grants=%llu refusals=%llu grants_per_s=%.0f refusals_per_s=%.0f "
           "g_p50=%llu g_p99=%llu g_max=%llu r_p50=%llu r_p99=%llu r_max=%llu limit=%llu "
           "base=%llu peak=%llu over=%llu fill=%.3f trims=%llu throttled=%llu throttle_ns=%llu "
           "deadlock=0\n",
           threads, el, (unsigned long long)grants, (unsigned long long)refusals, grants / el,
           refusals / el, (unsigned long long)hpct(&g, .5), (unsigned long long)hpct(&g, .99),
           (unsigned long long)g.max, (unsigned long long)hpct(&r, .5),
           (unsigned long long)hpct(&r, .99), (unsigned long long)r.max,
           (unsigned long long)limit, (unsigned long long)base, (unsigned long long)peak,
           (unsigned long long)over, limit && limit != MEMFENCE_UNLIMITED ? (double)peak / limit : 0,
           (unsigned long long)st.trims, (unsigned long long)st.throttled,
           (unsigned long long)st.throttle_ns);
    return over ? 1 : 0;
}

/* ---- the fork-and-exec storm ------------------------------------------------------------- */

typedef struct shared {
    _Atomic uint64_t sum, max, grants, refusals;
} shared_t;

static shared_t *shared_map(const char *path, int create)
{
    int fd = open(path, O_RDWR | (create ? O_CREAT | O_TRUNC : 0), 0600);
    if (fd < 0) return NULL;
    if (create && ftruncate(fd, 4096) != 0) { close(fd); return NULL; }
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    return p == MAP_FAILED ? NULL : p;
}

static void shared_add(shared_t *s, uint64_t n)
{
    uint64_t now = atomic_fetch_add(&s->sum, n) + n;
    uint64_t m = atomic_load(&s->max);
    while (now > m && !atomic_compare_exchange_weak(&s->max, &m, now)) {}
}

static int cmd_child(const char *path, uint64_t hold)
{
    shared_t *s = shared_map(path, 0);
    if (!s) return 2;
    uint64_t base = memfence_present() ? memfence_used(0) : 0;
    shared_add(s, base);
    void *blk[4096];
    size_t us[4096];
    unsigned n = 0, refused = 0;
    for (uint64_t got = 0; got < hold && n < 4096; got += 65536) {
        void *p = malloc(65536);
        if (!p) { refused++; continue; }
        us[n] = counted(p);
        shared_add(s, us[n]);
        blk[n++] = p;
    }
    atomic_fetch_add(&s->grants, n);
    atomic_fetch_add(&s->refusals, refused);
    struct timespec ts = { 0, 20 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    while (n) {
        n--;
        atomic_fetch_sub(&s->sum, us[n]);
        free(blk[n]);
    }
    atomic_fetch_sub(&s->sum, base);
    return refused ? 1 : 0;
}

static int cmd_spawn(const char *self, int children, int parallel, const char *hold,
                     const char *path)
{
    shared_t *s = shared_map(path, 1);
    if (!s) return 2;
    int running = 0, started = 0, ok = 0, refused = 0, failed = 0;
    uint64_t t0 = now_ns();
    while (started < children || running > 0) {
        while (running < parallel && started < children) {
            pid_t pid = fork();
            if (pid == 0) {
                execl(self, self, "child", path, hold, (char *)NULL);
                _exit(127);
            }
            if (pid < 0) break;
            running++;
            started++;
        }
        int st;
        pid_t w = wait(&st);
        if (w < 0) break;
        running--;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) ok++;
        else if (WIFEXITED(st) && WEXITSTATUS(st) == 1) refused++;
        else failed++;
    }
    double el = (double)(now_ns() - t0) / 1e9;
    printf("children=%d parallel=%d secs=%.2f spawns_per_s=%.0f ok=%d refused=%d failed=%d "
           "grants=%llu refusals=%llu peak=%llu\n",
           children, parallel, el, children / el, ok, refused, failed,
           (unsigned long long)atomic_load(&s->grants),
           (unsigned long long)atomic_load(&s->refusals), (unsigned long long)atomic_load(&s->max));
    return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 4 && !strcmp(argv[1], "storm"))
        return cmd_storm(atoi(argv[2]), atof(argv[3]),
                         argc >= 5 ? strtoull(argv[4], NULL, 0) : 0);
    if (argc >= 6 && !strcmp(argv[1], "spawn")) {
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0) return 2;
        self[n] = '\0';
        return cmd_spawn(self, atoi(argv[2]), atoi(argv[3]), argv[4], argv[5]);
    }
    if (argc >= 4 && !strcmp(argv[1], "child"))
        return cmd_child(argv[2], strtoull(argv[3], NULL, 0));
    if (argc >= 3 && !strcmp(argv[1], "probe")) {
        void *p = malloc(strtoull(argv[2], NULL, 0));
        int refused = p == NULL;
        free(p);
        return refused ? 0 : 1;
    }
    fprintf(stderr, "usage: stress storm THREADS SECONDS [CAP] | spawn CHILDREN PARALLEL HOLD FILE"
                    " | child FILE HOLD | probe SIZE\n");
    return 2;
}
