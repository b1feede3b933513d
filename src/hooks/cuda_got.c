/* cuda_got.c — callers linked directly against the driver.  A library built with -lcuda (ggml's
 * VMM pool calls cuMemCreate / cuMemAddressReserve / cuMemMap this way) or a driver-API program
 * reaches libcuda through its own GOT, bound by the dynamic loader, never through dlsym; and
 * memfence exports no CUDA name that could interpose there.  So memfence binds those GOT slots
 * itself: for every loaded object that imports a name listed in hooks/cuda.def (and does not
 * define it), the slot is pointed at memfence's hook, the real function kept behind it.
 *
 * When: once at start (the objects the program was linked with), and again whenever a CUDA or
 * NVML name is looked up (dlsym, cuGetProcAddress) after new objects were loaded — the runtime
 * looks the driver up on its first call, after the libraries that use it are loaded.  An object
 * that imports none of those names is never written to.  Slots in RELRO are made writable for
 * the one store (a pointer store: other threads see the old or the new function, both valid).
 * `gpu_bind_direct = off` turns this off (then only dlsym / cuGetProcAddress paths are fenced).
 */
#include <dlfcn.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "backend/resolve.h"
#include "base/mf.h"
#include "base/proc.h"
#include "base/sys.h"
#include "config/config.h"
#include "hooks/cuda.h"
#include "hooks/elfdyn.h"

#define MAX_SLOTS 256                  /* per pass; a later pass picks up the rest */

typedef struct cand {
    void **slot;
    const char *object;                /* dlpi_name ("" for the program) */
    uintptr_t relro_lo, relro_hi;
    int entry;
} cand_t;

typedef struct scan {
    cand_t c[MAX_SLOTS];
    int n;
} scan_t;

static _Atomic unsigned long long seen_adds;
static _Atomic int busy;

static int is_self(const struct dl_phdr_info *info)
{
    uintptr_t me = (uintptr_t)&is_self;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *p = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + p->p_vaddr;
        if (p->p_type == PT_LOAD && me >= lo && me < lo + p->p_memsz) return 1;
    }
    return 0;
}

/* True when [a, a + 8) lies in a segment loaded writable (RELRO pages included: they were). */
static int in_writable_segment(const struct dl_phdr_info *info, uintptr_t a)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *p = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + p->p_vaddr;
        if (p->p_type == PT_LOAD && (p->p_flags & PF_W) && a >= lo && a + sizeof(void *) <= lo + p->p_memsz)
            return 1;
    }
    return 0;
}

static void collect(const struct dl_phdr_info *info, const mf_elf_dyn_t *d,
                    const ElfW(Rela) *r, size_t bytes, scan_t *s, uintptr_t rlo, uintptr_t rhi)
{
    for (size_t k = 0; k < bytes / sizeof *r && s->n < MAX_SLOTS; k++) {
        unsigned type = (unsigned)ELF64_R_TYPE(r[k].r_info);
        if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT &&
            !(type == R_X86_64_64 && r[k].r_addend == 0))      /* a pointer in data */
            continue;
        const ElfW(Sym) *sym = &d->symtab[ELF64_R_SYM(r[k].r_info)];
        if (sym->st_shndx != SHN_UNDEF || ELF64_ST_TYPE(sym->st_info) == STT_OBJECT) continue;
        const char *name = d->strtab + sym->st_name;
        if (!((name[0] == 'c' && name[1] == 'u') || !strncmp(name, "nvml", 4))) continue;
        int e = mf_cu_find(name);
        if (e < 0 || !in_writable_segment(info, info->dlpi_addr + r[k].r_offset)) continue;
        s->c[s->n++] = (cand_t){ (void **)(info->dlpi_addr + r[k].r_offset), info->dlpi_name,
                                 rlo, rhi, e };
    }
}

static int scan_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    scan_t *s = arg;
    const ElfW(Dyn) *dyn = mf_elf_dynamic(info);
    if (!dyn || is_self(info)) return 0;
    uintptr_t rlo = 0, rhi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_GNU_RELRO) {
            /* the loader protects whole pages only: a partial last page stays writable */
            uintptr_t lo = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
            rlo = lo & ~(uintptr_t)4095;
            rhi = (lo + info->dlpi_phdr[i].p_memsz) & ~(uintptr_t)4095;
        }
    mf_elf_dyn_t d;
    mf_elf_dyn_read(info->dlpi_addr, dyn, &d);
    if (!d.symtab || !d.strtab) return 0;
    if (d.jmprel) collect(info, &d, d.jmprel, d.jmprelsz, s, rlo, rhi);
    if (d.rela) collect(info, &d, d.rela, d.relasz, s, rlo, rhi);
    return 0;
}

