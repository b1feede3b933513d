/* test_lifecycle.c — the process's pure parts (base/proc.c) and the lifecycle's entry
 * (lifecycle/runtime.c) without preloading: the environment readers (the live environ and the
 * start-up snapshot memfence's own threads read), the cgroup walk over a fake hierarchy built to
 * match this process's /proc/self/cgroup, cgroup values ("max", garbage, absent), the memory the
 * process can have, mf_runtime_ensure in each state, and when a thread may have a credit slot.
 *
 * Not testable here: secure-execution mode (mf_getenv's path_like refusal needs a setuid
 * program; AT_SECURE is 0 for this test, so only the ordinary answer is checked), and the
 * constructor, destructor and fork handlers (not built into the archive: tests/integration).
 * Full initialisation from NONE runs every module's init (the ledger writes its row, the sampler
 * arms itself), so it runs in a forked child with its ledger in a temporary folder. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "base/metrics.h"
#include "base/proc.h"
#include "base/size.h"
#include "gate/gate.h"
#include "gate/policy.h"
#include "family/heap.h"
#include "t.h"

extern char **environ;
#define MiB ((uint64_t)1 << 20)

static char tmp[256];

/* ---- environment ------------------------------------------------------------------------ */

static int env_count(void)
{
    int n = 0;
    for (char **e = environ; *e; e++)
        n++;
    return n;
}

static int streq(const char *a, const char *b) { return a && b && !strcmp(a, b); }

static void test_getenv_live(void)
{
    setenv("MEMFENCE_XY", "two", 1);
    setenv("MEMFENCE_X", "one", 1);
    setenv("MEMFENCE_EMPTY", "", 1);
    T_CHECK(streq(mf_getenv("MEMFENCE_X", 0), "one"));
    T_CHECK(streq(mf_getenv("MEMFENCE_XY", 0), "two"));
    T_CHECK(streq(mf_getenv("MEMFENCE_X", 1), "one"));       /* not secure: path_like answers */
    T_CHECK(mf_getenv("MEMFENCE_", 0) == NULL);               /* a prefix of a name is not it */
    T_CHECK(mf_getenv("MEMFENCE_XYZ", 0) == NULL);
    T_CHECK(mf_getenv("MEMFENCE_Y", 0) == NULL);
    T_CHECK(streq(mf_getenv("MEMFENCE_EMPTY", 0), ""));       /* set but empty: "" not NULL */
    unsetenv("MEMFENCE_X");
    T_CHECK(mf_getenv("MEMFENCE_X", 0) == NULL);              /* not MEMFENCE_XY's value */
    T_CHECK(streq(mf_getenv("MEMFENCE_XY", 0), "two"));
    setenv("MEMFENCE_X", "uno", 1);                           /* the live environ: seen at once */
    T_CHECK(streq(mf_getenv("MEMFENCE_X", 0), "uno"));
    setenv("MEMFENCE_X", "one", 1);

    /* mf_env_next walks environ in order, then NULL, and stays at the end */
    size_t pos = 0;
    int n = 0, seen_xy = 0;
    const char *e;
    while ((e = mf_env_next(&pos)) != NULL) {
        T_CHECK(n < env_count() && e == environ[n]);
        seen_xy += streq(e, "MEMFENCE_XY=two");
        n++;
    }
    T_EQ(n, env_count());
    T_EQ(seen_xy, 1);
    T_CHECK(mf_env_next(&pos) == NULL);
}

