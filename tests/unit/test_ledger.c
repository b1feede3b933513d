/* test_ledger.c — the shared ledger without preloading anything: files and their validation
 * (symlink, wrong owner, wrong mode, corrupt header, a creator that died half-way), slots, the
 * group budget across real forked processes, reservations, reclamation of dead members, the
 * repair after a member died holding the lock, a SIGKILL storm, and the metrics text. */
#include <errno.h>
#include <time.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ledger/ledger.h"
#include "t.h"

static char dir[256];

static void path_of(const char *group, char *buf, size_t size)
{
    T_EQ(mf_ledger_path(dir, getuid(), group, buf, size), 0);
}

static void test_names(void)
{
    T_CHECK(mf_ledger_group_valid("models"));
    T_CHECK(mf_ledger_group_valid("a.b_c-9"));
    T_CHECK(!mf_ledger_group_valid(""));
    T_CHECK(!mf_ledger_group_valid(".hidden"));
    T_CHECK(!mf_ledger_group_valid("a/b"));
    T_CHECK(!mf_ledger_group_valid("a b"));
    T_CHECK(!mf_ledger_group_valid("0123456789012345678901234567890123456789012345678901234567890123"));
    char buf[512];
    T_EQ(mf_ledger_path("/x", 7, "g1", buf, sizeof buf), 0);
    T_CHECK(!strcmp(buf, "/x/memfence-v2-7-g-g1.ledger"));
    T_EQ(mf_ledger_path("/x", 7, "", buf, sizeof buf), 0);
    T_CHECK(!strcmp(buf, "/x/memfence-v2-7-solo.ledger"));
    T_EQ(mf_ledger_path("/x", 7, "../etc", buf, sizeof buf), -EINVAL);
    T_EQ(mf_ledger_path("/x", 7, "g", buf, 10), -ENAMETOOLONG);
}

static void test_create_and_reopen(void)
{
    char p[512], why[512];
    path_of("basic", p, sizeof p);
    mf_ledger_t a, b;
    T_EQ(mf_ledger_open(p, "basic", false, &a, why, sizeof why), -ENOENT);
    T_EQ(mf_ledger_open(p, "basic", true, &a, why, sizeof why), 0);
    struct stat st;
    T_EQ(lstat(p, &st), 0);
    T_EQ(st.st_mode & 0777, 0600);
    T_EQU(st.st_size, MF_LEDGER_FILE_SIZE(MF_LEDGER_SLOTS));
    T_EQ(mf_ledger_open(p, "basic", true, &b, why, sizeof why), 0);
    T_CHECK(b.hdr && b.hdr->magic == MF_LEDGER_MAGIC);
    /* same file, another mapping: what one writes the other sees */
    int s = mf_ledger_claim(&a, getpid(), mf_ledger_proc_start(getpid()), "me", "test", 0);
    T_CHECK(s >= 0);
    T_EQ(atomic_load(&b.slots[s].state), MF_LSLOT_LIVE);
    /* the same process claiming again (as after an exec) replaces its old slot */
    int s2 = mf_ledger_claim(&b, getpid(), mf_ledger_proc_start(getpid()), "me2", "test", 0);
    T_CHECK(s2 >= 0);
    unsigned live = 0;
    for (unsigned i = 0; i < MF_LEDGER_SLOTS; i++)
        live += atomic_load(&a.slots[i].state) == MF_LSLOT_LIVE;
    T_EQ(live, 1);
    /* another group's name in the header is refused */
    mf_ledger_t c;
    T_EQ(mf_ledger_open(p, "other", false, &c, why, sizeof why), -EPROTO);
    mf_ledger_release(&a, (unsigned)s2);
    mf_ledger_close(&a);
    mf_ledger_close(&b);
}

