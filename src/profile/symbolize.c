/* symbolize.c — names for return addresses (symbolize.h): dladdr in-process, ELF symbol tables
 * in the command. */
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/proc.h"
#include "profile/symbolize.h"

static const char *base_name(const char *path)
{
    const char *b = path;
    for (const char *s = path; *s; s++)
        if (*s == '/')
            b = s + 1;
    return b;
}

size_t mf_sym_frame_text(char *buf, size_t size, uintptr_t addr)
{
    Dl_info info;
    /* addr - 1: a return address points after the call, possibly into the next function */
    if (dladdr((void *)(addr - 1), &info) && info.dli_fname) {
        const char *mod = base_name(info.dli_fname);
        if (!*mod && mf_exe_path())
            mod = base_name(mf_exe_path());
        if (info.dli_sname && info.dli_saddr)
            return mf_fmt(buf, size, "%s+0x%lx (%s)", info.dli_sname,
                          (unsigned long)(addr - (uintptr_t)info.dli_saddr), mod);
        return mf_fmt(buf, size, "%s+0x%lx", mod,
                      (unsigned long)(addr - (uintptr_t)info.dli_fbase));
    }
    return mf_fmt(buf, size, "0x%lx", (unsigned long)addr);
}

/* ---- the command's half: ELF symbol tables ------------------------------------------------ */

typedef struct sym {
    uint64_t addr, size;
    const char *name;
} sym_t;

struct mf_symfile {
    sym_t *syms;
    size_t n;
    void *map[2];               /* the file and its debug file, kept mapped for the names */
    size_t map_len[2];
    int has_lines;
    char *line_path;
};

static int sym_cmp(const void *a, const void *b)
{
    const sym_t *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr ? 1 : (x->size < y->size) - (x->size > y->size);
}

static void *map_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    void *m = NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= (off_t)sizeof(Elf64_Ehdr)) {
        m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED)
            m = NULL;
        else
            *len = (size_t)st.st_size;
    }
    close(fd);
    if (m && memcmp(m, ELFMAG, SELFMAG) != 0) {
        munmap(m, *len);
        return NULL;
    }
    if (m && ((unsigned char *)m)[EI_CLASS] != ELFCLASS64) {
        munmap(m, *len);
        return NULL;
    }
    return m;
}

static const Elf64_Shdr *sections(const void *m, size_t len, unsigned *n)
{
    const Elf64_Ehdr *eh = m;
    if (eh->e_shoff == 0 || eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) > len)
        return NULL;
    *n = eh->e_shnum;
    return (const Elf64_Shdr *)((const char *)m + eh->e_shoff);
}

static const char *section_name(const void *m, size_t len, const Elf64_Shdr *sh, unsigned nsh,
                                const Elf64_Shdr *s)
{
    const Elf64_Ehdr *eh = m;
    if (eh->e_shstrndx >= nsh)
        return "";
    const Elf64_Shdr *str = &sh[eh->e_shstrndx];
    if (str->sh_offset + s->sh_name >= len)
        return "";
    return (const char *)m + str->sh_offset + s->sh_name;
}

/* Adds the functions of one symbol table section of type `type`.  Return: how many. */
static size_t add_syms(mf_symfile_t *f, const void *m, size_t len, uint32_t type)
{
    unsigned nsh;
    const Elf64_Shdr *sh = sections(m, len, &nsh);
    size_t added = 0;
    if (!sh)
        return 0;
    for (unsigned i = 0; i < nsh; i++) {
        if (sh[i].sh_type != type || sh[i].sh_link >= nsh || sh[i].sh_entsize != sizeof(Elf64_Sym))
            continue;
        const Elf64_Shdr *strs = &sh[sh[i].sh_link];
        if (sh[i].sh_offset + sh[i].sh_size > len || strs->sh_offset + strs->sh_size > len)
            continue;
        const Elf64_Sym *st = (const Elf64_Sym *)((const char *)m + sh[i].sh_offset);
        size_t n = sh[i].sh_size / sizeof(Elf64_Sym);
        sym_t *grown = realloc(f->syms, (f->n + n) * sizeof(sym_t));
        if (!grown)
            return added;
        f->syms = grown;
        for (size_t k = 0; k < n; k++) {
            int t = ELF64_ST_TYPE(st[k].st_info);
            if ((t != STT_FUNC && t != STT_GNU_IFUNC) || st[k].st_shndx == SHN_UNDEF ||
                st[k].st_value == 0 || st[k].st_name >= strs->sh_size)
                continue;
            const char *name = (const char *)m + strs->sh_offset + st[k].st_name;
            if (!*name)
                continue;
            f->syms[f->n++] = (sym_t){ st[k].st_value, st[k].st_size, name };
            added++;
        }
    }
    return added;
}

