/* check.c — placeholder for `memfence check`; its issue fills it in. */
#include <stdio.h>
#include "cli/cli.h"

int mf_cmd_check(int argc, char **argv)
{
    (void)argc; (void)argv;
    mf_cli_error("'check' is not available in this build");
    return 2;
}
