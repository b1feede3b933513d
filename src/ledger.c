/* ledger.c — the shared-memory ledger: files, slots, group budgets across processes, crash
 * reclamation, admission, the per-slot mailbox, and the readers `memfence status` and
 * `memfence metrics` share (design and layout in ledger.h).
 *
 * Everything here runs inside fenced processes too: no stdio, no malloc, raw system calls for
 * files; the only libc calls are the pthread mutex functions (futex based, allocation-free)
 * and clock_gettime (vDSO).
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "gate.h"
#include "ledger.h"
#include "log.h"
#include "modules.h"
#include "policy.h"
#include "report.h"
#include "runtime.h"
#include "size.h"
#include "stats.h"
#include "sys.h"

/* ---- small system helpers ------------------------------------------------------------------ */

static int sys_fstat(int fd, struct stat *st)
{ return (int)mf_syscall6(SYS_fstat, fd, (long)st, 0, 0, 0, 0); }
static int sys_ftruncate(int fd, off_t n)
{ return (int)mf_syscall6(SYS_ftruncate, fd, (long)n, 0, 0, 0, 0); }
static int sys_rename(const char *a, const char *b)
{ return (int)mf_syscall6(SYS_rename, (long)a, (long)b, 0, 0, 0, 0); }
static int sys_unlink(const char *p)
{ return (int)mf_syscall6(SYS_unlink, (long)p, 0, 0, 0, 0, 0); }
static unsigned sys_getuid(void) { return (unsigned)mf_syscall6(SYS_getuid, 0, 0, 0, 0, 0, 0); }
static pid_t sys_getppid(void) { return (pid_t)mf_syscall6(SYS_getppid, 0, 0, 0, 0, 0, 0); }

static void sleep_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    mf_syscall6(SYS_nanosleep, (long)&ts, 0, 0, 0, 0, 0);
}

static uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t pidns_ino(void)
{
    struct stat st;
    if (mf_syscall6(SYS_newfstatat, AT_FDCWD, (long)"/proc/self/ns/pid", (long)&st, 0, 0, 0))
        return 0;
    return (uint64_t)st.st_ino;
}

