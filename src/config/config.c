/* config.c — the configuration: built-in defaults, the INI file's layers ([global], the first
 * matching [process], [instance]), then the environment (MEMFENCE_<KEY>), per key.
 *
 * Everything about a key (name, type, default, bounds, help) comes from config_keys.h; this file
 * holds the typed value parser every layer shares, the rules some keys add (choices, action
 * lists, fault specs), and the composition.  The file itself is config_file.c's (reading and
 * parsing it) and config_trust.c's (finding it and deciding whether to trust it).
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "base/proc.h"
#include "config/config.h"
#include "config/config_file.h"
#include "config/fail_spec.h"
#include "config/levels.h"

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

bool mf_config_key_bounds(unsigned k, double *lo, double *hi)
{
    if (k >= MF_K_COUNT)
        return false;
    *lo = keys[k].lo;
    *hi = keys[k].hi;
    enum mf_type t = keys[k].type;
    return t == T_UINT || t == T_PCT || t == T_FLOAT || t == T_DURATION;
}

static int key_index(const char *name)
{
    for (unsigned k = 0; k < MF_K_COUNT; k++)
        if (!strcasecmp(keys[k].name, name))
            return (int)k;
    return -1;
}

int mf_config_key_find(const char *name, int *dev)
{
    *dev = -1;
    static const char gl[] = "gpu_limit.";
    if (!strncasecmp(name, gl, sizeof gl - 1)) {
        const char *d = name + sizeof gl - 1;
        unsigned n = 0;
        if (!*d)
            return -ENOENT;
        for (; *d; d++) {
            if (*d < '0' || *d > '9' || n > 1000)
                return -ENOENT;
            n = n * 10 + (unsigned)(*d - '0');
        }
        if (n >= MF_GPU_MAX)
            return -ERANGE;
        *dev = (int)n;
        return MF_K_gpu_limit;
    }
    int k = key_index(name);
    return k < 0 ? -ENOENT : k;
}

bool mf_config_group_key(unsigned k)
{
#define MF_GROUP_KEY_IS(name) if (k == MF_K_##name) return true;
    MF_GROUP_KEYS(MF_GROUP_KEY_IS)
#undef MF_GROUP_KEY_IS
    return false;
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

/* True (with the message) when d lies outside the key's bounds. */
static int out_of_bounds(const struct key_info *ki, double d, const char *v, char *why,
                         size_t whylen)
{
    if (d >= ki->lo && d <= ki->hi)
        return 0;
    if (why)
        mf_fmt(why, whylen, "%s: %s is out of bounds [%llu, %llu]", ki->name, v,
               (unsigned long long)ki->lo, (unsigned long long)ki->hi);
    return 1;
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
        if (rc || d >= 18446744073709551616.0 || d != (double)(uint64_t)d) {
            if (why)
                mf_fmt(why, whylen, "%s: '%s' is not a whole number", ki->name, v);
            return -EINVAL;
        }
        if (out_of_bounds(ki, d, v, why, whylen))
            return -ERANGE;
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
        if (out_of_bounds(ki, d, v, why, whylen))
            return -ERANGE;
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

/* ---- rules some keys add to their type ------------------------------------------------------ */

static int one_of(const char *v, const char *const *choices, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v, choices[i]))
            return 1;
    return 0;
}

/* The first n bytes of s as a string in buf (mf_fmt has no precision). */
static char *cut(char *buf, size_t size, const char *s, size_t n)
{
    n = MF_MIN(n, size - 1);
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}

/* A level's actions: the sampler's own grammar (levels.c), so what `memfence check` and
 * `memfence run` accept is exactly what the fenced process carries out. */
static int check_actions(const char *name, const char *v, char *why, size_t whylen)
{
    unsigned acts;
    int signo;
    char what[160];
    if (mf_levels_parse_actions(v, &acts, &signo, what, sizeof what) == 0)
        return 0;
    if (why)
        mf_fmt(why, whylen, "%s: %s", name, what);
    return -EINVAL;
}

