/* next_wrap.c — TEST interposer preloaded after memfence: wraps puts and finds the real one with
 * dlsym(RTLD_NEXT, "puts").  memfence's dlsym must keep RTLD_NEXT relative to this library (its
 * caller), or the lookup would find this very wrapper and recurse. */
#include <dlfcn.h>
#include <stdio.h>

int puts(const char *s)
{
    static int (*real)(const char *);
    if (!real) real = (int (*)(const char *))dlsym(RTLD_NEXT, "puts");
    if (!real || real == puts) return -1;
    fputs("[wrapped] ", stdout);
    return real(s);
}