static void copy_name(char *dst, size_t size, const char *src)
{
    size_t n = src ? strnlen(src, size - 1) : 0;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

static uint64_t sat_sub(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }
static uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

/* ---- names and paths ----------------------------------------------------------------------- */

bool mf_ledger_group_valid(const char *g)
{
    if (!g || !*g || *g == '.')
        return false;
    size_t n = 0;
    for (const char *p = g; *p; p++, n++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return n < MF_NAME_MAX;
}

const char *mf_ledger_dir(const mf_config_t *cfg)
{
    if (cfg && cfg->ledger_dir[0])
        return cfg->ledger_dir;
    const char *x = mf_getenv("XDG_RUNTIME_DIR", 1);
    if (x && x[0] == '/')
        return x;
    return "/dev/shm";
}

int mf_ledger_path(const char *dir, unsigned uid, const char *group, char *buf, size_t size)
{
    size_t n;
    if (!group || !*group)
        n = mf_fmt(buf, size, "%s/memfence-%u-solo.ledger", dir, uid);
    else if (!mf_ledger_group_valid(group))
        return -EINVAL;
    else
        n = mf_fmt(buf, size, "%s/memfence-%u-g-%s.ledger", dir, uid, group);
    return n + 1 >= size ? -ENAMETOOLONG : 0;
}

int mf_ledger_reply_path(const char *dir, unsigned uid, pid_t pid, char *buf, size_t size)
{
    size_t n = mf_fmt(buf, size, "%s/memfence-%u-%d.reply", dir, uid, (int)pid);
    return n + 1 >= size ? -ENAMETOOLONG : 0;
}

/* ---- opening and validating ------------------------------------------------------------------ */

static int init_lock(mf_ledger_hdr_t *h)
{
    pthread_mutexattr_t a;
    if (pthread_mutexattr_init(&a))
        return -ENOMEM;
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
    int r = pthread_mutex_init(&h->u.lock, &a);
    pthread_mutexattr_destroy(&a);
    return -r;
}

/* Writes a fresh header into the mapped file h (slots are zero or reset by the caller). */
static int init_header(mf_ledger_hdr_t *h, const char *group, size_t size)
{
    atomic_store(&h->creator, (int32_t)mf_sys_getpid());
    h->magic = MF_LEDGER_MAGIC;
    h->version = MF_LEDGER_VERSION;
    h->hdr_size = (uint32_t)MF_LEDGER_HDR_SIZE;
    h->slot_size = (uint32_t)sizeof(mf_ledger_slot_t);
    h->nslots = MF_LEDGER_SLOTS;
    h->file_size = size;
    h->owner_uid = sys_getuid();
    h->pidns = pidns_ino();
    h->created_ns = realtime_ns();
    memset(h->group, 0, sizeof h->group);
    copy_name(h->group, sizeof h->group, group);
    for (unsigned i = 0; i < MF_POOL_COUNT; i++) {
        h->limit[i] = MF_UNLIMITED;
        atomic_store(&h->total[i], 0);
    }
    int r = init_lock(h);
    if (r == 0)
        atomic_store_explicit(&h->ready, 1, memory_order_release);
    return r;
}

static int create_file(int fd, const char *group, mf_ledger_t *l)
{
    size_t size = MF_LEDGER_FILE_SIZE(MF_LEDGER_SLOTS);
    int r = sys_ftruncate(fd, (off_t)size);
    if (r)
        return r;
    void *p = mf_sys_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (mf_sys_mmap_failed(p))
        return (int)(long)p;
    if ((r = init_header(p, group, size)) != 0) {   /* a fresh file reads as zeroes */
        mf_sys_munmap(p, size);
        return r;
    }
    l->hdr = p;
    l->size = size;
    return 0;
}

static int refuse(mf_ledger_t *l, int err, char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int refuse(mf_ledger_t *l, int err, char *why, size_t whylen, const char *fmt, ...)
{
    if (why && whylen) {
        va_list ap;
        va_start(ap, fmt);
        mf_vfmt(why, whylen, fmt, ap);
        va_end(ap);
    }
    mf_ledger_close(l);
    return err;
}

int mf_ledger_open(const char *path, const char *group, bool create, mf_ledger_t *l,
                   char *why, size_t whylen)
{
    memset(l, 0, sizeof *l);
    l->fd = -1;
    copy_name(l->path, sizeof l->path, path);
    if (why && whylen)
        why[0] = '\0';
    size_t want = MF_LEDGER_FILE_SIZE(MF_LEDGER_SLOTS);
    int fd = -ENOENT;
    if (create) {
        fd = mf_sys_open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
        if (fd >= 0) {
            l->fd = fd;
            int r = create_file(fd, group, l);
            if (r) {
                sys_unlink(path);
                return refuse(l, r, why, whylen, "%s: cannot create it (error %d)", path, -r);
            }
            l->slots = (mf_ledger_slot_t *)((char *)l->hdr + MF_LEDGER_HDR_SIZE);
            return 0;
        }
        if (fd != -EEXIST)
            return refuse(l, fd, why, whylen, "%s: cannot create it (error %d)", path, -fd);
    }
    fd = mf_sys_open(path, O_RDWR | O_NOFOLLOW, 0);
    if (fd == -ELOOP)
        return refuse(l, -ELOOP, why, whylen, "%s is a symbolic link: refused", path);
    if (fd < 0)
        return refuse(l, fd, why, whylen, "%s: cannot open it (error %d)", path, -fd);
    l->fd = fd;
    struct stat st;
    if (sys_fstat(fd, &st))
        return refuse(l, -EIO, why, whylen, "%s: cannot stat it", path);
    if (!S_ISREG(st.st_mode))
        return refuse(l, -EPERM, why, whylen, "%s is not a regular file: refused", path);
    if (st.st_uid != sys_getuid())
        return refuse(l, -EPERM, why, whylen, "%s is owned by uid %u, not by this user: refused",
                      path, (unsigned)st.st_uid);
    if (st.st_mode & 077)
        return refuse(l, -EPERM, why, whylen, "%s has mode %u%u%u, must be 600: refused", path,
                      (unsigned)(st.st_mode >> 6) & 7, (unsigned)(st.st_mode >> 3) & 7,
                      (unsigned)st.st_mode & 7);
    /* A creator may be between open and ftruncate: wait a little for the size. */
    for (int i = 0; i < 100 && (size_t)st.st_size < want; i++) {
        sleep_ms(10);
        if (sys_fstat(fd, &st))
            return refuse(l, -EIO, why, whylen, "%s: cannot stat it", path);
    }
    if (st.st_size == 0 && create) {    /* its creator died before sizing it */
        sys_ftruncate(fd, (off_t)want);
        sys_fstat(fd, &st);
    }
    if ((size_t)st.st_size != want)
        return refuse(l, -EPROTO, why, whylen,
                      "%s has size %lld, expected %zu (another version of memfence, or corrupt): "
                      "refused; remove it when no fenced process uses it", path,
                      (long long)st.st_size, want);
    void *p = mf_sys_mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (mf_sys_mmap_failed(p))
        return refuse(l, (int)(long)p, why, whylen, "%s: cannot map it", path);
    l->hdr = p;
    l->size = want;
    mf_ledger_hdr_t *h = l->hdr;
    for (int i = 0; i < 100 && atomic_load_explicit(&h->ready, memory_order_acquire) != 1; i++)
        sleep_ms(10);
    if (create && atomic_load(&h->ready) == 0) {
        /* Its creator died half-way: whoever wins the CAS initialises it again. */
        int32_t c = atomic_load(&h->creator);
        uint32_t zero = 0;
        if ((c <= 0 || !mf_ledger_proc_start(c)) &&
            atomic_compare_exchange_strong(&h->ready, &zero, 2)) {
            memset((char *)p + MF_LEDGER_HDR_SIZE, 0, want - MF_LEDGER_HDR_SIZE);
            init_header(h, group, want);
        }
        for (int i = 0; i < 100 && atomic_load_explicit(&h->ready, memory_order_acquire) != 1; i++)
            sleep_ms(10);
    }
    if (atomic_load_explicit(&h->ready, memory_order_acquire) != 1)
        return refuse(l, -ETIMEDOUT, why, whylen,
                      "%s is not initialised (its creator died, or it is corrupt): refused; "
                      "remove it when no fenced process uses it", path);
    if (h->magic != MF_LEDGER_MAGIC || h->version != MF_LEDGER_VERSION ||
        h->hdr_size != MF_LEDGER_HDR_SIZE || h->slot_size != sizeof(mf_ledger_slot_t) ||
        h->nslots != MF_LEDGER_SLOTS || h->file_size != want)
        return refuse(l, -EPROTO, why, whylen,
                      "%s is not a memfence ledger of version %u (bad header): refused; remove it "
                      "when no fenced process uses it", path, MF_LEDGER_VERSION);
    if (h->owner_uid != sys_getuid())
        return refuse(l, -EPROTO, why, whylen, "%s: header names uid %u: refused", path,
                      h->owner_uid);
    if (strnlen(h->group, sizeof h->group) >= sizeof h->group ||
        strcmp(h->group, group ? group : ""))
        return refuse(l, -EPROTO, why, whylen, "%s: header names another group: refused", path);
    uint64_t ns = pidns_ino();
    if (h->pidns && ns && h->pidns != ns)
        return refuse(l, -EPROTO, why, whylen,
                      "%s was made in another pid namespace (a container sharing the directory?): "
                      "refused; give each namespace its own ledger_dir", path);
    l->slots = (mf_ledger_slot_t *)((char *)p + MF_LEDGER_HDR_SIZE);
    return 0;
}

void mf_ledger_close(mf_ledger_t *l)
{
    if (l->hdr)
        mf_sys_munmap(l->hdr, l->size);
    if (l->fd >= 0)
        mf_sys_close(l->fd);
    l->hdr = NULL;
    l->slots = NULL;
    l->fd = -1;
}

/* ---- processes ------------------------------------------------------------------------------- */

uint64_t mf_ledger_proc_start(pid_t pid)
{
    char path[64], buf[1024];
    if (pid <= 0)
        return 0;
    mf_fmt(path, sizeof path, "/proc/%d/stat", (int)pid);
    long n = mf_sys_read_file(path, buf, sizeof buf);
    if (n <= 0)
        return 0;
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return 0;
    p += 2;
    if (*p == 'Z' || *p == 'X' || *p == 'x')
        return 0;       /* a zombie holds no memory */
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return 0;
        p++;
    }
    uint64_t v = 0;
    while (*p >= '0' && *p <= '9')
        v = v * 10 + (uint64_t)(*p++ - '0');
    return v ? v : 1;
}

/* ---- the lock -------------------------------------------------------------------------------- */

static uint64_t contrib(const mf_ledger_slot_t *s, unsigned p)
{
    uint64_t c = atomic_load_explicit(&s->charged[p], memory_order_relaxed);
    if (p == MF_POOL_HOST && s->reserve > c)
        c = s->reserve;
    return c;
}

/* With the lock held after its owner died: the totals are recomputed from the slots (the dead
 * owner may have changed one and not the other). */
static void repair_locked(mf_ledger_t *l)
{
    uint64_t t[MF_POOL_COUNT] = { 0 };
    for (unsigned i = 0; i < MF_LEDGER_SLOTS; i++) {
        mf_ledger_slot_t *s = &l->slots[i];
        if (atomic_load(&s->state) != MF_LSLOT_LIVE)
            continue;
        for (unsigned p = 0; p < MF_POOL_COUNT; p++)
            t[p] = sat_add(t[p], contrib(s, p));
    }
    for (unsigned p = 0; p < MF_POOL_COUNT; p++)
        atomic_store(&l->hdr->total[p], t[p]);
}

static int lock_ledger(mf_ledger_t *l)
{
    int r = pthread_mutex_trylock(&l->hdr->u.lock);    /* the common case: no clock read */
    if (r == EBUSY) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += (time_t)(MF_LEDGER_LOCK_NS / 1000000000ull);
        r = pthread_mutex_clocklock(&l->hdr->u.lock, CLOCK_MONOTONIC, &ts);
    }
    if (r == EOWNERDEAD) {
        repair_locked(l);
        pthread_mutex_consistent(&l->hdr->u.lock);
        return 0;
    }
    return -r;
}

static void unlock_ledger(mf_ledger_t *l) { pthread_mutex_unlock(&l->hdr->u.lock); }

/* ---- slots ----------------------------------------------------------------------------------- */

static void release_locked(mf_ledger_t *l, mf_ledger_slot_t *s)
{
    if (atomic_load(&s->state) != MF_LSLOT_LIVE)
        return;
    for (unsigned p = 0; p < MF_POOL_COUNT; p++) {
        uint64_t c = contrib(s, p);
        if (c) {
            uint64_t t = atomic_load(&l->hdr->total[p]);
            atomic_store(&l->hdr->total[p], sat_sub(t, c));
        }
        atomic_store(&s->charged[p], 0);
    }
    s->reserve = 0;
    atomic_store_explicit(&s->state, MF_LSLOT_FREE, memory_order_release);
}

void mf_ledger_release(mf_ledger_t *l, unsigned slot)
{
    if (!l->hdr || slot >= MF_LEDGER_SLOTS)
        return;
    if (lock_ledger(l))
        return;     /* the slot is reclaimed once this process is gone */
    release_locked(l, &l->slots[slot]);
    unlock_ledger(l);
}

/* Frees, under the lock, those of the nd candidate slots that still name the same dead process.
 * Return: how many were freed. */
static unsigned free_dead(mf_ledger_t *l, const unsigned *idx, const int *pid,
                          const uint64_t *start, unsigned nd)
{
    unsigned freed = 0;
    if (!nd || lock_ledger(l))
        return 0;
    for (unsigned k = 0; k < nd; k++) {
        mf_ledger_slot_t *d = &l->slots[idx[k]];
        if (atomic_load(&d->state) == MF_LSLOT_LIVE && d->pid == pid[k] &&
            d->start_time == start[k]) {
            release_locked(l, d);
            atomic_fetch_add(&l->hdr->reclaimed, 1);
            freed++;
        }
    }
    unlock_ledger(l);
    return freed;
}

int mf_ledger_reclaim(mf_ledger_t *l)
{
    /* Liveness is read outside the lock (a /proc read per slot); the slot is freed under the
     * lock only if it still names the same dead process. */
    int dead_pid[64];
    uint64_t dead_start[64];
    unsigned dead_idx[64], nd = 0, freed = 0;
    for (unsigned i = 0; i < MF_LEDGER_SLOTS; i++) {
        mf_ledger_slot_t *s = &l->slots[i];
        if (atomic_load_explicit(&s->state, memory_order_acquire) != MF_LSLOT_LIVE)
            continue;
        int pid = s->pid;
        uint64_t start = s->start_time;
        uint64_t now = mf_ledger_proc_start(pid);
        if (now && now == start)
            continue;
        dead_pid[nd] = pid;
        dead_start[nd] = start;
        dead_idx[nd++] = i;
        if (nd == MF_ARRAY_LEN(dead_idx)) {
            freed += free_dead(l, dead_idx, dead_pid, dead_start, nd);
            nd = 0;
        }
    }
    freed += free_dead(l, dead_idx, dead_pid, dead_start, nd);
    return (int)freed;
}

int mf_ledger_claim(mf_ledger_t *l, pid_t pid, uint64_t start, const char *instance,
                    const char *program, uint32_t flags)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        int r = lock_ledger(l);
        if (r)
            return r;
        int found = -1;
        for (unsigned i = 0; i < MF_LEDGER_SLOTS; i++) {
            mf_ledger_slot_t *s = &l->slots[i];
            uint32_t st = atomic_load(&s->state);
            if (st == MF_LSLOT_LIVE && s->pid == pid && s->start_time == start)
                release_locked(l, s);       /* this very process, before an exec */
            if (atomic_load(&s->state) != MF_LSLOT_LIVE && found < 0)
                found = (int)i;
        }
        if (found >= 0) {
            mf_ledger_slot_t *s = &l->slots[found];
            s->flags = flags;
            s->pid = pid;
            s->ppid = sys_getppid();
            s->start_time = start;
            s->joined_ns = realtime_ns();
            copy_name(s->instance, sizeof s->instance, instance);
            copy_name(s->program, sizeof s->program, program);
            s->reserve = 0;
            for (unsigned p = 0; p < MF_POOL_COUNT; p++)
                atomic_store(&s->charged[p], 0);
            atomic_store(&s->seq, 0);
            memset(&s->pub, 0, sizeof s->pub);
            for (unsigned p = 0; p < MF_POOL_COUNT; p++)
                s->pub.budget[p] = MF_UNLIMITED;
            s->last_event[0] = '\0';
            s->last_event_ns = 0;
            atomic_store(&s->done, atomic_load(&s->req));
            atomic_store_explicit(&s->state, MF_LSLOT_LIVE, memory_order_release);
            unlock_ledger(l);
            return found;
        }
        unlock_ledger(l);
        if (attempt == 0 && mf_ledger_reclaim(l) == 0)
            break;
    }
    return -ENOSPC;
}