static int check_rules(unsigned k, const char *v, char *why, size_t whylen)
{
    static const char *const on_limit[] = { "refuse", "warn" };
    static const char *const allocators[] = { "system", "glibc", "jemalloc", "tcmalloc",
                                              "mimalloc" };
    switch (k) {
    case MF_K_on_limit:
        if (one_of(v, on_limit, MF_ARRAY_LEN(on_limit)))
            return 0;
        if (why)
            mf_fmt(why, whylen, "on_limit: '%s' is not refuse or warn", v);
        return -EINVAL;
    case MF_K_allocator:
        if (one_of(v, allocators, MF_ARRAY_LEN(allocators)))
            return 0;
        if (why)
            mf_fmt(why, whylen, "allocator: '%s' is not system, jemalloc, tcmalloc or mimalloc", v);
        return -EINVAL;
    case MF_K_moderate_actions:
    case MF_K_high_actions:
    case MF_K_critical_actions:
        return check_actions(keys[k].name, v, why, whylen);
    case MF_K_log:
        if (!strcmp(v, "stderr") || !strcmp(v, "syslog") || !strcmp(v, "off") || v[0] == '/')
            return 0;
        if (why)
            mf_fmt(why, whylen, "log: '%s' is not stderr, syslog, off or an absolute file path", v);
        return -EINVAL;
    case MF_K_group:
        for (const char *c = v; *c; c++)
            if (*c == ' ' || *c == '\t' || *c == '/' || (unsigned char)*c < 32) {
                if (why)
                    mf_fmt(why, whylen, "group: '%s' is not a name (no spaces or '/')", v);
                return -EINVAL;
            }
        if (strlen(v) >= MF_NAME_MAX) {
            if (why)
                mf_fmt(why, whylen, "group: name longer than %d characters", MF_NAME_MAX - 1);
            return -ERANGE;
        }
        return 0;
    case MF_K_fail: {
        if (!*v)
            return 0;                       /* no fault injection */
        mf_fail_spec_t spec;                /* the fault module's own parser */
        return mf_fail_parse(v, &spec, why, whylen);
    }
    default:
        return 0;
    }
}

int mf_config_check(unsigned k, const char *value, char *why, size_t whylen)
{
    if (k >= MF_K_COUNT)
        return -EINVAL;
    union { mf_cfg_STR s; mf_size_t z; uint64_t u; double d; bool b; } scratch;
    int rc = set_one(k, value, &scratch, why, whylen);
    return rc ? rc : check_rules(k, value, why, whylen);
}

int mf_config_set(mf_config_t *cfg, const char *name, const char *value, char *why, size_t whylen)
{
    int dev;
    int k = mf_config_key_find(name, &dev);
    if (k < 0) {
        if (why)
            mf_fmt(why, whylen, k == -ERANGE ? "%s: no such device (0 to 15)" : "unknown key '%s'",
                   name);
        return k == -ERANGE ? -ERANGE : -ENOENT;
    }
    /* parse into a scratch field so a bad value leaves the old one in place */
    union { mf_cfg_STR s; mf_size_t z; uint64_t u; double d; bool b; } scratch;
    int rc = set_one((unsigned)k, value, &scratch, why, whylen);
    if (rc)
        return rc;
    if (dev >= 0) {
        cfg->gpu_limit_dev[dev] = scratch.z;
        cfg->gpu_limit_dev_set[dev] = true;
        return 0;
    }
    return set_one((unsigned)k, value, (char *)cfg + keys[k].offset, why, whylen);
}

void mf_config_defaults(mf_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (unsigned k = 0; k < MF_K_COUNT; k++) {
        int rc = set_one(k, keys[k].def, (char *)cfg + keys[k].offset, NULL, 0);
        (void)rc; /* the defaults are tested by tests/unit/test_config_keys */
        cfg->origin[k] = MF_FROM_DEFAULT;
    }
}

static void reset_key(mf_config_t *cfg, unsigned slot)
{
    if (slot >= MF_K_COUNT) {
        unsigned d = slot - MF_K_COUNT;
        cfg->gpu_limit_dev_set[d] = false;
        memset(&cfg->gpu_limit_dev[d], 0, sizeof cfg->gpu_limit_dev[d]);
        cfg->gpu_dev_origin[d] = MF_FROM_DEFAULT;
        cfg->gpu_dev_line[d] = 0;
        return;
    }
    set_one(slot, keys[slot].def, (char *)cfg + keys[slot].offset, NULL, 0);
    cfg->origin[slot] = MF_FROM_DEFAULT;
    cfg->origin_line[slot] = 0;
}

/* ---- formatting ------------------------------------------------------------------------------ */

