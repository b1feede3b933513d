/* test_size.c — sizes, percentages, durations, probabilities as users write them. */
#include <errno.h>
#include "base/size.h"
#include "t.h"

static uint64_t sz(const char *s)
{
    mf_size_t v;
    int rc = mf_size_parse(s, &v);
    return rc ? (uint64_t)rc : v.bytes;
}

int main(void)
{
    T_EQU(sz("0"), 0);
    T_EQU(sz("4096"), 4096);
    T_EQU(sz("64K"), 64 << 10);
    T_EQU(sz("64k"), 64 << 10);
    T_EQU(sz("64KiB"), 64 << 10);
    T_EQU(sz("256M"), 256ull << 20);
    T_EQU(sz("1.5G"), 3ull << 29);
    T_EQU(sz("2T"), 2ull << 40);
    T_EQU(sz(" 12M "), 12ull << 20);
    T_EQU(sz("unlimited"), MF_UNLIMITED);
    T_EQU(sz("none"), MF_UNLIMITED);
    T_EQ((int64_t)sz(""), -EINVAL);
    T_EQ((int64_t)sz("-1"), -EINVAL);
    T_EQ((int64_t)sz("12X"), -EINVAL);
    T_EQ((int64_t)sz("1.5"), -EINVAL);       /* fractional bytes */
    T_EQ((int64_t)sz("M"), -EINVAL);
    T_EQ((int64_t)sz("12 M B x"), -EINVAL);
    T_EQ((int64_t)sz("99999999999999999999"), -ERANGE);
    T_EQ((int64_t)sz("17179869184T"), -ERANGE);

    mf_size_t p;
    T_EQ(mf_size_parse("50%", &p), 0);
    T_CHECK(p.is_pct && p.ppm == 500000);
    T_EQU(mf_size_resolve(&p, 8ull << 30), 4ull << 30);
    T_EQ(mf_size_parse("12.5%", &p), 0);
    T_EQU(p.ppm, 125000);
    T_EQU(mf_size_resolve(&p, 1000000), 122880);   /* rounded down to a page */
    T_EQ(mf_size_parse("101%", &p), -ERANGE);
    T_EQ(mf_size_parse("0%", &p), -ERANGE);
    T_EQ(mf_size_parse("%", &p), -EINVAL);
    T_EQU(mf_size_resolve(&p, MF_UNLIMITED), MF_UNLIMITED);

    uint64_t ns;
    T_EQ(mf_duration_parse("100ms", &ns), 0); T_EQU(ns, 100000000);
    T_EQ(mf_duration_parse("2s", &ns), 0); T_EQU(ns, 2000000000);
    T_EQ(mf_duration_parse("1.5s", &ns), 0); T_EQU(ns, 1500000000);
    T_EQ(mf_duration_parse("10m", &ns), 0); T_EQU(ns, 600000000000ull);
    T_EQ(mf_duration_parse("250", &ns), 0); T_EQU(ns, 250000000);
    T_EQ(mf_duration_parse("5 parsecs", &ns), -EINVAL);
    T_EQ(mf_duration_parse("-1s", &ns), -EINVAL);

    uint64_t pr;
    T_EQ(mf_prob_parse("0.5", &pr), 0); T_EQU(pr, 1ull << 31);
    T_EQ(mf_prob_parse("1", &pr), 0); T_EQU(pr, 1ull << 32);
    T_EQ(mf_prob_parse("0", &pr), 0); T_EQU(pr, 0);
    T_EQ(mf_prob_parse("1.1", &pr), -ERANGE);
    T_EQ(mf_prob_parse("x", &pr), -EINVAL);
    return t_done();
}