/* The group's pre-flight report for a refused reservation. */
static size_t admission_report(char *buf, size_t size, const char *group, const char *instance,
                               uint64_t reserve, uint64_t limit, uint64_t total,
                               const mf_ledger_t *l, int self, double margin_pct)
{
    if (!buf || !size)
        return 0;
    char a[32], b[32], c[32], d[32];
    uint64_t avail = sat_sub(limit, total);
    size_t n = mf_fmt(buf, size,
                      "admission refused: group %s cannot reserve %s for instance %s\n"
                      "  needed:        %s (reserve)\n"
                      "  available:     %s (group limit %s, %s held",
                      group, mf_fmt_bytes(a, sizeof a, reserve), instance,
                      mf_fmt_bytes(a, sizeof a, reserve), mf_fmt_bytes(b, sizeof b, avail),
                      mf_fmt_bytes(c, sizeof c, limit), mf_fmt_bytes(d, sizeof d, total));
    unsigned members = 0;
    if (l && l->hdr) {
        for (unsigned i = 0; i < MF_LEDGER_SLOTS; i++) {
            const mf_ledger_slot_t *s = &l->slots[i];
            if (atomic_load(&s->state) != MF_LSLOT_LIVE || (int)i == self)
                continue;
            if (!members++)
                n += mf_fmt(buf + n, size - n, " by:");
            if (members <= 8) {
                char name[MF_NAME_MAX];
                copy_name(name, sizeof name, s->instance);
                n += mf_fmt(buf + n, size - n, " %s[%d] %s", name, s->pid,
                            mf_fmt_bytes(a, sizeof a, contrib(s, MF_POOL_HOST)));
            }
        }
        if (members > 8)
            n += mf_fmt(buf + n, size - n, " and %u more", members - 8);
    }
    uint64_t want = sat_add(total, reserve);
    uint64_t with_margin = sat_add(want, (uint64_t)((double)want * margin_pct / 100.0));
    n += mf_fmt(buf + n, size - n,
                ")\n  short by:      %s\n"
                "  safety margin: %d%% -> a group limit of %s would admit it with room to spare\n"
                "  to change:     lower `reserve` to at most %s, raise `limit` in [group %s] "
                "(or MEMFENCE_GROUP_LIMIT), or stop one of the instances above",
                mf_fmt_bytes(a, sizeof a, sat_sub(reserve, avail)), (int)margin_pct,
                mf_fmt_bytes(b, sizeof b, with_margin), mf_fmt_bytes(c, sizeof c, avail), group);
    return n;
}

int mf_ledger_admit(mf_ledger_t *l, unsigned slot, uint64_t reserve, double margin_pct,
                    char *report, size_t size)
{
    if (!l->hdr || slot >= MF_LEDGER_SLOTS)
        return -EINVAL;
    mf_ledger_slot_t *s = &l->slots[slot];
    for (int attempt = 0;; attempt++) {
        int r = lock_ledger(l);
        if (r)
            return r;
        uint64_t old = contrib(s, MF_POOL_HOST);
        uint64_t now = MF_MAX(atomic_load(&s->charged[MF_POOL_HOST]), reserve);
        uint64_t delta = sat_sub(now, old);
        uint64_t lim = l->hdr->limit[MF_POOL_HOST];
        uint64_t t = atomic_load(&l->hdr->total[MF_POOL_HOST]);
        if (lim == MF_UNLIMITED || (delta <= lim && t <= lim - delta)) {
            s->reserve = reserve;
            atomic_store(&l->hdr->total[MF_POOL_HOST], sat_add(t, delta));
            unlock_ledger(l);
            return 0;
        }
        if (attempt > 0) {
            atomic_fetch_add(&l->hdr->admissions_refused, 1);
            admission_report(report, size, l->hdr->group, s->instance, reserve, lim,
                             sat_sub(t, old), l, (int)slot, margin_pct);
            unlock_ledger(l);
            return -ENOSPC;
        }
        unlock_ledger(l);
        mf_ledger_reclaim(l);   /* dead members may hold what is missing */
    }
}

/* Inside the lock the mutex orders everything; lock-free readers only need untorn words. */
#define LD(x) atomic_load_explicit(&(x), memory_order_relaxed)
#define ST(x, v) atomic_store_explicit(&(x), (v), memory_order_relaxed)

static int charge_locked(mf_ledger_t *l, mf_ledger_slot_t *s, unsigned p, uint64_t n)
{
    uint64_t old = contrib(s, p);
    uint64_t ch = sat_add(LD(s->charged[p]), n);
    uint64_t now = p == MF_POOL_HOST ? MF_MAX(ch, s->reserve) : ch;
    uint64_t delta = sat_sub(now, old);
    uint64_t lim = l->hdr->limit[p];
    uint64_t t = LD(l->hdr->total[p]);
    if (delta && lim != MF_UNLIMITED && (delta > lim || t > lim - delta))
        return -ENOMEM;
    ST(s->charged[p], ch);
    ST(l->hdr->total[p], sat_add(t, delta));
    return 0;
}

static void uncharge_locked(mf_ledger_t *l, mf_ledger_slot_t *s, unsigned p, uint64_t n)
{
    uint64_t old = contrib(s, p);
    ST(s->charged[p], sat_sub(LD(s->charged[p]), n));
    uint64_t delta = sat_sub(old, contrib(s, p));
    if (delta)
        ST(l->hdr->total[p], sat_sub(LD(l->hdr->total[p]), delta));
}

int mf_ledger_charge(mf_ledger_t *l, unsigned slot, unsigned pool, uint64_t n)
{
    if (!l->hdr || slot >= MF_LEDGER_SLOTS || pool >= MF_POOL_COUNT)
        return -EINVAL;
    int r = lock_ledger(l);
    if (r)
        return r;
    r = charge_locked(l, &l->slots[slot], pool, n);
    unlock_ledger(l);
    if (r == -ENOMEM) {
        atomic_fetch_add(&l->hdr->refusals, 1);
        atomic_fetch_add(&l->hdr->squeeze, 1);
    }
    return r;
}

int mf_ledger_uncharge(mf_ledger_t *l, unsigned slot, unsigned pool, uint64_t n)
{
    if (!l->hdr || slot >= MF_LEDGER_SLOTS || pool >= MF_POOL_COUNT)
        return -EINVAL;
    int r = lock_ledger(l);
    if (r)
        return r;
    uncharge_locked(l, &l->slots[slot], pool, n);
    unlock_ledger(l);
    return 0;
}

