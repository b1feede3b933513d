/* cli.h — the `memfence` command's subcommands.  Each takes argc/argv after the subcommand name
 * (argv[0] is the subcommand) and returns the process exit status:
 *   0 success, 1 a check that did not pass, 2 usage or configuration error. */
#ifndef MF_CLI_H
#define MF_CLI_H

#include <stdio.h>

#include "config/config.h"
#include "ledger/ledger.h"

#define MF_SUBCOMMANDS(X)                                                          \
    X(run,     "run [-l SIZE] [--allocator NAME] [--fail SPEC] [--fail-sweep [--max N] [--sample K] [--timeout S] [--markdown]] -- CMD [ARGS]", \
               "run a command fenced by memfence")                                \
    X(check,   "check [-c FILE] [--show] [--for PROGRAM | --instance NAME]",      \
               "validate a configuration file and print a pre-flight report")     \
    X(status,  "status [--watch] [--json] [--group NAME] [--dir DIR]",           \
               "show the live fenced processes")                                  \
    X(metrics, "metrics [--group NAME] [--dir DIR] [-o FILE]",                   \
               "print Prometheus metrics of the live fenced processes")           \
    X(report,  "report PID|FILE [--top N] [--json] [--folded] [--timeout S]",      \
               "print a live process's allocation-site report")

#define MF_CMD_DECL(name, usage, help) int mf_cmd_##name(int argc, char **argv);
MF_SUBCOMMANDS(MF_CMD_DECL)
#undef MF_CMD_DECL

/* `memfence run --fail-sweep ...` (src/cli/sweep.c), called by run once the configuration is
 * loaded and LD_PRELOAD set: argv is "fail-sweep [--max N] [--sample K] [--timeout S]
 * [--markdown] -- COMMAND [ARGS]"; the filters come from the configuration's `fail` (--fail).
 * Return: 0 nothing crashed or hung, 1 something did, 2 usage error. */
int mf_cmd_fail_sweep(int argc, char **argv);

/* The absolute path of libmemfence.so that belongs to this command (next to the binary, or
 * ../lib, LIBDIR of `make install`), libmemfence.so or libmemfence.so.0; NULL when not found. */
const char *mf_cli_library_path(void);

/* Where mf_cli_library_path looked, for a message ("next to this program, ..."). */
const char *mf_cli_library_places(void);

/* The pre-flight check of one process's configuration (src/cli/check.c): does its budget fit in
 * the memory of this machine less the safety margin, its group's budget too, its reserve in its
 * group, its GPU budgets in each visible device?  Prints nothing when it fits; else a report with
 * recommendations and a FAILED line to `out`.  Return: 0 fits, 1 does not. */
int mf_cli_preflight(const mf_config_t *cfg, FILE *out);

/* A snapshot of the ledger (src/cli/ledger_view.c), for status and metrics: the live instances'
 * rows and their groups'. */
typedef struct mf_cli_ledger {
    const char *dir;                /* NULL: the default places */
    const char *group;              /* NULL or "": every group */
    mf_ledger_row_t *rows;
    size_t n;
    mf_ledger_group_t *groups;
    size_t ng;
} mf_cli_ledger_t;

/* Checks the --group name and makes room for a snapshot; `cmd` names the subcommand in the
 * messages.  Return: 0, or 2 (a usage error or no memory, said on stderr). */
int mf_cli_ledger_open(mf_cli_ledger_t *l, const char *cmd, const char *dir, const char *group);
/* Reads the ledger into l (reclaiming dead instances' slots), printing its warnings to stderr.
 * Return: 0, or a negative errno when there is no ledger directory (l->n is then 0). */
int mf_cli_ledger_scan(mf_cli_ledger_t *l);
void mf_cli_ledger_close(mf_cli_ledger_t *l);

/* Prints "memfence: " + message to stderr. */
void mf_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