static void test_hostile(void)
{
    char p[512], why[512];
    mf_ledger_t l;

    /* a symbolic link in its place */
    path_of("sym", p, sizeof p);
    char target[512];
    snprintf(target, sizeof target, "%s/target", dir);
    close(open(target, O_CREAT | O_WRONLY, 0600));
    T_EQ(symlink(target, p), 0);
    T_EQ(mf_ledger_open(p, "sym", true, &l, why, sizeof why), -ELOOP);
    T_CHECK(strstr(why, "symbolic link") != NULL);
    struct stat st;
    T_EQ(stat(target, &st), 0);
    T_EQ(st.st_size, 0);                /* the target was not touched */

    /* group- or world-accessible */
    path_of("mode", p, sizeof p);
    T_EQ(mf_ledger_open(p, "mode", true, &l, why, sizeof why), 0);
    mf_ledger_close(&l);
    chmod(p, 0644);
    T_EQ(mf_ledger_open(p, "mode", true, &l, why, sizeof why), -EPERM);
    T_CHECK(strstr(why, "mode 644") != NULL);

    /* owned by another user (needs root to make one) */
    path_of("owner", p, sizeof p);
    T_EQ(mf_ledger_open(p, "owner", true, &l, why, sizeof why), 0);
    mf_ledger_close(&l);
    if (getuid() == 0 && chown(p, 65534, 65534) == 0) {
        T_EQ(mf_ledger_open(p, "owner", true, &l, why, sizeof why), -EPERM);
        T_CHECK(strstr(why, "owned by uid 65534") != NULL);
    }

    /* corrupt header, wrong size, garbage */
    path_of("corrupt", p, sizeof p);
    T_EQ(mf_ledger_open(p, "corrupt", true, &l, why, sizeof why), 0);
    mf_ledger_close(&l);
    int fd = open(p, O_RDWR);
    uint64_t junk = 0x1234;
    T_EQ(pwrite(fd, &junk, sizeof junk, 0), (ssize_t)sizeof junk);
    T_EQ(mf_ledger_open(p, "corrupt", true, &l, why, sizeof why), -EPROTO);
    T_CHECK(strstr(why, "bad header") != NULL);
    T_EQ(ftruncate(fd, 4096), 0);
    T_EQ(mf_ledger_open(p, "corrupt", true, &l, why, sizeof why), -EPROTO);
    T_CHECK(strstr(why, "size 4096") != NULL);
    T_EQ(ftruncate(fd, 0), 0);
    T_EQ(ftruncate(fd, (off_t)MF_LEDGER_FILE_SIZE(MF_LEDGER_SLOTS)), 0);
    char rnd[4096];
    for (size_t i = 0; i < sizeof rnd; i++)
        rnd[i] = (char)(i * 131 + 7);
    for (off_t off = 0; off < (off_t)MF_LEDGER_FILE_SIZE(MF_LEDGER_SLOTS); off += sizeof rnd)
        T_EQ(pwrite(fd, rnd, sizeof rnd, off), (ssize_t)sizeof rnd);
    T_EQ(mf_ledger_open(p, "corrupt", false, &l, why, sizeof why), -ETIMEDOUT);  /* ready != 1 */
    close(fd);

    /* a directory in its place */
    path_of("dir", p, sizeof p);
    T_EQ(mkdir(p, 0700), 0);
    T_CHECK(mf_ledger_open(p, "dir", true, &l, why, sizeof why) < 0);

    /* a creator that died between create and ready: the next opener re-creates it */
    path_of("halfway", p, sizeof p);
    fd = open(p, O_RDWR | O_CREAT | O_EXCL, 0600);
    T_EQ(ftruncate(fd, (off_t)MF_LEDGER_FILE_SIZE(MF_LEDGER_SLOTS)), 0);
    /* no pid written and 10 s old: dead (a fresh pid-less file is a slow creator, not a dead one) */
    struct timespec old[2] = { { time(NULL) - 10, 0 }, { time(NULL) - 10, 0 } };
    T_EQ(futimens(fd, old), 0);
    close(fd);
    T_EQ(mf_ledger_open(p, "halfway", true, &l, why, sizeof why), 0);
    if (l.hdr) {
        T_EQ(atomic_load(&l.hdr->ready), 1);
        T_CHECK(!strcmp(l.hdr->group, "halfway"));
        mf_ledger_close(&l);
    }
}

/* A forked member: claims a slot in group path, charges `n`, reports through a pipe, then
 * waits for the parent to kill it (or exits when told). */
