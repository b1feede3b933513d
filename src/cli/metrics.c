/* metrics.c — placeholder for `memfence metrics`; its issue fills it in. */
#include <stdio.h>
#include "cli/cli.h"

int mf_cmd_metrics(int argc, char **argv)
{
    (void)argc; (void)argv;
    mf_cli_error("'metrics' is not available in this build");
    return 2;
}
