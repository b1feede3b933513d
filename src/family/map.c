/* map.c — the 'map' module: what the mmap family commits, counted against the host budget.
 *
 * The policy of what counts mirrors the kernel's commit accounting (Committed_AS, see
 * Documentation/mm/overcommit-accounting.rst and mm/mmap.c, mm/mprotect.c, mm/mremap.c):
 *   - a private writable mapping counts its page-rounded size (accountable_mapping(): VM_WRITE
 *     without VM_SHARED or VM_NORESERVE), file-backed or anonymous;
 *   - a shared anonymous mapping, or a System V segment attached writable, counts its size
 *     whatever its protection (shmem_acct_size() charges the object when it is set up);
 *   - MAP_NORESERVE (honoured unless vm.overcommit_memory = 2, as in the kernel) and PROT_NONE
 *     reservations count nothing; read-only private file mappings and shared file mappings are
 *     never charged; MAP_HUGETLB mappings are hugetlbfs' and not in Committed_AS either;
 *   - mprotect making a private region writable commits it (mprotect_fixup() charges when
 *     VM_WRITE is added).  Unlike the kernel, memfence commits a MAP_NORESERVE region there too:
 *     V8 reserves with MAP_NORESERVE and commits with mprotect, and its heap must count;
 *   - mprotect removing write returns the bytes (the kernel does so for anonymous regions never
 *     written, and keeps the charge otherwise; memfence follows what the program asked for);
 *   - munmap, partial munmap and mremap shrink return exactly the bytes they unmap; MAP_FIXED
 *     replaces what was there; mremap grow charges the growth, a move carries the books along,
 *     MREMAP_DONTUNMAP charges the new copy while the old range stays (move_vma() does the same).
 * Mappings made inside memfence (mf_tls.depth) or by the allocator underneath (mf_tls.in_backend:
 * jemalloc's extents, a chained allocator's spans) are never seen: those blocks are counted as
 * heap.  A call that does not fit fails with ENOMEM before the real call is made, as the kernel
 * does when __vm_enough_memory() refuses.
 *
 * Large file mappings get a pre-flight check (map_check): size × map_factor against what is
 * left of the budget, MemAvailable and the cgroup's room; refused with one line naming the file.
 */
#include "config/config.h"
#include "family/map.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>

#include "base/calls.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/proc.h"
#include "base/stats.h"
#include "base/sys.h"
#include "gate/gate.h"
#include "gate/policy.h"
#include "gate/report.h"

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

static mf_region_table_t table = MF_REGION_TABLE_INIT;
static __thread int map_busy;            /* this thread holds table.lock (between begin and end) */
static int fork_locked;                  /* fork_prepare took the lock */

/* Configuration (defaults until mf_map_init). */
static bool map_check = true;
static uint64_t map_check_min = 64u << 20;
static double map_factor = 1.0;
static unsigned log_rate = 10;
static _Atomic int overcommit_mode = -1; /* vm.overcommit_memory (2: MAP_NORESERVE is ignored);
                                          * -1 until the first MAP_NORESERVE mapping reads it */
static char own_prefix[512];             /* the program's installation (see own_file) */

static uintptr_t page_up(uintptr_t n) { return (n + mf_page_size() - 1) & ~(mf_page_size() - 1); }
static uintptr_t page_down(uintptr_t n) { return n & ~(mf_page_size() - 1); }

/* ---- what counts ------------------------------------------------------------------------ */

static uint32_t with_counted(uint32_t f)
{
    f &= ~(uint32_t)MF_RG_COUNTED;
    if (f & MF_RG_PRIVATE) {
        if ((f & MF_RG_WRITE) && !(f & MF_RG_NORESERVE))
            f |= MF_RG_COUNTED;
    } else if (!(f & MF_RG_NORESERVE)) {
        f |= MF_RG_COUNTED;               /* shared anonymous: the object counts */
    }
    return f;
}

/* The region flags a new mapping gets; 0 when the table need not record it (it can never
 * count: shared file, hugetlb). */
