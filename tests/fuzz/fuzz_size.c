/* fuzz_size.c — libFuzzer target: the value parsers (sizes, percentages, durations,
 * probabilities) and every key's typed parser and rules, on arbitrary text.  `make fuzz` runs
 * it; tests/unit/test_config_corpus.c replays tests/fuzz/corpus/size/ in `make test`. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config/config.h"
#include "base/size.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static mf_config_t cfg;
    char text[512], why[256], buf[MF_CFG_STR_MAX + 8];
    if (size >= sizeof text)
        size = sizeof text - 1;
    memcpy(text, data, size);
    text[size] = '\0';

    mf_size_t sz;
    if (mf_size_parse(text, &sz) == 0) {
        mf_config_format_size(&sz, buf, sizeof buf);
        (void)mf_size_resolve(&sz, 1ull << 34);
        (void)mf_size_resolve(&sz, UINT64_MAX);
        /* what is printed parses back to the same size */
        mf_size_t back;
        if (mf_size_parse(buf, &back) != 0 || back.is_pct != sz.is_pct ||
            (!sz.is_pct && back.bytes != sz.bytes))
            __builtin_trap();
    }
    uint64_t v;
    (void)mf_duration_parse(text, &v);
    (void)mf_prob_parse(text, &v);
    mf_config_defaults(&cfg);
    for (unsigned k = 0; k < MF_K_COUNT; k++) {
        (void)mf_config_check(k, text, why, sizeof why);
        if (mf_config_set(&cfg, mf_config_key_name(k), text, why, sizeof why) == 0)
            mf_config_format(&cfg, k, buf, sizeof buf);
    }
    int dev;
    (void)mf_config_key_find(text, &dev);
    (void)mf_config_suggest(text);
    return 0;
}
