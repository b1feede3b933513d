/* symbolize.h — turning return addresses into names.
 *
 * Two halves with different rules:
 *  - mf_sym_frame_text: inside the fenced process (refusal lines, leak lines).  dladdr only:
 *    exported (dynamic) symbols, else module+offset.  Allocation-free; no files opened.
 *  - mf_sym_file_*: in the `memfence` command only (it allocates, opens and maps files).  Reads
 *    an ELF file's .symtab (or .dynsym when stripped) — or the separate debug file found by
 *    build id under /usr/lib/debug — and answers name+offset for an address in the file's own
 *    address space (run-time address minus the module's load bias).
 */
#ifndef MF_SYMBOLIZE_H
#define MF_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>

/* "fn+0x1c (module)" or "module+0x11c9" for a return address of this process.
 * Return: the length written. */
size_t mf_sym_frame_text(char *buf, size_t size, uintptr_t addr);

typedef struct mf_symfile mf_symfile_t;

/* Loads the function symbols of an ELF file.  Return: the table (possibly with no symbols), or
 * NULL when the file cannot be read as ELF. */
mf_symfile_t *mf_sym_file_open(const char *path);

/* The function containing vaddr and vaddr's offset in it; NULL when none is known. */
const char *mf_sym_file_lookup(const mf_symfile_t *f, uint64_t vaddr, uint64_t *off);

/* True when the file (or its debug file) carries line tables (.debug_line), i.e. addr2line can
 * say file:line; the path addr2line should read in *debug_path (may be the file itself). */
int mf_sym_file_has_lines(const mf_symfile_t *f, const char **debug_path);

void mf_sym_file_close(mf_symfile_t *f);

#endif
