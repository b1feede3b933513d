/* backend.c — the allocator underneath: resolved from the symbol chain, identified by the
 * object that defines malloc, with its give-back entry points; and the bootstrap buffer.
 */
#include <dlfcn.h>
#include <link.h>
#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/resolve.h"
#include "base/log.h"

mf_backend_t mf_backend;
static void find_object(void *fn);
static const char *text_name;          /* the object that holds it (the loader's name for it) */

static const mf_sym_t malloc_syms[] = {
#define MF_HOOK(name, ret, params, req) { #name, req },
#include "backend/malloc.def"
#undef MF_HOOK
};

static const char *kind_names[] = { "glibc", "jemalloc", "tcmalloc", "mimalloc", "other" };
static struct mallinfo2 (*real_mallinfo2)(void);

const char *mf_backend_name(void) { return kind_names[mf_backend.kind]; }

int mf_backend_init(void)
{
    void **out = (void **)&mf_backend;
    int rc = mf_resolve_next(malloc_syms, out, MF_ARRAY_LEN(malloc_syms));
    if (rc) {
        /* Fall back on glibc's own names for the required ones. */
        static const char *fallback[][2] = {
            { "malloc", "__libc_malloc" }, { "free", "__libc_free" },
            { "calloc", "__libc_calloc" }, { "realloc", "__libc_realloc" },
            { "memalign", "__libc_memalign" },
        };
        for (size_t i = 0; i < MF_ARRAY_LEN(malloc_syms); i++)
            for (size_t j = 0; j < MF_ARRAY_LEN(fallback); j++)
                if (!out[i] && !strcmp(malloc_syms[i].name, fallback[j][0]))
                    out[i] = mf_resolve_in(RTLD_DEFAULT, fallback[j][1]);
        if (!mf_backend.malloc || !mf_backend.free || !mf_backend.calloc || !mf_backend.realloc) {
            mf_log("cannot find the C library's malloc; memfence is disabled in this process");
            return -ENOENT;
        }
    }
    /* The object that defines malloc, found by address with dl_iterate_phdr: dladdr would also
     * look for the nearest symbol, a walk of libc's whole symbol table at every start. */
    mf_backend.kind = MF_BACKEND_OTHER;
    find_object((void *)mf_backend.malloc);
    if (text_name) {
        const char *f = text_name;
        if (strstr(f, "jemalloc")) mf_backend.kind = MF_BACKEND_JEMALLOC;
        else if (strstr(f, "tcmalloc")) mf_backend.kind = MF_BACKEND_TCMALLOC;
        else if (strstr(f, "mimalloc")) mf_backend.kind = MF_BACKEND_MIMALLOC;
        else if (strstr(f, "libc.so")) mf_backend.kind = MF_BACKEND_GLIBC;
    }
    switch (mf_backend.kind) {
    case MF_BACKEND_GLIBC:
        mf_backend.malloc_trim = mf_resolve_in(RTLD_NEXT, "malloc_trim");
        real_mallinfo2 = mf_resolve_in(RTLD_NEXT, "mallinfo2");
        break;
    case MF_BACKEND_JEMALLOC:
        mf_backend.mallctl = mf_resolve_in(RTLD_NEXT, "mallctl");
        break;
    case MF_BACKEND_TCMALLOC:
        mf_backend.tc_release = mf_resolve_in(RTLD_NEXT, "MallocExtension_ReleaseFreeMemory");
        break;
    case MF_BACKEND_MIMALLOC:
        mf_backend.mi_collect = mf_resolve_in(RTLD_NEXT, "mi_collect");
        break;
    }
    if (!mf_backend.malloc_usable_size)
        mf_backend.malloc_usable_size = mf_resolve_in(RTLD_DEFAULT, "__malloc_usable_size");
    return 0;
}

/* ---- the backend's object -------------------------------------------------------------------- */

/* Finds the object whose executable segment holds the backend's malloc (text_name). */
static int phdr_cb(struct dl_phdr_info *info, size_t size, void *fn)
{
    (void)size;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if ((uintptr_t)fn >= lo && (uintptr_t)fn < hi) {
            text_name = info->dlpi_name;
            return 1;
        }
    }
    return 0;
}

static void find_object(void *fn)
{
    dl_iterate_phdr(phdr_cb, fn);
}

