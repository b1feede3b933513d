/* config.h — one immutable configuration struct, built once from the built-in defaults, the INI
 * file and the environment (MEMFENCE_<KEY>), in that order of increasing precedence.
 *
 * Modules read mf_config() after runtime initialisation; the struct never changes afterwards.
 */
#ifndef MF_CONFIG_H
#define MF_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "base/mf.h"
#include "base/size.h"
#include "config/config_keys.h"

#define MF_CFG_STR_MAX 256

typedef mf_size_t mf_cfg_SIZE;
typedef bool      mf_cfg_BOOL;
typedef uint64_t  mf_cfg_UINT;
typedef double    mf_cfg_PCT;
typedef uint64_t  mf_cfg_DURATION;   /* nanoseconds */
typedef double    mf_cfg_FLOAT;
typedef char      mf_cfg_STR[MF_CFG_STR_MAX];

enum mf_key {
#define MF_KEY_ENUM(name, type, def, lo, hi, help) MF_K_##name,
    MF_CONFIG_KEYS(MF_KEY_ENUM)
#undef MF_KEY_ENUM
    MF_K_COUNT
};

/* MF_FROM_FLAG: the environment variable was set by a `memfence run` flag (mf_config_flag);
 * MF_FROM_RUN: the file could not be read and the budget `memfence run` computed was kept. */
enum mf_origin { MF_FROM_DEFAULT, MF_FROM_GLOBAL, MF_FROM_PROCESS, MF_FROM_INSTANCE, MF_FROM_ENV,
                 MF_FROM_FLAG, MF_FROM_RUN };

#define MF_GROUPS_MAX 32

/* One [group NAME] section of the file: a budget shared by several instances (the ledger applies
 * it).  Keys a group takes: MF_GROUP_KEYS in config_keys.h.  A key the section does not set
 * reads as its built-in default (limit/gpu_limit unlimited, reserve 0) with *_set false. */
typedef struct mf_group_cfg {
    char name[MF_NAME_MAX];
    mf_size_t limit, gpu_limit, reserve;
    bool limit_set, gpu_limit_set, reserve_set;
    mf_size_t gpu_limit_dev[MF_GPU_MAX];     /* gpu_limit.N of the group */
    bool gpu_limit_dev_set[MF_GPU_MAX];
    uint32_t line;                           /* line of the [group NAME] header */
} mf_group_cfg_t;

typedef struct mf_config {
#define MF_KEY_FIELD(name, type, def, lo, hi, help) mf_cfg_##type name;
    MF_CONFIG_KEYS(MF_KEY_FIELD)
#undef MF_KEY_FIELD
    mf_size_t gpu_limit_dev[MF_GPU_MAX];     /* gpu_limit.N; is_set says which are given */
    bool gpu_limit_dev_set[MF_GPU_MAX];
    /* where each value came from, for `memfence check --show`: an enum mf_origin, and the line
     * of the file (MF_FROM_GLOBAL/PROCESS/INSTANCE) */
    uint8_t origin[MF_K_COUNT];
    uint32_t origin_line[MF_K_COUNT];
    uint8_t gpu_dev_origin[MF_GPU_MAX];
    uint32_t gpu_dev_line[MF_GPU_MAX];
    char file[MF_CFG_STR_MAX];              /* the INI file read, or "" */
    char instance[MF_NAME_MAX];             /* the identity the file was matched with */
    char program[MF_NAME_MAX];              /* the program name [process] patterns saw */
    char process[MF_CFG_STR_MAX];           /* the pattern of the [process] section that matched */
    uint32_t process_line;                  /* its header's line (0: none matched) */
    /* every [group NAME] of the file, in file order: see mf_config_group() */
    unsigned ngroups;
    mf_group_cfg_t groups[MF_GROUPS_MAX];
    unsigned errors;                         /* how many problems were reported */
} mf_config_t;

/* The effective configuration of this process (built-in defaults before mf_config_load ran). */
const mf_config_t *mf_config(void);

/* Builds the process's configuration: defaults, then the INI file (when one is found: see
 * mf_config_build), then the environment.  `instance` and `exe` identify the process for
 * [instance] and [process] sections; the program name is the runtime's (argv[0]'s base name)
 * when known, else exe's base name.  Problems are reported once each ("file:line: message")
 * and the broken keys keep their built-in defaults.  Return: the number of problems (0 = clean). */
