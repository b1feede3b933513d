/* fail.c — fault injection (`fail = SPEC`): the decision taken for every allocation call while
 * MF_POLICY_FAIL is set, the from=MODULE address test, and the shared counting file `memfence
 * run --fail-sweep` reads.  The spec and its semantics: config/fail_spec.h.
 *
 * The decision path is lock-free and allocation-free: two atomic counters (eligible calls,
 * injected failures), a hash for prob=, and for from= a sorted table of the loaded objects'
 * address ranges guarded by a sequence counter.
 */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "base/calls.h"
#include "base/log.h"
#include "base/proc.h"
#include "base/size.h"
#include "base/stats.h"
#include "base/sys.h"
#include "config/config.h"
#include "fail/fail.h"
#include "gate/gate.h"
#include "gate/policy.h"
#include "gate/report.h"
#include "profile/profile.h"

static mf_fail_spec_t fail_spec;
static _Atomic(const mf_fail_spec_t *) fail_active;
static _Atomic uint64_t fail_eligible_n;
static _Atomic uint64_t fail_injected_n;
static bool fail_log_each;
static mf_fail_report_t *fail_report;

uint64_t mf_fail_eligible(void) { return atomic_load_explicit(&fail_eligible_n, memory_order_relaxed); }
uint64_t mf_fail_injected(void) { return atomic_load_explicit(&fail_injected_n, memory_order_relaxed); }

int mf_fail_arm(const mf_fail_spec_t *spec, bool log_each)
{
    atomic_store_explicit(&fail_active, NULL, memory_order_release);
    atomic_store_explicit(&fail_eligible_n, 0, memory_order_relaxed);
    atomic_store_explicit(&fail_injected_n, 0, memory_order_relaxed);
    if (!spec) {
        mf_policy_set(MF_POLICY_FAIL, 0);
        return 0;
    }
    fail_spec = *spec;
    fail_log_each = log_each;
    atomic_store_explicit(&fail_active, &fail_spec, memory_order_release);
    mf_policy_set_injector(mf_fail_check);
    mf_policy_set(MF_POLICY_FAIL, 1);
    return 0;
}

static const char *base_name(const char *path)
{
    const char *b = path;
    for (const char *p = path; *p; p++)
        if (*p == '/') b = p + 1;
    return b;
}

/* The line logged for each injected failure (fail_log = on): the call, the caller as
 * object+offset (symbol+offset when dladdr knows it), and the stack when the profiler can
 * give it.  Cold and out of line so the decision path stays small. */
static MF_COLD void log_injected(unsigned call, uint64_t req, const void *caller, uint64_t k,
                                 uint64_t j)
{
    char where[192], bt[768], sz[32];
    Dl_info info;
    where[0] = '\0';
    if (caller && dladdr(caller, &info) && info.dli_fname) {
        const char *obj = info.dli_fname[0] ? base_name(info.dli_fname) : mf_program_name();
        if (info.dli_sname)
            mf_fmt(where, sizeof where, " from %s (%s+0x%lx)", obj, info.dli_sname,
                   (unsigned long)((const char *)caller - (const char *)info.dli_saddr));
        else
            mf_fmt(where, sizeof where, " from %s+0x%lx", obj,
                   (unsigned long)((const char *)caller - (const char *)info.dli_fbase));
    } else if (caller) {
        mf_fmt(where, sizeof where, " from %p", caller);
    }
    size_t n = mf_profile_backtrace_text(bt, sizeof bt, 3);
    bt[MF_MIN(n, sizeof bt - 1)] = '\0';
    mf_fmt_bytes(sz, sizeof sz, req);
    mf_log_limited(MF_RL_FAIL, (unsigned)mf_config()->log_rate,
                   "fail: injected failure %llu at eligible call %llu: %s(%s)%s%s%s",
                   (unsigned long long)j, (unsigned long long)k, mf_call_name(call), sz, where,
                   n ? "; stack: " : "", bt);
}

