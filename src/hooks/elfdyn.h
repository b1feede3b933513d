/* elfdyn.h — reading a loaded object's dynamic section: the symbol and string tables, GNU hash,
 * version indexes and relocation tables.  Used by hooks/dl.c (finding libc's dlvsym),
 * hooks/cxx.c (finding the C++ runtime's operators) and hooks/cuda_got.c (binding
 * direct-linked CUDA callers).  No allocation, no lock. */
#ifndef MF_HOOKS_ELFDYN_H
#define MF_HOOKS_ELFDYN_H

#include <elf.h>
#include <link.h>
#include <stdint.h>
#include <string.h>

typedef struct mf_elf_dyn {
    const ElfW(Sym) *symtab;
    const char *strtab;
    const uint32_t *gnu_hash;
    const ElfW(Half) *versym;
    const ElfW(Rela) *rela, *jmprel;
    size_t relasz, jmprelsz;
} mf_elf_dyn_t;

/* Fills out from the dynamic section `dyn` of the object loaded at `base` (dlpi_addr). */
static inline void mf_elf_dyn_read(uintptr_t base, const ElfW(Dyn) *dyn, mf_elf_dyn_t *out)
{
    *out = (mf_elf_dyn_t){ 0 };
    for (; dyn->d_tag != DT_NULL; dyn++) {
        uintptr_t v = dyn->d_un.d_ptr;
        uintptr_t p = v < base ? v + base : v;   /* ld.so relocates these in place on x86-64 */
        switch (dyn->d_tag) {
        case DT_SYMTAB: out->symtab = (const ElfW(Sym) *)p; break;
        case DT_STRTAB: out->strtab = (const char *)p; break;
        case DT_GNU_HASH: out->gnu_hash = (const uint32_t *)p; break;
        case DT_VERSYM: out->versym = (const ElfW(Half) *)p; break;
        case DT_RELA: out->rela = (const ElfW(Rela) *)p; break;
        case DT_RELASZ: out->relasz = v; break;
        case DT_JMPREL: out->jmprel = (const ElfW(Rela) *)p; break;
        case DT_PLTRELSZ: out->jmprelsz = v; break;
        }
    }
}

/* The object's PT_DYNAMIC in memory, or NULL. */
static inline const ElfW(Dyn) *mf_elf_dynamic(const struct dl_phdr_info *info)
{
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
            return (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
    return NULL;
}

/* The address of `name` (its default version) defined in the object loaded at `base` with
 * dynamic section `dyn`, found through the object's GNU hash table; NULL when it defines none. */
static inline void *mf_elf_lookup(uintptr_t base, const ElfW(Dyn) *dyn, const char *name)
{
    mf_elf_dyn_t d;
    mf_elf_dyn_read(base, dyn, &d);
    const uint32_t *gh = d.gnu_hash;
    if (!d.symtab || !d.strtab || !gh) return NULL;
    uint32_t nbuckets = gh[0], symoffset = gh[1], bloom_size = gh[2];
    const uint32_t *buckets = (const uint32_t *)((const ElfW(Addr) *)(gh + 4) + bloom_size);
    const uint32_t *chain = buckets + nbuckets;
    uint32_t h = 5381;                             /* the GNU hash: h * 33 + c */
    for (const char *c = name; *c; c++) h = h * 33 + (unsigned char)*c;
    uint32_t i = nbuckets ? buckets[h % nbuckets] : 0;
    if (i < symoffset) return NULL;
    for (;; i++) {
        uint32_t h2 = chain[i - symoffset];
        const ElfW(Sym) *sym = &d.symtab[i];
        if ((h | 1) == (h2 | 1) && sym->st_value && sym->st_shndx != SHN_UNDEF &&
            !strcmp(d.strtab + sym->st_name, name) && (!d.versym || !(d.versym[i] & 0x8000)))
            return (void *)(base + sym->st_value);
        if (h2 & 1) return NULL;
    }
}

#endif
