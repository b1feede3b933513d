// core_cxx_replace.cc — a program that replaces operator new(size_t) and operator delete(void *)
// and nothing else (core_c.sh).  The standard's defaults of the other forms call these two, so
// new[], the sized delete the compiler emits, delete[] and the nothrow forms must all reach the
// program's own, with memfence loaded as without it: it prints how many blocks its operators
// saw, and stops at once if another deallocation meets one of its blocks.
#include <cstdio>
#include <cstdlib>
#include <new>

static long news, deletes;
static const unsigned long tag = 0x6d66726570ul;   // marks the program's own blocks

void *operator new(std::size_t n)
{
    news++;
    unsigned long *p = static_cast<unsigned long *>(std::malloc(n + 16));
    if (!p)
        throw std::bad_alloc();
    p[0] = tag;
    return p + 2;
}

void operator delete(void *q) noexcept
{
    if (!q)
        return;
    unsigned long *p = static_cast<unsigned long *>(q) - 2;
    if (p[0] != tag) {
        std::printf("operator delete: not one of ours\n");
        std::abort();
    }
    deletes++;
    p[0] = 0;
    std::free(p);
}

struct Node { long v[3]; };

int main()
{
    for (int i = 0; i < 1000; i++) {
        Node *a = new Node();                       // new; the sized delete
        int *b = new int[10 + i % 7];               // new[]; delete[]
        Node *c = new Node[3];                      // new[]; the sized delete[]
        char *d = new (std::nothrow) char[100];     // nothrow new[]; delete[]
        delete a;
        delete[] b;
        delete[] c;
        delete[] d;
    }
    std::printf("program's new %ld, delete %ld\n", news, deletes);
    // tcmalloc makes a few objects of its own with the program's operator new: news >= 4000
    return news >= 4000 && deletes == 4000 ? 0 : 1;
}
