/* metrics.c — `memfence metrics [--group NAME] [--dir DIR] [-o FILE]`: the Prometheus text
 * exposition of every live fenced instance and group of this user (for node_exporter's textfile
 * collector).  The text is built by mf_ledger_metrics_text (src/ledger.c), the same code the
 * sampler uses for `metrics_file`.  -o writes FILE atomically (temporary file + rename).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "ledger/ledger.h"

#define TEXT_SIZE (8u << 20)

static void usage(FILE *f)
{
    fprintf(f, "usage: memfence metrics [--group NAME] [--dir DIR] [-o FILE]\n\n"
               "  -g, --group NAME   only this group\n"
               "  -d, --dir DIR      the ledger directory (default: MEMFENCE_LEDGER_DIR, else\n"
               "                     $XDG_RUNTIME_DIR and /dev/shm)\n"
               "  -o, --output FILE  write FILE atomically instead of standard output\n");
}

int mf_cmd_metrics(int argc, char **argv)
{
    static const struct option opts[] = {
        { "group", required_argument, 0, 'g' }, { "dir", required_argument, 0, 'd' },
        { "output", required_argument, 0, 'o' }, { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    const char *group = NULL, *dir = getenv("MEMFENCE_LEDGER_DIR"), *outp = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "g:d:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'g': group = optarg; break;
        case 'd': dir = optarg; break;
        case 'o': outp = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    mf_cli_ledger_t l;
    if (mf_cli_ledger_open(&l, "metrics", dir, group) != 0)
        return 2;
    char *text = malloc(TEXT_SIZE);
    if (!text) {
        mf_cli_ledger_close(&l);
        return 2;
    }
    mf_cli_ledger_scan(&l);
    bool cut = false;
    size_t len = mf_ledger_metrics_text(text, TEXT_SIZE, l.rows, l.n, l.groups, l.ng, &cut);
    if (cut)
        mf_cli_error("metrics: output cut at %zu bytes", len);
    int rc = 0;
    if (outp) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp.%d", outp, (int)getpid());
        FILE *f = fopen(tmp, "w");
        if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0 || rename(tmp, outp) != 0) {
            mf_cli_error("metrics: cannot write %s: %s", outp, strerror(errno));
            unlink(tmp);
            rc = 1;
        }
    } else if (fwrite(text, 1, len, stdout) != len) {
        rc = 1;
    }
    mf_cli_ledger_close(&l);
    free(text);
    return rc;
}