int mf_ledger_set_limit(mf_ledger_t *l, unsigned slot, unsigned pool, uint64_t limit,
                        bool force, uint64_t *kept)
{
    if (!l->hdr || pool >= MF_POOL_COUNT)
        return -EINVAL;
    int r = lock_ledger(l);
    if (r)
        return r;
    bool others = false;
    for (unsigned i = 0; i < MF_LEDGER_SLOTS && !others; i++)
        others = i != slot && atomic_load(&l->slots[i].state) == MF_LSLOT_LIVE;
    uint64_t cur = l->hdr->limit[pool];
    if (force || !others || cur == limit) {
        l->hdr->limit[pool] = limit;
        if (pool == MF_POOL_HOST && slot < MF_LEDGER_SLOTS)
            copy_name(l->hdr->limit_by, sizeof l->hdr->limit_by, l->slots[slot].instance);
        r = 0;
    } else {
        if (kept)
            *kept = cur;
        r = -EEXIST;
    }
    unlock_ledger(l);
    return r;
}

int mf_ledger_verify(mf_ledger_t *l)
{
    if (!l->hdr || lock_ledger(l))
        return -EIO;
    int bad = 0;
    for (unsigned p = 0; p < MF_POOL_COUNT; p++) {
        uint64_t sum = 0;
        for (unsigned i = 0; i < MF_LEDGER_SLOTS; i++)
            if (atomic_load(&l->slots[i].state) == MF_LSLOT_LIVE)
                sum += contrib(&l->slots[i], p);
        bad |= sum != atomic_load(&l->hdr->total[p]);
    }
    unlock_ledger(l);
    return bad ? -EIO : 0;
}

int mf_ledger_read_pub(const mf_ledger_slot_t *s, mf_ledger_pub_t *out)
{
    for (int i = 0; i < 1000; i++) {
        uint32_t a = atomic_load_explicit(&s->seq, memory_order_acquire);
        if (a & 1) {
            __builtin_ia32_pause();
            continue;
        }
        memcpy(out, (const void *)&s->pub, sizeof *out);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&s->seq, memory_order_relaxed) == a)
            return 0;
    }
    memcpy(out, (const void *)&s->pub, sizeof *out);
    return -EAGAIN;
}

/* ---- this process -------------------------------------------------------------------------- */

static struct {
    mf_ledger_t l;
    _Atomic int on;             /* a slot is held in l */
    _Atomic int grouped;        /* the gate's pools charge the group */
    int slot;
    pid_t pid;                  /* the process the slot belongs to (a fork child re-attaches) */
    uint64_t start;
    uint32_t squeeze_seen;
    uint64_t next_reclaim_ns, next_refusal_reclaim_ns;
    _Atomic uint64_t debt[MF_POOL_COUNT];   /* granted before joining: not charged to the group */
    _Atomic uint64_t owed[MF_POOL_COUNT];   /* uncharges that could not take the lock */
    mf_ledger_answer_fn answer;
    char dir[MF_CFG_STR_MAX];
} me = { .l = { .fd = -1 }, .slot = -1 };

static void publish(mf_ledger_slot_t *s);
static __thread int refused_by_group __attribute__((tls_model("initial-exec")));

static void detach(int err)
{
    if (!atomic_exchange(&me.grouped, 0))
        return;
    mf_log_limited(MF_RL_LEDGER, 1,
                   "ledger %s: the group lock cannot be had (error %d: a stopped or stuck "
                   "member?); this process fences alone from now on", me.l.path, -err);
    if (me.slot >= 0)
        me.l.slots[me.slot].flags |= MF_LFLAG_DETACHED;
}

static void settle_owed(void)
{
    for (unsigned p = 0; p < MF_POOL_COUNT; p++) {
        uint64_t o = atomic_exchange(&me.owed[p], 0);
        if (o && mf_ledger_uncharge(&me.l, (unsigned)me.slot, p, o) != 0)
            atomic_fetch_add(&me.owed[p], o);
    }
}

/* Host bytes this process has charged to the group and not yet handed to its pool: taken with
 * one CAS, refilled a chunk at a time under the ledger lock, the excess above two chunks given
 * back.  Counted against the group like any lease; returned when another member is refused
 * (squeeze) and at exit.  GPU pools charge the group exactly (their allocations are few). */
static _Atomic uint64_t gcredit;
static uint64_t gchunk;

static bool credit_take(uint64_t n)
{
    uint64_t c = atomic_load_explicit(&gcredit, memory_order_relaxed);
    while (c >= n)
        if (atomic_compare_exchange_weak_explicit(&gcredit, &c, c - n, memory_order_relaxed,
                                                  memory_order_relaxed))
            return true;
    return false;
}

/* Charges the ledger for n (host: from the local credit first, refilling a chunk when it can).
 * Return: 0, -ENOMEM, or the lock's error. */
static int group_take(unsigned pool, uint64_t n)
{
    if (pool != MF_POOL_HOST || !gchunk)
        return mf_ledger_charge(&me.l, (unsigned)me.slot, pool, n);
    if (credit_take(n))
        return 0;
    uint64_t have = atomic_exchange_explicit(&gcredit, 0, memory_order_relaxed);
    uint64_t need = n > have ? n - have : 0;
    int r = need > UINT64_MAX - gchunk ? -ENOMEM
          : mf_ledger_charge(&me.l, (unsigned)me.slot, pool, need + gchunk);
    if (r == 0) {
        atomic_fetch_add_explicit(&gcredit, have + gchunk - (n - need), memory_order_relaxed);
        return 0;
    }
    r = mf_ledger_charge(&me.l, (unsigned)me.slot, pool, need);   /* exactly, near the limit */
    if (r == 0)
        atomic_fetch_add_explicit(&gcredit, have - (n - need), memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&gcredit, have, memory_order_relaxed);
    return r;
}

/* Gives the local credit back to the group. */
static void credit_return(void)
{
    uint64_t c = atomic_exchange(&gcredit, 0);
    if (c && mf_ledger_uncharge(&me.l, (unsigned)me.slot, MF_POOL_HOST, c) != 0)
        atomic_fetch_add(&me.owed[MF_POOL_HOST], c);
}

static int group_charge(void *ctx, unsigned pool, uint64_t n)
{
    (void)ctx;
    if (mf_unlikely(me.pid != mf_pid()) || !atomic_load_explicit(&me.grouped, memory_order_relaxed))
        return 0;
    int r = group_take(pool, n);
    if (mf_likely(r == 0)) {
        refused_by_group = 0;
        return 0;
    }
    if (r == -ENOMEM) {
        /* Dead members may hold what is missing: look, at most every 50 ms. */
        uint64_t now = mono_ns();
        if (now >= me.next_refusal_reclaim_ns) {
            me.next_refusal_reclaim_ns = now + 50000000ull;
            if (mf_ledger_reclaim(&me.l) > 0 && group_take(pool, n) == 0) {
                refused_by_group = 0;
                return 0;
            }
        }
        refused_by_group = (int)pool + 1;
        return -ENOMEM;
    }
    if (r == -EDEADLK)
        return -ENOMEM;     /* re-entered from a signal handler inside the critical section */
    detach(r);
    return 0;
}

static void group_uncharge(void *ctx, unsigned pool, uint64_t n)
{
    (void)ctx;
    if (mf_unlikely(me.pid != mf_pid()))
        return;
    uint64_t d = atomic_load_explicit(&me.debt[pool], memory_order_relaxed);
    while (d) {
        uint64_t take = MF_MIN(d, n);
        if (atomic_compare_exchange_weak(&me.debt[pool], &d, d - take)) {
            n -= take;
            break;
        }
    }
    if (!n || !atomic_load_explicit(&me.grouped, memory_order_relaxed))
        return;
    if (pool == MF_POOL_HOST && gchunk) {
        uint64_t c = atomic_fetch_add_explicit(&gcredit, n, memory_order_relaxed) + n;
        if (c <= 2 * gchunk)
            return;
        /* keep one chunk, give the rest back */
        while (c > 2 * gchunk && !atomic_compare_exchange_weak_explicit(
                   &gcredit, &c, gchunk, memory_order_relaxed, memory_order_relaxed))
            ;
        if (c <= 2 * gchunk)
            return;
        n = c - gchunk;
    }
    if (mf_ledger_uncharge(&me.l, (unsigned)me.slot, pool, n) != 0)
        atomic_fetch_add(&me.owed[pool], n);
}

static const mf_gate_parent_t group_parent = { group_charge, group_uncharge, NULL };