void mf_config_format_size(const mf_size_t *s, char *buf, size_t size)
{
    if (s->is_pct) {
        if (s->ppm % 10000)
            mf_fmt(buf, size, "%u.%04u%%", s->ppm / 10000, s->ppm % 10000);
        else
            mf_fmt(buf, size, "%u%%", s->ppm / 10000);
        /* drop trailing zeros of the fraction */
        char *pct = strchr(buf, '%'), *dot = strchr(buf, '.');
        if (dot && pct) {
            char *z = pct;
            while (z > dot + 1 && z[-1] == '0')
                z--;
            memmove(z, pct, strlen(pct) + 1);
        }
        return;
    }
    if (s->bytes == MF_UNLIMITED) {
        mf_fmt(buf, size, "unlimited");
        return;
    }
    static const char sfx[] = "KMGT";
    uint64_t v = s->bytes;
    int u = -1;
    while (u < 3 && v && v % 1024 == 0)
        v /= 1024, u++;
    if (u >= 0)
        mf_fmt(buf, size, "%llu%c", (unsigned long long)v, sfx[u]);
    else
        mf_fmt(buf, size, "%llu", (unsigned long long)v);
}

void mf_config_format(const mf_config_t *cfg, unsigned k, char *buf, size_t size)
{
    if (k >= MF_K_COUNT) {
        buf[0] = 0;
        return;
    }
    const void *field = (const char *)cfg + keys[k].offset;
    switch (keys[k].type) {
    case T_SIZE: mf_config_format_size(field, buf, size); break;
    case T_BOOL: mf_fmt(buf, size, "%s", *(const bool *)field ? "on" : "off"); break;
    case T_UINT: mf_fmt(buf, size, "%llu", *(const unsigned long long *)field); break;
    case T_PCT:
    case T_FLOAT: {
        double d = *(const double *)field;
        unsigned long long w = (unsigned long long)d, f = (unsigned long long)((d - w) * 100 + 0.5);
        if (f >= 100) { w++; f -= 100; }
        if (f)
            mf_fmt(buf, size, f % 10 ? "%llu.%02llu" : "%llu.%llu", w, f % 10 ? f : f / 10);
        else
            mf_fmt(buf, size, "%llu", w);
        break;
    }
    case T_DURATION: {
        unsigned long long ns = *(const unsigned long long *)field;
        if (ns % 1000000)
            mf_fmt(buf, size, "%lluus", ns / 1000);
        else if (ns >= 60000000000ull && ns % 60000000000ull == 0)
            mf_fmt(buf, size, "%llum", ns / 60000000000ull);
        else if (ns >= 1000000000ull && ns % 1000000000ull == 0)
            mf_fmt(buf, size, "%llus", ns / 1000000000ull);
        else
            mf_fmt(buf, size, "%llums", ns / 1000000);
        break;
    }
    case T_STR: mf_fmt(buf, size, "%s", (const char *)field); break;
    }
}

/* ---- problems and suggestions ----------------------------------------------------------------- */

static mf_config_reporter_t *reporter;

void mf_config_set_reporter(mf_config_reporter_t *fn) { reporter = fn; }