/* memfence's own threads read the snapshot taken at start-up (mf_proc_init). */
static void test_getenv_snapshot(void)
{
    mf_tls.own_thread = 1;
    T_CHECK(mf_getenv("MEMFENCE_X", 0) == NULL);     /* before start-up took it: nothing */
    size_t pos = 0;
    T_CHECK(mf_env_next(&pos) == NULL);
    mf_tls.own_thread = 0;

    setenv("MEMFENCE_INSTANCE", "unit-lifecycle", 1);
    mf_proc_init();
    T_CHECK(streq(mf_instance_name(), "unit-lifecycle"));
    T_CHECK(streq(mf_program_name(), "test_lifecycle"));
    T_CHECK(strstr(mf_exe_path(), "test_lifecycle") != NULL);
    T_EQ(mf_pid(), getpid());
    int live = env_count();
    setenv("MEMFENCE_LATE", "yes", 1);                /* after the snapshot */
    setenv("MEMFENCE_X", "changed", 1);

    mf_tls.own_thread = 1;
    T_CHECK(streq(mf_getenv("MEMFENCE_X", 0), "one"));
    T_CHECK(streq(mf_getenv("MEMFENCE_XY", 0), "two"));
    T_CHECK(streq(mf_getenv("MEMFENCE_EMPTY", 0), ""));
    T_CHECK(mf_getenv("MEMFENCE_", 0) == NULL);
    T_CHECK(mf_getenv("MEMFENCE_XYZ", 0) == NULL);
    T_CHECK(mf_getenv("MEMFENCE_LATE", 0) == NULL);
    pos = 0;
    int n = 0, seen_x = 0, seen_late = 0;
    const char *e;
    while ((e = mf_env_next(&pos)) != NULL && n < 100000) {
        seen_x += streq(e, "MEMFENCE_X=one");
        seen_late += !strncmp(e, "MEMFENCE_LATE=", 14);
        n++;
    }
    T_EQ(n, live);
    T_EQ(seen_x, 1);
    T_EQ(seen_late, 0);
    T_CHECK(mf_env_next(&pos) == NULL);
    mf_tls.own_thread = 0;
    T_CHECK(streq(mf_getenv("MEMFENCE_LATE", 0), "yes"));   /* program threads: live */
    T_CHECK(streq(mf_getenv("MEMFENCE_X", 0), "changed"));
}

/* ---- cgroups ------------------------------------------------------------------------------- */

#define MAX_DIRS 64
static struct { char dir[1100]; int v2; } want[MAX_DIRS], got[MAX_DIRS];
static int n_want, n_got;

static void collect(const char *dir, int v2, void *ctx)
{
    T_CHECK(ctx == &n_got);
    if (n_got < MAX_DIRS) {
        snprintf(got[n_got].dir, sizeof got[n_got].dir, "%s", dir);
        got[n_got].v2 = v2;
    }
    n_got++;
}

static void add_want(const char *dir, int v2)
{
    if (n_want < MAX_DIRS) {
        snprintf(want[n_want].dir, sizeof want[n_want].dir, "%s", dir);
        want[n_want].v2 = v2;
    }
    n_want++;
}

/* The folders the walk must visit, leaf first, from this process's own /proc/self/cgroup:
 * the v2 line ("0::/path") first, then a v1 line naming the memory controller. */
static void expected_walk_one(const char *root, int want_v2)
{
    char cg[4096];
    FILE *f = fopen("/proc/self/cgroup", "r");
    size_t len = f ? fread(cg, 1, sizeof cg - 1, f) : 0;
    if (f)
        fclose(f);
    cg[len] = 0;
    for (char *line = strtok(cg, "\n"); line; line = strtok(NULL, "\n")) {
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        int v2 = c2 == c1 + 1;
        if (v2 != want_v2 || (!v2 && (c2 - c1 - 1 != 6 || strncmp(c1 + 1, "memory", 6))))
            continue;
        char rel[512], dir[1100];
        snprintf(rel, sizeof rel, "%s", c2 + 1);
        for (;;) {
            snprintf(dir, sizeof dir, "%s%s%s", root, v2 ? "" : "/memory",
                     strcmp(rel, "/") ? rel : "");
            add_want(dir, v2);
            char *slash = strrchr(rel, '/');
            if (!slash || (slash == rel && !rel[1]))
                break;
            if (slash == rel)
                slash[1] = 0;          /* "/a" -> "/" (the root) */
            else
                *slash = 0;
        }
    }
}