size_t mf_ledger_refusal_text(char *buf, size_t size, unsigned pool)
{
    if (!size)
        return 0;
    buf[0] = '\0';
    int was = refused_by_group;
    refused_by_group = 0;
    if (was != (int)pool + 1 || !me.l.hdr)
        return 0;
    mf_ledger_hdr_t *h = me.l.hdr;
    unsigned members = 0;
    for (unsigned i = 0; i < MF_LEDGER_SLOTS; i++)
        members += atomic_load(&me.l.slots[i].state) == MF_LSLOT_LIVE;
    char a[32], b[32];
    return mf_fmt(buf, size, "group %s: %s of %s held by %u instance%s", h->group,
                  mf_fmt_bytes(a, sizeof a, atomic_load(&h->total[pool])),
                  mf_fmt_bytes(b, sizeof b, h->limit[pool]), members, members == 1 ? "" : "s");
}

/* What this process's pool holds (live bytes plus its own thread's credit): what the group has
 * not been charged for when this process joins. */
static void snapshot_debt(void)
{
    for (unsigned p = 0; p < MF_POOL_COUNT; p++) {
        uint64_t u = mf_gate_used(p);
        if (p == MF_POOL_HOST && mf_tls.slot)
            u += mf_tls.slot->credit;
        atomic_store(&me.debt[p], u);
    }
}

/* The group's settings as this process's configuration gives them.  (When the INI layer's
 * [group NAME] sections land, these two are where they are consulted.) */
static uint64_t reserve_of(const mf_config_t *cfg)
{
    uint64_t r = mf_size_resolve(&cfg->reserve, mf_host_memory());
    return r == MF_UNLIMITED ? 0 : r;
}

static uint64_t group_limit_of(const mf_config_t *cfg, unsigned pool)
{
    const mf_size_t *sz = pool == MF_POOL_HOST ? &cfg->group_limit : &cfg->group_gpu_limit;
    if (sz->is_pct && pool != MF_POOL_HOST)
        return MF_UNLIMITED;    /* a share of a device needs its size: not known here */
    return mf_size_resolve(sz, sz->is_pct ? mf_host_memory() : 0);
}

/* Joins the ledger at dir for cfg's group (or the solo ledger).  Return: 0 or -errno. */
static int join(const mf_config_t *cfg, bool forked)
{
    const char *group = cfg->group;
    bool grouped = group[0] != '\0';
    char why[512];
    mf_ledger_close(&me.l);
    char path[512];
    int r = mf_ledger_path(me.dir, sys_getuid(), group, path, sizeof path);
    if (r == -EINVAL) {
        mf_log("group = %s: a group name is 1-63 letters, digits, '.', '_' or '-'; this process "
               "fences alone", group);
        return r;
    }
    if (r) {
        mf_log("ledger_dir = %s: path too long; this process is not in any ledger", me.dir);
        return r;
    }
    r = mf_ledger_open(path, group, true, &me.l, why, sizeof why);
    if (r) {
        /* Without a group, a directory that cannot hold the file (absent, read-only, not ours)
         * only means this process is not listed: not worth a line.  A refused file is. */
        bool quiet = !grouped && (r == -ENOENT || r == -EACCES || r == -EROFS || r == -ENOSPC ||
                                  r == -ENOTDIR || r == -EDQUOT);
        if (!quiet)
            mf_log("ledger %s; this process %s", why,
                   grouped ? "fences alone (its own budget only)" : "is not listed by memfence status");
        return r;
    }
    me.pid = mf_pid();
    me.start = mf_ledger_proc_start(me.pid);
    uint32_t flags = (grouped ? MF_LFLAG_GROUPED : 0) | (forked ? MF_LFLAG_FORKED : 0);
    r = mf_ledger_claim(&me.l, me.pid, me.start, mf_instance_name(), mf_program_name(), flags);
    if (r < 0) {
        mf_log("ledger %s: %s; this process %s", path,
               r == -ENOSPC ? "every slot is taken" : "its lock cannot be had",
               grouped ? "fences alone (its own budget only)" : "is not listed by memfence status");
        mf_ledger_close(&me.l);
        return r;
    }
    me.slot = r;
    me.squeeze_seen = atomic_load(&me.l.hdr->squeeze);
    publish(&me.l.slots[me.slot]);
    atomic_store(&me.on, 1);
    if (!grouped)
        return 0;
    for (unsigned p = 0; p < MF_POOL_COUNT; p++) {
        if (p > MF_POOL_HOST && !cfg->group_gpu_limit.is_pct &&
            cfg->group_gpu_limit.bytes == MF_UNLIMITED)
            break;
        uint64_t want = group_limit_of(cfg, p), kept = 0;
        if (mf_ledger_set_limit(&me.l, (unsigned)me.slot, p, want, false, &kept) == -EEXIST &&
            p == MF_POOL_HOST) {
            char a[32], b[32];
            mf_log_limited(MF_RL_LEDGER, 1, "group %s: this instance's group limit %s differs "
                           "from the one its live members use (%s, set by %s); theirs is kept",
                           group, want == MF_UNLIMITED ? "unlimited" : mf_fmt_bytes(a, sizeof a, want),
                           mf_fmt_bytes(b, sizeof b, kept), me.l.hdr->limit_by);
        }
    }
    uint64_t reserve = forked ? 0 : reserve_of(cfg);
    if (reserve) {
        char report[1024];
        r = mf_ledger_admit(&me.l, (unsigned)me.slot, reserve, cfg->safety_margin, report,
                            sizeof report);
        if (r) {
            me.l.slots[me.slot].flags = (flags & ~MF_LFLAG_GROUPED) | MF_LFLAG_REFUSED;
            if (r == -ENOSPC) {
                mf_ledger_hdr_t *h = me.l.hdr;
                uint64_t lim = h->limit[MF_POOL_HOST], held = atomic_load(&h->total[MF_POOL_HOST]);
                mf_log("group %s: admission refused: reserve %s > available %s (group limit %s, "
                       "%s held); this instance runs fenced by its own budget only "
                       "(`memfence run` shows the pre-flight report)", group, MF_BYTES(reserve),
                       MF_BYTES(sat_sub(lim, held)), MF_BYTES(lim), MF_BYTES(held));
            }
            else
                mf_log("group %s: admission could not be decided (error %d); this instance "
                       "runs fenced by its own budget only", group, -r);
            return 0;
        }
    }
    mf_gate_drain();
    snapshot_debt();
    atomic_store(&gcredit, 0);
    uint64_t glim = me.l.hdr->limit[MF_POOL_HOST];
    gchunk = glim == MF_UNLIMITED ? (1u << 20) : MF_MIN(MF_MAX(glim / 256, 64u << 10), 1u << 20);
    atomic_store(&me.grouped, 1);
    mf_gate_set_parent(&group_parent);
    return 0;
}

int mf_ledger_init(const mf_config_t *cfg)
{
    if (getauxval(AT_SECURE)) {
        /* setuid/setgid: real and effective users differ, so the file's owner check cannot
         * hold; such a process is fenced alone and not listed. */
        if (cfg->group[0])
            mf_log("group = %s: ignored in a setuid/setgid program; it fences alone", cfg->group);
        return 0;
    }
    copy_name(me.dir, sizeof me.dir, mf_ledger_dir(cfg));
    join(cfg, false);
    return 0;       /* a ledger problem is logged; the process runs on */
}

void mf_ledger_fork_prepare(void) {}
void mf_ledger_fork_parent(void) {}

void mf_ledger_fork_child(void)
{
    /* The gate's pools hold what the parent held (shared copy-on-write): that becomes this
     * child's debt, not charged to the group again; the child gets its own slot. */
    if (!atomic_load(&me.on))
        return;
    atomic_store(&me.grouped, 0);
    atomic_store(&me.on, 0);
    for (unsigned p = 0; p < MF_POOL_COUNT; p++) {
        atomic_store(&me.owed[p], 0);
        atomic_store(&me.debt[p], 0);
    }
    atomic_store(&gcredit, 0);      /* the parent's, in the parent's slot */
    me.slot = -1;
    join(mf_config(), true);    /* drops the inherited mapping, claims a slot of its own */
}

void mf_ledger_fini(void)
{
    if (!atomic_exchange(&me.on, 0))
        return;
    if (me.pid != mf_pid())
        return;
    if (atomic_exchange(&me.grouped, 0))
        mf_gate_set_parent(NULL);
    mf_ledger_release(&me.l, (unsigned)me.slot);
}

void mf_ledger_note_event(const char *what)
{
    if (!atomic_load_explicit(&me.on, memory_order_acquire) || me.pid != mf_pid() || !what)
        return;
    mf_ledger_slot_t *s = &me.l.slots[me.slot];
    copy_name(s->last_event, sizeof s->last_event, what);
    s->last_event_ns = realtime_ns();
}

