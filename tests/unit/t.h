/* t.h — the unit-test helper: CHECK macros that count, and a summary that sets the exit code.
 *   T_CHECK(cond)            fails the test (continues) when cond is false
 *   T_EQ(a, b) / T_EQU(a,b)  signed / unsigned equality with both values printed
 *   return t_done();         at the end of main: exit 1 when any check failed */
#ifndef MF_T_H
#define MF_T_H
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static int t_checks, t_failures;
#define T_CHECK(c) do { t_checks++; if (!(c)) { t_failures++; \
    fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); } } while (0)
#define T_EQ(a, b) do { long long _a = (long long)(a), _b = (long long)(b); t_checks++; \
    if (_a != _b) { t_failures++; fprintf(stderr, "%s:%d: %s == %s: %lld != %lld\n", \
    __FILE__, __LINE__, #a, #b, _a, _b); } } while (0)
#define T_EQU(a, b) do { unsigned long long _a = (unsigned long long)(a), \
    _b = (unsigned long long)(b); t_checks++; if (_a != _b) { t_failures++; \
    fprintf(stderr, "%s:%d: %s == %s: %llu != %llu\n", __FILE__, __LINE__, #a, #b, _a, _b); } \
    } while (0)
static inline int t_done(void)
{
    fprintf(stderr, "%d checks, %d failed\n", t_checks, t_failures);
    return t_failures ? 1 : 0;
}
#endif