static void expected_walk(const char *root)
{
    expected_walk_one(root, 1);
    expected_walk_one(root, 0);
}

static void mkdirs(const char *path)
{
    char p[1100];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            mkdir(p, 0755);
            *s = '/';
        }
    mkdir(p, 0755);
}

static void put(const char *dir, const char *file, const char *text)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "w");
    T_CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_cgroup_value(void)
{
    char d[300];
    snprintf(d, sizeof d, "%s/values", tmp);
    mkdirs(d);
    put(d, "max", "max\n");
    put(d, "num", "123456789\n");
    put(d, "spaced", "  4096\n");
    put(d, "garbage", "garbage\n");
    put(d, "empty", "");
    put(d, "v1nolimit", "9223372036854771712\n");     /* v1's "no limit" */
    put(d, "big", "4611686018427387903\n");           /* 2^62 - 1: still a number */
    T_EQU(mf_cgroup_value(d, "max"), MF_UNLIMITED);
    T_EQU(mf_cgroup_value(d, "num"), 123456789);
    T_EQU(mf_cgroup_value(d, "spaced"), 4096);
    T_EQU(mf_cgroup_value(d, "garbage"), MF_UNLIMITED);
    T_EQU(mf_cgroup_value(d, "empty"), MF_UNLIMITED);
    T_EQU(mf_cgroup_value(d, "absent"), MF_UNLIMITED);
    T_EQU(mf_cgroup_value(d, "v1nolimit"), MF_UNLIMITED);
    T_EQU(mf_cgroup_value(d, "big"), 4611686018427387903ull);
    T_EQU(mf_cgroup_value("/nonexistent/dir", "memory.max"), MF_UNLIMITED);
}

/* Builds the fake hierarchy under tmp/cg, checks the walk's folders, and leaves limits in it
 * for mf_host_memory: "max" at the leaf, garbage one level up, 256 MiB and 512 MiB further. */
static void test_cgroup_walk(void)
{
    char root[300];
    snprintf(root, sizeof root, "%s/cg", tmp);
    mkdirs(root);
    setenv("MEMFENCE_TEST_CGROUP_ROOT", root, 1);
    n_want = n_got = 0;
    expected_walk(root);
    T_CHECK(n_want <= MAX_DIRS);
    fprintf(stderr, "cgroup walk: %d folders expected\n", n_want);
    static const char *vals[] = { "max\n", "garbage\n", "268435456\n", "536870912\n" };
    for (int i = 0; i < n_want && i < MAX_DIRS; i++) {
        mkdirs(want[i].dir);
        /* the tightest (256 MiB) lands on one folder at most once per hierarchy */
        put(want[i].dir, want[i].v2 ? "memory.max" : "memory.limit_in_bytes",
            vals[i % 4]);
    }
    mf_cgroup_walk(collect, &n_got);
    T_EQ(n_got, n_want);
    for (int i = 0; i < n_got && i < n_want && i < MAX_DIRS; i++) {
        T_CHECK(!strcmp(got[i].dir, want[i].dir));
        T_EQ(got[i].v2, want[i].v2);
        if (strcmp(got[i].dir, want[i].dir))
            fprintf(stderr, "  walk %d: %s, expected %s\n", i, got[i].dir, want[i].dir);
    }
    /* each folder once */
    for (int i = 0; i < n_got && i < MAX_DIRS; i++)
        for (int j = i + 1; j < n_got && j < MAX_DIRS; j++)
            T_CHECK(strcmp(got[i].dir, got[j].dir) || got[i].v2 != got[j].v2);

    /* the memory the process can have: min(MemTotal, the tightest limit), cached */
    struct sysinfo si;
    T_EQ(sysinfo(&si), 0);
    uint64_t total = (uint64_t)si.totalram * si.mem_unit;
    uint64_t tight = MF_UNLIMITED;
    for (int i = 0; i < n_want && i < MAX_DIRS; i++)
        if (i % 4 == 2)
            tight = MF_MIN(tight, 256 * MiB);
        else if (i % 4 == 3)
            tight = MF_MIN(tight, 512 * MiB);
    uint64_t hm = mf_host_memory();
    T_CHECK(hm <= total);
    T_CHECK(hm > 0);
    T_EQU(hm, MF_MIN(total, tight));
    for (int i = 0; i < n_want && i < MAX_DIRS; i++)
        put(want[i].dir, want[i].v2 ? "memory.max" : "memory.limit_in_bytes", "4096\n");
    T_EQU(mf_host_memory(), hm);                       /* read once */

    /* no hierarchy at the root given: every value absent; v2 still visits each folder, v1
     * (no memory files in the joined folder: a namespaced view) only the mount */
    char none[300];
    snprintf(none, sizeof none, "%s/none", tmp);
    setenv("MEMFENCE_TEST_CGROUP_ROOT", none, 1);
    int n_v2 = 0, has_v1 = 0;
    for (int i = 0; i < n_want && i < MAX_DIRS; i++) {
        n_v2 += want[i].v2;
        has_v1 |= !want[i].v2;
    }
    n_got = 0;
    mf_cgroup_walk(collect, &n_got);
    T_EQ(n_got, n_v2 + has_v1);
    if (has_v1 && n_got == n_v2 + 1) {
        char mnt[320];
        snprintf(mnt, sizeof mnt, "%s/memory", none);
        T_CHECK(!strcmp(got[n_got - 1].dir, mnt));
    }
    unsetenv("MEMFENCE_TEST_CGROUP_ROOT");
}

