/* status.c — placeholder for `memfence status`; its issue fills it in. */
#include <stdio.h>
#include "cli/cli.h"

int mf_cmd_status(int argc, char **argv)
{
    (void)argc; (void)argv;
    mf_cli_error("'status' is not available in this build");
    return 2;
}