void mf_config_report(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    mf_vfmt(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (reporter)
        reporter(msg);
    else
        mf_log("%s", msg);
}

unsigned mf_config_distance(const char *a, const char *b)
{
    unsigned row[65], la = (unsigned)MF_MIN(strlen(a), 64), lb = (unsigned)MF_MIN(strlen(b), 64);
    for (unsigned j = 0; j <= lb; j++)
        row[j] = j;
    for (unsigned i = 1; i <= la; i++) {
        unsigned diag = row[0];
        row[0] = i;
        for (unsigned j = 1; j <= lb; j++) {
            unsigned ca = (unsigned char)a[i - 1], cb = (unsigned char)b[j - 1];
            if (ca >= 'A' && ca <= 'Z') ca += 32;
            if (cb >= 'A' && cb <= 'Z') cb += 32;
            unsigned best = diag + (ca != cb);
            best = MF_MIN(best, row[j] + 1);
            best = MF_MIN(best, row[j - 1] + 1);
            diag = row[j];
            row[j] = best;
        }
    }
    return row[lb];
}

const char *mf_config_suggest(const char *name)
{
    const char *best = NULL;
    unsigned bd = (unsigned)MF_MAX(2, strlen(name) / 3) + 1;
    for (unsigned k = 0; k < MF_K_COUNT; k++) {
        unsigned d = mf_config_distance(name, keys[k].name);
        if (d < bd)
            bd = d, best = keys[k].name;
    }
    /* "gpu_limit0", "gpu-limit.1": the per-device form */
    if (!best && !strncasecmp(name, "gpu", 3) && strchr(name, '.'))
        best = "gpu_limit.N";
    return best;
}

/* ---- composition --------------------------------------------------------------------------- */

const mf_group_cfg_t *mf_config_group(const mf_config_t *cfg, const char *name)
{
    if (!cfg || !name || !*name)
        return NULL;
    for (unsigned i = 0; i < cfg->ngroups; i++)
        if (!strcmp(cfg->groups[i].name, name))
            return &cfg->groups[i];
    return NULL;
}

/* MEMFENCE_<KEY>: the key in upper case. */
static void env_name(const char *key, char *buf, size_t size)
{
    size_t n = mf_fmt(buf, size, "MEMFENCE_");
    for (; *key && n + 1 < size; key++)
        buf[n++] = (*key >= 'a' && *key <= 'z') ? (char)(*key - 32) : *key;
    buf[n] = 0;
}

static const char *flag_of[MF_K_COUNT];

void mf_config_flag(unsigned k, const char *flag)
{
    if (k < MF_K_COUNT)
        flag_of[k] = flag;
}

const char *mf_config_origin_flag(unsigned k) { return k < MF_K_COUNT ? flag_of[k] : NULL; }

/* The MEMFENCE_* entries of the environment, gathered in one pass: every fenced process (each
 * shell and helper of a fenced script) reads its configuration at start, and a lookup per key
 * scanned the whole environment a hundred times.  Return: how many (max + 1: more than max). */
#define ENV_OURS_MAX 64
static size_t env_ours(const char **out, size_t max)
{
    static const char pre[] = "MEMFENCE_";
    size_t n = 0, pos = 0;
    for (const char *e; (e = mf_env_next(&pos));) {
        if (strncmp(e, pre, sizeof pre - 1))
            continue;
        if (n == max)
            return max + 1;
        out[n++] = e;
    }
    return n;
}

/* The value of MEMFENCE_<key in upper case> among ours[0..n) (the first one, as getenv). */
static const char *env_value(const char *const *ours, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        const char *e = ours[i] + sizeof "MEMFENCE_" - 1, *c = key;
        for (; *c && *e == ((*c >= 'a' && *c <= 'z') ? (char)(*c - 32) : *c); c++, e++)
            ;
        if (!*c && *e == '=')
            return e + 1;
    }
    return NULL;
}

static int apply_env(mf_config_t *cfg)
{
    int problems = 0;
    char name[80], key[32], why[200];
    const char *ours[ENV_OURS_MAX];
    size_t nours = env_ours(ours, ENV_OURS_MAX);
    if (nours == 0)
        return 0;
    for (unsigned k = 0; k < MF_K_COUNT + MF_GPU_MAX; k++) {
        if (k < MF_K_COUNT && nours <= ENV_OURS_MAX && !env_value(ours, nours, keys[k].name))
            continue;       /* (the common case, without formatting the key's name) */
        if (k < MF_K_COUNT)
            mf_fmt(key, sizeof key, "%s", keys[k].name);
        else
            mf_fmt(key, sizeof key, "gpu_limit_%u", k - MF_K_COUNT);
        env_name(key, name, sizeof name);
        const char *v = nours <= ENV_OURS_MAX ? env_value(ours, nours, key) : mf_getenv(name, 0);
        if (!v)
            continue;
        if (k >= MF_K_COUNT)
            mf_fmt(key, sizeof key, "gpu_limit.%u", k - MF_K_COUNT);
        const char *flag = k < MF_K_COUNT ? flag_of[k] : NULL;
        int dev, kk = mf_config_key_find(key, &dev);
        if (kk >= 0 && mf_config_check((unsigned)kk, v, why, sizeof why) == 0 &&
            mf_config_set(cfg, key, v, why, sizeof why) == 0) {
            if (k < MF_K_COUNT) {
                cfg->origin[k] = flag ? MF_FROM_FLAG : MF_FROM_ENV;
                cfg->origin_line[k] = 0;
            } else {
                cfg->gpu_dev_origin[k - MF_K_COUNT] = MF_FROM_ENV;
                cfg->gpu_dev_line[k - MF_K_COUNT] = 0;
            }
        } else if (flag) {
            mf_config_report("%s %s: %s; ignored", flag, v, why);
            problems++;
        } else {
            mf_config_report("%s=%s: %s; ignored", name, v, why);
            problems++;
        }
    }
    return problems;
}

