/* config_file.c — reading, parsing (inih) and validating the INI file, and the lookups that
 * compose a configuration from it.  Where the file is and whether it may be trusted is
 * config_trust.c's.
 *
 * Runs inside fenced processes at initialisation: no stdio, no malloc in the preload (one block
 * from mf_sys_mmap holds the text, the tables and the strings), raw system calls for the file.
 * Debian's libinih keeps its line buffer on the stack (ini_use_stack, true by default; if a host
 * turned it off, the preload does not call inih at all).  The line reader below hands inih one
 * whole line per call, so inih's line numbers are ours; lines longer than inih's buffer and lines
 * holding a NUL byte are reported and replaced by blank lines.  A line inih cannot parse is one
 * for which it neither called the handler nor saw a comment, a blank or a section header: each
 * is found as the next line is read, so every parse error is reported, not only the first.
 */
#include <errno.h>
#include <fnmatch.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/proc.h"
#include "base/sys.h"
#include "config/config_file.h"

#define MAX_PROBLEMS 64             /* kept and sorted; more are counted */
#define SHADOW_CHECK_MAX 256        /* [process] sections compared pairwise for shadowing */

struct problem {
    uint32_t line;
    char msg[236];
};

/* The state of one parse. */
struct parse {
    mf_cfg_file_t *f;
    /* the text */
    const char *text, *p, *end;
    /* the line inih is working on */
    const char *line;               /* raw text (not NUL-terminated) */
    size_t line_len;
    uint32_t lineno;
    bool handled, replaced, is_header;
    int cur, prev;                  /* current section, and the one before the last header */
    char cur_raw[MF_CFG_STR_MAX], prev_raw[MF_CFG_STR_MAX]; /* their header text as written */
    int last_ent;                   /* index of the last entry, -1 */
    /* tables inside f->mem */
    char *arena;
    size_t arena_left;
    unsigned sec_max, ent_max;
    uint32_t *sec_hash;             /* open addressing, index + 1 */
    unsigned sec_hash_size;
    uint32_t *dup_key, *dup_line;   /* (section, key) -> first line */
    unsigned dup_size;
    struct problem *prob;
    unsigned nprob, dropped;
};

static const char *const kind_word[] = { "global", "process", "instance", "group" };

/* ---- memory ----------------------------------------------------------------------------- */

static void *block_alloc(size_t n)
{
    if (mf_in_preload) {
        void *p = mf_sys_mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return mf_sys_mmap_failed(p) ? NULL : p;
    }
    return calloc(1, n);
}

static void block_free(void *p, size_t n)
{
    if (!p)
        return;
    if (mf_in_preload)
        mf_sys_munmap(p, n);
    else
        free(p);
}

static char *arena_copy(struct parse *ps, const char *s, size_t n)
{
    if (n + 1 > ps->arena_left)
        return NULL;
    char *d = ps->arena;
    memcpy(d, s, n);
    d[n] = '\0';
    ps->arena += n + 1;
    ps->arena_left -= n + 1;
    return d;
}

/* ---- problems --------------------------------------------------------------------------- */