void mf_ledger_set_answer(mf_ledger_answer_fn fn) { me.answer = fn; }

int mf_ledger_serve(mf_ledger_t *l, unsigned slot, const char *dir, mf_ledger_answer_fn fn)
{
    if (!l->hdr || slot >= MF_LEDGER_SLOTS)
        return 0;
    mf_ledger_slot_t *s = &l->slots[slot];
    uint32_t req = atomic_load_explicit(&s->req, memory_order_acquire);
    if (req == atomic_load(&s->done))
        return 0;
    unsigned kind = atomic_load(&s->req_kind);
    char path[600], tmp[640];
    int status = mf_ledger_reply_path(dir, sys_getuid(), s->pid, path, sizeof path);
    if (status == 0) {
        mf_fmt(tmp, sizeof tmp, "%s.tmp", path);
        sys_unlink(tmp);
        int fd = mf_sys_open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
        if (fd < 0) {
            status = fd;
        } else {
            mf_tls.depth++;
            status = fn ? fn(kind, fd) : -ENOSYS;
            mf_tls.depth--;
            mf_sys_close(fd);
            if (status == 0)
                status = sys_rename(tmp, path);
            else
                sys_unlink(tmp);
        }
    }
    s->done_status = status;
    atomic_store_explicit(&s->done, req, memory_order_release);
    return 1;
}

