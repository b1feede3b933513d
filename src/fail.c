/* fail.c — fault injection (`fail = SPEC`): the spec parser, the decision taken for every
 * allocation call while MF_POLICY_FAIL is set, the from=MODULE address test, and the shared
 * counting file `memfence run --fail-sweep` reads.  Semantics are stated in fail.h.
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

#include "calls.h"
#include "config.h"
#include "fail.h"
#include "gate.h"
#include "log.h"
#include "modules.h"
#include "policy.h"
#include "report.h"
#include "runtime.h"
#include "size.h"
#include "stats.h"
#include "sys.h"

/* ---- the spec parser -------------------------------------------------------------------- */

/* why = fmt with its one %s replaced by the first n bytes of item (a macro, so that the format
 * stays a literal the compiler checks). */
#define why_set(why, whylen, fmt, item, n) do {                                          \
        char it_[96];                                                                    \
        size_t m_ = MF_MIN((size_t)(n), sizeof it_ - 1);                                 \
        if ((why) && (whylen)) {                                                         \
            memcpy(it_, (item), m_);                                                     \
            it_[m_] = '\0';                                                              \
            mf_fmt((why), (whylen), fmt, it_);                                           \
        }                                                                                \
    } while (0)

/* Copies value [v, v+n) into a NUL-terminated buffer.  Return: 0 or -EINVAL (too long). */
static int copy_value(char *dst, size_t size, const char *v, size_t n)
{
    if (n >= size) return -EINVAL;
    memcpy(dst, v, n);
    dst[n] = '\0';
    return 0;
}

static int parse_uint(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s) return -EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -EINVAL;
        if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10) return -EINVAL;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

/* An absolute size (percentages make no sense for a single request or a private threshold). */
static int parse_abs_size(const char *s, uint64_t *out)
{
    mf_size_t sz;
    if (mf_size_parse(s, &sz) != 0 || sz.is_pct) return -EINVAL;
    *out = sz.bytes;
    return 0;
}

static int parse_families(const char *s, unsigned *out)
{
    unsigned fam = 0;
    while (*s) {
        const char *e = strchr(s, '+');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 6 && !memcmp(s, "malloc", 6)) fam |= MF_FAM_MALLOC;
        else if (n == 4 && !memcmp(s, "mmap", 4)) fam |= MF_FAM_MMAP;
        else if (n == 4 && !memcmp(s, "cuda", 4)) fam |= MF_FAM_CUDA;
        else if (n == 3 && !memcmp(s, "all", 3)) fam |= MF_FAM_MALLOC | MF_FAM_MMAP | MF_FAM_CUDA;
        else return -EINVAL;
        if (!e) break;
        s = e + 1;
        if (!*s) return -EINVAL;
    }
    if (!fam) return -EINVAL;
    *out = fam;
    return 0;
}

enum { SEEN_EVERY = 1, SEEN_AFTER = 2, SEEN_PROB = 4, SEEN_SEED = 8, SEEN_SIZE = 16,
       SEEN_COUNT = 32, SEEN_CALLS = 64, SEEN_FROM = 128 };