static int overcommit_never(void)
{
    int m = atomic_load_explicit(&overcommit_mode, memory_order_relaxed);
    if (mf_unlikely(m < 0)) {
        char buf[32];
        m = mf_sys_read_file("/proc/sys/vm/overcommit_memory", buf, sizeof buf) > 0 ? buf[0] - '0' : 0;
        atomic_store_explicit(&overcommit_mode, m, memory_order_relaxed);
    }
    return m == 2;
}

static uint32_t mmap_flags(int prot, int flags)
{
    int type = flags & MAP_TYPE;
    int noreserve = (flags & MAP_NORESERVE) && !overcommit_never();
    if (flags & MAP_HUGETLB)
        return 0;
    if (type == MAP_SHARED || type == MAP_SHARED_VALIDATE) {
        if (!(flags & MAP_ANONYMOUS))
            return 0;
        /* shared anonymous: shmem charges the whole object at setup, whatever the protection */
        return with_counted(noreserve ? MF_RG_NORESERVE : 0) | MF_RG_SHARED_ANON;
    }
    uint32_t f = MF_RG_PRIVATE;
    if (!(flags & MAP_ANONYMOUS))
        f |= MF_RG_FILE;
    if (prot & PROT_WRITE)
        f |= MF_RG_WRITE;
    if (noreserve)
        f |= MF_RG_NORESERVE;
    return with_counted(f);
}

/* mprotect's transform of a region's flags (idempotent, as mf_region_update requires). */
static uint32_t prot_fn(uint32_t f, void *ctx)
{
    int write = *(const int *)ctx;
    if (!(f & MF_RG_PRIVATE))
        return f;                          /* shared objects are charged whatever the protection */
    if (write && !(f & MF_RG_WRITE))
        f &= ~(uint32_t)MF_RG_NORESERVE;   /* becoming writable commits it */
    f = write ? (f | MF_RG_WRITE) : (f & ~(uint32_t)MF_RG_WRITE);
    return with_counted(f);
}

/* ---- the bracket around each call ------------------------------------------------------- */

static int tracking(void)
{
    if (mf_tls.depth > 0 || mf_tls.in_backend > 0 || map_busy)
        return 0;
    int st = atomic_load_explicit(&mf_state, memory_order_acquire);
    if (mf_unlikely(st == MF_STATE_NONE))
        st = mf_runtime_ensure();
    return st == MF_STATE_COUNTING || st == MF_STATE_READY;
}

/* What the call would add to and remove from the counted total; lock held. */
static void estimate(const mf_map_op_t *op, uint64_t *add, uint64_t *rem)
{
    uintptr_t a = op->addr, n = op->len;
    *add = *rem = 0;
    switch (op->kind) {
    case MF_MAP_MMAP:
    case MF_MAP_SHMAT:
        *add = (op->rflags & MF_RG_COUNTED) ? n : 0;
        if (a && (op->kind == MF_MAP_MMAP ? (op->flags & MAP_FIXED) : (op->flags & SHM_REMAP)))
            *rem = mf_region_counted_in(&table, a, a + n);
        break;
    case MF_MAP_MUNMAP:
    case MF_MAP_SHMDT:
        break;                             /* only gives back: nothing to charge first */
    case MF_MAP_MPROTECT: {
        int w = op->write;
        for (const mf_region_t *q = mf_region_next(&table, a); q && q->start < a + n;
             q = mf_region_next(&table, q->end)) {
            uint32_t nf = prot_fn(q->flags, &w);
            uint64_t piece = MF_MIN(q->end, a + n) - MF_MAX(q->start, a);
            if ((q->flags & MF_RG_COUNTED) && !(nf & MF_RG_COUNTED))
                *rem += piece;
            else if (!(q->flags & MF_RG_COUNTED) && (nf & MF_RG_COUNTED))
                *add += piece;
        }
        break;
    }
    case MF_MAP_MREMAP: {
        uintptr_t ol = op->old_len, m = MF_MIN(ol, n), d = op->dest;
        if (n > ol && (op->rflags & MF_RG_COUNTED))
            *add = n - ol;
        if (op->flags & MREMAP_DONTUNMAP)
            *add += mf_region_counted_in(&table, a, a + m);
        if (n < ol)
            *rem = mf_region_counted_in(&table, a + n, a + ol);
        if (op->flags & MREMAP_FIXED) {
            /* what the moved pieces land on is replaced (see mf_region_copy), and a resize
             * first unmaps the whole destination */
            if (n != ol) {
                *rem += mf_region_counted_in(&table, d, d + n);
            } else {
                for (const mf_region_t *q = mf_region_next(&table, a); q && q->start < a + m;
                     q = mf_region_next(&table, q->end)) {
                    uintptr_t pa = MF_MAX(q->start, a), pb = MF_MIN(q->end, a + m);
                    *rem += mf_region_counted_in(&table, d + (pa - a), d + (pb - a));
                }
            }
        }
        break;
    }
    case MF_MAP_BRK:
        if (op->dest > a)
            *add = op->dest - a;
        else
            *rem = mf_region_counted_in(&table, op->dest, a);
        break;
    }
}

