/* fail_prog.c — a C program for the fault-injection tests.  Each mode allocates in a known order
 * and prints which of ITS OWN calls failed, so a test can compare with the spec exactly.
 *   fail_prog seq N SIZE          N x malloc(SIZE), kept live; prints "failed: i j ..." (1-based)
 *   fail_prog forkseq N SIZE      seq in the parent, then in a forked child ("child failed: ...")
 *   fail_prog kinds N             N rounds of malloc/calloc/realloc/posix_memalign/mmap, 256 KiB
 *                                 each; prints "failed: KIND#round ..."
 *   fail_prog from LIB.so N       N rounds: malloc(SIZE) here, then fail_mod_alloc(SIZE) in LIB
 *                                 (dlopened now); prints "main: i ..." and "lib: i ..."
 *   fail_prog robust N            N list nodes; on NULL: "fail_prog: out of memory", exit 3
 *   fail_prog crashy N            N list nodes, never checks for NULL: crashes when one fails
 *   fail_prog hangy N             N list nodes; on NULL waits forever (a hang for the sweep)
 * Every failure must come with errno == ENOMEM, or the program says so and exits 4. */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static void check_errno(const char *what)
{
    if (errno != ENOMEM) {
        printf("%s failed with errno %d, not ENOMEM\n", what, errno);
        exit(4);
    }
}

static int seq(int n, size_t size)
{
    void **v = calloc((size_t)n, sizeof *v);
    char out[8192] = "failed:";
    for (int i = 0; i < n; i++) {
        errno = 0;
        v[i] = malloc(size);
        if (!v[i]) {
            check_errno("malloc");
            snprintf(out + strlen(out), sizeof out - strlen(out), " %d", i + 1);
        } else {
            memset(v[i], 1, 64);
        }
    }
    printf("%s\n", out);
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
    return 0;
}

static int forkseq(int n, size_t size)
{
    seq(n, size);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        printf("child ");
        seq(n, size);
        fflush(stdout);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 9;
}

static int kinds(int n)
{
    const size_t sz = 256 << 10;
    char out[8192] = "failed:";
#define NOTE(kind) snprintf(out + strlen(out), sizeof out - strlen(out), " %s#%d", kind, r + 1)
    for (int r = 0; r < n; r++) {
        errno = 0;
        void *a = malloc(sz);
        if (!a) { check_errno("malloc"); NOTE("malloc"); }
        void *b = calloc(1, sz);
        if (!b) { check_errno("calloc"); NOTE("calloc"); }
        void *small = malloc(16);
        void *c = realloc(small, sz);
        if (!c) { check_errno("realloc"); NOTE("realloc"); free(small); }
        void *d = NULL;
        int rc = posix_memalign(&d, 4096, sz);
        if (rc) { if (rc != ENOMEM) exit(4); NOTE("posix_memalign"); d = NULL; }
        void *m = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) { check_errno("mmap"); NOTE("mmap"); m = NULL; }
        free(a); free(b); free(c); free(d);
        if (m) munmap(m, sz);
    }
#undef NOTE
    printf("%s\n", out);
    return 0;
}

static int from(const char *lib, int n)
{
    void *h = dlopen(lib, RTLD_NOW);
    if (!h) { printf("dlopen: %s\n", dlerror()); return 5; }
    void *(*mod_alloc)(size_t) = (void *(*)(size_t))dlsym(h, "fail_mod_alloc");
    if (!mod_alloc) { printf("dlsym: %s\n", dlerror()); return 5; }
    char m[4096] = "main:", l[4096] = "lib:";
    for (int i = 0; i < n; i++) {
        errno = 0;
        void *a = malloc(100000);
        if (!a) { check_errno("malloc"); snprintf(m + strlen(m), sizeof m - strlen(m), " %d", i + 1); }
        void *b = mod_alloc(100000);
        if (!b) { check_errno("fail_mod_alloc"); snprintf(l + strlen(l), sizeof l - strlen(l), " %d", i + 1); }
        free(a);
        free(b);
    }
    printf("%s\n%s\n", m, l);
    return 0;
}

struct node { struct node *next; char pad[120]; };

static int list(int n, int how)
{
    struct node *head = NULL;
    for (int i = 0; i < n; i++) {
        struct node *x = malloc(sizeof *x);
        if (!x && how == 0) {
            fprintf(stderr, "fail_prog: out of memory\n");
            exit(3);
        }
        if (!x && how == 2)
            for (;;) pause();
        x->next = head;         /* crashy: NULL dereference */
        head = x;
    }
    while (head) { struct node *x = head->next; free(head); head = x; }
    printf("built and freed %d nodes\n", n);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && !strcmp(argv[1], "seq")) return seq(atoi(argv[2]), (size_t)atol(argv[3]));
    if (argc >= 4 && !strcmp(argv[1], "forkseq")) return forkseq(atoi(argv[2]), (size_t)atol(argv[3]));
    if (argc >= 3 && !strcmp(argv[1], "kinds")) return kinds(atoi(argv[2]));
    if (argc >= 4 && !strcmp(argv[1], "from")) return from(argv[2], atoi(argv[3]));
    if (argc >= 3 && !strcmp(argv[1], "robust")) return list(atoi(argv[2]), 0);
    if (argc >= 3 && !strcmp(argv[1], "crashy")) return list(atoi(argv[2]), 1);
    if (argc >= 3 && !strcmp(argv[1], "hangy")) return list(atoi(argv[2]), 2);
    fprintf(stderr, "usage: fail_prog seq N SIZE | kinds N | from LIB N | robust|crashy|hangy N\n");
    return 2;
}
