/* fail_spec.c — the `fail = SPEC` grammar: parsing, the canonical text, and the pure trigger
 * test (semantics in fail_spec.h).  Pure: no allocation, no I/O; `memfence check`, `memfence
 * run` and the fenced process all read a spec through this one parser. */
#include <errno.h>
#include <string.h>

#include "base/calls.h"
#include "base/log.h"
#include "base/size.h"
#include "config/fail_spec.h"

/* ---- the spec parser -------------------------------------------------------------------- */

/* why = fmt with its one %s replaced by the first n bytes of item (a macro, so that the format
 * stays a literal the compiler checks). */
#define why_set(why, whylen, fmt, item, n) do {                                          \
        char it_[96];                                                                    \
        size_t m_ = MF_MIN((size_t)(n), sizeof it_ - 1);                                 \
        if ((why) && (whylen)) {                                                         \
            memcpy(it_, (item), m_);                                                     \
            it_[m_] = '\0';                                                              \
            mf_fmt((why), (whylen), fmt, it_);                                           \
        }                                                                                \
    } while (0)

/* Copies value [v, v+n) into a NUL-terminated buffer.  Return: 0 or -EINVAL (too long). */
static int copy_value(char *dst, size_t size, const char *v, size_t n)
{
    if (n >= size) return -EINVAL;
    memcpy(dst, v, n);
    dst[n] = '\0';
    return 0;
}

static int parse_uint(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s) return -EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -EINVAL;
        if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10) return -EINVAL;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

/* An absolute size (percentages make no sense for a single request or a private threshold). */
static int parse_abs_size(const char *s, uint64_t *out)
{
    mf_size_t sz;
    if (mf_size_parse(s, &sz) != 0 || sz.is_pct) return -EINVAL;
    *out = sz.bytes;
    return 0;
}

static int parse_families(const char *s, unsigned *out)
{
    unsigned fam = 0;
    while (*s) {
        const char *e = strchr(s, '+');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 6 && !memcmp(s, "malloc", 6)) fam |= MF_FAM_MALLOC;
        else if (n == 4 && !memcmp(s, "mmap", 4)) fam |= MF_FAM_MMAP;
        else if (n == 4 && !memcmp(s, "cuda", 4)) fam |= MF_FAM_CUDA;
        else if (n == 3 && !memcmp(s, "all", 3)) fam |= MF_FAM_MALLOC | MF_FAM_MMAP | MF_FAM_CUDA;
        else return -EINVAL;
        if (!e) break;
        s = e + 1;
        if (!*s) return -EINVAL;
    }
    if (!fam) return -EINVAL;
    *out = fam;
    return 0;
}

enum { SEEN_EVERY = 1, SEEN_AFTER = 2, SEEN_PROB = 4, SEEN_SEED = 8, SEEN_SIZE = 16,
       SEEN_COUNT = 32, SEEN_CALLS = 64, SEEN_FROM = 128 };

/* Sets the field `key` names from `val` (`ge`: the operator was >=).  *bit: the key's SEEN_
 * bit, 0 for an unknown key; *want: what a good value looks like.  Return: 0 or -EINVAL. */
