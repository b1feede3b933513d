// cxx_plugin.cc — a C++ library that a C program opens with dlopen(RTLD_LOCAL) (core_cxx.sh,
// with tests/progs/cxx_host.c): libstdc++ comes in with it, outside the program's global
// scope, and its `new` still has to reach a C++ runtime that throws std::bad_alloc.
#include <cstddef>
#include <new>
#include <string>

char *volatile cxx_plugin_sink;   // keeps the compiler from eliding the allocation

extern "C" long cxx_plugin_run(long n, size_t big)
{
    long t = 0;
    for (long i = 0; i < n; i++) {
        std::string *s = new std::string(200, 'a');
        t += (long)s->size();
        delete s;
    }
    try {
        cxx_plugin_sink = new char[big];
        delete[] cxx_plugin_sink;
    } catch (const std::bad_alloc &) {
        return -t;
    }
    return t;
}