static int has_section(const void *m, size_t len, const char *want)
{
    unsigned nsh;
    const Elf64_Shdr *sh = sections(m, len, &nsh);
    for (unsigned i = 0; sh && i < nsh; i++)
        if (strcmp(section_name(m, len, sh, nsh, &sh[i]), want) == 0 && sh[i].sh_type != SHT_NOBITS)
            return 1;
    return 0;
}

/* The separate debug file of a stripped library, by its GNU build id. */
static char *debug_file(const void *m, size_t len)
{
    unsigned nsh;
    const Elf64_Shdr *sh = sections(m, len, &nsh);
    for (unsigned i = 0; sh && i < nsh; i++) {
        if (sh[i].sh_type != SHT_NOTE || sh[i].sh_offset + sh[i].sh_size > len)
            continue;
        const char *p = (const char *)m + sh[i].sh_offset, *end = p + sh[i].sh_size;
        while (p + sizeof(Elf64_Nhdr) <= end) {
            const Elf64_Nhdr *nh = (const Elf64_Nhdr *)p;
            const unsigned char *desc = (const unsigned char *)p + sizeof *nh + ((nh->n_namesz + 3) & ~3u);
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_descsz >= 2 &&
                (const char *)desc + nh->n_descsz <= end) {
                char path[256];
                size_t o = (size_t)snprintf(path, sizeof path, "/usr/lib/debug/.build-id/%02x/", desc[0]);
                for (unsigned k = 1; k < nh->n_descsz && o + 3 < sizeof path; k++)
                    o += (size_t)snprintf(path + o, sizeof path - o, "%02x", desc[k]);
                snprintf(path + o, sizeof path - o, ".debug");
                return access(path, R_OK) == 0 ? strdup(path) : NULL;
            }
            p += sizeof *nh + ((nh->n_namesz + 3) & ~3u) + ((nh->n_descsz + 3) & ~3u);
        }
    }
    return NULL;
}

mf_symfile_t *mf_sym_file_open(const char *path)
{
    size_t len = 0;
    void *m = map_file(path, &len);
    if (!m)
        return NULL;
    mf_symfile_t *f = calloc(1, sizeof *f);
    if (!f) {
        munmap(m, len);
        return NULL;
    }
    f->map[0] = m;
    f->map_len[0] = len;
    size_t got = add_syms(f, m, len, SHT_SYMTAB);
    if (has_section(m, len, ".debug_line")) {
        f->has_lines = 1;
        f->line_path = strdup(path);
    }
    char *dbg = (got == 0 || !f->has_lines) ? debug_file(m, len) : NULL;
    if (dbg) {
        size_t dlen = 0;
        void *d = map_file(dbg, &dlen);
        if (d) {
            f->map[1] = d;
            f->map_len[1] = dlen;
            got += add_syms(f, d, dlen, SHT_SYMTAB);
            if (!f->has_lines && has_section(d, dlen, ".debug_line")) {
                f->has_lines = 1;
                f->line_path = strdup(dbg);
            }
        }
        free(dbg);
    }
    if (got == 0)
        add_syms(f, m, len, SHT_DYNSYM);
    if (f->n)
        qsort(f->syms, f->n, sizeof *f->syms, sym_cmp);
    return f;
}

const char *mf_sym_file_lookup(const mf_symfile_t *f, uint64_t vaddr, uint64_t *off)
{
    if (!f || f->n == 0)
        return NULL;
    size_t lo = 0, hi = f->n;
    while (lo < hi) {                   /* first symbol with addr > vaddr */
        size_t mid = (lo + hi) / 2;
        if (f->syms[mid].addr <= vaddr)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* the nearest symbol at or below vaddr that contains it (sized) or has no size */
    for (size_t i = lo; i-- > 0 && lo - i <= 8;) {
        const sym_t *s = &f->syms[i];
        if (s->size == 0 || vaddr < s->addr + s->size) {
            if (off)
                *off = vaddr - s->addr;
            return s->name;
        }
    }
    return NULL;
}

int mf_sym_file_has_lines(const mf_symfile_t *f, const char **debug_path)
{
    if (!f || !f->has_lines)
        return 0;
    if (debug_path)
        *debug_path = f->line_path;
    return 1;
}

void mf_sym_file_close(mf_symfile_t *f)
{
    if (!f)
        return;
    for (int i = 0; i < 2; i++)
        if (f->map[i])
            munmap(f->map[i], f->map_len[i]);
    free(f->syms);
    free(f->line_path);
    free(f);
}
