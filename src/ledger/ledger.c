/* ledger.c — the shared-memory ledger itself: file names, creation and validation of a
 * possibly hostile file, slots (pid + start time), the group accounting under a robust
 * process-shared lock, reclamation of dead members, admission by reservation (layout and
 * design in ledger.h).  Runs inside fenced processes: no stdio, no malloc, raw system calls;
 * the only libc calls are the pthread mutex functions (futex based) and clock_gettime (vDSO).
 */
#include <errno.h>
#include <time.h>
#include <stdarg.h>
#include <sys/mman.h>

#include "base/log.h"
#include "base/proc.h"
#include "ledger/ledger_int.h"

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
        n = mf_fmt(buf, size, "%s/memfence-v%u-%u-solo.ledger", dir,
                   MF_LEDGER_VERSION, uid);
    else if (!mf_ledger_group_valid(group))
        return -EINVAL;
    else
        n = mf_fmt(buf, size, "%s/memfence-v%u-%u-g-%s.ledger", dir,
                   MF_LEDGER_VERSION, uid, group);
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
    atomic_store(&h->top, 0);
    atomic_store(&h->turned_away, 0);
    atomic_store(&h->sweep_ns, 0);
    for (unsigned k = 0; k < MF_LSAY_COUNT; k++) {
        atomic_store(&h->said_ns[k], 0);
        atomic_store(&h->unsaid[k], 0);
    }
    int r = init_lock(h);
    if (r == 0)
        atomic_store_explicit(&h->ready, 1, memory_order_release);
    return r;
}

/* The mapping is all a member needs: no descriptor of memfence's stays in the program's table
 * (a program counting or closing its descriptors sees its own). */