int mf_fail_check(unsigned call, uint64_t req, const void *caller)
{
    const mf_fail_spec_t *s = atomic_load_explicit(&fail_active, memory_order_acquire);
    if (!s) return 0;
    if (req < s->size_min) return 0;
    if (!(mf_call_family(call) & s->families)) return 0;
    if (s->from[0] && !mf_fail_addr_in_module(caller, s->from)) return 0;

    uint64_t k = atomic_fetch_add_explicit(&fail_eligible_n, 1, memory_order_relaxed) + 1;
    mf_fail_report_t *r = fail_report;
    if (r) {
        uint64_t m = atomic_load_explicit(&r->max_eligible, memory_order_relaxed);
        while (m < k && !atomic_compare_exchange_weak_explicit(&r->max_eligible, &m, k,
                                                               memory_order_relaxed,
                                                               memory_order_relaxed)) {}
    }
    uint64_t held = s->has_after ? mf_gate_used(MF_POOL_HOST) : 0;
    if (!mf_fail_triggers(s, k, held, req)) return 0;

    uint64_t j = atomic_load_explicit(&fail_injected_n, memory_order_relaxed);
    do {
        if (j >= s->count) return 0;
    } while (!atomic_compare_exchange_weak_explicit(&fail_injected_n, &j, j + 1,
                                                    memory_order_relaxed, memory_order_relaxed));
    mf_stat_add(&mf_stats.injected, 1);
    if (r) atomic_fetch_add_explicit(&r->injected, 1, memory_order_relaxed);
    if (fail_log_each) log_injected(call, req, caller, k, j + 1);
    return -ENOMEM;
}

/* ---- from=MODULE: which loaded object an address belongs to ------------------------------ */

#define OBJ_MAX 1024

typedef struct obj_range {
    uintptr_t lo, hi;
    bool match;
} obj_range_t;

static struct {
    _Atomic unsigned seq;           /* odd while the table is rewritten */
    _Atomic int lock;               /* one rescanner at a time (try-lock, never waits) */
    _Atomic uint64_t adds, subs;    /* the loader's load/unload counters at the last scan */
    unsigned n;
    obj_range_t r[OBJ_MAX];
    char module[MF_NAME_MAX];       /* the name the match flags were computed for */
    char exe[256];                  /* the main program's path (its dlpi_name is "") */
} objs;

static int scan_one(struct dl_phdr_info *info, size_t size, void *arg)
{
    const char *module = arg;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD) continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr;
        lo = MF_MIN(lo, a);
        hi = MF_MAX(hi, a + ph->p_memsz);
    }
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
        atomic_store_explicit(&objs.adds, info->dlpi_adds, memory_order_relaxed);
        atomic_store_explicit(&objs.subs, info->dlpi_subs, memory_order_relaxed);
    }
    if (lo >= hi || objs.n >= OBJ_MAX) return 0;
    const char *name = info->dlpi_name;
    if (!name || !name[0]) name = objs.exe;
    objs.r[objs.n].lo = lo;
    objs.r[objs.n].hi = hi;
    objs.r[objs.n].match = strstr(base_name(name), module) != NULL;
    objs.n++;
    return 0;
}

/* Rescans the loaded objects for `module`.  Callers hold objs.lock. */
static void rescan(const char *module)
{
    if (!objs.exe[0]) {
        long n = mf_syscall6(SYS_readlinkat, AT_FDCWD, (long)"/proc/self/exe", (long)objs.exe,
                             sizeof objs.exe - 1, 0, 0);
        objs.exe[n > 0 ? n : 0] = '\0';
    }
    atomic_fetch_add_explicit(&objs.seq, 1, memory_order_acq_rel);      /* odd: writing */
    atomic_thread_fence(memory_order_release);
    objs.n = 0;
    size_t ml = MF_MIN(strlen(module), sizeof objs.module - 1);
    memcpy(objs.module, module, ml);
    objs.module[ml] = '\0';
    dl_iterate_phdr(scan_one, objs.module);
    /* shell sort by start address */
    for (unsigned gap = objs.n / 2; gap > 0; gap /= 2)
        for (unsigned i = gap; i < objs.n; i++) {
            obj_range_t t = objs.r[i];
            unsigned j = i;
            for (; j >= gap && objs.r[j - gap].lo > t.lo; j -= gap) objs.r[j] = objs.r[j - gap];
            objs.r[j] = t;
        }
    atomic_thread_fence(memory_order_release);
    atomic_fetch_add_explicit(&objs.seq, 1, memory_order_acq_rel);      /* even: done */
}