/* ---- runtime ------------------------------------------------------------------------------ */

static _Atomic int waiter_done, waiter_state = -1;

static void *waiter(void *arg)
{
    (void)arg;
    atomic_store(&waiter_state, mf_runtime_ensure());
    atomic_store(&waiter_done, 1);
    return NULL;
}

static void test_ensure(void)
{
    /* past initialisation, each state is returned as it is, and nothing is initialised */
    static const int states[] = { MF_STATE_COUNTING, MF_STATE_READY, MF_STATE_DISABLED };
    for (size_t i = 0; i < MF_ARRAY_LEN(states); i++) {
        atomic_store(&mf_state, states[i]);
        T_EQ(mf_runtime_ensure(), states[i]);
    }
    T_CHECK(mf_backend.malloc == NULL);                  /* do_init never ran */
    T_EQU(mf_policy_flags & MF_POLICY_NOT_READY, MF_POLICY_NOT_READY);

    /* another thread is initialising: wait for it, then return its result */
    atomic_store(&mf_state, MF_STATE_RESOLVING);
    pthread_t t;
    pthread_create(&t, NULL, waiter, NULL);
    struct timespec ts = { 0, 30 * 1000000L };
    nanosleep(&ts, NULL);
    T_EQ(atomic_load(&waiter_done), 0);                  /* still waiting */
    atomic_store(&mf_state, MF_STATE_READY);
    pthread_join(t, NULL);
    T_EQ(atomic_load(&waiter_state), MF_STATE_READY);
    T_CHECK(mf_backend.malloc == NULL);

    /* from NONE: the whole initialisation, in a child (the modules' init has effects) */
    atomic_store(&mf_state, MF_STATE_NONE);
    char ledger[300];
    snprintf(ledger, sizeof ledger, "%s/ledger", tmp);
    mkdirs(ledger);
    pid_t pid = fork();
    if (pid == 0) {
        setenv("MEMFENCE_LEDGER_DIR", ledger, 1);
        setenv("MEMFENCE_LIMIT", "64M", 1);
        setenv("MEMFENCE_ON_LIMIT", "warn", 1);
        int bad = 0;
        int st = mf_runtime_ensure();
        bad |= (st != MF_STATE_READY) << 0;
        bad |= (atomic_load(&mf_state) != MF_STATE_READY) << 1;
        bad |= (mf_backend.malloc == NULL) << 2;
        bad |= ((mf_policy_flags & MF_POLICY_NOT_READY) != 0) << 3;
        bad |= (mf_gate_limit(MF_POOL_HOST) != 64 * MiB) << 4;
        bad |= (mf_heap_big != 64 * MiB || !mf_heap_warn_only) << 5;
        bad |= (mf_runtime_ensure() != MF_STATE_READY) << 6;   /* once */
        _exit(bad);
    }
    int status = 0;
    T_EQ(waitpid(pid, &status, 0), pid);
    T_CHECK(WIFEXITED(status));
    T_EQ(WEXITSTATUS(status), 0);
    atomic_store(&mf_state, MF_STATE_READY);
}

