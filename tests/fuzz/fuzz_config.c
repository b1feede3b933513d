/* fuzz_config.c — libFuzzer target: the INI loader (inih + memfence's reader, validation and
 * composition) on arbitrary bytes.  `make fuzz` runs it; tests/unit/test_config_corpus.c replays
 * tests/fuzz/corpus/config/ in `make test`. */
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "config/config_file.h"

static void quiet(const char *msg) { (void)msg; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static mf_config_t cfg;
    mf_config_set_reporter(quiet);
    mf_cfg_file_t f;
    if (mf_cfg_file_parse(&f, "fuzz.conf", (const char *)data, size) == 0) {
        static const char *const ids[][3] = {
            { "python3", "python3", "/usr/bin/python3.11" },
            { "model-a", "llama-server", "/opt/llama/bin/llama-server" },
            { "", "", "" },
        };
        for (unsigned i = 0; i < sizeof ids / sizeof ids[0]; i++) {
            mf_config_defaults(&cfg);
            int proc = mf_cfg_file_match(&f, ids[i][1], ids[i][2]);
            mf_config_compose(&cfg, &f, proc, ids[i][0], false);
            char buf[MF_CFG_STR_MAX + 8];
            for (unsigned k = 0; k < MF_K_COUNT; k++)
                mf_config_format(&cfg, k, buf, sizeof buf);
            for (unsigned g = 0; g < cfg.ngroups; g++)
                mf_config_format_size(&cfg.groups[g].limit, buf, sizeof buf);
            (void)mf_config_group(&cfg, cfg.group);
        }
        /* every section as check.c composes it */
        for (unsigned s = 0; s < f.nsec && s < 16; s++) {
            mf_config_defaults(&cfg);
            mf_config_compose(&cfg, &f, f.sec[s].kind == MF_SEC_PROCESS ? (int)s : -1,
                              f.sec[s].kind == MF_SEC_INSTANCE ? f.sec[s].name : NULL, false);
        }
    }
    mf_cfg_file_free(&f);
    mf_config_set_reporter(NULL);
    return 0;
}
