/* proc.c — the process as memfence sees it: its threads' state, environment, identity, clock
 * and the memory it can really have (see proc.h).
 */
#include <errno.h>
#include <link.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/sysinfo.h>
#include <time.h>

#include "base/log.h"
#include "base/proc.h"
#include "base/size.h"
#include "base/stats.h"
#include "base/sys.h"

mf_slot_t mf_slot_none = { .lease = MF_LEASE_REVOKED, .floor = INT64_MAX };
__thread mf_tls_t mf_tls __attribute__((tls_model("initial-exec"))) = {
    .alloc_slot = &mf_slot_none,
};
_Atomic int mf_state;
mf_stats_t mf_stats;

static pid_t cur_pid;
static char program[MF_NAME_MAX] = "?";
static char instance[MF_NAME_MAX];
static char exe[512];
extern char **environ;

/* ---- environment ------------------------------------------------------------------------ */

/* Before libc has set `environ` (an allocation made while the loader relocates), variables are
 * read from a snapshot of /proc/self/environ in memory memfence maps for itself. */
static char *env_snapshot;
static size_t env_snapshot_len;

static const char *env_lookup(char *const *env, const char *name, size_t nl)
{
    for (; env && *env; env++)
        if (!strncmp(*env, name, nl) && (*env)[nl] == '=')
            return *env + nl + 1;
    return NULL;
}

/* Copies the environment into memory memfence maps for itself, sized to it.  Taken at start-up
 * (before the program runs: a mapping made later could land among the program's own), from
 * `environ` when the C library has set it, else from /proc/self/environ. */
static void env_take_snapshot(void)
{
    if (env_snapshot)
        return;
    size_t need = 0;
    for (char **e = environ; e && *e; e++)
        need += strlen(*e) + 1;
    size_t cap = environ ? need + 1 : (size_t)1 << 20;
    cap = (cap + 4095) & ~(size_t)4095;
    char *buf = mf_sys_mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mf_sys_mmap_failed(buf))
        return;
    size_t len = 0;
    if (environ) {
        for (char **e = environ; *e; e++) {
            size_t l = strlen(*e) + 1;
            memcpy(buf + len, *e, l);
            len += l;
        }
    } else {
        long n = mf_sys_read_file("/proc/self/environ", buf, cap);
        len = n > 0 ? (size_t)n : 0;
    }
    env_snapshot_len = len;
    __atomic_store_n(&env_snapshot, buf, __ATOMIC_RELEASE);   /* length first */
}

const char *mf_getenv(const char *name, int path_like)
{
    if (path_like && getauxval(AT_SECURE))
        return NULL;
    size_t nl = strlen(name);
    if (environ && !mf_tls.own_thread)
        return env_lookup(environ, name, nl);
    const char *snap = __atomic_load_n(&env_snapshot, __ATOMIC_ACQUIRE);
    if (!snap)
        return NULL;    /* only before start-up took it (the loader's earliest calls) */
    for (size_t i = 0; i < env_snapshot_len;) {
        const char *e = snap + i;
        size_t l = strnlen(e, env_snapshot_len - i);
        if (l > nl && !strncmp(e, name, nl) && e[nl] == '=')
            return e + nl + 1;
        i += l + 1;
    }
    return NULL;
}

const char *mf_env_next(size_t *pos)
{
    if (environ && !mf_tls.own_thread) {
        const char *e = environ[*pos];
        if (e)
            (*pos)++;
        return e;
    }
    const char *snap = __atomic_load_n(&env_snapshot, __ATOMIC_ACQUIRE);
    if (!snap || *pos >= env_snapshot_len)
        return NULL;
    const char *e = snap + *pos;
    *pos += strnlen(e, env_snapshot_len - *pos) + 1;
    return *e ? e : NULL;
}

/* ---- identity --------------------------------------------------------------------------- */

static void read_identity(void)
{
    cur_pid = mf_sys_getpid();
    char buf[512];
    /* argv[0]: libc's copy once it has started (the constructor, nearly always), else the
     * kernel's (an allocation before libc's own initialisation) */
    long n = 0;
    if (program_invocation_name && *program_invocation_name)
        n = mf_fmt(buf, sizeof buf, "%s", program_invocation_name);
    else
        n = mf_sys_read_file("/proc/self/cmdline", buf, sizeof buf);
    if (n > 0) {
        const char *base = buf;
        for (const char *p = buf; *p; p++)
            if (*p == '/')
                base = p + 1;
        mf_fmt(program, sizeof program, "%s", base);
    }
    n = mf_syscall6(SYS_readlink, (long)"/proc/self/exe", (long)exe, sizeof exe - 1, 0, 0, 0);
    exe[n > 0 ? n : 0] = '\0';
    const char *inst = mf_getenv("MEMFENCE_INSTANCE", 0);
    mf_fmt(instance, sizeof instance, "%s", inst && *inst ? inst : program);
}

const char *mf_instance_name(void) { return instance[0] ? instance : program; }
const char *mf_program_name(void) { return program; }
const char *mf_exe_path(void) { return exe; }
pid_t mf_pid(void) { return cur_pid ? cur_pid : mf_sys_getpid(); }

/* ---- start-up and fork ------------------------------------------------------------------- */

/* ld.so's loaded extent: the object at the interpreter's base (AT_BASE). */
static uintptr_t loader_lo, loader_hi;

static int find_loader(struct dl_phdr_info *info, size_t size, void *arg)
{
    if (info->dlpi_addr != *(uintptr_t *)arg)
        return 0;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        lo = MF_MIN(lo, info->dlpi_addr + ph->p_vaddr);
        hi = MF_MAX(hi, info->dlpi_addr + ph->p_vaddr + ph->p_memsz);
    }
    if (hi > lo) {
        loader_lo = lo;
        loader_hi = hi;
    }
    return 1;
}

bool mf_in_loader(const void *pc)
{
    return (uintptr_t)pc - loader_lo < loader_hi - loader_lo;
}

void mf_proc_init(void)
{
    env_take_snapshot();
    read_identity();
    uintptr_t base = (uintptr_t)getauxval(AT_BASE);
    if (base)
        dl_iterate_phdr(find_loader, &base);
}

void mf_proc_fork_child(void)
{
    cur_pid = mf_sys_getpid();
    mf_tls.tid = mf_sys_gettid();
}
