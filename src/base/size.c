/* size.c — parsing sizes, percentages, durations and probabilities as users write them. */
#include <errno.h>
#include <string.h>

#include "base/size.h"

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static const char *skip_space(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

static int word_is(const char *s, const char *w)
{
    s = skip_space(s);
    while (*w) {
        if (lower((unsigned char)*s) != *w)
            return 0;
        s++, w++;
    }
    return *skip_space(s) == '\0';
}

/* Parses "123" or "123.456", with blanks around it and no sign, into an integer part and a
 * fraction in millionths; *ps moves past the trailing blanks. */
static int parse_decimal(const char **ps, uint64_t *whole, uint64_t *micro)
{
    const char *s = skip_space(*ps);
    if (*s == '-' || *s == '+')
        return -EINVAL;
    uint64_t w = 0, f = 0, scale = 100000;
    int digits = 0;
    while (*s >= '0' && *s <= '9') {
        unsigned d = (unsigned)(*s++ - '0');
        if (w > (UINT64_MAX - d) / 10)
            return -ERANGE;
        w = w * 10 + d;
        digits++;
    }
    if (*s == '.') {
        s++;
        while (*s >= '0' && *s <= '9') {
            if (scale) {
                f += (uint64_t)(*s - '0') * scale;
                scale /= 10;
            }
            s++;
            digits++;
        }
    }
    if (!digits)
        return -EINVAL;
    *whole = w;
    *micro = f;
    *ps = skip_space(s);
    return 0;
}

int mf_size_parse(const char *s, mf_size_t *out)
{
    if (!s || !out)
        return -EINVAL;
    mf_size_t r = { 0, 0, false };
    if (word_is(s, "none") || word_is(s, "off") || word_is(s, "unlimited") || word_is(s, "max")) {
        r.bytes = MF_UNLIMITED;
        *out = r;
        return 0;
    }
    uint64_t whole, micro;
    int rc = parse_decimal(&s, &whole, &micro);
    if (rc)
        return rc;
    if (*s == '%') {
        s = skip_space(s + 1);
        if (*s)
            return -EINVAL;
        if (whole > 100 || (whole == 100 && micro))
            return -ERANGE;
        r.is_pct = true;
        r.ppm = (uint32_t)(whole * 10000 + micro / 100);
        if (r.ppm == 0)
            return -ERANGE;
        *out = r;
        return 0;
    }
    unsigned shift = 0;
    switch (lower((unsigned char)*s)) {
    case '\0': break;
    case 'b': shift = 0; s++; break;
    case 'k': shift = 10; s++; break;
    case 'm': shift = 20; s++; break;
    case 'g': shift = 30; s++; break;
    case 't': shift = 40; s++; break;
    default: return -EINVAL;
    }
    if (shift) { /* accept K, KB, KiB, k */
        if (lower((unsigned char)*s) == 'i')
            s++;
        if (lower((unsigned char)*s) == 'b')
            s++;
    }
    if (*skip_space(s))
        return -EINVAL;
    if (micro && !shift)
        return -EINVAL; /* fractional bytes */
    if (shift && whole > (UINT64_MAX >> shift))
        return -ERANGE;
    uint64_t bytes = whole << shift;
    if (shift)
        bytes += (micro << shift) / 1000000;
    if (bytes == MF_UNLIMITED)
        return -ERANGE;
    r.bytes = bytes;
    *out = r;
    return 0;
}

uint64_t mf_size_resolve(const mf_size_t *sz, uint64_t base)
{
    if (!sz->is_pct)
        return sz->bytes;
    if (base == MF_UNLIMITED)
        return MF_UNLIMITED;
    unsigned __int128 v = (unsigned __int128)base * sz->ppm / 1000000;
    return (uint64_t)v & ~(uint64_t)4095;
}

uint64_t mf_size_share(const mf_size_t *sz, uint64_t budget, uint64_t floor)
{
    if (budget == MF_UNLIMITED)
        return 0;
    if (!sz->is_pct)
        return sz->bytes == MF_UNLIMITED || sz->bytes > budget ? budget : sz->bytes;
    if (sz->ppm == 0)
        return 0;
    uint64_t v = mf_size_resolve(sz, budget);
    v = v > floor ? v : floor;
    return v < budget / 4 ? v : budget / 4;
}

int mf_duration_parse(const char *s, uint64_t *ns)
{
    if (!s || !ns)
        return -EINVAL;
    uint64_t whole, micro;
    int rc = parse_decimal(&s, &whole, &micro);
    if (rc)
        return rc;
    uint64_t unit_ns;
    if (*s == '\0' || !strcmp(s, "ms")) unit_ns = 1000000ull;
    else if (!strcmp(s, "us")) unit_ns = 1000ull;
    else if (!strcmp(s, "ns")) unit_ns = 1ull;
    else if (!strcmp(s, "s")) unit_ns = 1000000000ull;
    else if (!strcmp(s, "m") || !strcmp(s, "min")) unit_ns = 60000000000ull;
    else if (!strcmp(s, "h")) unit_ns = 3600000000000ull;
    else return -EINVAL;
    if (whole > UINT64_MAX / unit_ns)
        return -ERANGE;
    *ns = whole * unit_ns + (uint64_t)((unsigned __int128)micro * unit_ns / 1000000);
    return 0;
}

int mf_prob_parse(const char *s, uint64_t *p32)
{
    if (!s || !p32)
        return -EINVAL;
    s = skip_space(s);
    uint64_t whole, micro;
    if (*s == '-' || parse_decimal(&s, &whole, &micro))
        return -EINVAL;
    if (*skip_space(s))
        return -EINVAL;
    if (whole > 1 || (whole == 1 && micro))
        return -ERANGE;
    *p32 = whole ? (1ull << 32) : (micro << 32) / 1000000;
    return 0;
}
