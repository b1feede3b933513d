/* config.c — the configuration: built-in defaults, then the environment (MEMFENCE_<KEY>).
 *
 * Everything about a key (name, type, default, bounds, help) comes from config_keys.h.  The
 * INI file layer is added by the configuration module (see the README); this file holds the
 * typed value parser every layer shares.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "runtime.h"

enum mf_type { T_SIZE, T_BOOL, T_UINT, T_PCT, T_DURATION, T_FLOAT, T_STR };

static const struct key_info {
    const char *name, *def, *help, *type_name;
    enum mf_type type;
    double lo, hi;
    size_t offset;
} keys[MF_K_COUNT] = {
#define MF_KEY_INFO(name, type, def, lo, hi, help) \
    { #name, def, help, #type, T_##type, lo, hi, offsetof(mf_config_t, name) },
    MF_CONFIG_KEYS(MF_KEY_INFO)
#undef MF_KEY_INFO
};

static mf_config_t the_config;
static int config_loaded;

const mf_config_t *mf_config(void)
{
    if (!config_loaded) {
        mf_config_defaults(&the_config);
        config_loaded = 1;
    }
    return &the_config;
}

const char *mf_config_key_name(unsigned k) { return k < MF_K_COUNT ? keys[k].name : NULL; }
const char *mf_config_key_help(unsigned k) { return k < MF_K_COUNT ? keys[k].help : NULL; }
const char *mf_config_key_default(unsigned k) { return k < MF_K_COUNT ? keys[k].def : NULL; }
const char *mf_config_key_type(unsigned k) { return k < MF_K_COUNT ? keys[k].type_name : NULL; }

static int key_index(const char *name)
{
    for (unsigned k = 0; k < MF_K_COUNT; k++)
        if (!strcmp(keys[k].name, name))
            return (int)k;
    return -1;
}

static int parse_bool(const char *v, bool *out)
{
    static const char *yes[] = { "on", "yes", "true", "1", "enable", "enabled" };
    static const char *no[] = { "off", "no", "false", "0", "disable", "disabled" };
    for (size_t i = 0; i < MF_ARRAY_LEN(yes); i++)
        if (!strcasecmp(v, yes[i])) {
            *out = true;
            return 0;
        }
    for (size_t i = 0; i < MF_ARRAY_LEN(no); i++)
        if (!strcasecmp(v, no[i])) {
            *out = false;
            return 0;
        }
    return -EINVAL;
}

static int parse_double(const char *v, double *out)
{
    /* strtod is locale-dependent and may allocate in some locales; digits and one dot only */
    double r = 0, scale = 1;
    int digits = 0, dot = 0;
    const char *s = v;
    while (*s == ' ')
        s++;
    for (; *s; s++) {
        if (*s >= '0' && *s <= '9') {
            if (dot)
                r += (*s - '0') * (scale /= 10);
            else
                r = r * 10 + (*s - '0');
            digits++;
        } else if (*s == '.' && !dot) {
            dot = 1;
        } else if (*s == '%' && s[1] == '\0') {
            break;
        } else if (*s != ' ') {
            return -EINVAL;
        }
    }
    if (!digits)
        return -EINVAL;
    *out = r;
    return 0;
}

/* Parses v as key k's type into field. */
static int set_one(unsigned k, const char *v, void *field, char *why, size_t whylen)
{
    const struct key_info *ki = &keys[k];
    int rc = 0;
    switch (ki->type) {
    case T_SIZE:
        rc = mf_size_parse(v, (mf_size_t *)field);
        if (rc && why)
            mf_fmt(why, whylen, "%s: '%s' is not a size (bytes with K/M/G/T, N%%, or unlimited)",
                   ki->name, v);
        return rc;
    case T_BOOL:
        rc = parse_bool(v, (bool *)field);
        if (rc && why)
            mf_fmt(why, whylen, "%s: '%s' is not on/off", ki->name, v);
        return rc;
    case T_UINT: {
        double d;
        rc = parse_double(v, &d);
        if (rc || d != (double)(uint64_t)d) {
            if (why)
                mf_fmt(why, whylen, "%s: '%s' is not a whole number", ki->name, v);
            return -EINVAL;
        }
        if (d < ki->lo || d > ki->hi) {
            if (why)
                mf_fmt(why, whylen, "%s: %s is out of bounds [%llu, %llu]", ki->name, v,
                       (unsigned long long)ki->lo, (unsigned long long)ki->hi);
            return -ERANGE;
        }
        *(uint64_t *)field = (uint64_t)d;
        return 0;
    }
    case T_PCT:
    case T_FLOAT: {
        double d;
        rc = parse_double(v, &d);
        if (rc) {
            if (why)
                mf_fmt(why, whylen, "%s: '%s' is not a number", ki->name, v);
            return -EINVAL;
        }
        if (d < ki->lo || d > ki->hi) {
            if (why)
                mf_fmt(why, whylen, "%s: %s is out of bounds [%llu, %llu]", ki->name, v,
                       (unsigned long long)ki->lo, (unsigned long long)ki->hi);
            return -ERANGE;
        }
        *(double *)field = d;
        return 0;
    }
    case T_DURATION: {
        uint64_t ns;
        rc = mf_duration_parse(v, &ns);
        if (rc) {
            if (why)
                mf_fmt(why, whylen, "%s: '%s' is not a duration (e.g. 100ms, 2s, 10m)", ki->name, v);
            return rc;
        }
        if (ns < (uint64_t)(ki->lo * 1e6) || ns > (uint64_t)(ki->hi * 1e6)) {
            if (why)
                mf_fmt(why, whylen, "%s: %s is out of bounds [%llums, %llums]", ki->name, v,
                       (unsigned long long)ki->lo, (unsigned long long)ki->hi);
            return -ERANGE;
        }
        *(uint64_t *)field = ns;
        return 0;
    }
    case T_STR: {
        size_t n = strlen(v);
        if (n >= MF_CFG_STR_MAX) {
            if (why)
                mf_fmt(why, whylen, "%s: value longer than %d bytes", ki->name, MF_CFG_STR_MAX - 1);
            return -ERANGE;
        }
        memcpy(field, v, n + 1);
        return 0;
    }
    }
    return -EINVAL;
}