static size_t nodes_needed(const mf_map_op_t *op)
{
    if (op->kind == MF_MAP_MREMAP)
        return mf_region_pieces(&table, op->addr, op->addr + MF_MIN(op->old_len, op->len)) + 4;
    return 3;
}

/* Reads what the call needs from the table; lock held. */
static void prepare(mf_map_op_t *op)
{
    const mf_region_t *r;
    if (op->kind == MF_MAP_MREMAP) {
        /* the grown part takes the attributes of the end of the old mapping */
        r = mf_region_find(&table, op->addr + op->old_len - 1);
        op->rflags = r ? (r->flags & ~(uint32_t)MF_RG_NOMERGE) : 0;
        /* growing a shared mapping does not grow its object (pages past it raise SIGBUS), and
         * the kernel charges a growth only under VM_ACCOUNT (private): nothing counts */
        if (op->rflags && !(op->rflags & MF_RG_PRIVATE))
            op->rflags = with_counted(op->rflags | MF_RG_NORESERVE);
    } else if (op->kind == MF_MAP_SHMDT) {
        /* shmdt names only the address: the segment is the region that starts there */
        r = mf_region_find(&table, op->addr);
        op->len = r && r->start == op->addr && (r->flags & MF_RG_SHM) ? r->end - r->start : 0;
    }
}

static void lock(void)
{
    mf_region_lock(&table);
    map_busy = 1;
}

static void unlock(void)
{
    map_busy = 0;
    mf_region_unlock(&table);
}

/* Takes the lock, runs the policy and charges what the call adds.  Return: 0 with the lock
 * held, or -ENOMEM (op->kind = NONE, lock released, refusal reported). */
static int begin(mf_map_op_t *op, unsigned call, const void *caller)
{
    uint64_t add, rem, net;
    mf_tls.depth++;
    lock();
    prepare(op);
    estimate(op, &add, &rem);
    net = add > rem ? add - rem : 0;
    if (net && atomic_load_explicit(&mf_policy_flags, memory_order_relaxed)) {
        unlock();                         /* the policy may sleep (throttle): not under the lock */
        int rc = mf_policy_admit(call, MF_POOL_HOST, net, caller);
        if (rc < 0)
            goto refused_quietly;
        lock();
        prepare(op);
        estimate(op, &add, &rem);
        net = add > rem ? add - rem : 0;
    }
    if (mf_region_reserve(&table, nodes_needed(op)) < 0) {
        size_t n = table.count;
        unlock();
        mf_log_limited(MF_RL_REFUSE, log_rate,
                       "%s refused: the region table is full (%zu regions); ENOMEM as at "
                       "vm.max_map_count", mf_call_name(call), n);
        goto refused_quietly;
    }
    if (net && mf_gate_charge_pool(MF_POOL_HOST, net) < 0) {
        unlock();
        mf_report_refusal(call, MF_POOL_HOST, net, NULL);
        goto refused_quietly;
    }
    op->pre = net;
    op->before = table.counted;
    mf_tls.depth--;
    return 0;
refused_quietly:
    op->kind = MF_MAP_NONE;
    mf_tls.depth--;
    return -ENOMEM;
}