/* The variables of MF_ENV_VARS, as written after MEMFENCE_. */
static const char *const env_vars[] = {
#define MF_ENV_NAME(name, help) #name,
    MF_ENV_VARS(MF_ENV_NAME)
#undef MF_ENV_NAME
};

/* Is NAME (the len bytes after MEMFENCE_, in lower case) one of ours: a key, gpu_limit's
 * per-device form, or a variable of MF_ENV_VARS? */
static int env_known(const char *low, size_t len)
{
    for (unsigned k = 0; k < MF_K_COUNT; k++)
        if (!strcmp(low, keys[k].name))
            return 1;
    if (len > 10 && !strncmp(low, "gpu_limit_", 10)) {
        unsigned d = 0;
        const char *p = low + 10;
        for (; *p >= '0' && *p <= '9' && d < 1000; p++)
            d = d * 10 + (unsigned)(*p - '0');
        return !*p && d < MF_GPU_MAX;
    }
    for (size_t i = 0; i < MF_ARRAY_LEN(env_vars); i++)
        if (!strcasecmp(low, env_vars[i]))
            return 1;
    return 0;
}

/* One line for each MEMFENCE_* variable memfence does not read, with the closest name of the
 * key table (as MEMFENCE_<KEY>) or of MF_ENV_VARS.  Return: how many. */
static int check_unknown_env(void)
{
    static const char pre[] = "MEMFENCE_";
    int problems = 0;
    size_t pos = 0;
    for (const char *e; (e = mf_env_next(&pos));) {
        if (strncmp(e, pre, sizeof pre - 1))
            continue;
        const char *n = e + sizeof pre - 1, *eq = strchr(n, '=');
        size_t len = eq ? (size_t)(eq - n) : strlen(n);
        char low[64], shown[64], up[80] = "";
        cut(shown, sizeof shown, n, len);
        cut(low, sizeof low, n, len);
        for (char *c = low; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c + 32);
        if (len < sizeof low && env_known(low, len))
            continue;
        const char *best = mf_config_suggest(low);
        unsigned bd = best ? mf_config_distance(low, best) : (unsigned)MF_MAX(2, len / 3) + 1;
        for (size_t i = 0; i < MF_ARRAY_LEN(env_vars); i++) {
            unsigned d = mf_config_distance(low, env_vars[i]);
            if (d < bd)
                bd = d, best = env_vars[i];
        }
        if (best && !strcmp(best, "gpu_limit.N"))
            mf_fmt(up, sizeof up, "MEMFENCE_GPU_LIMIT_N");
        else if (best)
            env_name(best, up, sizeof up);
        if (up[0])
            mf_config_report("%s%s: not a memfence variable (did you mean %s?); ignored", pre,
                             shown, up);
        else
            mf_config_report("%s%s: not a memfence variable (see memfence.conf(5)); ignored", pre,
                             shown);
        problems++;
    }
    return problems;
}

const char *mf_config_origin_text(const mf_config_t *cfg, unsigned k, char *buf, size_t size)
{
    switch (cfg->origin[k]) {
    case MF_FROM_ENV: {
        char key[32];
        mf_fmt(key, sizeof key, "%s", keys[k].name);
        env_name(key, buf, size);
        break;
    }
    case MF_FROM_FLAG: mf_fmt(buf, size, "%s", flag_of[k] ? flag_of[k] : "a flag"); break;
    case MF_FROM_RUN: mf_fmt(buf, size, "the budget memfence run computed"); break;
    case MF_FROM_DEFAULT: mf_fmt(buf, size, "the default"); break;
    default: mf_fmt(buf, size, "%s:%u", cfg->file, cfg->origin_line[k]); break;
    }
    return buf;
}

/* The file could not be read: keep the budget `memfence run` computed for this command
 * (MEMFENCE_RUN_LIMIT, MEMFENCE_RUN_GPU_LIMIT) where nothing else set one. */
