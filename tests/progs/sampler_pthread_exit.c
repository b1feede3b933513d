/* sampler_pthread_exit.c — main allocates, lets the sampler run, and leaves with pthread_exit
 * while a worker thread finishes: the process must end when the worker does (exit 0), as it
 * would without memfence.  usage: sampler_pthread_exit [worker_ms] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int worker_ms = 300;

static void *worker(void *arg)
{
    (void)arg;
    struct timespec ts = { worker_ms / 1000, (worker_ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
    printf("worker done\n");
    fflush(stdout);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        worker_ms = atoi(argv[1]);
    for (int i = 0; i < 1000; i++)
        free(malloc(100 + i));
    usleep(300000);                     /* the sampler thread is up and ticking */
    pthread_t t;
    pthread_create(&t, NULL, worker, NULL);
    pthread_exit(NULL);
}
