/* ledger_view.c — the ledger snapshot `memfence status` and `memfence metrics` read (cli.h). */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"

#define MAX_ROWS (4 * MF_LEDGER_SLOTS)
#define MAX_GROUPS 128

int mf_cli_ledger_open(mf_cli_ledger_t *l, const char *cmd, const char *dir, const char *group)
{
    *l = (mf_cli_ledger_t){ .dir = dir && *dir ? dir : NULL, .group = group };
    if (group && *group && !mf_ledger_group_valid(group)) {
        mf_cli_error("%s: '%s' is not a group name", cmd, group);
        return 2;
    }
    l->rows = calloc(MAX_ROWS, sizeof *l->rows);
    l->groups = calloc(MAX_GROUPS, sizeof *l->groups);
    if (!l->rows || !l->groups) {
        mf_cli_ledger_close(l);
        mf_cli_error("%s: out of memory", cmd);
        return 2;
    }
    return 0;
}

int mf_cli_ledger_scan(mf_cli_ledger_t *l)
{
    char warn[2048];
    l->ng = 0;
    int n = mf_ledger_scan(l->dir, l->group, l->rows, MAX_ROWS, l->groups, MAX_GROUPS, &l->ng,
                           warn, sizeof warn);
    if (warn[0])
        fprintf(stderr, "%s", warn);
    l->n = n > 0 ? (size_t)n : 0;
    return n < 0 ? n : 0;
}

void mf_cli_ledger_close(mf_cli_ledger_t *l)
{
    free(l->rows);
    free(l->groups);
    l->rows = NULL;
    l->groups = NULL;
}