static void problem(struct parse *ps, uint32_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void problem(struct parse *ps, uint32_t line, const char *fmt, ...)
{
    ps->f->errors++;
    if (ps->nprob >= MAX_PROBLEMS) {
        ps->dropped++;
        return;
    }
    struct problem *pr = &ps->prob[ps->nprob++];
    pr->line = line;
    va_list ap;
    va_start(ap, fmt);
    mf_vfmt(pr->msg, sizeof pr->msg, fmt, ap);
    va_end(ap);
}

/* Reports the collected problems in line order. */
static void flush_problems(struct parse *ps)
{
    for (unsigned i = 1; i < ps->nprob; i++) { /* insertion sort: stable, few items */
        struct problem t = ps->prob[i];
        unsigned j = i;
        for (; j > 0 && ps->prob[j - 1].line > t.line; j--)
            ps->prob[j] = ps->prob[j - 1];
        ps->prob[j] = t;
    }
    for (unsigned i = 0; i < ps->nprob; i++) {
        if (ps->prob[i].line)
            mf_config_report("%s:%u: %s", ps->f->path, ps->prob[i].line, ps->prob[i].msg);
        else
            mf_config_report("%s: %s", ps->f->path, ps->prob[i].msg);
    }
    if (ps->dropped)
        mf_config_report("%s: %u more problems not shown", ps->f->path, ps->dropped);
}

/* ---- small string helpers ------------------------------------------------------------------ */

/* The first n bytes of s as a string in buf (mf_fmt has no precision). */
static char *cut(char *buf, size_t size, const char *s, size_t n)
{
    n = MF_MIN(n, size - 1);
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}

static int is_space(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

static uint32_t hash_str(const char *s, int kind)
{
    uint32_t h = 2166136261u ^ (uint32_t)kind;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* inih's rule for the ']' of a header: the first ']', unless an inline comment starts first. */
static const char *find_close(const char *s, const char *end)
{
    int was_space = 0;
    for (; s < end && *s; s++) {
        if (*s == ']')
            return s;
        if (ini_allow_inline_comments && was_space && strchr(ini_inline_comment_prefixes, *s))
            return NULL;
        was_space = is_space((unsigned char)*s);
    }
    return NULL;
}

/* ---- sections --------------------------------------------------------------------------- */

static int section_lookup(struct parse *ps, int kind, const char *name, uint32_t *slot)
{
    uint32_t mask = ps->sec_hash_size - 1, i = hash_str(name, kind) & mask;
    for (;; i = (i + 1) & mask) {
        uint32_t v = ps->sec_hash[i];
        if (!v) {
            *slot = i;
            return -1;
        }
        const mf_cfg_section_t *s = &ps->f->sec[v - 1];
        if (s->kind == kind && !strcmp(s->name, name))
            return (int)(v - 1);
    }
}

static int section_add(struct parse *ps, int kind, const char *name, size_t nlen, uint32_t line)
{
    char tmp[MF_CFG_STR_MAX];
    cut(tmp, sizeof tmp, name, nlen);
    uint32_t slot;
    int found = section_lookup(ps, kind, tmp, &slot);
    if (found >= 0)
        return found;
    if (ps->f->nsec >= ps->sec_max)
        return -1;
    char *copy = arena_copy(ps, tmp, strlen(tmp));
    if (!copy)
        return -1;
    mf_cfg_section_t *s = &ps->f->sec[ps->f->nsec];
    s->name = copy;
    s->line = line;
    s->kind = (uint8_t)kind;
    ps->sec_hash[slot] = ++ps->f->nsec;
    return (int)ps->f->nsec - 1;
}

/* Classifies a header's text "[...]" and registers it.  Return: the section index or -1. */
static int header(struct parse *ps, const char *s, size_t n, uint32_t line)
{
    while (n && is_space((unsigned char)*s))
        s++, n--;
    while (n && is_space((unsigned char)s[n - 1]))
        n--;
    size_t w = 0;
    while (w < n && !is_space((unsigned char)s[w]))
        w++;
    const char *rest = s + w;
    size_t rn = n - w;
    while (rn && is_space((unsigned char)*rest))
        rest++, rn--;
    int kind = MF_SEC_BAD;
    for (int k = 0; k < 4; k++)
        if (strlen(kind_word[k]) == w && !strncasecmp(s, kind_word[k], w))
            kind = k;
    /* a header seen before was judged then */
    uint32_t slot;
    char tmp[MF_CFG_STR_MAX], shown[104];
    if (kind != MF_SEC_BAD) {
        cut(tmp, sizeof tmp, rest, rn);
        int found = section_lookup(ps, kind, tmp, &slot);
        if (found >= 0)
            return found;
    }
    cut(tmp, sizeof tmp, s, n);
    int bad = section_lookup(ps, MF_SEC_BAD, tmp, &slot);
    if (bad >= 0)
        return bad;                         /* reported at its first header */
    const char *why = NULL;
    if (kind == MF_SEC_GLOBAL && rn)
        why = "[global] takes no name";
    else if (kind == MF_SEC_PROCESS && !rn)
        why = "[process] needs a pattern: [process NAME-OR-GLOB]";
    else if ((kind == MF_SEC_INSTANCE || kind == MF_SEC_GROUP) && !rn)
        why = kind == MF_SEC_GROUP ? "[group] needs a name: [group NAME]"
                                   : "[instance] needs a name: [instance NAME]";
    else if ((kind == MF_SEC_INSTANCE || kind == MF_SEC_GROUP) && rn >= MF_NAME_MAX)
        why = "name longer than 63 characters";
    else if (kind == MF_SEC_PROCESS && rn >= MF_CFG_STR_MAX)
        why = "pattern longer than 255 characters";
    if (why) {
        problem(ps, line, "section [%s]: %s; its keys are ignored", cut(shown, sizeof shown, s, n), why);
        return section_add(ps, MF_SEC_BAD, s, n, line);
    }
    if (kind == MF_SEC_BAD) {
        char word[32];
        cut(word, sizeof word, s, w);
        const char *best = NULL;
        unsigned bd = 3;
        for (int k = 0; k < 4; k++) {
            unsigned d = mf_config_distance(word, kind_word[k]);
            if (d < bd)
                bd = d, best = kind_word[k];
        }
        if (best)
            problem(ps, line, "section [%s] matches nothing (did you mean [%s%s%s]?); its keys "
                    "are ignored", cut(shown, sizeof shown, s, n), best, rn ? " " : "",
                    cut(tmp, 100, rest, rn));
        else
            problem(ps, line, "section [%s] matches nothing: use [global], [process PATTERN], "
                    "[instance NAME] or [group NAME]; its keys are ignored", cut(shown, sizeof shown, s, n));
        return section_add(ps, MF_SEC_BAD, s, n, line);
    }
    return section_add(ps, kind, rest, rn, line);
}

/* ---- the line reader given to inih ---------------------------------------------------------- */

/* Judges the line inih just finished when it did not call the handler for it. */
static void finish_line(struct parse *ps)
{
    if (!ps->lineno || ps->handled || ps->replaced || ps->is_header)
        return;
    const char *s = ps->line, *e = ps->line + ps->line_len;
    if (ps->lineno == 1 && ini_allow_bom && e - s >= 3 && (unsigned char)s[0] == 0xEF &&
        (unsigned char)s[1] == 0xBB && (unsigned char)s[2] == 0xBF)
        s += 3;
    while (s < e && is_space((unsigned char)*s))
        s++;
    if (s == e || strchr(ini_start_comment_prefixes, *s))
        return;                             /* blank or comment */
    if (*s == '[')
        problem(ps, ps->lineno, "section header without ']'");
    else
        problem(ps, ps->lineno, "cannot parse this line: expected KEY = VALUE, [SECTION] or a "
                "comment");
}

static char *reader(char *buf, int num, void *stream)
{
    struct parse *ps = stream;
    finish_line(ps);
    if (ps->p >= ps->end || num < 2)
        return NULL;
    const char *nl = memchr(ps->p, '\n', (size_t)(ps->end - ps->p));
    size_t len = nl ? (size_t)(nl - ps->p) + 1 : (size_t)(ps->end - ps->p);
    ps->line = ps->p;
    ps->line_len = len;
    ps->p += len;
    ps->lineno++;
    ps->handled = ps->replaced = ps->is_header = false;
    if (len > (size_t)num - 1 || memchr(ps->line, '\0', len)) {
        if (len > (size_t)num - 1)
            problem(ps, ps->lineno, "line longer than %d characters (libinih's limit); ignored",
                    num - 3);
        else
            problem(ps, ps->lineno, "line holds a NUL byte; ignored");
        ps->replaced = true;
        buf[0] = '\n';
        buf[1] = '\0';
        return buf;
    }
    memcpy(buf, ps->line, len);
    buf[len] = '\0';
    /* A header: register it now so sections without keys are judged too. */
    const char *s = ps->line, *e = ps->line + len;
    if (ps->lineno == 1 && ini_allow_bom && len >= 3 && (unsigned char)s[0] == 0xEF &&
        (unsigned char)s[1] == 0xBB && (unsigned char)s[2] == 0xBF)
        s += 3;
    while (s < e && is_space((unsigned char)*s))
        s++;
    if (s < e && *s == '[') {
        const char *close = find_close(s + 1, e);
        if (close) {
            int idx = header(ps, s + 1, (size_t)(close - s - 1), ps->lineno);
            ps->is_header = true;
            ps->prev = ps->cur;
            ps->cur = idx;
            memcpy(ps->prev_raw, ps->cur_raw, sizeof ps->cur_raw);
            cut(ps->cur_raw, sizeof ps->cur_raw, s + 1, (size_t)(close - s - 1));
        }
    }
    return buf;
}

/* ---- the handler ------------------------------------------------------------------------- */

/* The section inih means: ours, unless inih's (cut at 49 characters) says otherwise (an
 * indented "[...]" line inih took for something else). */
static int resolve_section(struct parse *ps, const char *section)
{
    if (!*section) {                        /* keys before any header belong to [global] */
        if (ps->cur < 0)
            ps->cur = section_add(ps, MF_SEC_GLOBAL, "", 0, 0);
        return ps->cur;
    }
    size_t n = strlen(section), m = strlen(ps->cur_raw);
    if (ps->cur >= 0 && !strncmp(section, ps->cur_raw, n) && (n == m || n == 49))
        return ps->cur;
    return header(ps, section, n, ps->lineno);
}

static unsigned dup_index(const struct parse *ps, uint32_t key)
{
    uint32_t mask = ps->dup_size - 1, i = (key * 2654435761u) & mask;
    while (ps->dup_key[i] && ps->dup_key[i] != key)
        i = (i + 1) & mask;
    return i;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    struct parse *ps = user;
    ps->handled = true;
    if (ps->is_header) {
        /* inih took this indented "[...]" line as the continuation of the previous value */
        ps->is_header = false;
        ps->cur = ps->prev;
        memcpy(ps->cur_raw, ps->prev_raw, sizeof ps->cur_raw);
        problem(ps, ps->lineno, "continuation lines are not supported: write '%s = ...' on one "
                "line", name);
        return 1;
    }
    if (ps->last_ent >= 0 && ps->line_len && is_space((unsigned char)ps->line[0])) {
        const mf_cfg_entry_t *le = &ps->f->ent[ps->last_ent];
        if (le->line < ps->lineno && !strcmp(le->key, name)) {
            problem(ps, ps->lineno, "continuation lines are not supported: write '%s = ...' on "
                    "one line", name);
            return 1;
        }
    }
    int sec = resolve_section(ps, section);
    if (sec < 0 || ps->f->nent >= ps->ent_max)
        return 1;
    const mf_cfg_section_t *s = &ps->f->sec[sec];
    mf_cfg_entry_t *e = &ps->f->ent[ps->f->nent];
    memset(e, 0, sizeof *e);
    e->key = arena_copy(ps, name, strlen(name));
    e->value = arena_copy(ps, value ? value : "", value ? strlen(value) : 0);
    if (!e->key || !e->value)
        return 1;
    e->line = ps->lineno;
    e->section = (uint16_t)sec;
    e->dev = -1;
    e->k = -1;
    ps->last_ent = (int)ps->f->nent++;
    if (s->kind == MF_SEC_BAD)
        return 1;                           /* the header was reported */
    int dev = -1;
    int k = mf_config_key_find(name, &dev);
    if (k == -ERANGE) {
        problem(ps, e->line, "%s: no such device (gpu_limit.N takes N from 0 to %d); ignored", name,
                MF_GPU_MAX - 1);
        return 1;
    }
    if (k < 0) {
        const char *best = mf_config_suggest(name);
        if (best)
            problem(ps, e->line, "unknown key '%s' (did you mean '%s'?); ignored", name, best);
        else
            problem(ps, e->line, "unknown key '%s' (see memfence.conf(5)); ignored", name);
        return 1;
    }
    e->k = (int16_t)k;
    e->dev = (int8_t)dev;
    if (s->kind == MF_SEC_GROUP && !mf_config_group_key((unsigned)k)) {
        problem(ps, e->line, "'%s' cannot be set in a [group] section (it takes limit, gpu_limit, "
                "gpu_limit.N and reserve); ignored", name);
        return 1;
    }
    uint32_t dkey = ((uint32_t)sec << 6 | (uint32_t)(dev >= 0 ? MF_K_COUNT + dev : k)) + 1;
    unsigned di = dup_index(ps, dkey);
    if (ps->dup_key[di]) {
        problem(ps, e->line, "duplicate key '%s' in [%s%s%s] (first set on line %u); this one is "
                "ignored", name, kind_word[s->kind], *s->name ? " " : "", s->name,
                ps->dup_line[di]);
        return 1;
    }
    ps->dup_key[di] = dkey;
    ps->dup_line[di] = e->line;
    char why[200];
    if (mf_config_check((unsigned)k, e->value, why, sizeof why) != 0) {
        problem(ps, e->line, "%s; the built-in default (%s) is used", why,
                mf_config_key_default((unsigned)k));
        e->broken = true;
        return 1;
    }
    e->ok = true;
    return 1;
}

/* ---- checks across the file --------------------------------------------------------------- */

/* A [process] pattern that an earlier one always matches first can never apply. */
static void check_shadowed(struct parse *ps)
{
    const mf_cfg_file_t *f = ps->f;
    unsigned seen = 0;
    for (unsigned j = 0; j < f->nsec && seen < SHADOW_CHECK_MAX; j++) {
        if (f->sec[j].kind != MF_SEC_PROCESS)
            continue;
        seen++;
        for (unsigned i = 0; i < j; i++) {
            const char *p1 = f->sec[i].name;
            if (f->sec[i].kind != MF_SEC_PROCESS || strpbrk(p1, "[\\"))
                continue;
            /* both patterns see the same strings when both have, or lack, a '/' */
            if (!strchr(p1, '/') != !strchr(f->sec[j].name, '/'))
                continue;
            if (fnmatch(p1, f->sec[j].name, 0) == 0) {
                problem(ps, f->sec[j].line, "section [process %s] matches nothing: [process %s] "
                        "on line %u comes first and matches all it would (first match wins)",
                        f->sec[j].name, p1, f->sec[i].line);
                break;
            }
        }
    }
}

/* group = NAME must name a [group NAME] of the file. */
static void check_groups(struct parse *ps)
{
    mf_cfg_file_t *f = ps->f;
    for (unsigned i = 0; i < f->nent; i++) {
        mf_cfg_entry_t *e = &f->ent[i];
        if (!e->ok || e->k != MF_K_group || !*e->value)
            continue;
        if (mf_cfg_file_find(f, MF_SEC_GROUP, e->value) >= 0)
            continue;
        const char *best = NULL;
        unsigned bd = 3;
        for (unsigned s = 0; s < f->nsec; s++) {
            if (f->sec[s].kind != MF_SEC_GROUP)
                continue;
            unsigned d = mf_config_distance(e->value, f->sec[s].name);
            if (d < bd)
                bd = d, best = f->sec[s].name;
        }
        if (best)
            problem(ps, e->line, "group '%s' has no [group %s] section (did you mean '%s'?); "
                    "ignored", e->value, e->value, best);
        else
            problem(ps, e->line, "group '%s' has no [group %s] section; ignored", e->value,
                    e->value);
        e->ok = false;
        e->broken = true;
    }
}

/* ---- parse ------------------------------------------------------------------------------- */

static unsigned pow2_above(unsigned n)
{
    unsigned p = 16;
    while (p < n * 2)
        p <<= 1;
    return p;
}

int mf_cfg_file_parse(mf_cfg_file_t *f, const char *name, const char *text, size_t len)
{
    memset(f, 0, sizeof *f);
    mf_fmt(f->path, sizeof f->path, "%s", name ? name : "(config)");
    unsigned lines = 1, brackets = 1;
    for (size_t i = 0; i < len; i++) {
        lines += text[i] == '\n';
        brackets += text[i] == '[';
    }
    struct parse ps;
    memset(&ps, 0, sizeof ps);
    ps.f = f;
    ps.sec_max = MF_MIN(MF_MIN(brackets, lines) + 2, 65535u);   /* entries hold a uint16_t */
    ps.ent_max = lines;
    ps.sec_hash_size = pow2_above(ps.sec_max);
    ps.dup_size = pow2_above(ps.ent_max);
    size_t arena = len + 2 * (size_t)lines + MF_CFG_STR_MAX * 2;
    size_t need = sizeof(mf_cfg_section_t) * ps.sec_max + sizeof(mf_cfg_entry_t) * ps.ent_max +
                  sizeof(uint32_t) * (ps.sec_hash_size + 2 * (size_t)ps.dup_size) +
                  sizeof(struct problem) * MAX_PROBLEMS + arena + 64;
    char *mem = block_alloc(need);
    if (!mem) {
        mf_config_report("%s: out of memory reading the configuration", f->path);
        f->errors++;
        return -ENOMEM;
    }
    f->mem = mem;
    f->mem_len = need;
    char *p = mem;
#define TAKE(ptr, type, n) (ptr = (type *)(void *)p, p += sizeof(type) * (n))
    TAKE(f->sec, mf_cfg_section_t, ps.sec_max);
    TAKE(f->ent, mf_cfg_entry_t, ps.ent_max);
    TAKE(ps.prob, struct problem, MAX_PROBLEMS);
    TAKE(ps.sec_hash, uint32_t, ps.sec_hash_size);
    TAKE(ps.dup_key, uint32_t, ps.dup_size);
    TAKE(ps.dup_line, uint32_t, ps.dup_size);
#undef TAKE
    ps.arena = p;
    ps.arena_left = arena;
    ps.text = ps.p = text;
    ps.end = text + len;
    ps.cur = ps.prev = -1;
    ps.last_ent = -1;

    int rc = ini_parse_stream(reader, &ps, handler, &ps);
    /* inih's first error line should be one we reported; if not, say what it said */
    if (rc > 0) {
        bool known = false;
        for (unsigned i = 0; i < ps.nprob; i++)
            known |= ps.prob[i].line == (uint32_t)rc;
        if (!known && !ps.dropped)
            problem(&ps, (uint32_t)rc, "libinih cannot parse this line");
    } else if (rc < 0) {
        problem(&ps, 0, "libinih failed (%d)", rc);
    }
    check_shadowed(&ps);
    check_groups(&ps);
    flush_problems(&ps);
    return 0;
}

void mf_cfg_file_free(mf_cfg_file_t *f)
{
    block_free(f->mem, f->mem_len);
    memset(f, 0, sizeof *f);
}

/* ---- reading the file --------------------------------------------------------------------- */

int mf_cfg_file_read(mf_cfg_file_t *f, const char *path, int fd, size_t size)
{
    size_t cap = size + 1;
    char *text = block_alloc(cap);
    if (!text) {
        mf_sys_close(fd);
        mf_config_report("%s: out of memory reading the configuration", path);
        return -ENOMEM;
    }
    size_t len = 0;
    while (len < cap - 1) {
        ssize_t r = mf_sys_read(fd, text + len, cap - 1 - len);
        if (r == -EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    mf_sys_close(fd);
    int rc = mf_cfg_file_parse(f, path, text, len);
    block_free(text, cap);
    return rc;
}

/* ---- using the file ----------------------------------------------------------------------- */

int mf_cfg_file_find(const mf_cfg_file_t *f, int kind, const char *name)
{
    for (unsigned i = 0; i < f->nsec; i++)
        if (f->sec[i].kind == kind && !strcmp(f->sec[i].name, name))
            return (int)i;
    return -1;
}

int mf_cfg_file_match(const mf_cfg_file_t *f, const char *program, const char *exe)
{
    const char *base = exe ? strrchr(exe, '/') : NULL;
    base = base ? base + 1 : exe;
    for (unsigned i = 0; i < f->nsec; i++) {
        const char *pat = f->sec[i].name;
        if (f->sec[i].kind != MF_SEC_PROCESS)
            continue;
        if (strchr(pat, '/')) {
            if (exe && *exe && fnmatch(pat, exe, 0) == 0)
                return (int)i;
        } else if ((program && *program && fnmatch(pat, program, 0) == 0) ||
                   (base && *base && fnmatch(pat, base, 0) == 0)) {
            return (int)i;
        }
    }
    return -1;
}

void mf_cfg_file_apply(const mf_cfg_file_t *f, int sec, mf_config_t *cfg, int origin,
                       uint8_t *broken)
{
    if (sec < 0)
        return;
    for (unsigned i = 0; i < f->nent; i++) {
        const mf_cfg_entry_t *e = &f->ent[i];
        if (e->section != sec || e->k < 0)
            continue;
        unsigned slot = e->dev >= 0 ? MF_K_COUNT + (unsigned)e->dev : (unsigned)e->k;
        if (e->broken && broken)
            broken[slot] = 1;
        if (!e->ok || mf_config_set(cfg, e->key, e->value, NULL, 0) != 0)
            continue;
        if (broken)
            broken[slot] = 0;
        if (e->dev >= 0) {
            cfg->gpu_dev_origin[e->dev] = (uint8_t)origin;
            cfg->gpu_dev_line[e->dev] = e->line;
        } else {
            cfg->origin[e->k] = (uint8_t)origin;
            cfg->origin_line[e->k] = e->line;
        }
    }
}

void mf_cfg_file_groups(const mf_cfg_file_t *f, mf_config_t *cfg)
{
    uint16_t sec_of[MF_GROUPS_MAX];
    cfg->ngroups = 0;
    for (unsigned s = 0; s < f->nsec && cfg->ngroups < MF_GROUPS_MAX; s++) {
        if (f->sec[s].kind != MF_SEC_GROUP)
            continue;
        sec_of[cfg->ngroups] = (uint16_t)s;
        mf_group_cfg_t *g = &cfg->groups[cfg->ngroups++];
        memset(g, 0, sizeof *g);
        mf_fmt(g->name, sizeof g->name, "%s", f->sec[s].name);
        g->line = f->sec[s].line;
        g->limit.bytes = g->gpu_limit.bytes = MF_UNLIMITED;
    }
    if (!cfg->ngroups)
        return;
    for (unsigned i = 0; i < f->nent; i++) {
        const mf_cfg_entry_t *e = &f->ent[i];
        if (!e->ok || f->sec[e->section].kind != MF_SEC_GROUP)
            continue;
        mf_group_cfg_t *g = NULL;
        for (unsigned j = 0; j < cfg->ngroups && !g; j++)
            if (sec_of[j] == e->section)
                g = &cfg->groups[j];
        mf_size_t v;
        if (!g || mf_size_parse(e->value, &v) != 0)
            continue;
        if (e->dev >= 0) {
            g->gpu_limit_dev[e->dev] = v;
            g->gpu_limit_dev_set[e->dev] = true;
        } else if (e->k == MF_K_limit) {
            g->limit = v, g->limit_set = true;
        } else if (e->k == MF_K_gpu_limit) {
            g->gpu_limit = v, g->gpu_limit_set = true;
        } else if (e->k == MF_K_reserve) {
            g->reserve = v, g->reserve_set = true;
        }
    }
}
