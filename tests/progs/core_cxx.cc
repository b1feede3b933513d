// core_cxx.cc — a C++ program under a tight budget gets std::bad_alloc and exits normally.
#include <cstdio>
#include <new>
#include <vector>

int main()
{
    std::vector<char *> keep;
    try {
        for (;;)
            keep.push_back(new char[8 << 20]);
    } catch (const std::bad_alloc &e) {
        std::printf("bad_alloc after %zu blocks of 8 MiB\n", keep.size());
    }
    for (char *p : keep)
        delete[] p;
    return 0;
}