int mf_config_load(const char *instance, const char *exe);

/* The general form behind mf_config_load, for the command line and tests: builds cfg for the
 * identity (instance, program, exe; any may be NULL) from the file `path` (NULL: locate it as
 * the library does — MEMFENCE_CONFIG, $XDG_CONFIG_HOME/memfence/memfence.conf,
 * ~/.config/memfence/memfence.conf, /etc/memfence.conf; "": no file), then the environment when
 * `env` is true.  Return: the number of problems reported. */
int mf_config_build(mf_config_t *cfg, const char *path, const char *instance, const char *program,
                    const char *exe, bool env);

/* Says that key k's MEMFENCE_<KEY> variable holds the value of the command-line flag `flag`
 * ("--allocator"): messages and origins then name the flag.  NULL forgets it.  For the command
 * line; not thread-safe: call it before building. */
void mf_config_flag(unsigned k, const char *flag);

/* The flag mf_config_flag named for key k, or NULL. */
const char *mf_config_origin_flag(unsigned k);

/* Where key k's value came from, as a user would look for it: "--limit", "MEMFENCE_LIMIT",
 * "FILE:LINE", "the budget memfence run computed" or "the default". */
const char *mf_config_origin_text(const mf_config_t *cfg, unsigned k, char *buf, size_t size);

/* The [group NAME] section of cfg's file, or NULL when the file has none by that name. */
const mf_group_cfg_t *mf_config_group(const mf_config_t *cfg, const char *name);

/* Where problems go: one call per problem, msg without newline.  NULL restores the default
 * (mf_log).  Not thread-safe: set it before building. */
typedef void mf_config_reporter_t(const char *msg);
void mf_config_set_reporter(mf_config_reporter_t *fn);

/* Reports one problem through the reporter (printf-like, memfence's mf_fmt subset). */
void mf_config_report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Fills cfg with the built-in defaults. */
void mf_config_defaults(mf_config_t *cfg);

/* Parses and stores one value for key `name` (including gpu_limit.N) into cfg by its type and
 * bounds (the rules of mf_config_check are not applied: the file and the environment layers
 * check them first); the origin is left as it was.  Return: 0, -ENOENT (unknown key), -EINVAL (malformed), -ERANGE (out of
 * bounds).  On error, `why` (if given) receives a message and cfg is unchanged. */
int mf_config_set(mf_config_t *cfg, const char *name, const char *value, char *why, size_t whylen);

/* Looks a key name up.  Return: the key index (enum mf_key), with *dev = N for "gpu_limit.N"
 * and -1 otherwise; -ENOENT when unknown, -ERANGE for gpu_limit.N with N >= MF_GPU_MAX. */
int mf_config_key_find(const char *name, int *dev);

/* Validates a value for key k without storing it: the type, the bounds and the key's own rules
 * (choices, action lists, fault specs).  Return: 0, -EINVAL or -ERANGE with `why` filled. */
int mf_config_check(unsigned k, const char *value, char *why, size_t whylen);

/* The closest known key to a misspelt `name`, or NULL when none is close. */
const char *mf_config_suggest(const char *name);

/* True when key k may appear in a [group] section (MF_GROUP_KEYS). */
bool mf_config_group_key(unsigned k);

/* The key's name, help text, default text, type name; NULL past the end. */
const char *mf_config_key_name(unsigned key);
const char *mf_config_key_help(unsigned key);
const char *mf_config_key_default(unsigned key);
const char *mf_config_key_type(unsigned key);

/* The bounds of key k (UINT, PCT, FLOAT; DURATION in ms).  Return: true when the type has them. */
bool mf_config_key_bounds(unsigned key, double *lo, double *hi);

/* Formats cfg's value of `key` as the user would write it (sizes with K/M/G/T when exact). */
void mf_config_format(const mf_config_t *cfg, unsigned key, char *buf, size_t size);

/* Formats a size as the user would write it ("12G", "50%", "unlimited"). */
void mf_config_format_size(const mf_size_t *s, char *buf, size_t size);

/* Small string distance used for "did you mean" suggestions (Levenshtein, capped at 64 chars). */
unsigned mf_config_distance(const char *a, const char *b);

#endif