int mf_fail_parse(const char *spec, mf_fail_spec_t *out, char *why, size_t whylen)
{
    mf_fail_spec_t s;
    unsigned seen = 0;
    memset(&s, 0, sizeof s);
    s.families = MF_FAM_MALLOC | MF_FAM_MMAP | MF_FAM_CUDA;
    s.count = MF_FAIL_NO_COUNT;
    if (why && whylen) why[0] = '\0';
    if (!spec) spec = "";

    const char *p = spec;
    int items = 0;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *it = p;
        while (n && (*it == ' ' || *it == '\t')) { it++; n--; }
        while (n && (it[n - 1] == ' ' || it[n - 1] == '\t')) n--;
        if (n == 0) {
            if (!end && items == 0) {
                why_set(why, whylen, "fail: empty spec%s (want e.g. every=100,size>=1M)", "", 0);
                return -EINVAL;
            }
            why_set(why, whylen, "fail: empty item in '%s'", spec, strlen(spec));
            return -EINVAL;
        }
        items++;

        /* key, operator, value */
        size_t k = 0;
        while (k < n && it[k] != '=' && it[k] != '>' && it[k] != '<') k++;
        const char *key = it;
        size_t keylen = k;
        bool ge = false;
        if (k < n && it[k] == '>' && k + 1 < n && it[k + 1] == '=') { ge = true; k += 2; }
        else if (k < n && it[k] == '=') k += 1;
        else {
            why_set(why, whylen, "fail: '%s' is not KEY=VALUE (keys: every, after, prob, seed, "
                    "size>=, count, calls, from)", it, n);
            return -EINVAL;
        }
        char val[MF_NAME_MAX + 8];
        if (copy_value(val, sizeof val, it + k, n - k) != 0) {
            why_set(why, whylen, "fail: value too long in '%s'", it, n);
            return -EINVAL;
        }
        if (!val[0]) {
            why_set(why, whylen, "fail: '%s' has no value", it, n);
            return -EINVAL;
        }

        unsigned bit = 0;
        int rc = 0;
        const char *want = "";
#define KEY_IS(lit) (keylen == sizeof(lit) - 1 && !memcmp(key, lit, keylen))
        if (KEY_IS("size")) {
            bit = SEEN_SIZE;
            want = "a size like 1M after size>=";
            rc = ge ? parse_abs_size(val, &s.size_min) : -EINVAL;
        } else if (ge) {
            why_set(why, whylen, "fail: '%s': only size takes >= (size>=SIZE)", it, n);
            return -EINVAL;
        } else if (KEY_IS("every")) {
            bit = SEEN_EVERY;
            want = "a whole number >= 1";
            rc = parse_uint(val, &s.every);
            if (rc == 0 && s.every == 0) rc = -EINVAL;
        } else if (KEY_IS("after")) {
            bit = SEEN_AFTER;
            want = "a size like 64M (no percentage)";
            rc = parse_abs_size(val, &s.after);
            if (rc == 0 && s.after == MF_UNLIMITED) rc = -EINVAL;
            s.has_after = true;
        } else if (KEY_IS("prob")) {
            bit = SEEN_PROB;
            want = "a probability between 0 and 1, like 0.01";
            rc = mf_prob_parse(val, &s.prob32);
            s.has_prob = true;
        } else if (KEY_IS("seed")) {
            bit = SEEN_SEED;
            want = "a whole number";
            rc = parse_uint(val, &s.seed);
            s.has_seed = true;
        } else if (KEY_IS("count")) {
            bit = SEEN_COUNT;
            want = "a whole number (0: count calls, fail none)";
            rc = parse_uint(val, &s.count);
            if (rc == 0 && s.count == MF_FAIL_NO_COUNT) rc = -EINVAL;
        } else if (KEY_IS("calls")) {
            bit = SEEN_CALLS;
            want = "families joined by +: malloc, mmap, cuda, all";
            rc = parse_families(val, &s.families);
        } else if (KEY_IS("from")) {
            bit = SEEN_FROM;
            want = "part of a shared object's file name, like libfoo or libpython3.11.so";
            rc = copy_value(s.from, sizeof s.from, val, strlen(val));
            if (rc == 0 && (strchr(val, '/') || strchr(val, ' '))) rc = -EINVAL;
        } else {
            why_set(why, whylen, "fail: unknown item '%s' (keys: every, after, prob, seed, "
                    "size>=, count, calls, from)", it, n);
            return -EINVAL;
        }
#undef KEY_IS
        if (rc != 0) {
            char item[96];
            size_t m = MF_MIN(n, sizeof item - 1);
            memcpy(item, it, m);
            item[m] = '\0';
            if (why && whylen) mf_fmt(why, whylen, "fail: bad '%s': want %s", item, want);
            return -EINVAL;
        }
        if (seen & bit) {
            why_set(why, whylen, "fail: '%s' given twice", it, n);
            return -EINVAL;
        }
        seen |= bit;
        if (!end) break;
        p = end + 1;
    }
    if ((seen & SEEN_SEED) && !(seen & SEEN_PROB)) {
        why_set(why, whylen, "fail: seed=%s needs prob=P", "", 0);
        return -EINVAL;
    }
    *out = s;
    return 0;
}

/* A byte count as the user would write it: with the largest exact K/M/G/T suffix. */
static const char *size_text(uint64_t v, char *buf, size_t size)
{
    static const char suffix[] = "KMGT";
    int i = -1;
    while (i < 3 && v && v % 1024 == 0) { v /= 1024; i++; }
    if (i < 0) mf_fmt(buf, size, "%llu", (unsigned long long)v);
    else mf_fmt(buf, size, "%llu%c", (unsigned long long)v, suffix[i]);
    return buf;
}

size_t mf_fail_format(const mf_fail_spec_t *s, char *buf, size_t size)
{
    size_t n = 0;
    char num[32];
    if (size == 0) return 0;
    buf[0] = '\0';
#define PUT(...) do { if (n < size) n += mf_fmt(buf + n, size - n, __VA_ARGS__); } while (0)
#define SEP() (n ? "," : "")
    if (s->every) PUT("%severy=%llu", SEP(), (unsigned long long)s->every);
    if (s->has_after) PUT("%safter=%s", SEP(), size_text(s->after, num, sizeof num));
    if (s->has_prob) {
        /* prob as a decimal with 6 digits: p32 / 2^32 */
        uint64_t micro = (s->prob32 * 1000000ull + (1ull << 31)) >> 32;
        mf_fmt(num, sizeof num, "%llu.%06llu", (unsigned long long)(micro / 1000000),
               (unsigned long long)(micro % 1000000));
        PUT("%sprob=%s", SEP(), num);
    }
    if (s->has_seed) PUT("%sseed=%llu", SEP(), (unsigned long long)s->seed);
    if (s->size_min) PUT("%ssize>=%s", SEP(), size_text(s->size_min, num, sizeof num));
    if (s->count != MF_FAIL_NO_COUNT) PUT("%scount=%llu", SEP(), (unsigned long long)s->count);
    if (s->families != (MF_FAM_MALLOC | MF_FAM_MMAP | MF_FAM_CUDA)) {
        PUT("%scalls=", SEP());
        const char *plus = "";
        if (s->families & MF_FAM_MALLOC) { PUT("%smalloc", plus); plus = "+"; }
        if (s->families & MF_FAM_MMAP) { PUT("%smmap", plus); plus = "+"; }
        if (s->families & MF_FAM_CUDA) PUT("%scuda", plus);
    }
    if (s->from[0]) PUT("%sfrom=%s", SEP(), s->from);
#undef SEP
#undef PUT
    return MF_MIN(n, size - 1);
}

/* ---- the decision ----------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

bool mf_fail_triggers(const mf_fail_spec_t *s, uint64_t k, uint64_t held, uint64_t req)
{
    if (s->every && k % s->every != 0) return false;
    if (s->has_after && !(held > s->after || req > s->after - held)) return false;
    if (s->has_prob) {
        /* The Kth call's draw depends on (seed, K) only: reproducible whatever else happens. */
        uint64_t draw = splitmix64(s->seed ^ splitmix64(k)) >> 32;
        if (draw >= s->prob32) return false;
    }
    return true;
}

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
