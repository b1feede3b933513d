/* run.c — `memfence run`: validate the budget and the configuration, put libmemfence.so (and
 * the chosen allocator after it) at the front of LD_PRELOAD, and exec the command.  The command
 * replaces this process, so its exit status and signals are its own.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/size.h"
#include "cli/cli.h"
#include "config/config.h"
#include "config/fail_spec.h"
#include "ledger/ledger.h"

static const struct { const char *name, *lib; } allocators[] = {
    { "system", NULL },
    { "glibc", NULL },
    { "jemalloc", "libjemalloc.so.2" },
    { "tcmalloc", "libtcmalloc_minimal.so.4" },
    { "mimalloc", "libmimalloc.so.2" },
};

static const char *lib_dirs[] = { "/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu",
                                  "/usr/local/lib", "/usr/lib" };

static int find_allocator(const char *name, char *out, size_t size)
{
    for (size_t i = 0; i < sizeof allocators / sizeof allocators[0]; i++) {
        if (strcmp(name, allocators[i].name))
            continue;
        if (!allocators[i].lib) {
            out[0] = 0;
            return 0;
        }
        for (size_t d = 0; d < sizeof lib_dirs / sizeof lib_dirs[0]; d++) {
            snprintf(out, size, "%s/%s", lib_dirs[d], allocators[i].lib);
            if (access(out, R_OK) == 0)
                return 0;
        }
        mf_cli_error("allocator '%s': %s not found (install it, e.g. apt-get install %s)", name,
                     allocators[i].lib,
                     !strcmp(name, "jemalloc") ? "libjemalloc2"
                     : !strcmp(name, "tcmalloc") ? "libtcmalloc-minimal4" : "libmimalloc2.0");
        return -ENOENT;
    }
    mf_cli_error("unknown allocator '%s' (system, jemalloc, tcmalloc, mimalloc)", name);
    return -EINVAL;
}

/* MEMFENCE_CONFIG as an absolute path: a child that changes directory still finds the file. */
static int export_config_path(const char *path)
{
    if (!path || !*path || path[0] == '/' || !strcmp(path, "none"))
        return path ? setenv("MEMFENCE_CONFIG", path, 1) : 0;
    char abs[PATH_MAX], cwd[PATH_MAX];
    if (!realpath(path, abs)) {       /* not there (yet): the child says so, with its path */
        if (!getcwd(cwd, sizeof cwd) ||
            (size_t)snprintf(abs, sizeof abs, "%s/%s", cwd, path) >= sizeof abs)
            return -1;
    }
    return setenv("MEMFENCE_CONFIG", abs, 1);
}

/* The budget computed here, for a child that cannot read the file (see keep_run_budget in
 * src/config.c): only what the file set; variables and flags reach the child themselves. */
static void export_run_budget(const mf_config_t *cfg)
{
    static const unsigned ks[] = { MF_K_limit, MF_K_gpu_limit };
    static const char *vars[] = { "MEMFENCE_RUN_LIMIT", "MEMFENCE_RUN_GPU_LIMIT" };
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        uint8_t o = cfg->origin[ks[i]];
        if (o == MF_FROM_GLOBAL || o == MF_FROM_PROCESS || o == MF_FROM_INSTANCE ||
            o == MF_FROM_RUN) {
            char v[64];
            mf_config_format(cfg, ks[i], v, sizeof v);
            setenv(vars[i], v, 1);
        } else {
            unsetenv(vars[i]);
        }
    }
}

/* No budget from any source: say once (here, not in every process) that memfence only counts. */
static int has_budget(const mf_config_t *cfg)
{
    if (!cfg->limit.is_pct && cfg->limit.bytes == MF_UNLIMITED &&
        !cfg->gpu_limit.is_pct && cfg->gpu_limit.bytes == MF_UNLIMITED && !cfg->group[0]) {
        for (int d = 0; d < MF_GPU_MAX; d++)
            if (cfg->gpu_limit_dev_set[d])
                return 1;
        return 0;
    }
    return 1;
}

static void run_usage(FILE *f)
{
    fprintf(f,
            "usage: memfence run [OPTIONS] -- COMMAND [ARGS...]\n\n"
            "  -l, --limit SIZE        host memory budget (bytes, K/M/G/T, or N%%)\n"
            "  -g, --gpu-limit SIZE    GPU memory budget per device\n"
            "  -i, --instance NAME     instance name ([instance NAME] in the configuration)\n"
            "  -c, --config FILE       configuration file\n"
            "  -a, --allocator NAME    system (default), jemalloc, tcmalloc or mimalloc\n"
            "      --fail SPEC         inject allocation failures (see memfence(1))\n"
            "      --fail-sweep        run COMMAND failing the 1st, 2nd, ... allocation in turn;\n"
            "                          --fail then takes only filters (size>=, calls=, from=)\n"
            "      --max N             sweep: calls 1..N at most\n"
            "      --sample K          sweep: try K calls spread over 1..N (default 200)\n"
            "      --timeout S         sweep: a run taking longer hung (default 10 x a clean run, >= 5 s)\n"
            "      --markdown          sweep: print the table as markdown\n"
            "  -h, --help              this text\n");
}