/* The loader's counters of objects loaded and unloaded so far: dl_iterate_phdr stopped at its
 * first object, so a probe costs one lock round trip. */
static int probe_one(struct dl_phdr_info *info, size_t size, void *arg)
{
    uint64_t *c = arg;
    if (size < offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) return 1;
    c[0] = info->dlpi_adds;
    c[1] = info->dlpi_subs;
    c[2] = 1;
    return 1;
}

/* True when objects were loaded or unloaded since the last scan (or it cannot be told). */
static bool objects_changed(void)
{
    uint64_t c[3] = { 0, 0, 0 };
    dl_iterate_phdr(probe_one, c);
    return !c[2] || c[0] != atomic_load_explicit(&objs.adds, memory_order_relaxed) ||
           c[1] != atomic_load_explicit(&objs.subs, memory_order_relaxed);
}

/* Looks addr up.  Return: 1 in a matching object, 0 in another object, -1 in none (or the table
 * is for another module, or was being rewritten). */
static int lookup(uintptr_t a, const char *module)
{
    for (int tries = 0; tries < 4; tries++) {
        unsigned s1 = atomic_load_explicit(&objs.seq, memory_order_acquire);
        if (s1 & 1) continue;
        int res = -1;
        if (strncmp(objs.module, module, sizeof objs.module) == 0) {
            unsigned lo = 0, hi = objs.n;
            while (lo < hi) {       /* last range starting at or below a */
                unsigned mid = (lo + hi) / 2;
                if (objs.r[mid].lo <= a) lo = mid + 1;
                else hi = mid;
            }
            if (lo > 0 && a < objs.r[lo - 1].hi) res = objs.r[lo - 1].match;
        }
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&objs.seq, memory_order_relaxed) == s1) return res;
    }
    return -1;
}

bool mf_fail_addr_in_module(const void *addr, const char *module)
{
    uintptr_t a = (uintptr_t)addr;
    int res = lookup(a, module);
    if (res >= 0) return res;
    /* Unknown address: a library loaded since the last scan, or code outside any object (a JIT).
     * Rescan only when the loader's counters moved, and never wait for another rescanner. */
    bool stale = strncmp(objs.module, module, sizeof objs.module) != 0;
    if (!stale && !objects_changed()) return false;
    int unlocked = 0;
    if (!atomic_compare_exchange_strong_explicit(&objs.lock, &unlocked, 1, memory_order_acquire,
                                                 memory_order_relaxed))
        return false;
    rescan(module);
    atomic_store_explicit(&objs.lock, 0, memory_order_release);
    return lookup(a, module) == 1;
}

/* ---- the shared counting file (MEMFENCE_FAIL_REPORT) ------------------------------------- */

