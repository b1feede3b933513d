/* config_file.h — the INI file: where it is, whether it may be trusted, and what it says.
 *
 * A file is read whole with raw system calls into memory memfence maps for itself (plain malloc
 * when built into the memfence command or the tests), parsed with inih (ini_parse_stream with
 * memfence's own line reader, so every line's number is known and no stdio is involved), and
 * validated: unknown keys ("did you mean"), bad or out-of-bounds values, duplicate keys,
 * sections that match nothing, lines inih cannot parse.  Each problem is reported once, in line
 * order, as "file:line: message" through mf_config_report; the entry is then ignored.
 *
 * Sections with the same header ([global] twice, say) are one section; [process PATTERN]
 * sections are kept in the order their first header appears (first match wins).
 *
 * Two files implement it: config_trust.c finds the file and decides whether it may be trusted
 * (locate, load's checks); config_file.c reads, parses, validates and looks things up.
 */
#ifndef MF_CONFIG_FILE_H
#define MF_CONFIG_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

enum mf_section_kind { MF_SEC_GLOBAL, MF_SEC_PROCESS, MF_SEC_INSTANCE, MF_SEC_GROUP, MF_SEC_BAD };

typedef struct mf_cfg_section {
    const char *name;           /* the pattern or name ("" for [global]) */
    uint32_t line;              /* line of its first header (0: keys before any header) */
    uint8_t kind;               /* enum mf_section_kind */
} mf_cfg_section_t;

typedef struct mf_cfg_entry {
    const char *key, *value;
    uint32_t line;
    uint16_t section;           /* index into sec[] */
    int16_t k;                  /* enum mf_key, or -1 when unknown */
    int8_t dev;                 /* N of gpu_limit.N, else -1 */
    bool ok;                    /* valid, not a duplicate: applies */
    bool broken;                /* a known key with a bad value: the key falls back to its default */
} mf_cfg_entry_t;

typedef struct mf_cfg_file {
    char path[MF_CFG_STR_MAX];
    mf_cfg_section_t *sec;
    unsigned nsec;
    mf_cfg_entry_t *ent;
    unsigned nent;
    unsigned errors;            /* problems reported */
    void *mem;                  /* one block holding the text, the tables and the strings */
    size_t mem_len;
} mf_cfg_file_t;

/* Finds the file as the library does (see mf_config_build); secure-execution mode ignores the
 * paths that come from the environment.  Return: 0 with the path in buf, or -ENOENT. */
int mf_cfg_file_locate(char *buf, size_t size);

/* Opens `path`, refuses it when another user could have written it (owner not root or this
 * user, writable by group or others, or in a directory others can write without the sticky
 * bit), reads and parses it.  Return: 0 (f filled; f->errors counts the problems), or a
 * negative errno when the file cannot be read or is refused (reported; f is empty). */
int mf_cfg_file_load(mf_cfg_file_t *f, const char *path);

/* Reads `size` bytes (at most) from fd, an open file that mf_cfg_file_load has checked, closes
 * fd, and parses the text as `path`: the part of mf_cfg_file_load after the checks.  Return: as
 * mf_cfg_file_parse, or -ENOMEM when the text does not fit in memory (reported). */
int mf_cfg_file_read(mf_cfg_file_t *f, const char *path, int fd, size_t size);

/* Parses `len` bytes of INI text named `name` (for messages) into f: the part of
 * mf_cfg_file_load after reading (tests and the fuzzer).  Return: 0 or -ENOMEM. */
int mf_cfg_file_parse(mf_cfg_file_t *f, const char *name, const char *text, size_t len);

/* Releases what load/parse took; f becomes empty.  Safe on an empty f. */
void mf_cfg_file_free(mf_cfg_file_t *f);

/* The index of the section of this kind and name, or -1. */
int mf_cfg_file_find(const mf_cfg_file_t *f, int kind, const char *name);

/* The first [process PATTERN] (file order) whose pattern matches `program` or `exe` (see
 * memfence.conf(5): a pattern with a '/' is matched against the executable's path, one without
 * against the program name and the executable's base name).  Return: its index, or -1. */
int mf_cfg_file_match(const mf_cfg_file_t *f, const char *program, const char *exe);

/* Applies section `sec`'s valid entries to cfg with the given origin (enum mf_origin); a key
 * whose entry is broken is flagged in broken[k] (MF_K_COUNT + N for gpu_limit.N), a key set
 * cleanly clears its flag.  broken may be NULL. */
void mf_cfg_file_apply(const mf_cfg_file_t *f, int sec, mf_config_t *cfg, int origin,
                       uint8_t *broken);

/* Copies the file's [group] sections into cfg->groups. */
void mf_cfg_file_groups(const mf_cfg_file_t *f, mf_config_t *cfg);

/* Composes cfg (already holding the defaults and the identity) from f: [global], then section
 * `proc` (a [process], or -1), then [instance `instance`] (NULL: none), the key by key fallback
 * of broken entries to their defaults, the groups, and the environment when `env`; checks that
 * the pressure levels increase.  f may be NULL or empty.  Return: problems reported here. */
int mf_config_compose(mf_config_t *cfg, const mf_cfg_file_t *f, int proc, const char *instance,
                      bool env);

#endif