static void drop_fd(mf_ledger_t *l)
{
    if (l->fd >= 0)
        mf_sys_close(l->fd);
    l->fd = -1;
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

/* The open file fd: a regular file of this user's, mode 0600, of the ledger's size (waiting a
 * little for a creator to size it, and sizing it when `create` and its creator died first).
 * Return: 0 with st filled, or refuse()'s error (l closed, why set). */
static int check_file(mf_ledger_t *l, const char *path, bool create, struct stat *st,
                      char *why, size_t whylen)
{
    int fd = l->fd;
    size_t want = MF_LEDGER_FILE_SIZE(MF_LEDGER_SLOTS);
    if (sys_fstat(fd, st))
        return refuse(l, -EIO, why, whylen, "%s: cannot stat it", path);
    if (!S_ISREG(st->st_mode))
        return refuse(l, -EPERM, why, whylen, "%s is not a regular file: refused", path);
    if (st->st_uid != sys_getuid())
        return refuse(l, -EPERM, why, whylen, "%s is owned by uid %u, not by this user: refused",
                      path, (unsigned)st->st_uid);
    if (st->st_mode & 077)
        return refuse(l, -EPERM, why, whylen, "%s has mode %u%u%u, must be 600: refused", path,
                      (unsigned)(st->st_mode >> 6) & 7, (unsigned)(st->st_mode >> 3) & 7,
                      (unsigned)st->st_mode & 7);
    /* A creator may be between open and ftruncate: wait a little for the size (any other size
     * is refused at once below). */
    for (int i = 0; i < 100 && st->st_size == 0; i++) {
        sleep_ms(10);
        if (sys_fstat(fd, st))
            return refuse(l, -EIO, why, whylen, "%s: cannot stat it", path);
    }
    if (st->st_size == 0 && create) {    /* its creator died before sizing it */
        sys_ftruncate(fd, (off_t)want);
        sys_fstat(fd, st);
    }
    if ((size_t)st->st_size != want)
        return refuse(l, -EPROTO, why, whylen,
                      "%s has size %lld, expected %zu (another version of memfence, or corrupt): "
                      "refused; remove it when no fenced process uses it", path,
                      (long long)st->st_size, want);
    return 0;
}

/* Waits for the mapped file's creator to mark it ready; when `create` and that creator died
 * half-way, initialises it again (whoever wins the CAS) and waits once more.  st: the file's
 * stat, for its age. */
static void wait_ready(mf_ledger_t *l, const char *group, bool create, const struct stat *st)
{
    mf_ledger_hdr_t *h = l->hdr;
    size_t want = l->size;
    for (int i = 0; i < 300 && atomic_load_explicit(&h->ready, memory_order_acquire) != 1; i++)
        sleep_ms(10);
    if (!create || atomic_load(&h->ready) != 0)
        return;
    /* Its creator died half-way: whoever wins the CAS initialises it again.  A creator that
     * has not written its pid yet is not dead, only slow (a loaded machine): a file without
     * a pid is taken over only once it is old. */
    int32_t c = atomic_load(&h->creator);
    uint32_t zero = 0;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int stale = now.tv_sec - st->st_mtim.tv_sec >= 5;
    if (((c > 0 && !mf_ledger_proc_start(c)) || (c <= 0 && stale)) &&
        atomic_compare_exchange_strong(&h->ready, &zero, 2)) {
        memset((char *)h + MF_LEDGER_HDR_SIZE, 0, want - MF_LEDGER_HDR_SIZE);
        memset((void *)h->pids, 0, sizeof h->pids);
        init_header(h, group, want);
    }
    for (int i = 0; i < 100 && atomic_load_explicit(&h->ready, memory_order_acquire) != 1; i++)
        sleep_ms(10);
}

/* The mapped header: ready, this version's layout, this user's, this group's, this pid
 * namespace's.  Return: 0, or refuse()'s error (l closed, why set). */
static int check_header(mf_ledger_t *l, const char *path, const char *group, char *why,
                        size_t whylen)
{
    mf_ledger_hdr_t *h = l->hdr;
    if (atomic_load_explicit(&h->ready, memory_order_acquire) != 1)
        return refuse(l, -ETIMEDOUT, why, whylen,
                      "%s is not initialised (its creator died, or it is corrupt): refused; "
                      "remove it when no fenced process uses it", path);
    if (h->magic != MF_LEDGER_MAGIC || h->version != MF_LEDGER_VERSION ||
        h->hdr_size != MF_LEDGER_HDR_SIZE || h->slot_size != sizeof(mf_ledger_slot_t) ||
        h->nslots != MF_LEDGER_SLOTS || h->file_size != l->size)
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
    return 0;
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
    int fd = mf_sys_open(path, O_RDWR | O_NOFOLLOW, 0);     /* the common case: it exists */
    if (fd == -ENOENT && create) {
        fd = mf_sys_open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
        if (fd >= 0) {
            l->fd = fd;
            int r = create_file(fd, group, l);
            if (r) {
                sys_unlink(path);
                return refuse(l, r, why, whylen, "%s: cannot create it (error %d)", path, -r);
            }
            l->slots = (mf_ledger_slot_t *)((char *)l->hdr + MF_LEDGER_HDR_SIZE);
            drop_fd(l);
            return 0;
        }
        if (fd != -EEXIST)
            return refuse(l, fd, why, whylen, "%s: cannot create it (error %d)", path, -fd);
        fd = mf_sys_open(path, O_RDWR | O_NOFOLLOW, 0);    /* another joiner made it first */
    }
    if (fd == -ELOOP)
        return refuse(l, -ELOOP, why, whylen, "%s is a symbolic link: refused", path);
    if (fd < 0)
        return refuse(l, fd, why, whylen, "%s: cannot open it (error %d)", path, -fd);
    l->fd = fd;
    struct stat st;
    int r = check_file(l, path, create, &st, why, whylen);
    if (r)
        return r;
    void *p = mf_sys_mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (mf_sys_mmap_failed(p))
        return refuse(l, (int)(long)p, why, whylen, "%s: cannot map it", path);
    l->hdr = p;
    l->size = want;
    wait_ready(l, group, create, &st);
    if ((r = check_header(l, path, group, why, whylen)) != 0)
        return r;
    l->slots = (mf_ledger_slot_t *)((char *)p + MF_LEDGER_HDR_SIZE);
    drop_fd(l);
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
    for (unsigned i = 0, top = mf_ledger_top(l); i < top; i++) {
        mf_ledger_slot_t *s = &l->slots[i];
        bool live = atomic_load(&s->state) == MF_LSLOT_LIVE;
        atomic_store(&l->hdr->pids[i], live ? (s->pid ? s->pid : -1) : 0);
        if (!live)
            continue;
        for (unsigned p = 0; p < MF_POOL_COUNT; p++)
            t[p] = sat_add(t[p], contrib(s, p));
    }
    for (unsigned p = 0; p < MF_POOL_COUNT; p++)
        atomic_store(&l->hdr->total[p], t[p]);
}

/* True when the lock's holder is running or waiting for a CPU (R), or in a page fault (D): on
 * an overloaded machine (thousands of members on two cores) a holder preempted inside the
 * critical section waits seconds for its turn, and that is no reason to give up on the group.
 * A stopped (T), traced (t) or sleeping holder is stuck.  The holder's thread id is the robust
 * mutex's owner field (glibc's public layout); a holder that died is handed over as
 * EOWNERDEAD by the mutex itself. */
static bool holder_runs(const mf_ledger_t *l)
{
#ifdef __GLIBC__
    int tid = __atomic_load_n(&l->hdr->u.lock.__data.__owner, __ATOMIC_RELAXED) & 0x3fffffff;
#else
    int tid = -1;       /* the holder cannot be named: give up after MF_LEDGER_LOCK_NS */
    (void)l;
    if (tid < 0)
        return false;
#endif
    char path[64], buf[256];
    if (tid <= 0)
        return true;
    mf_fmt(path, sizeof path, "/proc/%d/stat", tid);
    long n = mf_sys_read_file(path, buf, sizeof buf);
    if (n <= 0)
        return true;
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && (p[2] == 'R' || p[2] == 'D');
}

static int lock_ledger(mf_ledger_t *l)
{
    int r = pthread_mutex_trylock(&l->hdr->u.lock);    /* the common case: no clock read */
    for (uint64_t waited = 0; r == EBUSY || r == ETIMEDOUT; waited += MF_LEDGER_LOCK_NS) {
        if (r == ETIMEDOUT && (waited >= MF_LEDGER_LOCK_MAX_NS || !holder_runs(l)))
            break;
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

unsigned mf_ledger_top(const mf_ledger_t *l)
{
    uint32_t t = atomic_load_explicit(&l->hdr->top, memory_order_acquire);
    return t < MF_LEDGER_SLOTS ? t : MF_LEDGER_SLOTS;
}

/* Takes the header's timestamp `at` when interval_ns has passed since it was last taken.
 * Return: true for the one caller that took it. */
static bool take_turn(_Atomic uint64_t *at, uint64_t interval_ns)
{
    uint64_t now = mono_ns(), last = atomic_load_explicit(at, memory_order_relaxed);
    /* (a timestamp in the future: a hostile file, or a clock from before a reboot) */
    if (last && now >= last && now - last < interval_ns)
        return false;
    return atomic_compare_exchange_strong(at, &last, now ? now : 1);
}

bool mf_ledger_say(mf_ledger_t *l, unsigned kind, uint64_t *held)
{
    if (held)
        *held = 0;
    if (!l->hdr || kind >= MF_LSAY_COUNT)
        return true;
    if (!take_turn(&l->hdr->said_ns[kind], MF_LEDGER_SAY_NS)) {
        atomic_fetch_add_explicit(&l->hdr->unsaid[kind], 1, memory_order_relaxed);
        return false;
    }
    uint64_t h = atomic_exchange_explicit(&l->hdr->unsaid[kind], 0, memory_order_relaxed);
    if (held)
        *held = h;
    return true;
}

bool mf_ledger_sweep_due(mf_ledger_t *l, uint64_t interval_ns)
{
    return l->hdr && take_turn(&l->hdr->sweep_ns, interval_ns);
}

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
    unsigned idx = (unsigned)(s - l->slots), top = mf_ledger_top(l);
    atomic_store_explicit(&l->hdr->pids[idx], 0, memory_order_relaxed);
    /* The top slot left: lower `top` past every free slot below it, so loops stay as short as
     * the group is large now, not as it once was. */
    if (idx + 1 == top) {
        while (top && !atomic_load_explicit(&l->hdr->pids[top - 1], memory_order_relaxed))
            top--;
        atomic_store_explicit(&l->hdr->top, top, memory_order_release);
    }
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
    for (unsigned i = 0, top = mf_ledger_top(l); i < top; i++) {
        mf_ledger_slot_t *s = &l->slots[i];
        if (!atomic_load_explicit(&l->hdr->pids[i], memory_order_relaxed) ||
            atomic_load_explicit(&s->state, memory_order_acquire) != MF_LSLOT_LIVE)
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
        unsigned top = mf_ledger_top(l);
        for (unsigned i = 0; i < top; i++) {
            int32_t q = atomic_load_explicit(&l->hdr->pids[i], memory_order_relaxed);
            mf_ledger_slot_t *s = &l->slots[i];
            if (q == pid && atomic_load(&s->state) == MF_LSLOT_LIVE && s->start_time == start)
                release_locked(l, s);       /* this very process, before an exec */
            if (!atomic_load_explicit(&l->hdr->pids[i], memory_order_relaxed) && found < 0)
                found = (int)i;
        }
        top = mf_ledger_top(l);             /* (the release may have lowered it) */
        if (found < 0 || (unsigned)found >= top)
            found = top < MF_LEDGER_SLOTS ? (int)top : -1;
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
            /* `top` first: a claimer killed between the two leaves a free slot under `top`
             * (harmless), never a live one above it (invisible to every loop) */
            atomic_store_explicit(&l->hdr->pids[found], pid > 0 ? pid : -1, memory_order_relaxed);
            if ((unsigned)found >= top)
                atomic_store_explicit(&l->hdr->top, (uint32_t)found + 1, memory_order_release);
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
size_t mf_ledger_admission_report(char *buf, size_t size, const char *group,
                                  const char *instance, uint64_t reserve, uint64_t limit,
                                  uint64_t total, const mf_ledger_t *l, int self,
                                  double margin_pct)
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
        for (unsigned i = 0, top = mf_ledger_top(l); i < top; i++) {
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
            mf_ledger_admission_report(report, size, l->hdr->group, s->instance, reserve, lim,
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

static int charge_locked(mf_ledger_t *l, mf_ledger_slot_t *s, unsigned p, uint64_t n,
                         int64_t margin)
{
    uint64_t old = contrib(s, p);
    uint64_t ch = sat_add(LD(s->charged[p]), n);
    uint64_t now = p == MF_POOL_HOST ? MF_MAX(ch, s->reserve) : ch;
    uint64_t delta = sat_sub(now, old);
    uint64_t lim = l->hdr->limit[p];
    uint64_t t = LD(l->hdr->total[p]);
    if (lim != MF_UNLIMITED)          /* never UNLIMITED by the margin: the limit still holds */
        lim = margin < 0 ? sat_sub(lim, (uint64_t)-margin)
                         : MF_MIN(sat_add(lim, (uint64_t)margin), MF_UNLIMITED - 1);
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

int mf_ledger_charge(mf_ledger_t *l, unsigned slot, unsigned pool, uint64_t n, int64_t margin)
{
    if (!l->hdr || slot >= MF_LEDGER_SLOTS || pool >= MF_POOL_COUNT)
        return -EINVAL;
    int r = lock_ledger(l);
    if (r)
        return r;
    r = charge_locked(l, &l->slots[slot], pool, n, margin);
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
    for (unsigned i = 0, top = mf_ledger_top(l); i < top && !others; i++)
        others = i != slot && atomic_load_explicit(&l->hdr->pids[i], memory_order_relaxed);
    uint64_t cur = l->hdr->limit[pool];
    /* Unlimited is where a ledger starts: two members joining at once each see the other live
     * before either set a limit, and neither must keep that start value as "theirs". */
    if (force || !others || cur == limit || cur == MF_UNLIMITED) {
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
        for (unsigned i = 0, top = mf_ledger_top(l); i < top; i++)
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