int mf_backend_trim(void)
{
    int rc = -ENOSYS;
    mf_tls.depth++;
    mf_tls.in_backend++;
    if (mf_backend.malloc_trim) {
        mf_backend.malloc_trim(0);
        rc = 0;
    } else if (mf_backend.mallctl) {
        /* MALLCTL_ARENAS_ALL is 4096 in jemalloc 5 */
        mf_backend.mallctl("arena.4096.purge", NULL, NULL, NULL, 0);
        mf_backend.mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
        rc = 0;
    } else if (mf_backend.tc_release) {
        mf_backend.tc_release();
        rc = 0;
    } else if (mf_backend.mi_collect) {
        mf_backend.mi_collect(1);
        rc = 0;
    }
    mf_tls.in_backend--;
    mf_tls.depth--;
    return rc;
}

uint64_t mf_backend_retained(void)
{
    uint64_t r = 0;
    mf_tls.depth++;
    mf_tls.in_backend++;
    if (real_mallinfo2) {
        struct mallinfo2 mi = real_mallinfo2();
        r = mi.fordblks;
    } else if (mf_backend.mallctl) {
        uint64_t epoch = 1;
        size_t resident = 0, allocated = 0, sz = sizeof(size_t);
        mf_backend.mallctl("epoch", NULL, NULL, &epoch, sizeof epoch);
        if (mf_backend.mallctl("stats.resident", &resident, &sz, NULL, 0) == 0 &&
            mf_backend.mallctl("stats.allocated", &allocated, &sz, NULL, 0) == 0 &&
            resident > allocated)
            r = resident - allocated;
    }
    mf_tls.in_backend--;
    mf_tls.depth--;
    return r;
}

/* ---- bootstrap ------------------------------------------------------------------------- */
/* glibc's own allocator, exported under these names by every glibc (GLIBC_2.2.5). */
extern void *__libc_malloc(size_t n);
extern void *__libc_memalign(size_t align, size_t n);
extern void __libc_free(void *p);

static _Atomic(void *) boot_blocks[MF_BOOT_MAX];
/* the bytes asked: before the settling, the block's own allocator is not known for sure */
static _Atomic size_t boot_sizes[MF_BOOT_MAX];
_Atomic unsigned mf_boot_live;
static _Atomic int boot_settled;        /* glibc underneath: nothing to remember any more */

void *mf_bootstrap_alloc(size_t n, size_t align)
{
    if (align & (align - 1))
        return NULL;
    void *p = align > 16 ? __libc_memalign(align, n) : __libc_malloc(n);
    if (!p)
        return NULL;
    memset(p, 0, n);                   /* calloc comes here too */
    if (atomic_load(&boot_settled))
        return p;
    for (unsigned i = 0; i < MF_BOOT_MAX; i++) {
        void *expect = NULL;
        if (atomic_compare_exchange_strong(&boot_blocks[i], &expect, p)) {
            atomic_store(&boot_sizes[i], n);
            atomic_fetch_add(&mf_boot_live, 1);
            return p;
        }
    }
    __libc_free(p);
    return NULL;
}

bool mf_bootstrap_find(const void *p)
{
    for (unsigned i = 0; i < MF_BOOT_MAX; i++)
        if (atomic_load_explicit(&boot_blocks[i], memory_order_relaxed) == p)
            return true;
    return false;
}

void mf_bootstrap_release(void *p)
{
    for (unsigned i = 0; i < MF_BOOT_MAX; i++) {
        void *expect = p;
        if (atomic_compare_exchange_strong(&boot_blocks[i], &expect, NULL)) {
            atomic_fetch_sub(&mf_boot_live, 1);
            __libc_free(p);
            return;
        }
    }
}

size_t mf_bootstrap_usable(const void *p)
{
    for (unsigned i = 0; i < MF_BOOT_MAX; i++)
        if (atomic_load_explicit(&boot_blocks[i], memory_order_relaxed) == p)
            return atomic_load_explicit(&boot_sizes[i], memory_order_relaxed);
    return 0;                          /* not (or no longer) a bootstrap block: no header read */
}

void mf_bootstrap_settle(void (*adopt)(void *p))
{
    if (mf_backend.kind != MF_BACKEND_GLIBC || (void *)mf_backend.malloc != (void *)__libc_malloc ||
        (void *)mf_backend.free != (void *)__libc_free)
        return;
    atomic_store(&boot_settled, 1);
    for (unsigned i = 0; i < MF_BOOT_MAX; i++) {
        void *p = atomic_exchange_explicit(&boot_blocks[i], NULL, memory_order_relaxed);
        if (p) {
            atomic_fetch_sub(&mf_boot_live, 1);
            adopt(p);
        }
    }
}

bool mf_bootstrap_glibc(void)
{
    return atomic_load_explicit(&boot_settled, memory_order_relaxed) != 0;
}
