/* config_keys.h — THE table of configuration keys.  One line per key; nothing else lists them.
 *
 * X(name, TYPE, default, lo, hi, help)
 *   TYPE: SIZE (bytes, K/M/G/T or N%), BOOL (on/off, yes/no, true/false, 1/0), UINT, PCT (0–100),
 *         DURATION (ms, s, m, h; bare number = ms), FLOAT, STR (up to MF_CFG_STR_MAX-1 bytes).
 *   lo/hi: bounds for UINT, PCT, DURATION (in ms) and FLOAT; ignored for other types.
 * The parser, the defaults, the MEMFENCE_<KEY> environment overrides, `memfence check --show`
 * and the key table of memfence.conf(5) are all generated from this list.
 */
#define MF_CONFIG_KEYS(X)                                                                        \
    X(limit,            SIZE,     "unlimited", 0, 0,     "host memory budget of the process (bytes, K/M/G/T, or N% of the memory it can really have); unlimited counts only") \
    X(gpu_limit,        SIZE,     "unlimited", 0, 0,     "GPU memory budget per device (size or N% of the device); gpu_limit.N overrides device N") \
    X(gpu_bind_direct,  BOOL,     "on",        0, 0,     "also fence libraries linked directly against libcuda (memfence rebinds their GOT slots)") \
    X(group,            STR,      "",          0, 0,     "name of a group whose budget this instance shares with others") \
    X(group_limit,      SIZE,     "unlimited", 0, 0,     "host memory budget of the whole group (in [group NAME] as `limit`; bytes or N% of the machine)") \
    X(group_gpu_limit,  SIZE,     "unlimited", 0, 0,     "GPU memory budget of the whole group per device, in bytes (in [group NAME] as `gpu_limit`)") \
    X(reserve,          SIZE,     "0",         0, 0,     "share of the group's budget guaranteed to this instance at start (admission)") \
    X(safety_margin,    PCT,      "15",        0, 90,    "share of the machine's memory `memfence check` keeps out of every plan") \
    X(moderate,         PCT,      "60",        1, 100,   "usage/budget percentage at which the level becomes MODERATE") \
    X(high,             PCT,      "75",        1, 100,   "usage/budget percentage at which the level becomes HIGH") \
    X(critical,         PCT,      "90",        1, 100,   "usage/budget percentage at which the level becomes CRITICAL") \
    X(moderate_actions, STR,      "trim",      0, 0,     "actions at MODERATE: trim, throttle, log, signal:SIG, refuse-large, none") \
    X(high_actions,     STR,      "trim,throttle,log", 0, 0, "actions at HIGH") \
    X(critical_actions, STR,      "trim,throttle,log,refuse-large", 0, 0, "actions at CRITICAL") \
    X(on_limit,         STR,      "refuse",    0, 0,     "at the hard limit: refuse (fail the allocation) or warn (log and grant)") \
    X(headroom,         SIZE,     "3%",        0, 0,     "the last part of the budget kept for blocks under 1 MiB from the malloc family: larger blocks stop before it, mappings halfway into it, so a program refused one can still unwind (bytes, or N% of the budget: at least 8 MiB, at most a quarter); 0 for none") \
    X(overdraft,        SIZE,     "1%",        0, 0,     "once a block under 1 MiB from the malloc family has been refused, such blocks may go this far past the budget (bytes, or N% of the budget: at least 4 MiB, at most a quarter); 0 for a strict budget") \
    X(allocator,        STR,      "system",    0, 0,     "allocator under memfence for `memfence run`: system, jemalloc, tcmalloc, mimalloc") \
    X(log,              STR,      "stderr",    0, 0,     "where memfence writes: stderr, syslog, off, or a file path") \
    X(log_rate,         UINT,     "10",        1, 100000, "at most this many lines of one kind per second") \
    X(log_backtrace,    BOOL,     "on",        0, 0,     "add the stack of the refused call to refusal lines") \
    X(level_inputs,     STR,      "all",       0, 0,     "what raises the pressure level: usage, rss (anonymous and shmem resident memory, of the budget; never file pages), host (machine or cgroup memory in use), psi, retained (rss far above usage: MODERATE); all (without a budget the default leaves out host and psi)") \
    X(sample_interval,  DURATION, "100ms",     1, 60000, "how often the sampler thread reads the metrics") \
    X(sampler_wait,     DURATION, "10s",       0, 3600000, "the sampler thread of a process whose usage stays below 1/256 of its budget (4 x trim_min without one) starts only once the process has lived this long and allocates again; 0 starts it at the first allocation (as do metrics_file, a signal action, level_inputs naming host or psi, or a GPU charge)") \
    X(throttle_min,     SIZE,     "64K",       0, 0,     "allocations at or above this size are delayed when throttling") \
    X(throttle_max,     DURATION, "50ms",      0, 10000, "longest delay of one throttled allocation") \
    X(refuse_large_min, SIZE,     "1M",        0, 0,     "at refuse-large, allocations at or above this size are refused") \
    X(trim_min,         SIZE,     "1M",        0, 0,     "trim only when the allocator retains at least this much free memory") \
    X(leak_window,      DURATION, "10m",       1000, 86400000, "sliding window of the leak trend") \
    X(map_check,        BOOL,     "on",        0, 0,     "pre-flight check of large file mappings") \
    X(map_check_min,    SIZE,     "64M",       0, 0,     "file mappings at least this large are checked") \
    X(map_factor,       FLOAT,    "1.0",       0, 64,    "bytes a file mapping is expected to need, per byte of file") \
    X(virtualize,       BOOL,     "on",        0, 0,     "answer sysinfo, sysconf, /proc/meminfo, cgroup files and GPU memory info from the budget (only where a budget is set)") \
    X(profile,          BOOL,     "off",       0, 0,     "sample allocation sites with libunwind") \
    X(profile_rate,     SIZE,     "512K",      0, 0,     "mean bytes between two sampled allocations") \
    X(profile_at_exit,  STR,      "",          0, 0,     "write the allocation-site report to this file at exit") \
    X(fail,             STR,      "",          0, 0,     "fault-injection spec: every=N, after=SIZE, prob=P, seed=S, size>=SIZE, count=N, calls=..., from=MODULE") \
    X(fail_log,         BOOL,     "off",       0, 0,     "log every injected failure with its backtrace") \
    X(metrics_file,     STR,      "",          0, 0,     "the sampler writes Prometheus metrics to this file every interval") \
    X(ledger_dir,       STR,      "",          0, 0,     "directory of the group ledgers (default $XDG_RUNTIME_DIR or /dev/shm)")

