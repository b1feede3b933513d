/* profile_forks — threads allocating and freeing while the main thread forks children that
 * allocate (and exit normally, running memfence's exit path); under profiling with a small rate
 * nothing may deadlock or crash.  Prints "done" at the end. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int stop;

static void *worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    void *keep[64] = { 0 };
    while (!stop) {
        int i = (int)(rand_r(&seed) % 64);
        free(keep[i]);
        keep[i] = malloc(16 + rand_r(&seed) % 8192);
        if (keep[i])
            memset(keep[i], 1, 16);
    }
    for (int i = 0; i < 64; i++)
        free(keep[i]);
    return NULL;
}

int main(int argc, char **argv)
{
    int forks = argc > 1 ? atoi(argv[1]) : 40;
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
    for (int k = 0; k < forks; k++) {
        pid_t pid = fork();
        if (pid == 0) {
            void *v[256];
            for (int i = 0; i < 256; i++)
                v[i] = malloc(1000 + (size_t)i * 10);
            for (int i = 0; i < 256; i += 2)
                free(v[i]);
            pthread_t c;
            pthread_create(&c, NULL, worker, (void *)1);
            stop = 1;
            pthread_join(c, NULL);
            exit(0);
        }
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        int st;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "child %d failed (status %d)\n", k, st);
            return 1;
        }
    }
    stop = 1;
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    printf("done\n");
    return 0;
}
