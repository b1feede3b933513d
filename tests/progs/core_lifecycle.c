/* core_lifecycle.c — fork, exec, threads starting and ending, dlopen/dlclose, under the preload.
 * usage: core_lifecycle LIBDIR   (checks through the public API; exit 0 when all hold) */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "memfence.h"

static int fails;
#define CHECK(c) do { if (!(c)) { fails++; printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); } } while (0)

static void *thread_body(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++)
        free(malloc(100 + i));
    void *keep = malloc(50000);   /* leaves credit behind, then frees */
    free(keep);
    return NULL;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1 && !strcmp(argv[1], "--exec-child")) {
        /* a fresh image: the budget comes from the environment again */
        printf("exec child: limit %llu\n", (unsigned long long)memfence_limit(0));
        return memfence_present() && memfence_limit(0) == (32ull << 20) ? 0 : 1;
    }
    if (!memfence_present()) {
        printf("memfence is not loaded\n");
        return 2;
    }
    uint64_t u0 = memfence_used(0);

    /* threads come and go: their credit goes back */
    for (int round = 0; round < 20; round++) {
        pthread_t t[4];
        for (int i = 0; i < 4; i++)
            pthread_create(&t[i], NULL, thread_body, NULL);
        for (int i = 0; i < 4; i++)
            pthread_join(t[i], NULL);
    }
    CHECK(memfence_used(0) <= u0 + 64 * 1024);  /* pthread's own stacks/TLS blocks may stay */

    /* fork: the child fences its own copy */
    char *big = malloc(4 << 20);
    memset(big, 7, 4 << 20);
    pid_t pid = fork();
    if (pid == 0) {
        uint64_t before = memfence_used(0);
        free(big);
        int ok = memfence_used(0) + (4 << 20) <= before + 4096;
        /* the room freed in the child is the child's: almost the whole budget fits now */
        void *x = malloc(memfence_limit(0) - memfence_used(0) - (1 << 20));
        _exit(ok && x != NULL ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(memfence_used(0) >= u0 + (4 << 20));  /* the parent still holds its copy */
    free(big);

    /* dlopen / dlclose of a library that allocates in its constructor */
    char path[512];
    snprintf(path, sizeof path, "%s/core_ctor.so", argc > 1 ? argv[1] : ".");
    uint64_t before = memfence_used(0);
    void *h = dlopen(path, RTLD_NOW);
    CHECK(h != NULL);
    if (h) {
        CHECK(memfence_used(0) >= before + (1 << 20));
        dlclose(h);
        CHECK(memfence_used(0) < before + (1 << 20));
    }

    /* exec: the new image starts fresh from the environment */
    pid = fork();
    if (pid == 0) {
        setenv("MEMFENCE_LIMIT", "32M", 1);
        execl("/proc/self/exe", argv[0], "--exec-child", (char *)NULL);
        _exit(127);
    }
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    printf("%s\n", fails ? "core_lifecycle: FAILED" : "core_lifecycle: ok");
    return fails ? 1 : 0;
}