static void report_open(void)
{
    const char *path = mf_getenv("MEMFENCE_FAIL_REPORT", 1);
    if (!path || !*path) return;
    int fd = mf_sys_open(path, O_RDWR, 0);
    if (fd < 0) {
        mf_log("fail: cannot open MEMFENCE_FAIL_REPORT %s (errno %d); not counting there", path, -fd);
        return;
    }
    struct stat st;
    long rc = mf_syscall6(SYS_fstat, fd, (long)&st, 0, 0, 0, 0);
    void *p = NULL;
    if (rc == 0 && (size_t)st.st_size >= sizeof(mf_fail_report_t))
        p = mf_sys_mmap(NULL, sizeof(mf_fail_report_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    mf_sys_close(fd);
    if (!p || mf_sys_mmap_failed(p) || ((mf_fail_report_t *)p)->magic != MF_FAIL_REPORT_MAGIC) {
        if (p && !mf_sys_mmap_failed(p)) mf_sys_munmap(p, sizeof(mf_fail_report_t));
        mf_log("fail: MEMFENCE_FAIL_REPORT %s is not a fail-report file; not counting there", path);
        return;
    }
    fail_report = p;
    atomic_fetch_add_explicit(&fail_report->processes, 1, memory_order_relaxed);
    if (atomic_load_explicit(&fail_report->top_pid, memory_order_relaxed) == (int32_t)mf_pid()) {
        /* an image of the command's own process: the last one is the program it finally runs */
        char exe[sizeof fail_report->top_exe];
        long n = mf_syscall6(SYS_readlinkat, AT_FDCWD, (long)"/proc/self/exe", (long)exe,
                             sizeof exe - 1, 0, 0);
        exe[n > 0 ? n : 0] = '\0';
        memcpy(fail_report->top_exe, exe, (size_t)(n > 0 ? n : 0) + 1);
        atomic_fetch_add_explicit(&fail_report->top_images, 1, memory_order_release);
    }
}

/* MEMFENCE_FAIL_EXE: true when it is unset or names this process's executable. */
static bool exe_targeted(void)
{
    const char *want = mf_getenv("MEMFENCE_FAIL_EXE", 1);
    if (!want || !*want) return true;
    char exe[512];
    long n = mf_syscall6(SYS_readlinkat, AT_FDCWD, (long)"/proc/self/exe", (long)exe,
                         sizeof exe - 1, 0, 0);
    exe[n > 0 ? n : 0] = '\0';
    return n > 0 && !strcmp(exe, want);
}

/* ---- lifecycle -------------------------------------------------------------------------- */

int mf_fail_init(const mf_config_t *cfg)
{
    if (!cfg->fail[0]) return 0;
    mf_fail_spec_t s;
    char why[160];
    if (mf_fail_parse(cfg->fail, &s, why, sizeof why) != 0) {
        mf_log("%s; fault injection stays off", why);
        return -EINVAL;
    }
    if (s.has_prob && !s.has_seed) {
        s.seed = mf_now_ns() ^ ((uint64_t)mf_pid() << 32);
        s.has_seed = true;
        mf_log("fail: prob without seed: using seed=%llu (add it to the spec to repeat this run)",
               (unsigned long long)s.seed);
    }
    report_open();
    if (!exe_targeted()) return 0;      /* a wrapper on the way to the program swept */
    if (cfg->fail_log) {
        char text[256];
        mf_fail_format(&s, text, sizeof text);
        mf_log("fail: fault injection armed: %s", text);
    }
    return mf_fail_arm(&s, cfg->fail_log);
}

void mf_fail_fork_prepare(void) {}
void mf_fail_fork_parent(void) {}

void mf_fail_fork_child(void)
{
    /* A child is a process of its own: it counts its eligible calls from 1 again. */
    atomic_store_explicit(&fail_eligible_n, 0, memory_order_relaxed);
    atomic_store_explicit(&fail_injected_n, 0, memory_order_relaxed);
    if (fail_report) atomic_fetch_add_explicit(&fail_report->processes, 1, memory_order_relaxed);
    /* A rescan in flight in another thread died with it. */
    atomic_store_explicit(&objs.lock, 0, memory_order_relaxed);
    if (atomic_load_explicit(&objs.seq, memory_order_relaxed) & 1) {
        objs.n = 0;
        objs.module[0] = '\0';
        atomic_fetch_add_explicit(&objs.seq, 1, memory_order_relaxed);
    }
}

void mf_fail_fini(void)
{
    if (atomic_load_explicit(&fail_active, memory_order_relaxed) && fail_log_each)
        mf_log("fail: %llu eligible calls, %llu failures injected",
               (unsigned long long)mf_fail_eligible(), (unsigned long long)mf_fail_injected());
}
