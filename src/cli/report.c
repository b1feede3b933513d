/* report.c — placeholder for `memfence report`; its issue fills it in. */
#include <stdio.h>
#include "cli/cli.h"

int mf_cmd_report(int argc, char **argv)
{
    (void)argc; (void)argv;
    mf_cli_error("'report' is not available in this build");
    return 2;
}
