/* sweep.c — placeholder for `memfence run --fail-sweep`; the fault-injection issue fills it in. */
#include "cli/cli.h"

int mf_cmd_fail_sweep(int argc, char **argv)
{
    (void)argc; (void)argv;
    mf_cli_error("--fail-sweep is not available in this build");
    return 2;
}
