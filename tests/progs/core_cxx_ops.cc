// core_cxx_ops.cc — every replaceable operator new and delete under a budget (core_c.sh):
//   exact   each form's blocks count what memfence_charge_of says, and deleting them with the
//           matching form gives it all back (used returns to where it was, to the byte);
//   refuse  a request that does not fit: std::bad_alloc from the throwing forms, nullptr from
//           the nothrow ones, for plain, array and aligned forms;
//   handler a new handler that frees a reserve is called, and the retry succeeds.
// Run it with the whole budget for itself (no headroom, no overdraft, no pressure actions).
// Argument "unaligned-ok": skip the alignment of the aligned forms (Debian 12's mimalloc 2.0.9
// returns 128-byte-aligned blocks from aligned_alloc(256, 256) with or without memfence).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>

#include <memfence.h>

static int failures;
#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            std::printf("FAIL %s:%d: ", __FILE__, __LINE__);                               \
            std::printf(__VA_ARGS__);                                                      \
            std::printf("\n");                                                             \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

static bool unaligned_ok;

static uint64_t used() { return memfence_used(MEMFENCE_POOL_HOST); }

// One form: allocate blocks of a few sizes, check the count, free them, check it again.
template <typename Alloc, typename Free>
static void form(const char *name, size_t align, Alloc alloc, Free release)
{
    static const size_t sizes[] = { 1, 24, 100, 1000, 5000, 70000, 300000 };
    void *p[sizeof sizes / sizeof sizes[0]];
    uint64_t base = used(), sum = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        p[i] = alloc(sizes[i]);
        CHECK(p[i] != nullptr, "%s(%zu) returned nullptr", name, sizes[i]);
        if (!p[i])
            return;
        CHECK(align == 0 || unaligned_ok || (uintptr_t)p[i] % align == 0,
              "%s: %p not aligned to %zu", name, p[i], align);
        static_cast<char *>(p[i])[sizes[i] - 1] = 1;
        sum += memfence_charge_of(p[i]);
    }
    CHECK(used() == base + sum, "%s: used %llu, expected %llu", name,
          (unsigned long long)used(), (unsigned long long)(base + sum));
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        release(p[i], sizes[i]);
    CHECK(used() == base, "%s: used %llu after delete, expected %llu", name,
          (unsigned long long)used(), (unsigned long long)base);
}

static char *reserve;
static int handler_calls;
static void give_back()
{
    handler_calls++;
    delete[] reserve;
    reserve = nullptr;
    std::set_new_handler(nullptr);
}

int main(int argc, char **argv)
{
    unaligned_ok = argc > 1 && std::string(argv[1]) == "unaligned-ok";
    if (!memfence_present()) {
        std::printf("memfence is not loaded\n");
        return 2;
    }
    const std::align_val_t al{ 256 };
    const std::nothrow_t &nt = std::nothrow;

    form("new", 0, [](size_t n) { return ::operator new(n); },
         [](void *p, size_t) { ::operator delete(p); });
    form("new/sized delete", 0, [](size_t n) { return ::operator new(n); },
         [](void *p, size_t n) { ::operator delete(p, n); });
    form("new[]", 0, [](size_t n) { return ::operator new[](n); },
         [](void *p, size_t) { ::operator delete[](p); });
    form("new[]/sized delete[]", 0, [](size_t n) { return ::operator new[](n); },
         [](void *p, size_t n) { ::operator delete[](p, n); });
    form("nothrow new", 0, [&](size_t n) { return ::operator new(n, nt); },
         [&](void *p, size_t) { ::operator delete(p, nt); });
    form("nothrow new[]", 0, [&](size_t n) { return ::operator new[](n, nt); },
         [&](void *p, size_t) { ::operator delete[](p, nt); });
    form("aligned new", 256, [&](size_t n) { return ::operator new(n, al); },
         [&](void *p, size_t) { ::operator delete(p, al); });
    form("aligned new/sized delete", 256, [&](size_t n) { return ::operator new(n, al); },
         [&](void *p, size_t n) { ::operator delete(p, n, al); });
    form("aligned new[]", 256, [&](size_t n) { return ::operator new[](n, al); },
         [&](void *p, size_t) { ::operator delete[](p, al); });
    form("aligned new[]/sized delete[]", 256, [&](size_t n) { return ::operator new[](n, al); },
         [&](void *p, size_t n) { ::operator delete[](p, n, al); });
    form("aligned nothrow new", 256, [&](size_t n) { return ::operator new(n, al, nt); },
         [&](void *p, size_t) { ::operator delete(p, al, nt); });
    form("aligned nothrow new[]", 256, [&](size_t n) { return ::operator new[](n, al, nt); },
         [&](void *p, size_t) { ::operator delete[](p, al, nt); });
    // the expressions a program writes
    form("new T[]", 0, [](size_t n) { return static_cast<void *>(new char[n]); },
         [](void *p, size_t) { delete[] static_cast<char *>(p); });

    // refusals: 128 MiB never fits a 64 MiB budget
    const size_t big = (size_t)128 << 20;
    uint64_t base = used();
    int thrown = 0;
    try { (void)::operator new(big); } catch (const std::bad_alloc &) { thrown++; }
    try { (void)::operator new[](big); } catch (const std::bad_alloc &) { thrown++; }
    try { (void)::operator new(big, al); } catch (const std::bad_alloc &) { thrown++; }
    try { (void)::operator new[](big, al); } catch (const std::bad_alloc &) { thrown++; }
    CHECK(thrown == 4, "throwing forms: %d of 4 threw std::bad_alloc", thrown);
    CHECK(::operator new(big, nt) == nullptr, "nothrow new granted 128 MiB");
    CHECK(::operator new[](big, nt) == nullptr, "nothrow new[] granted 128 MiB");
    CHECK(::operator new(big, al, nt) == nullptr, "aligned nothrow new granted 128 MiB");
    CHECK(::operator new[](big, al, nt) == nullptr, "aligned nothrow new[] granted 128 MiB");
    CHECK(used() == base, "refusals changed used: %llu -> %llu", (unsigned long long)base,
          (unsigned long long)used());

    // the new handler: 40 MiB held, 48 MiB asked; the handler frees the 40 and the retry fits
    reserve = new char[(size_t)40 << 20];
    std::set_new_handler(give_back);
    char *p = nullptr;
    try { p = new char[(size_t)48 << 20]; } catch (const std::bad_alloc &) { }
    CHECK(p != nullptr && handler_calls == 1, "new handler: block %p, %d calls", (void *)p,
          handler_calls);
    delete[] p;
    CHECK(used() == base, "after the handler: used %llu, expected %llu",
          (unsigned long long)used(), (unsigned long long)base);

    std::printf("%s: %d failures\n", failures ? "FAILED" : "operators ok", failures);
    return failures ? 1 : 0;
}
