/* config.h — one immutable configuration struct, built once from the built-in defaults, the INI
 * file and the environment (MEMFENCE_<KEY>), in that order of increasing precedence.
 *
 * Modules read mf_config() after runtime initialisation; the struct never changes afterwards.
 */
#ifndef MF_CONFIG_H
#define MF_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "mf.h"
#include "size.h"
#include "config_keys.h"

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

enum mf_origin { MF_FROM_DEFAULT, MF_FROM_GLOBAL, MF_FROM_PROCESS, MF_FROM_INSTANCE, MF_FROM_ENV };

typedef struct mf_config {
#define MF_KEY_FIELD(name, type, def, lo, hi, help) mf_cfg_##type name;
    MF_CONFIG_KEYS(MF_KEY_FIELD)
#undef MF_KEY_FIELD
    mf_size_t gpu_limit_dev[MF_GPU_MAX];     /* gpu_limit.N; is_set says which are given */
    bool gpu_limit_dev_set[MF_GPU_MAX];
    /* where each value came from, for `memfence check --show` */
    uint8_t origin[MF_K_COUNT];
    uint32_t origin_line[MF_K_COUNT];
    char file[MF_CFG_STR_MAX];              /* the INI file read, or "" */
    char instance[MF_NAME_MAX];             /* the identity the file was matched with */
    unsigned errors;                         /* how many problems were reported */
} mf_config_t;

/* The effective configuration of this process (built-in defaults before mf_config_load ran). */
const mf_config_t *mf_config(void);

/* Builds the process's configuration: defaults, then the INI file (when one is found), then the
 * environment.  `instance` and `exe` identify the process for [instance] and [process] sections.
 * Problems are reported with mf_log (one line each) and the broken keys keep their defaults.
 * Return: the number of problems (0 = clean). */
int mf_config_load(const char *instance, const char *exe);

/* Fills cfg with the built-in defaults. */
void mf_config_defaults(mf_config_t *cfg);

/* Parses and stores one value for key `name` into cfg.  Return: 0, -ENOENT (unknown key),
 * -EINVAL (malformed), -ERANGE (out of bounds).  On error, `why` (if given) receives a message. */
int mf_config_set(mf_config_t *cfg, const char *name, const char *value, char *why, size_t whylen);

/* The key's name, help text, default text, type name; NULL past the end. */
const char *mf_config_key_name(unsigned key);
const char *mf_config_key_help(unsigned key);
const char *mf_config_key_default(unsigned key);
const char *mf_config_key_type(unsigned key);

/* Formats cfg's value of `key` as the user would write it. */
void mf_config_format(const mf_config_t *cfg, unsigned key, char *buf, size_t size);

#endif