/* What the command line asked for. */
typedef struct run_opts {
    const char *limit, *gpu_limit, *alloc, *fail, *config;
    int sweep;
    /* the sweep's own options, handed on as "fail-sweep [OPTIONS] -- COMMAND [ARGS]" */
    char *sweep_argv[8];
    int sweep_argc;
} run_opts_t;

/* Appends one argument for the sweep.  Counts past the array without writing there, so that a
 * repeated option is refused after the loop ("each sweep option once") instead of overflowing. */
static void sweep_arg(run_opts_t *o, char *arg)
{
    if (o->sweep_argc < (int)(sizeof o->sweep_argv / sizeof o->sweep_argv[0]))
        o->sweep_argv[o->sweep_argc] = arg;
    o->sweep_argc++;
}

/* Parses the options (the command starts at optind).  Return: -1 to go on, or the exit status
 * (0 after --help, 2 on a usage error, reported). */
static int parse_options(int argc, char **argv, run_opts_t *o)
{
    static const struct option opts[] = {
        { "limit", required_argument, 0, 'l' },     { "gpu-limit", required_argument, 0, 'g' },
        { "instance", required_argument, 0, 'i' },  { "config", required_argument, 0, 'c' },
        { "allocator", required_argument, 0, 'a' }, { "fail", required_argument, 0, 'F' },
        { "fail-sweep", no_argument, 0, 'S' },      { "help", no_argument, 0, 'h' },
        { "max", required_argument, 0, 'M' },       { "sample", required_argument, 0, 'K' },
        { "timeout", required_argument, 0, 'T' },   { "markdown", no_argument, 0, 'D' },
        { 0, 0, 0, 0 },
    };
    int c;
    memset(o, 0, sizeof *o);
    sweep_arg(o, "fail-sweep");
    optind = 1;
    while ((c = getopt_long(argc, argv, "+l:g:i:c:a:h", opts, NULL)) != -1) {
        switch (c) {
        case 'l': o->limit = optarg; break;
        case 'g': o->gpu_limit = optarg; break;
        case 'i': setenv("MEMFENCE_INSTANCE", optarg, 1); break;
        case 'c': o->config = optarg; break;
        case 'a': o->alloc = optarg; break;
        case 'F': o->fail = optarg; break;
        case 'S': o->sweep = 1; break;
        case 'M': sweep_arg(o, "--max"); sweep_arg(o, optarg); break;
        case 'K': sweep_arg(o, "--sample"); sweep_arg(o, optarg); break;
        case 'T': sweep_arg(o, "--timeout"); sweep_arg(o, optarg); break;
        case 'D': sweep_arg(o, "--markdown"); break;
        case 'h': run_usage(stdout); return 0;
        default: run_usage(stderr); return 2;
        }
    }
    if (o->sweep_argc > 1 && !o->sweep) {
        mf_cli_error("run: --max, --sample, --timeout and --markdown go with --fail-sweep");
        return 2;
    }
    if (o->sweep_argc > 7) {
        mf_cli_error("run: each sweep option once, please");
        return 2;
    }
    if (optind >= argc) {
        mf_cli_error("run: no command given (memfence run [OPTIONS] -- COMMAND [ARGS])");
        return 2;
    }
    return -1;
}

/* The flags become the variables the library reads, each marked as given by its flag.
 * Return: 0, or 2 on a bad size or path (reported). */
static int export_flags(const run_opts_t *o)
{
    mf_size_t sz;
    if (o->limit) {
        if (mf_size_parse(o->limit, &sz) != 0) {
            mf_cli_error("run: --limit '%s' is not a size (bytes with K/M/G/T, N%%, or unlimited)",
                         o->limit);
            return 2;
        }
        setenv("MEMFENCE_LIMIT", o->limit, 1);
        mf_config_flag(MF_K_limit, "--limit");
    }
    if (o->gpu_limit) {
        if (mf_size_parse(o->gpu_limit, &sz) != 0) {
            mf_cli_error("run: --gpu-limit '%s' is not a size", o->gpu_limit);
            return 2;
        }
        setenv("MEMFENCE_GPU_LIMIT", o->gpu_limit, 1);
        mf_config_flag(MF_K_gpu_limit, "--gpu-limit");
    }
    if (o->fail) {
        setenv("MEMFENCE_FAIL", o->fail, 1);
        mf_config_flag(MF_K_fail, "--fail");
    }
    if (o->alloc) {
        setenv("MEMFENCE_ALLOCATOR", o->alloc, 1);
        mf_config_flag(MF_K_allocator, "--allocator");
    }
    if (export_config_path(o->config ? o->config : getenv("MEMFENCE_CONFIG")) != 0) {
        mf_cli_error("run: configuration path '%s' too long",
                     o->config ? o->config : getenv("MEMFENCE_CONFIG"));
        return 2;
    }
    return 0;
}