static void test_slot(void)
{
    mf_gate_reset();
    mf_thread_slot_set(NULL);
    static const int states[] = { MF_STATE_NONE, MF_STATE_RESOLVING, MF_STATE_COUNTING,
                                  MF_STATE_DISABLED };
    for (size_t i = 0; i < MF_ARRAY_LEN(states); i++) {
        atomic_store(&mf_state, states[i]);
        T_CHECK(mf_thread_slot_get() == NULL);          /* before READY: none */
        T_CHECK(mf_thread_slot() == NULL);
    }
    atomic_store(&mf_state, MF_STATE_READY);
    mf_tls.depth = 1;
    T_CHECK(mf_thread_slot_get() == NULL);              /* inside memfence: none */
    mf_tls.depth = 0;
    mf_tls.exiting = 1;
    T_CHECK(mf_thread_slot_get() == NULL);              /* the thread's destructors ran */
    mf_tls.exiting = 0;
    unsigned flags0 = atomic_load(&mf_policy_flags);
    mf_policy_set(MF_POLICY_NOT_READY, 1);
    T_CHECK(mf_thread_slot_get() == NULL);              /* the modules are still starting */
    mf_policy_set(MF_POLICY_NOT_READY | MF_POLICY_PROFILE, 0);
    T_CHECK(mf_tls.slot == NULL);
    T_CHECK(mf_tls.alloc_slot == &mf_slot_none);        /* malloc's inline path: none, never NULL */
    T_CHECK(mf_tls.free_slot == NULL);
    mf_slot_t *s = mf_thread_slot_get();
    T_CHECK(s != NULL);
    T_CHECK(mf_tls.slot == s);
    T_CHECK(mf_tls.alloc_slot == s && mf_tls.free_slot == s);
    mf_thread_slot_set(NULL);
    T_CHECK(mf_tls.alloc_slot == &mf_slot_none && mf_tls.free_slot == NULL);
    mf_policy_set(MF_POLICY_PROFILE, 1);                 /* profiling: frees out of line */
    mf_thread_slot_set(s);
    T_CHECK(mf_tls.alloc_slot == s && mf_tls.free_slot == NULL);
    mf_policy_set(MF_POLICY_PROFILE, 0);
    mf_thread_slot_set(s);
    T_EQ(mf_tls.tid, gettid());
    T_CHECK(mf_thread_slot() == s);                     /* kept */
    T_EQ(mf_gate_charge(s, 1000), 0);
    T_EQU(mf_gate_used(MF_POOL_HOST), 1000);
    mf_gate_uncharge(s, 1000);
    mf_thread_slot_set(NULL);
    mf_gate_slot_release(s);
    T_EQU(mf_gate_used(MF_POOL_HOST), 0);
    atomic_store(&mf_policy_flags, flags0);
}

int main(void)
{
    const char *base = getenv("MF_TMP");
    snprintf(tmp, sizeof tmp, "%s/mf-lifecycle.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    test_getenv_live();
    test_getenv_snapshot();
    test_cgroup_value();
    test_cgroup_walk();
    test_ensure();
    test_slot();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp);
    return t_done();
}