static int set_field(const char *key, size_t keylen, bool ge, const char *val, mf_fail_spec_t *s,
                     unsigned *bit, const char **want)
{
#define KEY_IS(lit) (keylen == sizeof(lit) - 1 && !memcmp(key, lit, keylen))
    int rc;
    *bit = 0;
    if (KEY_IS("size")) {
        *bit = SEEN_SIZE;
        *want = "a size like 1M after size>=";
        rc = ge ? parse_abs_size(val, &s->size_min) : -EINVAL;
    } else if (KEY_IS("every")) {
        *bit = SEEN_EVERY;
        *want = "a whole number >= 1";
        rc = parse_uint(val, &s->every);
        if (rc == 0 && s->every == 0) rc = -EINVAL;
    } else if (KEY_IS("after")) {
        *bit = SEEN_AFTER;
        *want = "a size like 64M (no percentage)";
        rc = parse_abs_size(val, &s->after);
        if (rc == 0 && s->after == MF_UNLIMITED) rc = -EINVAL;
        s->has_after = true;
    } else if (KEY_IS("prob")) {
        *bit = SEEN_PROB;
        *want = "a probability between 0 and 1, like 0.01";
        rc = mf_prob_parse(val, &s->prob32);
        s->has_prob = true;
    } else if (KEY_IS("seed")) {
        *bit = SEEN_SEED;
        *want = "a whole number";
        rc = parse_uint(val, &s->seed);
        s->has_seed = true;
    } else if (KEY_IS("count")) {
        *bit = SEEN_COUNT;
        *want = "a whole number (0: count calls, fail none)";
        rc = parse_uint(val, &s->count);
        if (rc == 0 && s->count == MF_FAIL_NO_COUNT) rc = -EINVAL;
    } else if (KEY_IS("calls")) {
        *bit = SEEN_CALLS;
        *want = "families joined by +: malloc, mmap, cuda, all";
        rc = parse_families(val, &s->families);
    } else if (KEY_IS("from")) {
        *bit = SEEN_FROM;
        *want = "part of a shared object's file name, like libfoo or libpython3.11.so";
        rc = copy_value(s->from, sizeof s->from, val, strlen(val));
        if (rc == 0 && (strchr(val, '/') || strchr(val, ' '))) rc = -EINVAL;
    } else {
        rc = -EINVAL;
    }
#undef KEY_IS
    return rc;
}

/* One item [it, it+n) of a spec, blanks trimmed: KEY=VALUE (or size>=VALUE) into *s; *seen
 * collects the keys given.  Return: 0, or -EINVAL with the reason in why. */
static int parse_item(const char *it, size_t n, mf_fail_spec_t *s, unsigned *seen, char *why,
                      size_t whylen)
{
    size_t k = 0;
    while (k < n && it[k] != '=' && it[k] != '>' && it[k] != '<') k++;
    size_t keylen = k;
    bool ge = false;
    if (k < n && it[k] == '>' && k + 1 < n && it[k + 1] == '=') { ge = true; k += 2; }
    else if (k < n && it[k] == '=') k += 1;
    else {
        why_set(why, whylen, "fail: '%s' is not KEY=VALUE (keys: every, after, prob, seed, "
                "size>=, count, calls, from)", it, n);
        return -EINVAL;
    }
    char val[MF_NAME_MAX + 8];
    if (copy_value(val, sizeof val, it + k, n - k) != 0) {
        why_set(why, whylen, "fail: value too long in '%s'", it, n);
        return -EINVAL;
    }
    if (!val[0]) {
        why_set(why, whylen, "fail: '%s' has no value", it, n);
        return -EINVAL;
    }
    if (ge && !(keylen == 4 && !memcmp(it, "size", 4))) {
        why_set(why, whylen, "fail: '%s': only size takes >= (size>=SIZE)", it, n);
        return -EINVAL;
    }
    unsigned bit;
    const char *want = "";
    int rc = set_field(it, keylen, ge, val, s, &bit, &want);
    if (!bit) {
        why_set(why, whylen, "fail: unknown item '%s' (keys: every, after, prob, seed, "
                "size>=, count, calls, from)", it, n);
        return -EINVAL;
    }
    if (rc != 0) {
        char item[96];
        size_t m = MF_MIN(n, sizeof item - 1);
        memcpy(item, it, m);
        item[m] = '\0';
        if (why && whylen) mf_fmt(why, whylen, "fail: bad '%s': want %s", item, want);
        return -EINVAL;
    }
    if (*seen & bit) {
        why_set(why, whylen, "fail: '%s' given twice", it, n);
        return -EINVAL;
    }
    *seen |= bit;
    return 0;
}

