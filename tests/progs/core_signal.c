/* core_signal.c — a signal handler that allocates while its thread is inside memfence, under
 * the preload.  Another thread sends SIGUSR1 to the main thread in a tight loop while the main
 * thread opens and closes /proc/meminfo (memfence answers it from the budget, inside its own
 * code); the handler mallocs a block that the main thread frees later, outside the handler.  A
 * third thread keeps asking for more than the budget (each refusal drains every thread's credit).
 * Run it with some policy armed (fault injection that never fires), so that the handler's call
 * takes memfence's general path while memfence is busy on the same thread (its raw path).
 * The main thread never calls malloc itself while signals are unblocked (glibc's malloc is not
 * async-signal-safe).  Checks at the end, with every block freed: memfence's usage is back to
 * where it started, exactly (a block freed with credit it was never charged shows as a
 * difference).
 * usage: core_signal SECONDS  (MEMFENCE_LIMIT and MEMFENCE_FAIL set by the caller) */
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "memfence.h"

static _Atomic int stop, parked, go;
static pthread_t main_thread;
static void *volatile stashed[64];
static volatile sig_atomic_t handled;

static void on_signal(int sig)
{
    (void)sig;
    handled++;
    unsigned k = (unsigned)handled & 63;
    if (!stashed[k])
        stashed[k] = malloc(24 + (handled & 7) * 40);
}

/* The helper threads stay alive to the end: a thread's exit frees blocks of its own (glibc's
 * per-thread data), which would move the usage the test compares. */
static void park(void)
{
    atomic_fetch_add(&parked, 1);
    for (;;)
        pause();
}

static void *kicker(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed))
        pthread_kill(main_thread, SIGUSR1);
    park();
    return NULL;
}

static void *drainer(void *arg)
{
    uint64_t big = *(uint64_t *)arg;
    while (!atomic_load(&go))      /* its refusals' reports start after the base is taken */
        usleep(100);
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        void *p = malloc(big);   /* never fits: memfence drains every credit, then refuses */
        free(p);
        usleep(200);
    }
    park();
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s SECONDS\n", argv[0]);
        return 2;
    }
    if (!memfence_present()) {
        printf("memfence is not loaded\n");
        return 2;
    }
    double secs = atof(argv[1]);
    main_thread = pthread_self();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    uint64_t limit = memfence_limit(0), big = limit + 1;
    setvbuf(stdout, NULL, _IONBF, 0);
    pthread_t k, d;
    pthread_create(&k, NULL, kicker, NULL);
    pthread_create(&d, NULL, drainer, &big);
    usleep(10000);     /* both threads have their slots: their own blocks are in the base */
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);

    pthread_sigmask(SIG_BLOCK, &usr1, NULL);
    for (int i = 0; i < 64; i++) {   /* the handler's blocks so far: not in the base */
        free(stashed[i]);
        stashed[i] = NULL;
    }
    uint64_t base = memfence_used(0);
    atomic_store(&go, 1);
    pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);

    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long iters = 0;
    for (;;) {
        for (int i = 0; i < 256; i++) {
            int fd = open("/proc/meminfo", O_RDONLY);
            if (fd >= 0)
                close(fd);
        }
        iters += 256;
        pthread_sigmask(SIG_BLOCK, &usr1, NULL);
        for (int i = 0; i < 64; i++) {
            free(stashed[i]);
            stashed[i] = NULL;
        }
        pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 >= secs)
            break;
    }
    atomic_store(&stop, 1);
    while (atomic_load(&parked) < 2)
        usleep(1000);
    pthread_sigmask(SIG_BLOCK, &usr1, NULL);
    for (int i = 0; i < 64; i++)
        free(stashed[i]);
    uint64_t after = memfence_used(0);
    printf("opens=%ld signals=%ld base=%llu after=%llu drift=%lld\n", iters,
           (long)handled, (unsigned long long)base, (unsigned long long)after,
           (long long)(after - base));
    return after != base;
}