/* The keys a [group NAME] section takes (a subset of the table above: same types and parsers).
 * In a group they describe the shared budget: limit and gpu_limit (and gpu_limit.N) are the
 * group's total; reserve is the reservation of a member that sets none of its own. */
#define MF_GROUP_KEYS(X) X(limit) X(gpu_limit) X(reserve)

/* The MEMFENCE_* variables that are not MEMFENCE_<KEY> of the table above (nor
 * MEMFENCE_GPU_LIMIT_<N>, gpu_limit.N's form): E(NAME after MEMFENCE_, help).  An unknown
 * MEMFENCE_* variable is reported with the closest name of both lists. */
#define MF_ENV_VARS(E)                                                                           \
    E(CONFIG,           "the configuration file (none: no file)")                                \
    E(INSTANCE,         "the instance name ([instance NAME] sections, the ledger)")              \
    E(RUN_LIMIT,        "set by memfence run: its host budget, kept when the file is unreadable") \
    E(RUN_GPU_LIMIT,    "set by memfence run: its GPU budget, kept when the file is unreadable")  \
    E(FAIL_REPORT,      "set by --fail-sweep: the file where the counting run counts calls")     \
    E(FAIL_EXE,         "set by --fail-sweep: fault injection only in this executable's processes") \
    E(TEST_GPU_MEM,     "tests: device sizes memfence check assumes (\"80G,80G\")")              \
    E(TEST_CGROUP_ROOT, "tests: the directory read as /sys/fs/cgroup")
