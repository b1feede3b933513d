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

#ifndef MF_LIBDIR
#define MF_LIBDIR "/usr/local/lib"
#endif

/* Where the library may be, relative to the command's directory ("." prefix) or absolute: next to
 * it (the build tree), ../lib and the multiarch ../lib (an installed tree, also when copied
 * with its lib/), then the LIBDIR `make install` was given.  libmemfence.so.0 is the runtime
 * package's name (libmemfence.so is only in the development package). */
static const char *const lib_places[] = { "./", "./../lib/", "./../lib/x86_64-linux-gnu/",
                                          MF_LIBDIR "/", "/usr/lib/x86_64-linux-gnu/" };
static const char *const lib_names[] = { "libmemfence.so", "libmemfence.so.0" };

const char *mf_cli_library_path(void)
{
    static char path[PATH_MAX];
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = 0;
    for (size_t i = 0; i < sizeof lib_places / sizeof lib_places[0]; i++) {
        if (lib_places[i][0] == '.' && !slash)
            continue;
        for (size_t j = 0; j < sizeof lib_names / sizeof lib_names[0]; j++) {
            char cand[PATH_MAX + 64];
            const char *place = lib_places[i];
            int len = place[0] == '.'
                          ? snprintf(cand, sizeof cand, "%s/%s%s", exe, place + 2, lib_names[j])
                          : snprintf(cand, sizeof cand, "%s%s", place, lib_names[j]);
            if (len <= 0 || (size_t)len >= sizeof cand)
                continue;
            if (access(cand, R_OK) == 0 && realpath(cand, path))
                return path;
        }
    }
    return NULL;
}

const char *mf_cli_library_places(void)
{
    return "next to this program, in ../lib, or in " MF_LIBDIR;
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
