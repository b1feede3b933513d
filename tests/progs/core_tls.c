/* core_tls.c — a thread first touches a dlopen'ed library's thread-local variables when the
 * process is at its budget (core_c.sh).  The dynamic loader allocates that storage through
 * malloc and cannot take a refusal: glibc ends the process ("cannot allocate memory for
 * thread-local data: ABORT").  memfence grants it past the budget and says so; the program
 * prints how it went.  usage: core_tls LIBRARY */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static int (*touch)(int);

static void *thread_main(void *arg)
{
    (void)arg;
    return (void *)(long)touch(1);
}

int main(int argc, char **argv)
{
    void *h = argc > 1 ? dlopen(argv[1], RTLD_NOW) : NULL;
    touch = h ? (int (*)(int))dlsym(h, "tls_block_touch") : NULL;
    if (!touch) {
        printf("cannot open %s\n", argc > 1 ? argv[1] : "(no library)");
        return 2;
    }
    long blocks = 0;
    while (malloc(16 << 10))                 /* up to the budget: the last small block refused */
        blocks++;
    pthread_t t;
    void *ret = NULL;
    int rc = pthread_create(&t, NULL, thread_main, NULL);
    if (rc == 0)
        pthread_join(t, &ret);
    printf("filled %ld blocks; thread %s; its thread-local block %s\n", blocks,
           rc ? "not created" : "ran", ret ? "was there" : "-");
    return 0;
}
