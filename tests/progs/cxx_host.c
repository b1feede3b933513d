/* cxx_host.c — C++'s operator new reached from C (core_cxx.sh).
 *   cxx_host LIBRARY  opens a C++ library with dlopen(RTLD_LOCAL) and asks it for a block larger
 *                     than its budget: prints "bad_alloc" when the library's `new` threw.
 *   cxx_host orphan   calls operator new with no C++ runtime loaded (memfence's own, through
 *                     the symbol table): the nothrow form answers NULL past the budget, the
 *                     throwing one, which cannot throw, gets its block past the budget. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

static int orphan(void)
{
    void *(*op_new)(size_t) = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "_Znwm");
    void *(*op_new_nt)(size_t, const void *) =
        (void *(*)(size_t, const void *))dlsym(RTLD_DEFAULT, "_ZnwmRKSt9nothrow_t");
    void (*op_delete)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "_ZdlPv");
    if (!op_new || !op_new_nt || !op_delete || dlsym(RTLD_DEFAULT, "_ZSt7nothrow")) {
        printf("memfence's operators not found, or a C++ runtime is loaded\n");
        return 1;
    }
    size_t big = (size_t)100 << 20;
    void *small = op_new(1000), *nt = op_new_nt(big, NULL), *th = op_new(big);
    printf("small %s; nothrow past the budget %s; throwing past the budget %s\n",
           small ? "granted" : "NULL", nt ? "granted" : "NULL", th ? "granted" : "NULL");
    op_delete(small);
    op_delete(th);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    if (!strcmp(argv[1], "orphan"))
        return orphan();
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