/* Brings the host pool in line with what the table really gained or lost. */
static void settle(const mf_map_op_t *op)
{
    int64_t n = (int64_t)(table.counted - op->before);
    int64_t pre = (int64_t)op->pre;
    if (n < pre)
        mf_gate_uncharge_pool(MF_POOL_HOST, (uint64_t)(pre - n));
    else if (n > pre && mf_gate_charge_pool(MF_POOL_HOST, (uint64_t)(n - pre)) < 0)
        mf_log_limited(MF_RL_MISC, log_rate, "map: books short by %llu bytes",
                       (unsigned long long)(n - pre));
    atomic_store_explicit(&mf_stats.map_bytes, table.counted, memory_order_relaxed);
}

static void apply(const mf_map_op_t *op, uintptr_t res)
{
    uintptr_t a = op->addr, n = op->len;
    switch (op->kind) {
    case MF_MAP_MMAP:
    case MF_MAP_SHMAT:
        /* a fresh mapping replaces whatever the table still held there (MAP_FIXED, or a
         * record left stale by a raw munmap memfence did not see) */
        if (op->rflags)
            mf_region_set(&table, res, res + n, op->rflags, NULL);
        else
            mf_region_clear(&table, res, res + n, NULL);
        break;
    case MF_MAP_MUNMAP:
    case MF_MAP_SHMDT:
        mf_region_clear(&table, a, a + n, NULL);
        break;
    case MF_MAP_MPROTECT: {
        int w = op->write;
        mf_region_update(&table, a, a + n, prot_fn, &w, NULL);
        break;
    }
    case MF_MAP_MREMAP: {
        uintptr_t ol = op->old_len, m = MF_MIN(ol, n);
        if (res == a) {
            if (n < ol)
                mf_region_clear(&table, a + n, a + ol, NULL);
        } else {
            /* a resize or a single mapping replaces the whole destination; a same-size move of
             * several mappings (Linux 6.17+) leaves it as it was under the source's gaps */
            if (n != ol)
                mf_region_clear(&table, res, res + n, NULL);
            if (mf_region_copy(&table, a, m, res, NULL) < 0)
                mf_region_clear(&table, res, res + m, NULL);
            if (!(op->flags & MREMAP_DONTUNMAP))
                mf_region_clear(&table, a, a + ol, NULL);
        }
        if (n > ol) {
            if (op->rflags)
                mf_region_set(&table, res + ol, res + n, op->rflags, NULL);
            else
                mf_region_clear(&table, res + ol, res + n, NULL);
        }
        break;
    }
    case MF_MAP_BRK:
        if (op->dest > a)
            mf_region_set(&table, a, op->dest, MF_RG_PRIVATE | MF_RG_WRITE | MF_RG_COUNTED, NULL);
        else
            mf_region_clear(&table, op->dest, a, NULL);
        break;
    }
}

/* A shrinking move may unmap the old tail before it fails (mremap_to() in kernels before
 * 6.17); newer ones check first.  The pieces of the tail the table knows are probed with
 * mincore (ENOMEM: no longer mapped) and forgotten when gone.  Error path only. */
static void follow_failed_shrink(const mf_map_op_t *op)
{
    uintptr_t x = op->addr + op->len, e = op->addr + op->old_len;
    while (x < e) {
        const mf_region_t *q = mf_region_next(&table, x);
        if (!q || q->start >= e)
            break;
        uintptr_t a = MF_MAX(q->start, x), b = MF_MIN(q->end, e);
        unsigned char v;
        if (mf_syscall6(SYS_mincore, (long)a, (long)mf_page_size(), (long)&v, 0, 0, 0) == -ENOMEM)
            mf_region_clear(&table, a, b, NULL);
        x = b;
    }
}