/* The same configuration the library will build for `cmd`; under `run` any problem is fatal,
 * and so are a budget that cannot fit (the pre-flight) and a group that refuses admission.
 * Return: 0 with *out set, or the exit status (1 or 2, reported). */
static int check_config(const char *cmd, int sweep, const mf_config_t **out)
{
    const char *prog = strrchr(cmd, '/');
    prog = prog ? prog + 1 : cmd;
    const char *inst = getenv("MEMFENCE_INSTANCE");
    if (mf_config_load(inst && *inst ? inst : prog, cmd) != 0) {
        mf_cli_error("run: configuration errors (above); nothing started");
        return 2;
    }
    const mf_config_t *cfg = mf_config();
    export_run_budget(cfg);
    if (!sweep && !cfg->fail[0] && !has_budget(cfg))
        fprintf(stderr, "memfence: run: no budget (no --limit, MEMFENCE_LIMIT, or limit in %s): "
                "memfence only counts\n", cfg->file[0] ? cfg->file : "a configuration file");
    char why[200];
    mf_fail_spec_t spec;
    if (!sweep && cfg->fail[0] && mf_fail_parse(cfg->fail, &spec, why, sizeof why) != 0) {
        mf_cli_error("run: %s; nothing started", why);
        return 2;
    }
    if (mf_cli_preflight(cfg, stderr) != 0) {
        mf_cli_error("run: the budget cannot fit on this machine (above); nothing started");
        return 1;
    }

    /* Admission to the group (`reserve`): refused means not started, with the pre-flight. */
    char admission[2048];
    if (mf_ledger_admission_check(cfg, admission, sizeof admission) == -ENOSPC) {
        fprintf(stderr, "memfence: run: %s\nmemfence: run: nothing started\n", admission);
        return 2;
    }
    *out = cfg;
    return 0;
}

/* LD_PRELOAD = memfence [allocator] [what was there, without a second memfence].
 * Return: 0, or 2 when the library or the allocator is not found (reported) or out of memory. */
static int set_preload(const mf_config_t *cfg)
{
    const char *lib = mf_cli_library_path();
    if (!lib) {
        mf_cli_error("run: cannot find libmemfence.so (looked %s)", mf_cli_library_places());
        return 2;
    }
    char alloc_lib[512] = "";
    if (find_allocator(cfg->allocator, alloc_lib, sizeof alloc_lib) != 0)
        return 2;

    const char *old = getenv("LD_PRELOAD");
    size_t cap = strlen(lib) + strlen(alloc_lib) + (old ? strlen(old) : 0) + 4;
    char *pre = malloc(cap);
    if (!pre)
        return 2;
    snprintf(pre, cap, "%s%s%s", lib, alloc_lib[0] ? " " : "", alloc_lib);
    if (old) {
        char *copy = strdup(old), *save = NULL;
        for (char *tok = strtok_r(copy, " :", &save); tok; tok = strtok_r(NULL, " :", &save)) {
            if (strstr(tok, "libmemfence.so") || !strcmp(tok, alloc_lib))
                continue;
            strcat(pre, " ");
            strcat(pre, tok);
        }
        free(copy);
    }
    setenv("LD_PRELOAD", pre, 1);
    free(pre);
    return 0;
}

/* `run --fail-sweep`: the sweep, given its options, "--" and the command.  Return: its status. */
static int run_sweep(run_opts_t *o, int argc, char **argv)
{
    /* argv ends with NULL: the command's arguments follow "--" in one array */
    int n = argc - optind;
    char **av = malloc((size_t)(o->sweep_argc + 1 + n + 1) * sizeof *av);
    if (!av)
        return 2;
    memcpy(av, o->sweep_argv, (size_t)o->sweep_argc * sizeof *av);
    av[o->sweep_argc] = "--";
    memcpy(av + o->sweep_argc + 1, argv + optind, (size_t)(n + 1) * sizeof *av);
    int rc = mf_cmd_fail_sweep(o->sweep_argc + 1 + n, av);
    free(av);
    return rc;
}

int mf_cmd_run(int argc, char **argv)
{
    run_opts_t o;
    const mf_config_t *cfg = NULL;
    int rc = parse_options(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if ((rc = export_flags(&o)) != 0 || (rc = check_config(argv[optind], o.sweep, &cfg)) != 0 ||
        (rc = set_preload(cfg)) != 0)
        return rc;
    if (o.sweep)
        return run_sweep(&o, argc, argv);
    execvp(argv[optind], argv + optind);
    mf_cli_error("run: cannot execute '%s': %s", argv[optind], strerror(errno));
    return errno == ENOENT ? 127 : 126;
}
