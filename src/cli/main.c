/* main.c — the `memfence` command: dispatch to the subcommands listed in cli.h. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const struct {
    const char *name, *usage, *help;
    int (*fn)(int, char **);
} cmds[] = {
#define MF_CMD_ROW(name, usage, help) { #name, usage, help, mf_cmd_##name },
    MF_SUBCOMMANDS(MF_CMD_ROW)
#undef MF_CMD_ROW
};

void mf_cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("memfence: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

const char *mf_cli_library_path(void)
{
    static char path[PATH_MAX];
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash)
        return NULL;
    *slash = 0;
    static const char *rel[] = { "/libmemfence.so", "/../lib/libmemfence.so",
                                 "/../lib/x86_64-linux-gnu/libmemfence.so" };
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        char cand[PATH_MAX];
        snprintf(cand, sizeof cand, "%s%s", exe, rel[i]);
        if (access(cand, R_OK) == 0 && realpath(cand, path))
            return path;
    }
    return NULL;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: memfence COMMAND [OPTIONS]\n\n"
               "memfence keeps a process inside a memory budget from the inside (LD_PRELOAD).\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        fprintf(f, "  %-8s %s\n           memfence %s\n", cmds[i].name, cmds[i].help, cmds[i].usage);
    fprintf(f, "\n  memfence --version    print the version\n"
               "  memfence COMMAND --help\n\nSee memfence(1) and memfence.conf(5).\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("memfence %s\n", MF_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name))
            return cmds[i].fn(argc - 1, argv + 1);
    mf_cli_error("unknown command '%s' (try memfence --help)", argv[1]);
    return 2;
}
