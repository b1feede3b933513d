/* test_log.c — memfence's allocation-free formatter. */
#include <string.h>
#include "base/log.h"
#include "t.h"

int main(void)
{
    char b[64];
    mf_fmt(b, sizeof b, "a%db%uc%xd%se%c%%", -5, 7u, 255u, "str", 'z');
    T_CHECK(!strcmp(b, "a-5b7cffdstrez%"));
    mf_fmt(b, sizeof b, "%llu %zu %ld %05d|%4s", 18446744073709551615ull, (size_t)42, -1L, 42, "ab");
    T_CHECK(!strcmp(b, "18446744073709551615 42 -1 00042|  ab"));
    mf_fmt(b, sizeof b, "%p %s", (void *)0x1000, (char *)NULL);
    T_CHECK(!strcmp(b, "0x1000 (null)"));
    size_t n = mf_fmt(b, 8, "0123456789");            /* truncation keeps a terminator */
    T_EQU(n, 7);
    T_CHECK(!strcmp(b, "0123456"));
    T_CHECK(!strcmp(MF_BYTES(0), "0 B"));
    T_CHECK(!strcmp(MF_BYTES(1023), "1023 B"));
    T_CHECK(!strcmp(MF_BYTES(1536), "1.5 KiB"));
    T_CHECK(!strcmp(MF_BYTES(64ull << 20), "64.0 MiB"));
    T_CHECK(!strcmp(MF_BYTES((3ull << 30) - 1), "2.9 GiB"));   /* never rounded up */
    T_CHECK(!strcmp(MF_BYTES(UINT64_MAX), "unlimited"));
    return t_done();
}