/* Publishes this process's usage and counters into its slot (under the slot's seqlock). */
static void publish(mf_ledger_slot_t *s)
{
    mf_ledger_pub_t pub;
    memset(&pub, 0, sizeof pub);
    for (unsigned p = 0; p < MF_POOL_COUNT; p++) {
        pub.used[p] = mf_gate_used(p);
        pub.budget[p] = mf_gate_limit(p);
        if (p > MF_POOL_HOST && (pub.used[p] || mf_gate_peak(p)))
            pub.gpu_count = p;
    }
    pub.rss = atomic_load_explicit(&mf_stats.rss, memory_order_relaxed);
    pub.level = atomic_load_explicit(&mf_stats.level, memory_order_relaxed);
    pub.refusals = atomic_load_explicit(&mf_stats.refusals, memory_order_relaxed);
    pub.refusals_gpu = atomic_load_explicit(&mf_stats.refusals_gpu, memory_order_relaxed);
    pub.map_refusals = atomic_load_explicit(&mf_stats.map_refusals, memory_order_relaxed);
    pub.injected = atomic_load_explicit(&mf_stats.injected, memory_order_relaxed);
    pub.trims = atomic_load_explicit(&mf_stats.trims, memory_order_relaxed);
    pub.trimmed_bytes = atomic_load_explicit(&mf_stats.trimmed_bytes, memory_order_relaxed);
    pub.throttled = atomic_load_explicit(&mf_stats.throttled, memory_order_relaxed);
    pub.throttle_ns = atomic_load_explicit(&mf_stats.throttle_ns, memory_order_relaxed);
    pub.signals = atomic_load_explicit(&mf_stats.signals, memory_order_relaxed);
    pub.refused_large = atomic_load_explicit(&mf_stats.refused_large, memory_order_relaxed);
    pub.updated_ns = realtime_ns();
    uint32_t seq = atomic_load_explicit(&s->seq, memory_order_relaxed);
    atomic_store_explicit(&s->seq, seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    memcpy(&s->pub, &pub, sizeof pub);
    atomic_store_explicit(&s->seq, seq + 2, memory_order_release);
}

void mf_ledger_tick(void)
{
    if (!atomic_load_explicit(&me.on, memory_order_acquire) || me.pid != mf_pid())
        return;
    mf_ledger_slot_t *s = &me.l.slots[me.slot];
    publish(s);
    if (atomic_load(&me.grouped)) {
        settle_owed();
        uint32_t sq = atomic_load(&me.l.hdr->squeeze);
        if (sq != me.squeeze_seen) {
            me.squeeze_seen = sq;
            mf_gate_drain();    /* another member was refused: give back idle credit */
            credit_return();
        }
    }
    uint64_t now = mono_ns();
    if (now >= me.next_reclaim_ns) {
        me.next_reclaim_ns = now + 1000000000ull;
        mf_ledger_reclaim(&me.l);
    }
    mf_ledger_serve(&me.l, (unsigned)me.slot, me.dir, me.answer);
}

/* ---- admission pre-flight (memfence run) ----------------------------------------------------- */

int mf_ledger_admission_check(const mf_config_t *cfg, char *report, size_t size)
{
    if (report && size)
        report[0] = '\0';
    if (!cfg->group[0])
        return 0;
    uint64_t reserve = reserve_of(cfg);
    if (!reserve)
        return 0;
    char path[512], why[512];
    int r = mf_ledger_path(mf_ledger_dir(cfg), sys_getuid(), cfg->group, path, sizeof path);
    if (r) {
        mf_fmt(report, size, "group = %s: not a valid group name", cfg->group);
        return r;
    }
    uint64_t own = group_limit_of(cfg, MF_POOL_HOST);
    mf_ledger_t l;
    r = mf_ledger_open(path, cfg->group, false, &l, why, sizeof why);
    uint64_t lim = own, total = 0;
    if (r == 0) {
        mf_ledger_reclaim(&l);
        unsigned live = 0;
        for (unsigned i = 0; i < MF_LEDGER_SLOTS; i++)
            live += atomic_load(&l.slots[i].state) == MF_LSLOT_LIVE;
        if (live)
            lim = l.hdr->limit[MF_POOL_HOST];
        total = atomic_load(&l.hdr->total[MF_POOL_HOST]);
    } else if (r != -ENOENT) {
        mf_fmt(report, size, "ledger %s", why);
        return r;
    }
    int rc = 0;
    if (lim != MF_UNLIMITED && (reserve > lim || total > lim - reserve)) {
        admission_report(report, size, cfg->group, cfg->instance[0] ? cfg->instance : "?",
                         reserve, lim, total, r == 0 ? &l : NULL, -1, cfg->safety_margin);
        rc = -ENOSPC;
    }
    if (r == 0)
        mf_ledger_close(&l);
    return rc;
}

/* ---- reading every ledger ---------------------------------------------------------------------- */

struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/* Fills group with the name encoded in a ledger file name of uid; false when not one. */
static bool parse_name(const char *name, unsigned uid, char *group, size_t size)
{
    char prefix[48];
    size_t pl = mf_fmt(prefix, sizeof prefix, "memfence-%u-", uid);
    size_t n = strlen(name);
    if (strncmp(name, prefix, pl) || n < pl + 7 || strcmp(name + n - 7, ".ledger"))
        return false;
    const char *rest = name + pl;
    size_t rl = n - pl - 7;
    if (rl == 4 && !strncmp(rest, "solo", 4)) {
        group[0] = '\0';
        return true;
    }
    if (rl < 3 || strncmp(rest, "g-", 2) || rl - 2 >= size)
        return false;
    memcpy(group, rest + 2, rl - 2);
    group[rl - 2] = '\0';
    return mf_ledger_group_valid(group);
}

static void row_from_slot(mf_ledger_row_t *r, const char *group, const mf_ledger_slot_t *s)
{
    memset(r, 0, sizeof *r);
    copy_name(r->group, sizeof r->group, group);
    copy_name(r->instance, sizeof r->instance, s->instance);
    copy_name(r->program, sizeof r->program, s->program);
    r->pid = s->pid;
    r->ppid = s->ppid;
    r->flags = s->flags;
    r->reserve = s->reserve;
    for (unsigned p = 0; p < MF_POOL_COUNT; p++)
        r->charged[p] = atomic_load(&s->charged[p]);
    mf_ledger_read_pub(s, &r->pub);
    if (r->pub.gpu_count >= MF_POOL_COUNT)
        r->pub.gpu_count = MF_POOL_COUNT - 1;
    if (r->pub.level > MF_LEVEL_CRITICAL)
        r->pub.level = MF_LEVEL_CRITICAL;
    copy_name(r->last_event, sizeof r->last_event, s->last_event);
    r->last_event_ns = s->last_event_ns;
    r->joined_ns = s->joined_ns;
}

static int row_cmp(const mf_ledger_row_t *a, const mf_ledger_row_t *b)
{
    int c = strcmp(a->group, b->group);
    return c ? c : (a->pid > b->pid) - (a->pid < b->pid);
}

static void scan_file(const char *path, const char *group, mf_ledger_row_t *rows,
                      size_t max_rows, size_t *nrows, mf_ledger_group_t *groups,
                      size_t max_groups, size_t *ngroups, char *warn, size_t warnlen)
{
    mf_ledger_t l;
    char why[512];
    if (mf_ledger_open(path, group, false, &l, why, sizeof why)) {
        if (warn && warnlen) {
            size_t n = strlen(warn);
            mf_fmt(warn + n, warnlen - n, "ledger %s\n", why);
        }
        return;
    }
    mf_ledger_reclaim(&l);
    mf_ledger_group_t *g = *ngroups < max_groups ? &groups[(*ngroups)++] : NULL;
    if (g) {
        memset(g, 0, sizeof *g);
        copy_name(g->group, sizeof g->group, group);
        copy_name(g->path, sizeof g->path, path);
        for (unsigned p = 0; p < MF_POOL_COUNT; p++) {
            g->limit[p] = l.hdr->limit[p];
            g->total[p] = atomic_load(&l.hdr->total[p]);
        }
        g->refusals = atomic_load(&l.hdr->refusals);
        g->reclaimed = atomic_load(&l.hdr->reclaimed);
        g->admissions_refused = atomic_load(&l.hdr->admissions_refused);
    }
    for (unsigned i = 0; i < MF_LEDGER_SLOTS; i++) {
        const mf_ledger_slot_t *s = &l.slots[i];
        if (atomic_load_explicit(&s->state, memory_order_acquire) != MF_LSLOT_LIVE)
            continue;
        if (g)
            g->members++;
        if (*nrows < max_rows)
            row_from_slot(&rows[(*nrows)++], group, s);
    }
    mf_ledger_close(&l);
}

/* The directories to look in: dir when given, else $XDG_RUNTIME_DIR and /dev/shm. */
static unsigned ledger_dirs(const char *dir, const char *dirs[2])
{
    unsigned nd = 0;
    if (dir && *dir) {
        dirs[nd++] = dir;
    } else {
        const char *x = mf_getenv("XDG_RUNTIME_DIR", 1);
        if (x && x[0] == '/' && strcmp(x, "/dev/shm"))
            dirs[nd++] = x;
        dirs[nd++] = "/dev/shm";
    }
    return nd;
}

/* Calls fn(dir, path, group, arg) for every ledger file of this user in the directories to look
 * in, until fn returns non-zero.  Return: fn's non-zero value, 0, or -ENOENT when no directory
 * could be read. */
typedef int (*ledger_visit_fn)(const char *dir, const char *path, const char *group, void *arg);

static int each_ledger(const char *dir, ledger_visit_fn fn, void *arg)
{
    const char *dirs[2];
    unsigned nd = ledger_dirs(dir, dirs), uid = sys_getuid();
    int found_dir = 0;
    for (unsigned d = 0; d < nd; d++) {
        int fd = mf_sys_open(dirs[d], O_RDONLY | O_DIRECTORY, 0);
        if (fd < 0)
            continue;
        found_dir = 1;
        char buf[4096];
        long n;
        while ((n = mf_syscall6(SYS_getdents64, fd, (long)buf, sizeof buf, 0, 0, 0)) > 0) {
            for (long off = 0; off < n;) {
                struct linux_dirent64 *e = (struct linux_dirent64 *)(buf + off);
                off += e->d_reclen;
                char g[MF_NAME_MAX], path[600];
                if (!parse_name(e->d_name, uid, g, sizeof g))
                    continue;
                mf_fmt(path, sizeof path, "%s/%s", dirs[d], e->d_name);
                int r = fn(dirs[d], path, g, arg);
                if (r) {
                    mf_sys_close(fd);
                    return r;
                }
            }
        }
        mf_sys_close(fd);
    }
    return found_dir ? 0 : -ENOENT;
}

struct scan_arg {
    const char *group;
    mf_ledger_row_t *rows;
    size_t max_rows, nrows;
    mf_ledger_group_t *groups;
    size_t max_groups, *ngroups;
    char *warn;
    size_t warnlen;
};

static int scan_visit(const char *dir, const char *path, const char *group, void *arg)
{
    struct scan_arg *a = arg;
    (void)dir;
    if (!a->group || !strcmp(a->group, group))
        scan_file(path, group, a->rows, a->max_rows, &a->nrows, a->groups, a->max_groups,
                  a->ngroups, a->warn, a->warnlen);
    return 0;
}

int mf_ledger_scan(const char *dir, const char *group, mf_ledger_row_t *rows, size_t max_rows,
                   mf_ledger_group_t *groups, size_t max_groups, size_t *ngroups,
                   char *warn, size_t warnlen)
{
    if (warn && warnlen)
        warn[0] = '\0';
    *ngroups = 0;
    struct scan_arg a = { group, rows, max_rows, 0, groups, max_groups, ngroups, warn, warnlen };
    int r = each_ledger(dir, scan_visit, &a);
    /* insertion sort: no qsort (it may allocate) */
    for (size_t i = 1; i < a.nrows; i++) {
        mf_ledger_row_t t;
        memcpy(&t, &rows[i], sizeof t);
        size_t j = i;
        for (; j > 0 && row_cmp(&rows[j - 1], &t) > 0; j--)
            memcpy(&rows[j], &rows[j - 1], sizeof t);
        memcpy(&rows[j], &t, sizeof t);
    }
    return r < 0 ? r : (int)a.nrows;
}

/* ---- Prometheus text ------------------------------------------------------------------------- */

typedef struct out {
    char *buf;
    size_t size, len, line_start;
    bool full;
} out_t;

static void out_add(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_add(out_t *o, const char *fmt, ...)
{
    if (o->full)
        return;
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->size - o->len;
    size_t n = mf_vfmt(o->buf + o->len, room, fmt, ap);
    va_end(ap);
    if (n + 1 >= room) {         /* cut back to the last whole line */
        o->full = true;
        o->len = o->line_start;
        o->buf[o->len] = '\0';
        return;
    }
    o->len += n;
    if (n && o->buf[o->len - 1] == '\n')
        o->line_start = o->len;
}

/* A label value with \ " and newline escaped. */
static const char *esc(char *dst, size_t size, const char *s)
{
    size_t j = 0;
    for (; *s && j + 3 < size; s++) {
        if (*s == '\\' || *s == '"') {
            dst[j++] = '\\';
            dst[j++] = *s;
        } else if (*s == '\n') {
            dst[j++] = '\\';
            dst[j++] = 'n';
        } else {
            dst[j++] = *s;
        }
    }
    dst[j] = '\0';
    return dst;
}

static void pool_name(char *buf, size_t size, unsigned p)
{
    if (p == MF_POOL_HOST)
        mf_fmt(buf, size, "host");
    else
        mf_fmt(buf, size, "gpu%u", p - MF_POOL_GPU0);
}

static void family(out_t *o, const char *name, const char *type, const char *help)
{
    out_add(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void inst_labels(char *buf, size_t size, const mf_ledger_row_t *r)
{
    char a[2 * MF_NAME_MAX + 4], b[2 * MF_NAME_MAX + 4];
    mf_fmt(buf, size, "instance=\"%s\",group=\"%s\",pid=\"%d\"",
           esc(a, sizeof a, r->instance), esc(b, sizeof b, r->group), r->pid);
}

/* Per-instance series with one value: gauges, then counters. */
enum { V_RSS, V_LEVEL, V_REFUSALS, V_TRIMS, V_TRIMMED, V_THROTTLED, V_SIGNALS, V_INJECTED,
       V_MAPREF, V_COUNT };

static const struct { const char *name, *type, *help; } inst_series[V_COUNT] = {
    [V_RSS] = { "memfence_rss_bytes", "gauge", "Resident set size at the instance's last sample." },
    [V_LEVEL] = { "memfence_pressure_level", "gauge", "Pressure level: 0 low, 1 moderate, 2 high, 3 critical." },
    [V_REFUSALS] = { "memfence_refusals_total", "counter", "Allocations refused by a budget." },
    [V_TRIMS] = { "memfence_trims_total", "counter", "Trim actions run by the sampler." },
    [V_TRIMMED] = { "memfence_trimmed_bytes_total", "counter", "Bytes given back to the system by trims." },
    [V_THROTTLED] = { "memfence_throttled_total", "counter", "Allocations delayed by throttling." },
    [V_SIGNALS] = { "memfence_signals_total", "counter", "Signals sent by the signal action." },
    [V_INJECTED] = { "memfence_injected_failures_total", "counter", "Allocation failures injected on purpose." },
    [V_MAPREF] = { "memfence_map_refusals_total", "counter", "File mappings refused by the pre-flight check." },
};

static uint64_t inst_value(const mf_ledger_row_t *r, unsigned v)
{
    const mf_ledger_pub_t *p = &r->pub;
    const uint64_t vals[V_COUNT] = { p->rss, p->level, p->refusals, p->trims, p->trimmed_bytes,
                                     p->throttled, p->signals, p->injected, p->map_refusals };
    return vals[v];
}

/* Group series: per pool (usage, limit) or one value (members, refusals, reclaimed). */
enum { G_USAGE, G_LIMIT, G_MEMBERS, G_REFUSALS, G_RECLAIMED, G_COUNT };

static const struct { const char *name, *type, *help; } group_series[G_COUNT] = {
    [G_USAGE] = { "memfence_group_usage_bytes", "gauge", "Bytes the group's members hold, reservations included, per pool." },
    [G_LIMIT] = { "memfence_group_limit_bytes", "gauge", "The group's budget per pool (absent when unlimited)." },
    [G_MEMBERS] = { "memfence_group_members", "gauge", "Live instances in the group." },
    [G_REFUSALS] = { "memfence_group_refusals_total", "counter", "Lease requests refused by the group budget." },
    [G_RECLAIMED] = { "memfence_group_reclaimed_total", "counter", "Slots of dead instances reclaimed." },
};

size_t mf_ledger_metrics_text(char *buf, size_t size, const mf_ledger_row_t *rows, size_t nrows,
                              const mf_ledger_group_t *groups, size_t ngroups, bool *truncated)
{
    out_t o = { buf, size, 0, 0, false };
    if (!size)
        return 0;
    buf[0] = '\0';
    char lb[400], pn[16], gb[2 * MF_NAME_MAX + 4];

    /* per instance and pool: usage, and the budget where there is one */
    for (int budget = 0; budget < 2; budget++) {
        const char *name = budget ? "memfence_budget_bytes" : "memfence_usage_bytes";
        family(&o, name, "gauge", budget ? "The instance's own budget per pool (absent when unlimited)."
                                         : "Bytes charged to the instance's budget, per pool.");
        for (size_t i = 0; i < nrows; i++) {
            inst_labels(lb, sizeof lb, &rows[i]);
            for (unsigned p = 0; p <= rows[i].pub.gpu_count; p++) {
                uint64_t v = budget ? rows[i].pub.budget[p] : rows[i].pub.used[p];
                if (v == MF_UNLIMITED)
                    continue;
                pool_name(pn, sizeof pn, p);
                out_add(&o, "%s{%s,pool=\"%s\"} %llu\n", name, lb, pn, (unsigned long long)v);
            }
        }
    }
    for (unsigned v = 0; v < V_COUNT; v++) {
        family(&o, inst_series[v].name, inst_series[v].type, inst_series[v].help);
        for (size_t i = 0; i < nrows; i++) {
            inst_labels(lb, sizeof lb, &rows[i]);
            out_add(&o, "%s{%s} %llu\n", inst_series[v].name, lb,
                    (unsigned long long)inst_value(&rows[i], v));
        }
    }
    family(&o, "memfence_throttle_seconds_total", "counter", "Time allocations spent delayed by throttling.");
    for (size_t i = 0; i < nrows; i++) {
        inst_labels(lb, sizeof lb, &rows[i]);
        uint64_t ns = rows[i].pub.throttle_ns;
        out_add(&o, "memfence_throttle_seconds_total{%s} %llu.%09llu\n", lb,
                (unsigned long long)(ns / 1000000000ull), (unsigned long long)(ns % 1000000000ull));
    }
    for (unsigned v = 0; v < G_COUNT; v++) {
        const char *name = group_series[v].name;
        family(&o, name, group_series[v].type, group_series[v].help);
        for (size_t i = 0; i < ngroups; i++) {
            const mf_ledger_group_t *g = &groups[i];
            if (!g->group[0])
                continue;       /* the solo ledger is no group */
            esc(gb, sizeof gb, g->group);
            if (v == G_USAGE || v == G_LIMIT) {
                for (unsigned p = 0; p < MF_POOL_COUNT; p++) {
                    if (g->limit[p] == MF_UNLIMITED && (v == G_LIMIT || (p && !g->total[p])))
                        continue;
                    pool_name(pn, sizeof pn, p);
                    out_add(&o, "%s{group=\"%s\",pool=\"%s\"} %llu\n", name, gb, pn,
                            (unsigned long long)(v == G_USAGE ? g->total[p] : g->limit[p]));
                }
                continue;
            }
            uint64_t val = v == G_MEMBERS ? g->members : v == G_REFUSALS ? g->refusals : g->reclaimed;
            out_add(&o, "%s{group=\"%s\"} %llu\n", name, gb, (unsigned long long)val);
        }
    }
    if (truncated)
        *truncated = o.full;
    return o.len;
}

int mf_ledger_write_metrics_file(const char *path)
{
    static _Atomic int busy;
    static mf_ledger_row_t *rows;
    static char *text;
    static mf_ledger_group_t groups[64];
    const size_t max_rows = 2 * MF_LEDGER_SLOTS, text_size = 4u << 20;
    if (!path || !*path)
        return -EINVAL;
    if (atomic_exchange(&busy, 1))
        return -EBUSY;
    int r = 0;
    if (!rows) {
        void *p = mf_sys_mmap(NULL, max_rows * sizeof *rows + text_size, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mf_sys_mmap_failed(p)) {
            atomic_store(&busy, 0);
            return -ENOMEM;
        }
        rows = p;
        text = (char *)p + max_rows * sizeof *rows;
    }
    size_t ng = 0;
    int n = mf_ledger_scan(me.dir[0] ? me.dir : NULL, NULL, rows, max_rows, groups,
                           MF_ARRAY_LEN(groups), &ng, NULL, 0);
    if (n < 0)
        n = 0;
    size_t len = mf_ledger_metrics_text(text, text_size, rows, (size_t)n, groups, ng, NULL);
    char tmp[MF_CFG_STR_MAX + 32];
    mf_fmt(tmp, sizeof tmp, "%s.tmp.%d", path, (int)mf_sys_getpid());
    int fd = mf_sys_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        r = fd;
    } else {
        for (size_t off = 0; off < len;) {
            ssize_t w = mf_sys_write(fd, text + off, len - off);
            if (w == -EINTR)
                continue;
            if (w <= 0) {
                r = w < 0 ? (int)w : -EIO;
                break;
            }
            off += (size_t)w;
        }
        mf_sys_close(fd);
        if (r == 0)
            r = sys_rename(tmp, path);
        if (r)
            sys_unlink(tmp);
    }
    atomic_store(&busy, 0);
    return r;
}

/* ---- mailbox ---------------------------------------------------------------------------------- */

struct request_arg {
    pid_t pid;
    uint64_t start;
    unsigned kind, timeout_ms;
    char *path;
    size_t size;
};

/* Asks the slot of a->pid in this ledger, if it has one.  Return: 1 + -rc when it was there
 * (so 1 means success), 0 when not. */
static int request_visit(const char *dir, const char *lp, const char *group, void *arg)
{
    struct request_arg *a = arg;
    mf_ledger_t l;
    if (mf_ledger_open(lp, group, false, &l, NULL, 0))
        return 0;
    for (unsigned i = 0; i < MF_LEDGER_SLOTS; i++) {
        mf_ledger_slot_t *s = &l.slots[i];
        if (atomic_load(&s->state) != MF_LSLOT_LIVE || s->pid != a->pid ||
            s->start_time != a->start)
            continue;
        atomic_store(&s->req_kind, a->kind);
        uint32_t ticket = atomic_fetch_add(&s->req, 1) + 1;
        int rc = -ETIMEDOUT;
        for (unsigned waited = 0; waited <= a->timeout_ms; waited += 10) {
            if (atomic_load_explicit(&s->done, memory_order_acquire) == ticket) {
                rc = s->done_status;
                break;
            }
            if (atomic_load(&s->state) != MF_LSLOT_LIVE || s->pid != a->pid) {
                rc = -ESRCH;
                break;
            }
            sleep_ms(10);
        }
        if (rc == 0)
            rc = mf_ledger_reply_path(dir, sys_getuid(), a->pid, a->path, a->size);
        mf_ledger_close(&l);
        return 1 - rc;
    }
    mf_ledger_close(&l);
    return 0;
}

int mf_ledger_request(const char *dir, pid_t pid, unsigned kind, unsigned timeout_ms,
                      char *path, size_t size)
{
    struct request_arg a = { pid, mf_ledger_proc_start(pid), kind, timeout_ms, path, size };
    if (!a.start)
        return -ESRCH;
    int r = each_ledger(dir, request_visit, &a);
    return r > 0 ? 1 - r : -ESRCH;
}