static pid_t member(const char *p, const char *group, uint64_t n, int *rc_out)
{
    int fds[2];
    if (pipe(fds))
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        mf_ledger_t l;
        int rc = mf_ledger_open(p, group, true, &l, NULL, 0);
        int s = rc ? rc : mf_ledger_claim(&l, getpid(), mf_ledger_proc_start(getpid()), "child",
                                          "test", MF_LFLAG_GROUPED);
        rc = s < 0 ? s : mf_ledger_charge(&l, (unsigned)s, MF_POOL_HOST, n, 0);
        if (write(fds[1], &rc, sizeof rc) != sizeof rc)
            _exit(3);
        pause();
        _exit(0);
    }
    close(fds[1]);
    int rc = -999;
    if (read(fds[0], &rc, sizeof rc) != sizeof rc)
        rc = -998;
    close(fds[0]);
    *rc_out = rc;
    return pid;
}

static void kill_wait(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static void test_group_budget(void)
{
    char p[512], why[512];
    path_of("budget", p, sizeof p);
    mf_ledger_t l;
    T_EQ(mf_ledger_open(p, "budget", true, &l, why, sizeof why), 0);
    int me = mf_ledger_claim(&l, getpid(), mf_ledger_proc_start(getpid()), "parent", "test",
                             MF_LFLAG_GROUPED);
    T_CHECK(me >= 0);
    T_EQ(mf_ledger_set_limit(&l, (unsigned)me, MF_POOL_HOST, 1000, false, NULL), 0);
    T_EQ(mf_ledger_charge(&l, (unsigned)me, MF_POOL_HOST, 600, 0), 0);

    int rc;
    pid_t a = member(p, "budget", 500, &rc);
    T_EQ(rc, -ENOMEM);                  /* 600 + 500 > 1000: refused */
    T_EQ(atomic_load(&l.hdr->total[MF_POOL_HOST]), 600);
    T_EQ(mf_ledger_uncharge(&l, (unsigned)me, MF_POOL_HOST, 200), 0);
    pid_t b = member(p, "budget", 500, &rc);
    T_EQ(rc, 0);                        /* 400 + 500 fits */
    T_EQ(atomic_load(&l.hdr->total[MF_POOL_HOST]), 900);
    T_EQ(mf_ledger_charge(&l, (unsigned)me, MF_POOL_HOST, 101, 0), -ENOMEM);
    T_EQ(mf_ledger_charge(&l, (unsigned)me, MF_POOL_HOST, 100, 0), 0);
    T_EQ(mf_ledger_verify(&l), 0);

    /* a member that dies: its share comes back at the next reclaim */
    kill_wait(b);
    T_EQ(mf_ledger_reclaim(&l), 1);
    T_EQ(atomic_load(&l.hdr->total[MF_POOL_HOST]), 500);
    T_EQ(mf_ledger_verify(&l), 0);
    kill_wait(a);
    mf_ledger_reclaim(&l);

    /* a second member's limit does not override the live one's */
    uint64_t kept = 0;
    pid_t c = member(p, "budget", 0, &rc);
    T_EQ(rc, 0);
    int cs = -1;
    for (unsigned i = 0; i < MF_LEDGER_SLOTS; i++)
        if (atomic_load(&l.slots[i].state) == MF_LSLOT_LIVE && l.slots[i].pid == c)
            cs = (int)i;
    T_CHECK(cs >= 0);
    T_EQ(mf_ledger_set_limit(&l, (unsigned)cs, MF_POOL_HOST, 5000, false, &kept), -EEXIST);
    T_EQU(kept, 1000);
    kill_wait(c);
    T_EQ(mf_ledger_reclaim(&l), 1);

    /* GPU pools are separate budgets */
    T_EQ(mf_ledger_set_limit(&l, (unsigned)me, MF_POOL_GPU0, 100, false, NULL), 0);
    T_EQ(mf_ledger_charge(&l, (unsigned)me, MF_POOL_GPU0, 100, 0), 0);
    T_EQ(mf_ledger_charge(&l, (unsigned)me, MF_POOL_GPU0, 1, 0), -ENOMEM);
    T_EQ(mf_ledger_charge(&l, (unsigned)me, MF_POOL_HOST, 1, 0), 0);

    mf_ledger_release(&l, (unsigned)me);
    T_EQ(atomic_load(&l.hdr->total[MF_POOL_HOST]), 0);
    T_EQ(atomic_load(&l.hdr->total[MF_POOL_GPU0]), 0);
    T_CHECK(atomic_load(&l.hdr->refusals) >= 3);
    mf_ledger_close(&l);
}

static void test_reserve(void)
{
    char p[512], why[512], report[1024];
    path_of("reserve", p, sizeof p);
    mf_ledger_t l;
    T_EQ(mf_ledger_open(p, "reserve", true, &l, why, sizeof why), 0);
    int s = mf_ledger_claim(&l, getpid(), mf_ledger_proc_start(getpid()), "first", "test",
                            MF_LFLAG_GROUPED);
    T_EQ(mf_ledger_set_limit(&l, (unsigned)s, MF_POOL_HOST, 1000, false, NULL), 0);
    T_EQ(mf_ledger_admit(&l, (unsigned)s, 700, 15, report, sizeof report), 0);
    T_EQ(atomic_load(&l.hdr->total[MF_POOL_HOST]), 700);
    /* charges inside the reservation do not grow the group's total */
    T_EQ(mf_ledger_charge(&l, (unsigned)s, MF_POOL_HOST, 500, 0), 0);
    T_EQ(atomic_load(&l.hdr->total[MF_POOL_HOST]), 700);
    T_EQ(mf_ledger_charge(&l, (unsigned)s, MF_POOL_HOST, 300, 0), 0);
    T_EQ(atomic_load(&l.hdr->total[MF_POOL_HOST]), 800);
    T_EQ(mf_ledger_uncharge(&l, (unsigned)s, MF_POOL_HOST, 800), 0);
    T_EQ(atomic_load(&l.hdr->total[MF_POOL_HOST]), 700);   /* the reservation stays */

    /* a second instance asking for more than is left is refused admission */
    int rc;
    pid_t c = member(p, "reserve", 0, &rc);
    int cs = -1;
    for (unsigned i = 0; i < MF_LEDGER_SLOTS; i++)
        if (atomic_load(&l.slots[i].state) == MF_LSLOT_LIVE && l.slots[i].pid == c)
            cs = (int)i;
    T_CHECK(cs >= 0);
    T_EQ(mf_ledger_admit(&l, (unsigned)cs, 400, 15, report, sizeof report), -ENOSPC);
    T_CHECK(strstr(report, "needed:") && strstr(report, "available:") &&
            strstr(report, "safety margin:") && strstr(report, "to change:"));
    T_CHECK(strstr(report, "first[") != NULL);
    T_EQ(mf_ledger_admit(&l, (unsigned)cs, 300, 15, report, sizeof report), 0);
    T_EQ(atomic_load(&l.hdr->total[MF_POOL_HOST]), 1000);
    T_EQ(mf_ledger_charge(&l, (unsigned)s, MF_POOL_HOST, 701, 0), -ENOMEM);
    kill_wait(c);
    T_EQ(mf_ledger_reclaim(&l), 1);
    T_EQ(atomic_load(&l.hdr->total[MF_POOL_HOST]), 700);
    mf_ledger_release(&l, (unsigned)s);
    T_EQ(atomic_load(&l.hdr->total[MF_POOL_HOST]), 0);
    mf_ledger_close(&l);
}

/* A member killed while it holds the lock, after changing its slot but not the total: the next
 * locker sees EOWNERDEAD and recomputes the totals. */
static void test_owner_dead(void)
{
    char p[512], why[512];
    path_of("ownerdead", p, sizeof p);
    mf_ledger_t l;
    T_EQ(mf_ledger_open(p, "ownerdead", true, &l, why, sizeof why), 0);
    int s = mf_ledger_claim(&l, getpid(), mf_ledger_proc_start(getpid()), "p", "test", 0);
    T_EQ(mf_ledger_charge(&l, (unsigned)s, MF_POOL_HOST, 100, 0), 0);
    pid_t pid = fork();
    if (pid == 0) {
        pthread_mutex_lock(&l.hdr->u.lock);
        atomic_store(&l.slots[s].charged[MF_POOL_HOST], 250);
        atomic_store(&l.hdr->total[MF_POOL_HOST], 99999);
        raise(SIGKILL);
    }
    waitpid(pid, NULL, 0);
    T_EQ(mf_ledger_charge(&l, (unsigned)s, MF_POOL_HOST, 50, 0), 0);  /* repaired, then charged */
    T_EQ(atomic_load(&l.hdr->total[MF_POOL_HOST]), 300);
    T_EQ(mf_ledger_verify(&l), 0);

    /* a holder stopped inside the lock: given up on after MF_LEDGER_LOCK_NS, not waited for
     * as long as a running one would be (MF_LEDGER_LOCK_MAX_NS) */
    int go[2];
    T_EQ(pipe(go), 0);
    pid = fork();
    if (pid == 0) {
        pthread_mutex_lock(&l.hdr->u.lock);
        if (write(go[1], "x", 1) != 1)
            _exit(1);
        raise(SIGSTOP);
        pthread_mutex_unlock(&l.hdr->u.lock);
        _exit(0);
    }
    char x;
    T_EQ(read(go[0], &x, 1), 1);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    T_EQ(mf_ledger_charge(&l, (unsigned)s, MF_POOL_HOST, 1, 0), -ETIMEDOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    T_CHECK(t1.tv_sec - t0.tv_sec < 6);
    kill(pid, SIGCONT);
    waitpid(pid, NULL, 0);
    T_EQ(mf_ledger_charge(&l, (unsigned)s, MF_POOL_HOST, 1, 0), 0);
    T_EQ(atomic_load(&l.hdr->total[MF_POOL_HOST]), 301);
    close(go[0]);
    close(go[1]);
    mf_ledger_release(&l, (unsigned)s);
    mf_ledger_close(&l);
}

/* Hundreds of members SIGKILLed at random points while the survivors charge and uncharge: after
 * each reclaim the totals equal the sum of the live slots, and 0 once all are gone. */
static void test_kill_storm(void)
{
    char p[512], why[512];
    path_of("storm", p, sizeof p);
    mf_ledger_t l;
    T_EQ(mf_ledger_open(p, "storm", true, &l, why, sizeof why), 0);
    int me = mf_ledger_claim(&l, getpid(), mf_ledger_proc_start(getpid()), "parent", "test", 0);
    T_EQ(mf_ledger_set_limit(&l, (unsigned)me, MF_POOL_HOST, 64 << 20, false, NULL), 0);
    enum { LIVE = 8, KILLS = 300 };
    pid_t kids[LIVE] = { 0 };
    unsigned seed = 12345;
    int bad = 0;
    for (int k = 0; k < KILLS + LIVE; k++) {
        int i = k % LIVE;
        if (kids[i]) {
            kill(kids[i], SIGKILL);
            waitpid(kids[i], NULL, 0);
            kids[i] = 0;
        }
        if (k >= KILLS)
            continue;
        pid_t pid = fork();
        if (pid == 0) {
            mf_ledger_t c;
            if (mf_ledger_open(p, "storm", true, &c, NULL, 0))
                _exit(1);
            int s = mf_ledger_claim(&c, getpid(), mf_ledger_proc_start(getpid()), "kid", "t",
                                    MF_LFLAG_GROUPED);
            if (s < 0)
                _exit(2);
            unsigned r = (unsigned)getpid();
            uint64_t held = 0;
            for (;;) {
                r = r * 1103515245u + 12345u;
                uint64_t n = (r >> 8) % 65536;
                if ((r & 3) && mf_ledger_charge(&c, (unsigned)s, MF_POOL_HOST, n, 0) == 0) {
                    held += n;
                } else if (held) {
                    mf_ledger_uncharge(&c, (unsigned)s, MF_POOL_HOST, MF_MIN(n, held));
                    held -= MF_MIN(n, held);
                }
            }
        }
        kids[i] = pid;
        seed = seed * 1103515245u + 12345u;
        usleep(200 + seed % 3000);
        if (k % 50 == 49) {
            mf_ledger_reclaim(&l);
            bad += mf_ledger_verify(&l) != 0;
        }
    }
    mf_ledger_reclaim(&l);
    T_EQ(bad, 0);
    T_EQ(mf_ledger_verify(&l), 0);
    T_EQ(atomic_load(&l.hdr->total[MF_POOL_HOST]), 0);   /* only the parent is left, with 0 */
    unsigned live = 0;
    for (unsigned i = 0; i < MF_LEDGER_SLOTS; i++)
        live += atomic_load(&l.slots[i].state) == MF_LSLOT_LIVE;
    T_EQ(live, 1);
    T_CHECK(atomic_load(&l.hdr->reclaimed) >= KILLS - 10);
    mf_ledger_release(&l, (unsigned)me);
    mf_ledger_close(&l);
}

static void test_scan_and_metrics(void)
{
    char p[512], why[512];
    path_of("scan", p, sizeof p);
    mf_ledger_t l;
    T_EQ(mf_ledger_open(p, "scan", true, &l, why, sizeof why), 0);
    int s = mf_ledger_claim(&l, getpid(), mf_ledger_proc_start(getpid()), "we\"ird\\name",
                            "test", MF_LFLAG_GROUPED);
    T_EQ(mf_ledger_set_limit(&l, (unsigned)s, MF_POOL_HOST, 1 << 20, false, NULL), 0);
    T_EQ(mf_ledger_charge(&l, (unsigned)s, MF_POOL_HOST, 4096, 0), 0);
    l.slots[s].pub.used[0] = 4096;
    l.slots[s].pub.budget[0] = MF_UNLIMITED;
    l.slots[s].pub.level = 2;
    l.slots[s].pub.refusals = 3;

    mf_ledger_row_t rows[16];
    mf_ledger_group_t groups[16];
    size_t ng = 0;
    char warn[1024];
    int n = mf_ledger_scan(dir, NULL, rows, 16, groups, 16, &ng, warn, sizeof warn);
    T_CHECK(n >= 1);
    int found = -1;
    for (int i = 0; i < n; i++)
        if (!strcmp(rows[i].group, "scan"))
            found = i;
    T_CHECK(found >= 0);
    T_CHECK(strstr(warn, "symbolic link") != NULL);   /* from test_hostile's files */
    n = mf_ledger_scan(dir, "scan", rows, 16, groups, 16, &ng, NULL, 0);
    T_EQ(n, 1);
    T_EQ(ng, 1);
    T_EQ(groups[0].members, 1);
    T_EQU(groups[0].limit[0], 1 << 20);
    T_EQU(groups[0].total[0], 4096);
    T_EQ(rows[0].pub.level, 2);

    char text[16384];
    bool cut = true;
    size_t len = mf_ledger_metrics_text(text, sizeof text, rows, 1, groups, ng, &cut);
    T_CHECK(!cut);
    T_EQU(len, strlen(text));
    T_CHECK(strstr(text, "# TYPE memfence_usage_bytes gauge\n") != NULL);
    T_CHECK(strstr(text, "memfence_usage_bytes{instance=\"we\\\"ird\\\\name\",group=\"scan\",pid=\"") != NULL);
    T_CHECK(strstr(text, "memfence_refusals_total{") != NULL);
    T_CHECK(strstr(text, "memfence_group_limit_bytes{group=\"scan\",pool=\"host\"} 1048576\n") != NULL);
    T_CHECK(strstr(text, "memfence_budget_bytes{") == NULL);   /* unlimited: absent */
    /* a small buffer cuts at a whole line */
    char small[300];
    len = mf_ledger_metrics_text(small, sizeof small, rows, 1, groups, ng, &cut);
    T_CHECK(cut);
    T_CHECK(len > 0 && small[len - 1] == '\n');
    mf_ledger_release(&l, (unsigned)s);
    mf_ledger_close(&l);

    char path[512];
    T_EQ(mf_ledger_request(dir, 999999999, MF_LREQ_REPORT, 10, path, sizeof path), -ESRCH);
}

static int answer_hello(unsigned kind, int fd)
{
    char buf[64];
    int n = snprintf(buf, sizeof buf, "report kind %u from %d\n", kind, (int)getpid());
    return write(fd, buf, (size_t)n) == n ? 0 : -EIO;
}

/* `memfence report PID` asks a live instance through its slot's mailbox; the instance's tick
 * answers with a reply file. */
static void test_mailbox(void)
{
    char p[512], why[512], reply[600];
    path_of("mail", p, sizeof p);
    int ready[2];
    T_EQ(pipe(ready), 0);
    pid_t pid = fork();
    if (pid == 0) {
        mf_ledger_t c;
        if (mf_ledger_open(p, "mail", true, &c, NULL, 0))
            _exit(1);
        int s = mf_ledger_claim(&c, getpid(), mf_ledger_proc_start(getpid()), "answerer", "t", 0);
        if (s < 0 || write(ready[1], "x", 1) != 1)
            _exit(2);
        for (int i = 0; i < 2000; i++) {        /* the sampler's tick, every 5 ms */
            mf_ledger_serve(&c, (unsigned)s, dir, answer_hello);
            usleep(5000);
        }
        _exit(0);
    }
    char x;
    T_EQ(read(ready[0], &x, 1), 1);
    T_EQ(mf_ledger_request(dir, pid, MF_LREQ_REPORT, 5000, reply, sizeof reply), 0);
    FILE *f = fopen(reply, "r");
    T_CHECK(f != NULL);
    if (f) {
        char line[128] = "", want[128];
        T_CHECK(fgets(line, sizeof line, f) != NULL);
        snprintf(want, sizeof want, "report kind %u from %d\n", MF_LREQ_REPORT, (int)pid);
        T_CHECK(!strcmp(line, want));
        fclose(f);
        unlink(reply);
    }
    /* a second request is answered again (sequence numbers, not a flag) */
    T_EQ(mf_ledger_request(dir, pid, MF_LREQ_REPORT, 5000, reply, sizeof reply), 0);
    unlink(reply);
    kill_wait(pid);
    T_EQ(mf_ledger_request(dir, pid, MF_LREQ_REPORT, 100, reply, sizeof reply), -ESRCH);
    /* an instance that answers nothing of that kind: -ENOSYS */
    pid = fork();
    if (pid == 0) {
        mf_ledger_t c;
        if (mf_ledger_open(p, "mail", true, &c, NULL, 0))
            _exit(1);
        int s = mf_ledger_claim(&c, getpid(), mf_ledger_proc_start(getpid()), "mute", "t", 0);
        if (s < 0 || write(ready[1], "x", 1) != 1)
            _exit(2);
        for (int i = 0; i < 2000; i++) {
            mf_ledger_serve(&c, (unsigned)s, dir, NULL);
            usleep(5000);
        }
        _exit(0);
    }
    T_EQ(read(ready[0], &x, 1), 1);
    T_EQ(mf_ledger_request(dir, pid, MF_LREQ_REPORT, 5000, reply, sizeof reply), -ENOSYS);
    kill_wait(pid);
    close(ready[0]);
    close(ready[1]);
    (void)why;
}


/* Thousands of members: `top` follows the highest live slot, the lowest free slot is reused, a
 * full ledger says -ENOSPC (never a silent success), the group-wide rate limit of messages and
 * sweeps, and status rows come out sorted by pid. */
static void test_scale(void)
{
    char p[512], why[512];
    path_of("scale", p, sizeof p);
    mf_ledger_t l;
    T_EQ(mf_ledger_open(p, "scale", true, &l, why, sizeof why), 0);
    pid_t me = getpid();
    uint64_t start = mf_ledger_proc_start(me);
    enum { N = 3000 };
    int bad = 0;
    for (unsigned i = 0; i < N; i++)        /* fake start times: members that look alive here */
        bad += mf_ledger_claim(&l, me, start + 1 + i, "m", "t", MF_LFLAG_GROUPED) != (int)i;
    T_EQ(bad, 0);
    T_EQU(mf_ledger_top(&l), N);
    T_EQ(mf_ledger_charge(&l, N - 1, MF_POOL_HOST, 100, 0), 0);
    mf_ledger_release(&l, N - 1);
    T_EQU(mf_ledger_top(&l), N - 1);
    T_EQ(atomic_load(&l.hdr->total[MF_POOL_HOST]), 0);
    mf_ledger_release(&l, 1000);
    T_EQU(mf_ledger_top(&l), N - 1);        /* a hole below the top */
    T_EQ(mf_ledger_claim(&l, me, start + 5000, "m", "t", 0), 1000);
    for (unsigned i = 2000; i < N - 1; i++)
        mf_ledger_release(&l, i);
    T_EQU(mf_ledger_top(&l), 2000);
    T_EQ(mf_ledger_reclaim(&l), 2000);      /* none of the fake start times is this process's */
    T_EQU(mf_ledger_top(&l), 0);
    T_EQ(mf_ledger_verify(&l), 0);

    /* every slot held by a live process: -ENOSPC after a reclaim that frees nothing */
    for (unsigned i = 0; i < MF_LEDGER_SLOTS; i++) {
        l.slots[i].pid = me;
        l.slots[i].start_time = start;
        atomic_store(&l.hdr->pids[i], me);
        atomic_store(&l.slots[i].state, MF_LSLOT_LIVE);
    }
    atomic_store(&l.hdr->top, MF_LEDGER_SLOTS);
    T_EQ(mf_ledger_claim(&l, me + 1, 1, "x", "t", 0), -ENOSPC);
    for (unsigned i = MF_LEDGER_SLOTS; i-- > 0;)
        mf_ledger_release(&l, i);
    T_EQU(mf_ledger_top(&l), 0);
    /* a hostile `top` is clamped */
    atomic_store(&l.hdr->top, 0xffffffffu);
    T_EQU(mf_ledger_top(&l), MF_LEDGER_SLOTS);
    atomic_store(&l.hdr->top, 0);

    /* one line per kind per group and interval, with the count of those held back */
    uint64_t held = 99;
    T_CHECK(mf_ledger_say(&l, MF_LSAY_FULL, &held));
    T_EQU(held, 0);
    T_CHECK(!mf_ledger_say(&l, MF_LSAY_FULL, &held));
    T_CHECK(!mf_ledger_say(&l, MF_LSAY_FULL, &held));
    T_CHECK(mf_ledger_say(&l, MF_LSAY_LOCK, &held));          /* another kind: its own turn */
    atomic_store(&l.hdr->said_ns[MF_LSAY_FULL], 1);          /* as if the interval had passed */
    T_CHECK(mf_ledger_say(&l, MF_LSAY_FULL, &held));
    T_EQU(held, 2);
    atomic_store(&l.hdr->said_ns[MF_LSAY_FULL], UINT64_MAX); /* a timestamp in the future */
    T_CHECK(mf_ledger_say(&l, MF_LSAY_FULL, NULL));
    T_CHECK(mf_ledger_sweep_due(&l, 1000000000ull));
    T_CHECK(!mf_ledger_sweep_due(&l, 1000000000ull));

    /* rows sorted by pid whatever the slot order */
    enum { K = 6 };
    pid_t kids[K];
    for (int i = 0; i < K; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            pause();
            _exit(0);
        }
    }
    usleep(20000);
    for (int i = K; i-- > 0;)
        T_CHECK(mf_ledger_claim(&l, kids[i], mf_ledger_proc_start(kids[i]), "kid", "t", 0) >= 0);
    static mf_ledger_row_t rows[64];
    mf_ledger_group_t groups[8];
    size_t ng = 0;
    int n = mf_ledger_scan(dir, "scale", rows, 64, groups, 8, &ng, NULL, 0);
    T_EQ(n, K);
    for (int i = 1; i < n; i++)
        T_CHECK(rows[i - 1].pid < rows[i].pid);
    for (int i = 0; i < K; i++)
        kill_wait(kids[i]);
    T_EQ(mf_ledger_reclaim(&l), K);
    T_EQU(mf_ledger_top(&l), 0);
    mf_ledger_close(&l);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/mf-ledger-unit.%d", (int)getpid());
    mkdir(dir, 0700);
    test_names();
    test_create_and_reopen();
    test_hostile();
    test_group_budget();
    test_reserve();
    test_owner_dead();
    test_kill_storm();
    test_scan_and_metrics();
    test_mailbox();
    test_scale();
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return t_done();
}