static int count_adds(struct dl_phdr_info *info, size_t size, void *out)
{
    *(unsigned long long *)out = info->dlpi_adds;
    return 1;
}

/* The function a slot should reach: what the loader bound it to, or — while it is still lazy
 * (pointing at the object's own PLT stub) — the name looked up in the object's own scope. */
static void *real_target(const cand_t *c, const char *name)
{
    void *cur = __atomic_load_n(c->slot, __ATOMIC_RELAXED);
    Dl_info di;
    if (cur && dladdr(cur, &di) && di.dli_saddr == cur && di.dli_sname && !strcmp(di.dli_sname, name))
        return cur;
    /* as the loader would bind it: the global scope first, then the object's own */
    void *p = mf_resolve_in(RTLD_DEFAULT, name);
    if (!p) {
        void *h = dlopen(c->object && c->object[0] ? c->object : NULL, RTLD_LAZY | RTLD_NOLOAD);
        p = h ? mf_resolve_in(h, name) : NULL;
        if (h) dlclose(h);
    }
    dlerror();
    return p;
}

/* The driver functions memfence calls itself (the current device, ...), from the object that
 * holds a real driver function: a caller linked with -lcuda may never look anything up. */
static void helpers_near(void *real)
{
    Dl_info di;
    if (!dladdr(real, &di) || !di.dli_fname) return;
    void *h = dlopen(di.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
    if (h) {
        mf_cu_helpers_from_handle(h, 0);
        dlclose(h);
    }
    dlerror();
}

static void store(const cand_t *c, void *fn)
{
    uintptr_t a = (uintptr_t)c->slot;
    int relro = a >= c->relro_lo && a + sizeof(void *) <= c->relro_hi;
    void *page = (void *)(a & ~(uintptr_t)4095);
    if (relro && mf_sys_mprotect(page, 4096, PROT_READ | PROT_WRITE) != 0) return;
    __atomic_store_n(c->slot, fn, __ATOMIC_RELEASE);
    if (relro) mf_sys_mprotect(page, 4096, PROT_READ);
}

void mf_cu_bind_direct(void)
{
    if (!mf_config()->gpu_bind_direct)   /* gpu_bind_direct = off: dlsym paths only */
        return;
    unsigned long long adds = 0;
    dl_iterate_phdr(count_adds, &adds);
    if (adds == atomic_load_explicit(&seen_adds, memory_order_acquire)) return;
    if (atomic_exchange(&busy, 1)) return;           /* another thread is binding */
    static scan_t s;                                 /* under `busy`: one pass at a time */
    s.n = 0;
    mf_dl_guard++;
    dl_iterate_phdr(scan_object, &s);
    for (int i = 0; i < s.n; i++) {
        const cand_t *c = &s.c[i];
        void *hook = mf_cu_hook_of(c->entry);
        const char *name = mf_cu_name(c->entry);
        if (__atomic_load_n(c->slot, __ATOMIC_RELAXED) == hook) continue;
        void *real = real_target(c, name);
        if (!real || real == hook) continue;
        if (name[0] == 'c') helpers_near(real);
        store(c, mf_cu_hook(c->entry, real));
    }
    mf_dl_guard--;
    if (s.n < MAX_SLOTS) atomic_store_explicit(&seen_adds, adds, memory_order_release);
    atomic_store(&busy, 0);
}

/* True when a loaded object is a CUDA driver or NVML (by its file name: libcuda.so*,
 * libnvidia-ml.so*).  A name, not a symbol lookup: a failed dlsym would leave an error, formatted
 * with malloc, for the program's next dlerror(). */
static int is_driver(struct dl_phdr_info *info, size_t size, void *arg)
{
    const char *n = info->dlpi_name, *slash = n ? strrchr(n, '/') : NULL, *b = slash ? slash + 1 : n;
    return b && (!strncmp(b, "libcuda.so", 10) || !strncmp(b, "libnvidia-ml.so", 15));
}

/* The objects the program was linked with.  Runs in every process; it writes nothing where no
 * object imports a CUDA or NVML name memfence hooks.  A slot is bound to the function its name
 * reaches, so while no driver or NVML is loaded there is nothing to bind: then the scan of every
 * object's relocations is skipped, and the first CUDA or NVML lookup after one is loaded makes
 * the whole pass (as for any object loaded later). */
__attribute__((constructor(65535))) static void bind_at_start(void)
{
    if (dl_iterate_phdr(is_driver, NULL)) mf_cu_bind_direct();
}