int mf_fail_parse(const char *spec, mf_fail_spec_t *out, char *why, size_t whylen)
{
    mf_fail_spec_t s;
    unsigned seen = 0;
    memset(&s, 0, sizeof s);
    s.families = MF_FAM_MALLOC | MF_FAM_MMAP | MF_FAM_CUDA;
    s.count = MF_FAIL_NO_COUNT;
    if (why && whylen) why[0] = '\0';
    if (!spec) spec = "";

    const char *p = spec;
    int items = 0;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *it = p;
        while (n && (*it == ' ' || *it == '\t')) { it++; n--; }
        while (n && (it[n - 1] == ' ' || it[n - 1] == '\t')) n--;
        if (n == 0) {
            if (!end && items == 0) {
                why_set(why, whylen, "fail: empty spec%s (want e.g. every=100,size>=1M)", "", 0);
                return -EINVAL;
            }
            why_set(why, whylen, "fail: empty item in '%s'", spec, strlen(spec));
            return -EINVAL;
        }
        items++;
        if (parse_item(it, n, &s, &seen, why, whylen) != 0)
            return -EINVAL;
        if (!end) break;
        p = end + 1;
    }
    if ((seen & SEEN_SEED) && !(seen & SEEN_PROB)) {
        why_set(why, whylen, "fail: seed=%s needs prob=P", "", 0);
        return -EINVAL;
    }
    *out = s;
    return 0;
}

/* A byte count as the user would write it: with the largest exact K/M/G/T suffix. */
static const char *size_text(uint64_t v, char *buf, size_t size)
{
    static const char suffix[] = "KMGT";
    int i = -1;
    while (i < 3 && v && v % 1024 == 0) { v /= 1024; i++; }
    if (i < 0) mf_fmt(buf, size, "%llu", (unsigned long long)v);
    else mf_fmt(buf, size, "%llu%c", (unsigned long long)v, suffix[i]);
    return buf;
}

size_t mf_fail_format(const mf_fail_spec_t *s, char *buf, size_t size)
{
    size_t n = 0;
    char num[32];
    if (size == 0) return 0;
    buf[0] = '\0';
#define PUT(...) do { if (n < size) n += mf_fmt(buf + n, size - n, __VA_ARGS__); } while (0)
#define SEP() (n ? "," : "")
    if (s->every) PUT("%severy=%llu", SEP(), (unsigned long long)s->every);
    if (s->has_after) PUT("%safter=%s", SEP(), size_text(s->after, num, sizeof num));
    if (s->has_prob) {
        /* prob as a decimal with 6 digits: p32 / 2^32 */
        uint64_t micro = (s->prob32 * 1000000ull + (1ull << 31)) >> 32;
        mf_fmt(num, sizeof num, "%llu.%06llu", (unsigned long long)(micro / 1000000),
               (unsigned long long)(micro % 1000000));
        PUT("%sprob=%s", SEP(), num);
    }
    if (s->has_seed) PUT("%sseed=%llu", SEP(), (unsigned long long)s->seed);
    if (s->size_min) PUT("%ssize>=%s", SEP(), size_text(s->size_min, num, sizeof num));
    if (s->count != MF_FAIL_NO_COUNT) PUT("%scount=%llu", SEP(), (unsigned long long)s->count);
    if (s->families != (MF_FAM_MALLOC | MF_FAM_MMAP | MF_FAM_CUDA)) {
        PUT("%scalls=", SEP());
        const char *plus = "";
        if (s->families & MF_FAM_MALLOC) { PUT("%smalloc", plus); plus = "+"; }
        if (s->families & MF_FAM_MMAP) { PUT("%smmap", plus); plus = "+"; }
        if (s->families & MF_FAM_CUDA) PUT("%scuda", plus);
    }
    if (s->from[0]) PUT("%sfrom=%s", SEP(), s->from);
#undef SEP
#undef PUT
    return MF_MIN(n, size - 1);
}

/* ---- the decision ----------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

bool mf_fail_triggers(const mf_fail_spec_t *s, uint64_t k, uint64_t held, uint64_t req)
{
    if (s->every && k % s->every != 0) return false;
    if (s->has_after && !(held > s->after || req > s->after - held)) return false;
    if (s->has_prob) {
        /* The Kth call's draw depends on (seed, K) only: reproducible whatever else happens. */
        uint64_t draw = splitmix64(s->seed ^ splitmix64(k)) >> 32;
        if (draw >= s->prob32) return false;
    }
    return true;
}

