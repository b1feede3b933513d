/* elfdyn.h — reading a loaded object's dynamic section: the symbol and string tables, GNU hash,
 * version indexes and relocation tables.  Used by hooks/dl.c (finding libc's dlvsym) and
 * hooks/cuda_got.c (binding direct-linked CUDA callers).  No allocation. */
#ifndef MF_HOOKS_ELFDYN_H
#define MF_HOOKS_ELFDYN_H

#include <elf.h>
#include <link.h>
#include <stdint.h>

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

#endif