void mf_map_end(mf_map_op_t *op, int ok, uintptr_t result)
{
    if (op->kind == MF_MAP_NONE)
        return;
    mf_tls.depth++;
    if (ok) {
        apply(op, result);
    } else if (op->kind == MF_MAP_MREMAP && op->len < op->old_len) {
        follow_failed_shrink(op);
    }
    /* a failed call changed nothing (the kernel checks before it changes, but for an mprotect
     * that fails half way through a range with holes, which memfence does not follow) */
    settle(op);
    unlock();
    mf_tls.depth--;
    op->kind = MF_MAP_NONE;
}

/* ---- the calls -------------------------------------------------------------------------- */

int mf_map_mmap_begin(mf_map_op_t *op, void *addr, size_t len, int prot, int flags, int fd,
                      off_t off, const void *caller)
{
    op->kind = MF_MAP_NONE;
    if (len == 0 || len > (size_t)1 << 62 || !tracking())
        return 0;
    if (!(flags & MAP_ANONYMOUS) && fd >= 0 && map_check && len >= map_check_min) {
        mf_tls.depth++;
        int rc = mf_map_preflight(fd, len, off);
        mf_tls.depth--;
        if (rc < 0)
            return rc;
    }
    *op = (mf_map_op_t){ .kind = MF_MAP_MMAP, .rflags = mmap_flags(prot, flags),
                         .addr = page_down((uintptr_t)addr), .len = page_up(len),
                         .flags = flags & ~MAP_FIXED_NOREPLACE };
    if (!(flags & MAP_FIXED))
        op->addr = 0;
    return begin(op, MF_CALL_MMAP, caller);
}

int mf_map_munmap_begin(mf_map_op_t *op, void *addr, size_t len)
{
    op->kind = MF_MAP_NONE;
    if (len == 0 || ((uintptr_t)addr & (mf_page_size() - 1)) || !tracking())
        return 0;
    *op = (mf_map_op_t){ .kind = MF_MAP_MUNMAP, .addr = (uintptr_t)addr, .len = page_up(len) };
    return begin(op, MF_CALL_MMAP, NULL);
}

int mf_map_mprotect_begin(mf_map_op_t *op, void *addr, size_t len, int prot, const void *caller)
{
    op->kind = MF_MAP_NONE;
    if (len == 0 || ((uintptr_t)addr & (mf_page_size() - 1)) || !tracking())
        return 0;
    *op = (mf_map_op_t){ .kind = MF_MAP_MPROTECT, .addr = (uintptr_t)addr, .len = page_up(len),
                         .write = (prot & PROT_WRITE) != 0 };
    return begin(op, MF_CALL_MPROTECT, caller);
}

int mf_map_mremap_begin(mf_map_op_t *op, void *old, size_t old_len, size_t new_len, int flags,
                        void *dest, const void *caller)
{
    op->kind = MF_MAP_NONE;
    /* old_len 0 duplicates a shared mapping: the object is already charged */
    if (old_len == 0 || new_len == 0 || ((uintptr_t)old & (mf_page_size() - 1)) || !tracking())
        return 0;
    *op = (mf_map_op_t){ .kind = MF_MAP_MREMAP, .addr = (uintptr_t)old, .len = page_up(new_len),
                         .old_len = page_up(old_len), .flags = flags,
                         .dest = (flags & MREMAP_FIXED) ? (uintptr_t)dest : 0 };
    return begin(op, MF_CALL_MREMAP, caller);
}

int mf_map_shmat_begin(mf_map_op_t *op, int shmid, const void *addr, int shmflg,
                       const void *caller)
{
    op->kind = MF_MAP_NONE;
    if (!tracking())
        return 0;
    struct shmid_ds ds;
    if (mf_syscall6(SYS_shmctl, shmid, IPC_STAT, (long)&ds, 0, 0, 0) < 0 || ds.shm_segsz == 0)
        return 0;
    /* the segment counts in the process that attaches it writable (each attachment once) */
    uint32_t f = MF_RG_SHM | MF_RG_NOMERGE;
    if (!(shmflg & SHM_RDONLY))
        f |= MF_RG_COUNTED;
    *op = (mf_map_op_t){ .kind = MF_MAP_SHMAT, .rflags = f, .len = page_up(ds.shm_segsz),
                         .addr = (uintptr_t)addr, .flags = shmflg };
    return begin(op, MF_CALL_SHMAT, caller);
}