static size_t field_size(enum mf_type t)
{
    switch (t) {
    case T_SIZE: return sizeof(mf_size_t);
    case T_BOOL: return sizeof(bool);
    case T_UINT: case T_DURATION: return sizeof(uint64_t);
    case T_PCT: case T_FLOAT: return sizeof(double);
    case T_STR: return sizeof(mf_cfg_STR);
    }
    return 0;
}

int mf_config_set(mf_config_t *cfg, const char *name, const char *value, char *why, size_t whylen)
{
    int k = key_index(name);
    if (k < 0) {
        if (why)
            mf_fmt(why, whylen, "unknown key '%s'", name);
        return -ENOENT;
    }
    /* parse into a scratch field so a bad value leaves the old one in place */
    union { mf_cfg_STR s; mf_size_t z; uint64_t u; double d; bool b; } scratch;
    void *field = (char *)cfg + keys[k].offset;
    size_t len = field_size(keys[k].type);
    memcpy(&scratch, field, len);
    int rc = set_one((unsigned)k, value, &scratch, why, whylen);
    if (rc == 0)
        memcpy(field, &scratch, len);
    return rc;
}

void mf_config_defaults(mf_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (unsigned k = 0; k < MF_K_COUNT; k++) {
        int rc = set_one(k, keys[k].def, (char *)cfg + keys[k].offset, NULL, 0);
        (void)rc; /* the defaults are tested by tests/unit/test_config */
        cfg->origin[k] = MF_FROM_DEFAULT;
    }
}

void mf_config_format(const mf_config_t *cfg, unsigned k, char *buf, size_t size)
{
    if (k >= MF_K_COUNT) {
        buf[0] = 0;
        return;
    }
    const void *field = (const char *)cfg + keys[k].offset;
    switch (keys[k].type) {
    case T_SIZE: {
        const mf_size_t *s = field;
        if (s->is_pct)
            mf_fmt(buf, size, "%u.%u%%", s->ppm / 10000, (s->ppm % 10000) / 1000);
        else if (s->bytes == MF_UNLIMITED)
            mf_fmt(buf, size, "unlimited");
        else
            mf_fmt(buf, size, "%llu", (unsigned long long)s->bytes);
        break;
    }
    case T_BOOL: mf_fmt(buf, size, "%s", *(const bool *)field ? "on" : "off"); break;
    case T_UINT: mf_fmt(buf, size, "%llu", *(const unsigned long long *)field); break;
    case T_PCT:
    case T_FLOAT: {
        double d = *(const double *)field;
        unsigned long long w = (unsigned long long)d, f = (unsigned long long)((d - w) * 100 + 0.5);
        if (f >= 100) { w++; f -= 100; }
        if (f)
            mf_fmt(buf, size, "%llu.%02llu", w, f);
        else
            mf_fmt(buf, size, "%llu", w);
        break;
    }
    case T_DURATION: mf_fmt(buf, size, "%llums", *(const unsigned long long *)field / 1000000); break;
    case T_STR: mf_fmt(buf, size, "%s", (const char *)field); break;
    }
}

/* MEMFENCE_<KEY>: the key in upper case. */
static void env_name(const char *key, char *buf, size_t size)
{
    size_t n = mf_fmt(buf, size, "MEMFENCE_");
    for (; *key && n + 1 < size; key++)
        buf[n++] = (*key >= 'a' && *key <= 'z') ? (char)(*key - 32) : *key;
    buf[n] = 0;
}

int mf_config_load(const char *instance, const char *exe)
{
    mf_config_t *cfg = &the_config;
    mf_config_defaults(cfg);
    config_loaded = 1;
    if (instance)
        mf_fmt(cfg->instance, sizeof cfg->instance, "%s", instance);
    (void)exe;
    int problems = 0;
    for (unsigned k = 0; k < MF_K_COUNT; k++) {
        char name[80], why[200];
        env_name(keys[k].name, name, sizeof name);
        const char *v = mf_getenv(name, 0);
        if (!v)
            continue;
        if (mf_config_set(cfg, keys[k].name, v, why, sizeof why) == 0) {
            cfg->origin[k] = MF_FROM_ENV;
        } else {
            mf_log("%s=%s: %s; using the default (%s)", name, v, why, keys[k].def);
            problems++;
        }
    }
    cfg->errors = (unsigned)problems;
    return problems;
}
