/* ledger_worker.c — a small fenced program for the ledger and group tests.
 *   ledger_worker cmd            read commands from stdin, one answer line each:
 *                                  alloc MIB  -> "ok" or "refused" (malloc + touch MIB MiB)
 *                                  free       -> "ok" (frees everything)
 *                                  fork MIB   -> "ok PID": a forked child holding MIB more MiB
 *                                  exit
 *   ledger_worker hold MIB       allocate MIB MiB in 1 MiB blocks, print "ready N" (N MiB got),
 *                                then wait to be killed
 *   ledger_worker brief MIB      allocate and touch MIB MiB, free them, exit (0, or 3 when
 *                                refused): a short-lived member of a burst
 *   ledger_worker storm          allocate and free random blocks forever
 *   ledger_worker tree N MIB     an ollama-like tree: spawn N runners (fork + exec of this
 *                                program as `hold MIB`, instance runner-I), print "ready",
 *                                wait to be killed (the runners die with it: PDEATHSIG)
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB (1u << 20)

static void *blocks[4096];
static int nblocks;

static int take(unsigned mib)
{
    for (unsigned i = 0; i < mib; i++) {
        if (nblocks == (int)(sizeof blocks / sizeof blocks[0]))
            return (int)i;
        void *p = malloc(MIB);
        if (!p)
            return (int)i;
        memset(p, 1, MIB);
        blocks[nblocks++] = p;
    }
    return (int)mib;
}

static void drop(void)
{
    while (nblocks)
        free(blocks[--nblocks]);
}

static int hold(unsigned mib)
{
    int got = take(mib);
    printf("ready %d\n", got);
    fflush(stdout);
    for (;;)
        pause();
    return 0;
}

static int cmd(void)
{
    char line[128];
    setvbuf(stdout, NULL, _IOLBF, 0);
    while (fgets(line, sizeof line, stdin)) {
        unsigned n = 0;
        if (sscanf(line, "alloc %u", &n) == 1) {
            int start = nblocks, got = take(n);
            if (got == (int)n) {
                puts("ok");
            } else {
                while (nblocks > start)      /* all or nothing */
                    free(blocks[--nblocks]);
                puts("refused");
            }
        } else if (!strncmp(line, "free", 4)) {
            drop();
            puts("ok");
        } else if (sscanf(line, "fork %u", &n) == 1) {
            fflush(stdout);
            pid_t pid = fork();
            if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                take(n);
                for (;;)
                    pause();
            }
            printf("ok %d\n", (int)pid);
        } else if (!strncmp(line, "exit", 4)) {
            break;
        } else {
            puts("?");
        }
    }
    drop();
    return 0;
}

static int storm(void)
{
    unsigned r = (unsigned)getpid();
    void *held[64] = { 0 };
    for (;;) {
        r = r * 1103515245u + 12345u;
        unsigned i = (r >> 8) % 64;
        if (held[i]) {
            free(held[i]);
            held[i] = NULL;
        } else {
            held[i] = malloc(1024 + (r >> 12) % (256 << 10));
        }
    }
    return 0;
}

static int tree(int n, const char *mib)
{
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0)
        return 1;
    self[len] = 0;
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            char inst[32];
            snprintf(inst, sizeof inst, "runner-%d", i);
            setenv("MEMFENCE_INSTANCE", inst, 1);
            execl(self, "ledger_worker", "hold", mib, (char *)NULL);
            _exit(127);
        }
    }
    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "cmd"))
        return cmd();
    if (argc >= 3 && !strcmp(argv[1], "hold"))
        return hold((unsigned)atoi(argv[2]));
    if (argc >= 3 && !strcmp(argv[1], "brief")) {
        unsigned mib = (unsigned)atoi(argv[2]);
        int got = take(mib);
        drop();
        return got == (int)mib ? 0 : 3;
    }
    if (argc >= 2 && !strcmp(argv[1], "storm"))
        return storm();
    if (argc >= 4 && !strcmp(argv[1], "tree"))
        return tree(atoi(argv[2]), argv[3]);
    fprintf(stderr, "usage: ledger_worker cmd | hold MIB | brief MIB | storm | tree N MIB\n");
    return 2;
}
