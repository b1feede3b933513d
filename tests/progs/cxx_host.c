/* cxx_host.c — a C program that opens a C++ library with dlopen(RTLD_LOCAL) and asks it for a
 * block larger than its budget (core_cxx.sh): prints "bad_alloc" when the library's `new` threw.
 * usage: cxx_host LIBRARY */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        printf("dlopen: %s\n", dlerror());
        return 1;
    }
    long (*run)(long, size_t) = (long (*)(long, size_t))dlsym(h, "cxx_plugin_run");
    if (!run)
        return 1;
    long t = run(1000, (size_t)100 << 20);
    printf("%s after %ld bytes of strings\n", t < 0 ? "bad_alloc" : "granted", t < 0 ? -t : t);
    return 0;
}