int mf_map_shmdt_begin(mf_map_op_t *op, const void *addr)
{
    op->kind = MF_MAP_NONE;
    if (!tracking())
        return 0;
    *op = (mf_map_op_t){ .kind = MF_MAP_SHMDT, .addr = (uintptr_t)addr };
    return begin(op, MF_CALL_SHMAT, NULL);
}

int mf_map_brk_begin(mf_map_op_t *op, uintptr_t old_end, uintptr_t new_end, const void *caller)
{
    op->kind = MF_MAP_NONE;
    /* the kernel's brk area is [start_brk, PAGE_ALIGN(brk)): only whole pages change */
    uintptr_t a = page_up(old_end), b = page_up(new_end);
    if (a == b || !tracking())
        return 0;
    *op = (mf_map_op_t){ .kind = MF_MAP_BRK, .addr = a, .dest = b };
    return begin(op, MF_CALL_BRK, caller);
}

uint64_t mf_map_counted(void)
{
    mf_region_lock(&table);
    uint64_t n = table.counted;
    mf_region_unlock(&table);
    return n;
}

size_t mf_map_regions(void)
{
    mf_region_lock(&table);
    size_t n = table.count;
    mf_region_unlock(&table);
    return n;
}

/* ---- the file pre-flight check ---------------------------------------------------------- */

static uint64_t parse_u64(const char *s)
{
    uint64_t v = 0;
    while (*s == ' ' || *s == '\t')
        s++;
    while (*s >= '0' && *s <= '9')
        v = v * 10 + (uint64_t)(*s++ - '0');
    return v;
}

static const char *find_line(const char *buf, const char *prefix)
{
    size_t n = 0;
    while (prefix[n])
        n++;
    for (const char *p = buf; *p; ) {
        size_t i = 0;
        while (i < n && p[i] == prefix[i])
            i++;
        if (i == n)
            return p + n;
        while (*p && *p != '\n')
            p++;
        if (*p)
            p++;
    }
    return NULL;
}

static uint64_t mem_available(void)
{
    char buf[4096];
    if (mf_sys_read_file("/proc/meminfo", buf, sizeof buf) <= 0)
        return MF_UNLIMITED;
    const char *p = find_line(buf, "MemAvailable:");
    return p ? parse_u64(p) * 1024 : MF_UNLIMITED;
}

/* Room left under the memory limits of this process's cgroups and their ancestors: the least
 * of limit − usage over every level that has a limit. */
static void room_level(const char *dir, int v2, void *ctx)
{
    uint64_t *room = ctx;
    uint64_t max = mf_cgroup_value(dir, v2 ? "memory.max" : "memory.limit_in_bytes");
    if (max >= (uint64_t)1 << 60)
        return;
    uint64_t cur = mf_cgroup_value(dir, v2 ? "memory.current" : "memory.usage_in_bytes");
    if (cur == MF_UNLIMITED)
        return;
    *room = MF_MIN(*room, max > cur ? max - cur : 0);
}

static uint64_t cgroup_room(void)
{
    uint64_t room = MF_UNLIMITED;
    mf_cgroup_walk(room_level, &room);
    return room;
}

/* The program's own installation: for an executable in PREFIX/bin/ (a JDK, a self-contained
 * runtime), PREFIX, unless PREFIX is a system-wide one.  Files under it are the runtime's
 * image (the JDK maps its 120 MiB lib/modules and crashes when that fails), not data the
 * pre-flight check is about. */