static void keep_run_budget(mf_config_t *cfg, const char *path)
{
    static const struct { const char *var; unsigned k; } run[] = {
        { "MEMFENCE_RUN_LIMIT", MF_K_limit },
        { "MEMFENCE_RUN_GPU_LIMIT", MF_K_gpu_limit },
    };
    for (size_t i = 0; i < MF_ARRAY_LEN(run); i++) {
        const char *v = mf_getenv(run[i].var, 0);
        if (!v || cfg->origin[run[i].k] != MF_FROM_DEFAULT ||
            mf_config_set(cfg, keys[run[i].k].name, v, NULL, 0) != 0)
            continue;
        cfg->origin[run[i].k] = MF_FROM_RUN;
        mf_config_report("%s: not read; keeping the %s memfence run computed: %s", path,
                         keys[run[i].k].name, v);
    }
}

/* moderate < high < critical: otherwise the three fall back to their defaults. */
static int check_levels(mf_config_t *cfg)
{
    if (cfg->moderate < cfg->high && cfg->high < cfg->critical)
        return 0;
    char a[300], b[300], c[300];
    mf_config_report("moderate (%u%%, from %s), high (%u%%, from %s) and critical (%u%%, from %s) "
                     "must increase; the three keep their defaults",
                     (unsigned)cfg->moderate, mf_config_origin_text(cfg, MF_K_moderate, a, 300),
                     (unsigned)cfg->high, mf_config_origin_text(cfg, MF_K_high, b, 300),
                     (unsigned)cfg->critical, mf_config_origin_text(cfg, MF_K_critical, c, 300));
    reset_key(cfg, MF_K_moderate);
    reset_key(cfg, MF_K_high);
    reset_key(cfg, MF_K_critical);
    return 1;
}

int mf_config_compose(mf_config_t *cfg, const mf_cfg_file_t *f, int proc, const char *instance,
                      bool env)
{
    int problems = 0;
    if (f && f->mem) {
        uint8_t broken[MF_K_COUNT + MF_GPU_MAX];
        memset(broken, 0, sizeof broken);
        mf_fmt(cfg->file, sizeof cfg->file, "%s", f->path);
        mf_cfg_file_apply(f, mf_cfg_file_find(f, MF_SEC_GLOBAL, ""), cfg, MF_FROM_GLOBAL, broken);
        if (proc >= 0 && (unsigned)proc < f->nsec && f->sec[proc].kind == MF_SEC_PROCESS) {
            mf_fmt(cfg->process, sizeof cfg->process, "%s", f->sec[proc].name);
            cfg->process_line = f->sec[proc].line;
            mf_cfg_file_apply(f, proc, cfg, MF_FROM_PROCESS, broken);
        }
        if (instance && *instance)
            mf_cfg_file_apply(f, mf_cfg_file_find(f, MF_SEC_INSTANCE, instance), cfg,
                              MF_FROM_INSTANCE, broken);
        for (unsigned k = 0; k < MF_K_COUNT + MF_GPU_MAX; k++)
            if (broken[k])
                reset_key(cfg, k);
        mf_cfg_file_groups(f, cfg);
    }
    if (env)
        problems += apply_env(cfg) + check_unknown_env();
    problems += check_levels(cfg);
    return problems;
}

int mf_config_build(mf_config_t *cfg, const char *path, const char *instance, const char *program,
                    const char *exe, bool env)
{
    mf_config_defaults(cfg);
    mf_fmt(cfg->instance, sizeof cfg->instance, "%s", instance ? instance : "");
    mf_fmt(cfg->program, sizeof cfg->program, "%s", program ? program : "");
    int problems = 0;
    char found[MF_CFG_STR_MAX];
    if (!path)
        path = mf_cfg_file_locate(found, sizeof found) == 0 ? found : "";
    mf_cfg_file_t f;
    memset(&f, 0, sizeof f);
    bool unread = *path && mf_cfg_file_load(&f, path) < 0;
    problems += unread;
    problems += (int)f.errors;
    problems += mf_config_compose(cfg, &f, f.mem ? mf_cfg_file_match(&f, program, exe) : -1,
                                  instance, env);
    if (unread && env)
        keep_run_budget(cfg, path);
    mf_cfg_file_free(&f);
    cfg->errors = (unsigned)problems;
    return problems;
}

int mf_config_load(const char *instance, const char *exe)
{
    const char *program = mf_program_name();
    if (!program || !*program || !strcmp(program, "?")) {
        program = exe ? strrchr(exe, '/') : NULL;
        program = program ? program + 1 : exe;
    }
    int problems = mf_config_build(&the_config, NULL, instance, program, exe, true);
    config_loaded = 1;
    return problems;
}