static void find_own_prefix(const char *exe)
{
    static const char *const system[] = { "", "/usr", "/usr/local", "/opt", "/snap", "/home",
                                          "/usr/lib", "/usr/libexec" };
    size_t n = 0, slash = 0, prev = 0;
    own_prefix[0] = 0;
    for (; exe && exe[n] && n < sizeof own_prefix - 1; n++) {
        if (exe[n] == '/') {
            prev = slash;
            slash = n;
        }
    }
    /* exe = PREFIX/bin/NAME: prev is the slash before "bin", slash the one after it */
    if (!exe || exe[n] || slash - prev != 4 || exe[prev + 1] != 'b' || exe[prev + 2] != 'i' ||
        exe[prev + 3] != 'n')
        return;
    for (size_t i = 0; i < MF_ARRAY_LEN(system); i++) {
        size_t k = 0;
        while (system[i][k] && k < prev && system[i][k] == exe[k])
            k++;
        if (!system[i][k] && k == prev)
            return;
    }
    for (size_t i = 0; i < prev; i++)
        own_prefix[i] = exe[i];
    own_prefix[prev] = '/';
    own_prefix[prev + 1] = 0;
}

static int own_file(const char *path)
{
    size_t i = 0;
    if (!own_prefix[0])
        return 0;
    while (own_prefix[i] && path[i] == own_prefix[i])
        i++;
    return own_prefix[i] == 0;
}

int mf_map_preflight(int fd, size_t len, off_t off)
{
    if (!map_check || len < map_check_min)
        return 0;
    struct stat st;
    if (mf_syscall6(SYS_fstat, fd, (long)&st, 0, 0, 0, 0) < 0 || !S_ISREG(st.st_mode))
        return 0;                          /* devices (GPU drivers), pipes: not a file to page */
    uint64_t bytes = off >= st.st_size ? 0 : MF_MIN((uint64_t)len, (uint64_t)(st.st_size - off));
    if (bytes < map_check_min)
        return 0;
    double nd = (double)bytes * map_factor;
    uint64_t need = nd >= 1.8e19 ? UINT64_MAX : (uint64_t)nd;
    const char *what = "left in the budget";
    uint64_t avail = mf_gate_room(MF_POOL_HOST);
    uint64_t m = mem_available(), c = cgroup_room();
    if (need <= avail && need <= m && need <= c)
        return 0;
    if (m < avail) {
        avail = m;
        what = "MemAvailable on the host";
    }
    if (c < avail) {
        avail = c;
        what = "left under the cgroup's limit";
    }
    char link[64], file[512], hn[32], ha[32];
    mf_fmt(link, sizeof link, "/proc/self/fd/%d", fd);
    long k = mf_syscall6(SYS_readlinkat, AT_FDCWD, (long)link, (long)file, sizeof file - 1, 0, 0);
    if (k <= 0) {
        mf_fmt(file, sizeof file, "fd %d", fd);
    } else {
        file[k] = 0;
        if (own_file(file))
            return 0;
    }
    mf_stat_add(&mf_stats.map_refusals, 1);
    mf_log_limited(MF_RL_MAPCHECK, log_rate,
                   "mmap of %s refused: it needs %s (%llu bytes), only %s (%llu bytes) %s "
                   "(map_check = off disables this check)", file,
                   mf_fmt_bytes(hn, sizeof hn, need), (unsigned long long)need,
                   mf_fmt_bytes(ha, sizeof ha, avail), (unsigned long long)avail, what);
    return -ENOMEM;
}

/* ---- lifecycle -------------------------------------------------------------------------- */

int mf_map_init(const mf_config_t *cfg)
{
    map_check = cfg->map_check;
    map_check_min = mf_size_resolve(&cfg->map_check_min,
                                    cfg->map_check_min.is_pct ? mf_host_memory() : 0);
    map_factor = cfg->map_factor;
    log_rate = cfg->log_rate ? (unsigned)cfg->log_rate : 10;
    find_own_prefix(mf_exe_path());
    return 0;
}

/* The child's address space is a copy of the parent's: it keeps the table, and its lock, taken
 * in prepare, is made free again. */
void mf_map_fork_prepare(void)
{
    if (!map_busy) {                 /* not from a signal handler that interrupted a call */
        mf_region_lock(&table);
        fork_locked = 1;
    }
}

void mf_map_fork_parent(void)
{
    if (fork_locked) {
        fork_locked = 0;
        mf_region_unlock(&table);
    }
}

void mf_map_fork_child(void)
{
    fork_locked = 0;
    map_busy = 0;
    mf_region_fork_child(&table);
}

void mf_map_fini(void) {}
