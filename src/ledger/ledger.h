/* ledger.h — the shared-memory table of live instances and the group budgets they share.
 *
 * Files.  One file per user and group in the ledger directory (`ledger_dir`, else
 * $XDG_RUNTIME_DIR, else /dev/shm):
 *     memfence-vV-UID-g-GROUP.ledger   the instances of group GROUP and the group's budget
 *     memfence-vV-UID-solo.ledger      instances without a group (listed by `memfence status`,
 *                                      no shared budget)
 * V is MF_LEDGER_VERSION: another version of memfence (older or newer) on the same machine
 * keeps its own files, so neither refuses nor waits on the other's.
 * Created with O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600; opened with O_NOFOLLOW and refused unless
 * it is a regular file owned by this user, not group/world accessible, of the exact size, with
 * the right magic, version, geometry and group name.  A refused file costs one log line; the
 * process then fences alone (its own budget only).
 *
 * Size.  MF_LEDGER_SLOTS (16384) slots of under 1 KiB: a file of 13 MiB, sparse, so it costs
 * the pages of the slots used (a group's members use the lowest free slots).  The header's `top`
 * (one past the highest live slot, lowered as the top members leave) bounds every loop, so a
 * scan costs the live members, not the capacity.  That is the real limit: 16384 live members
 * of one group (helpers included: a shell wrapper's subshells and commands are members while
 * they live).  A joiner that finds every slot live waits up to MF_LEDGER_SLOT_WAIT_MS for one
 * (claiming reclaims the dead); if none frees, it is not admitted: the group grants it nothing
 * (its allocations are refused, with the group named), because a member that cannot be counted
 * must not run on its own budget alone.  `memfence run` refuses to start it (exit 2).  The same
 * holds when the lock cannot be had at join.
 *
 * Messages.  Lines about the group (every slot taken, lock, admission, a differing limit) are
 * rate-limited across the group: one line of a kind per MF_LEDGER_SAY_NS, taken with a CAS on
 * a timestamp in the header, carrying how many were held back since.  The dead-member sweep
 * (a /proc read per live member) is paced the same way: one member sweeps, every 2 s (every
 * 50 ms when the group refuses a charge).
 *
 * Slots.  An instance claims one slot: pid + start time (field 22 of /proc/PID/stat, so a
 * reused pid is not mistaken for the old process), names, reservation, what it charged to the
 * group per pool, and a snapshot of its usage, budgets, RSS, level and counters that its
 * sampler publishes each interval (mf_ledger_tick) under a per-slot seqlock.
 *
 * Group accounting.  total[pool] == Σ over claimed slots of contrib(slot, pool), where
 * contrib(host) = max(charged, reserve) and contrib(gpu) = charged.  Every change of `charged`,
 * `reserve`, `total` or a slot's state is made under one process-shared robust mutex in the
 * header (taken with a 2 s timeout; the allocation fast path never takes it: pools charge the
 * group at lease granularity).  A SIGKILL inside the critical section is repaired by the next
 * locker (EOWNERDEAD: total is recomputed from the slots); a dead or reused pid's slot is
 * reclaimed (its contribution subtracted) by the next instance or `memfence status` that scans.
 * The totals are atomics, read without the lock by `status` and `metrics`.
 *
 * Exactness.  The group's granted bytes (Σ of its members' pool usage including the credit their
 * threads have leased and their process-level group credit, plus unused reservations) never
 * exceed the group limit.  A group refusal is decided after the refusing process has drained
 * its own threads' credit (the gate does so before any refusal) and used its own group credit.
 * Other members' idle credit is not taken synchronously: a refusal bumps the group's `squeeze`
 * generation and every member returns its idle credit at its next tick.  So a refusal may
 * happen while the live bytes + request fit by at most the other members' idle credit: per
 * member, 2 gate batches per thread (batch <= 256 KiB) + 2 group chunks (chunk = group limit /
 * 256, between 64 KiB and 1 MiB, and at most a quarter of the room left per live slot, so that
 * thousands of members cannot hold the budget idle; host pool only, GPU pools charge the group
 * exactly).
 *
 * Joining.  At initialisation every fenced process claims a slot: in its group's ledger when
 * `group` is set (and installs the group as the gate's parent budget), else in the per-user solo
 * ledger, so `memfence status` lists every fenced process.  What the process's pools already
 * held when it joined is its "debt": not charged to the group; frees pay it back first.  A fork
 * child claims a slot of its own (flag FORKED, no reservation); what it inherited is its debt
 * (copy-on-write pages of the parent, already counted there).  An exec'd image finds the slot of
 * its former self (same pid and start time) and replaces it.  `reserve` is applied at start and
 * after exec, not in fork children.
 *
 * Group limit.  `group_limit` / `group_gpu_limit` (MEMFENCE_GROUP_LIMIT, ...; `[group NAME]
 * limit` once the INI layer maps it).  The first live member's limit holds; a member whose own
 * setting differs logs one line and follows the ledger; when the ledger has no live member the
 * next joiner sets it.
 *
 * Limits.  A member stopped (SIGSTOP) inside the few-instruction critical section makes the
 * others wait (a holder that is only preempted, on an overloaded machine, is waited for up to
 * 30 s: it is running or runnable); after 2 s their charge is refused (one line for the group), and for the next
 * second their charges are refused without waiting (what their local credit covers still
 * goes through); they stay in the group and count again once the lock is free.  A process that
 * execs a program without memfence keeps its slot (and share) until it exits.  Processes of one
 * group must share a pid namespace (a ledger made in another one is refused) and a user.
 * setuid/setgid programs do not join any ledger.
 *
 * Errors: 0 or a negative errno, as everywhere.
 */
#ifndef MF_LEDGER_H
#define MF_LEDGER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/mf.h"
#include "base/module.h"
#include "config/config.h"
#include "gate/gate.h"

#define MF_LEDGER_MAGIC    0x5247444c4d464d45ull   /* "EMFMLDGR" little-endian bytes */
#define MF_LEDGER_VERSION  2u
#define MF_LEDGER_SLOTS    16384u                   /* live members of one group, at most */
#define MF_LEDGER_EVENT    96
#define MF_LEDGER_LOCK_NS  2000000000ull            /* give up on the lock after 2 s ... */
#define MF_LEDGER_LOCK_MAX_NS 30000000000ull        /* ... or 30 s while its holder runs */
#define MF_LEDGER_SAY_NS   10000000000ull           /* one line of a kind per group per 10 s */
#define MF_LEDGER_SLOT_WAIT_MS 1000u                /* a joiner waits this long for a free slot */

/* Kinds of group messages, rate-limited across the group (mf_ledger_say). */
enum { MF_LSAY_FULL, MF_LSAY_LOCK, MF_LSAY_ADMISSION, MF_LSAY_LIMIT, MF_LSAY_COUNT };

enum { MF_LSLOT_FREE = 0, MF_LSLOT_LIVE = 1 };
enum { MF_LFLAG_GROUPED = 1u << 0,      /* charges the group budget */
       MF_LFLAG_REFUSED = 1u << 1,      /* admission refused: fenced by its own budget only */
       MF_LFLAG_FORKED = 1u << 2,       /* a fork child (joined without a reservation) */
       MF_LFLAG_DETACHED = 1u << 3 };   /* the group lock timed out once (charges refused
                                           while it could not be had) */

/* Published by the owner at each tick (read under the seqlock). */
typedef struct mf_ledger_pub {
    uint64_t used[MF_POOL_COUNT];       /* live bytes granted per pool (mf_gate_used) */
    uint64_t budget[MF_POOL_COUNT];     /* per-process limit per pool (MF_UNLIMITED: none) */
    uint64_t rss;
    uint64_t refusals, refusals_gpu, map_refusals, injected, trims, trimmed_bytes;
    uint64_t throttled, throttle_ns, signals, refused_large;
    uint32_t level;                     /* enum mf_level */
    uint32_t gpu_count;                 /* pools 1..gpu_count in use */
    uint64_t updated_ns;                /* CLOCK_REALTIME of the last tick */
} mf_ledger_pub_t;

typedef struct mf_ledger_slot {
    _Atomic uint32_t state;             /* MF_LSLOT_*; changed under the lock */
    uint32_t flags;                     /* MF_LFLAG_* */
    int32_t pid, ppid;
    uint64_t start_time;                /* /proc/PID/stat starttime (clock ticks since boot) */
    uint64_t joined_ns;                 /* CLOCK_REALTIME */
    char instance[MF_NAME_MAX];
    char program[MF_NAME_MAX];
    /* group accounting: written under the lock only */
    uint64_t reserve;                   /* host bytes guaranteed at admission */
    _Atomic uint64_t charged[MF_POOL_COUNT];
    /* the owner's snapshot */
    _Atomic uint32_t seq;               /* odd while the owner writes `pub` */
    uint32_t pad0;
    mf_ledger_pub_t pub;
    char last_event[MF_LEDGER_EVENT];
    uint64_t last_event_ns;             /* CLOCK_REALTIME */
    /* mailbox: a reader bumps `req` (and sets req_kind); the owner's tick answers and sets
     * `done` = the request it answered (see mf_ledger_request) */
    _Atomic uint32_t req, done;
    _Atomic uint32_t req_kind;
    int32_t done_status;                /* 0 or -errno of the answer */
} MF_ALIGNED mf_ledger_slot_t;

typedef struct mf_ledger_hdr {
    uint64_t magic;
    uint32_t version, hdr_size, slot_size, nslots;
    uint64_t file_size;
    uint32_t owner_uid, pad0;
    uint64_t pidns;                     /* inode of the creator's pid namespace */
    char group[MF_NAME_MAX];            /* "" for the solo ledger */
    _Atomic uint32_t ready;             /* 0 being created, 2 being re-created (its creator
                                           died), 1 once everything is initialised */
    _Atomic int32_t creator;            /* pid of the process initialising the file */
    _Atomic uint32_t squeeze;           /* bumped by a group refusal: members return credit */
    uint64_t created_ns;
    union { pthread_mutex_t lock; char lock_space[64]; } MF_ALIGNED u;
    uint64_t limit[MF_POOL_COUNT];      /* the group's budget per pool (MF_UNLIMITED: none) */
    _Atomic uint64_t total[MF_POOL_COUNT];
    _Atomic uint64_t refusals;          /* charges refused by the group budget */
    _Atomic uint64_t reclaimed;         /* slots of dead processes reclaimed */
    _Atomic uint64_t admissions_refused;
    char limit_by[MF_NAME_MAX];         /* the instance that set the limit */
    _Atomic uint32_t top;               /* slots at and above top are free (set under the lock) */
    uint32_t pad1;
    _Atomic uint64_t turned_away;       /* joiners refused: no slot or no lock */
    _Atomic uint64_t sweep_ns;          /* CLOCK_MONOTONIC of the last dead-member sweep */
    _Atomic uint64_t said_ns[MF_LSAY_COUNT];    /* CLOCK_MONOTONIC of the last line per kind */
    _Atomic uint64_t unsaid[MF_LSAY_COUNT];     /* lines of that kind held back since */
    /* pid of slot i while it is live, 0 when free (set under the lock): a dense index, so that
     * a claim reads a few pages however many members there are, not one page per member */
    _Atomic int32_t pids[MF_LEDGER_SLOTS];
} MF_ALIGNED mf_ledger_hdr_t;

#define MF_LEDGER_HDR_SIZE  ((sizeof(mf_ledger_hdr_t) + 4095) & ~(size_t)4095)
#define MF_LEDGER_FILE_SIZE(n) (MF_LEDGER_HDR_SIZE + (size_t)(n) * sizeof(mf_ledger_slot_t))

/* A mapped ledger file. */
typedef struct mf_ledger {
    mf_ledger_hdr_t *hdr;
    mf_ledger_slot_t *slots;
    size_t size;
    int fd;
    char path[512];
} mf_ledger_t;

/* ---- files ---------------------------------------------------------------------------- */

/* True when `group` is a usable group name: 1..63 of [A-Za-z0-9._-], not starting with '.'. */
bool mf_ledger_group_valid(const char *group);

/* The ledger directory for cfg: ledger_dir, else $XDG_RUNTIME_DIR, else /dev/shm. */
const char *mf_ledger_dir(const mf_config_t *cfg);

/* Writes the path of the ledger of (uid, group) in dir ("" group: the solo ledger).
 * Return: 0, -EINVAL (bad group name), -ENAMETOOLONG. */
int mf_ledger_path(const char *dir, unsigned uid, const char *group, char *buf, size_t size);

/* Opens (creating it when `create` and absent) and validates the ledger at path for `group`.
 * Return: 0, or -errno with a one-line reason in why (ELOOP symlink, EPERM wrong owner or mode,
 * EPROTO bad magic/version/geometry/group, ENOENT absent and !create, ETIMEDOUT not ready). */
int mf_ledger_open(const char *path, const char *group, bool create, mf_ledger_t *l,
                   char *why, size_t whylen);
void mf_ledger_close(mf_ledger_t *l);

/* ---- slots and group accounting (any ledger; the unit tests drive these directly) ------- */

/* /proc/PID/stat start time of pid; 0 when the process is gone or a zombie. */
uint64_t mf_ledger_proc_start(pid_t pid);

/* Claims a slot for (pid, start).  A live slot with the same pid and start time (this process
 * before an exec) is released first.  Return: the slot index, or -ENOSPC (full), -ETIMEDOUT. */
int mf_ledger_claim(mf_ledger_t *l, pid_t pid, uint64_t start, const char *instance,
                    const char *program, uint32_t flags);

/* Frees a slot, subtracting its contribution from the totals. */
void mf_ledger_release(mf_ledger_t *l, unsigned slot);

/* Reserves `reserve` host bytes of the group for the slot.  Return: 0, or -ENOSPC when the
 * group cannot give it (report, when given, receives the pre-flight text). */
int mf_ledger_admit(mf_ledger_t *l, unsigned slot, uint64_t reserve, double margin_pct,
                    char *report, size_t size);

/* Group charge / uncharge of n bytes in pool for slot.  The charge may take the group's total up
 * to its limit + margin (the gate's table, gate.h: negative for a lease, a large block or a
 * mapping, positive for a small block once one was refused).  Return: 0, -ENOMEM (the group is
 * full), -ETIMEDOUT / -ENOTRECOVERABLE (the lock cannot be had). */
int mf_ledger_charge(mf_ledger_t *l, unsigned slot, unsigned pool, uint64_t n, int64_t margin);
int mf_ledger_uncharge(mf_ledger_t *l, unsigned slot, unsigned pool, uint64_t n);

/* Sets the group limit of pool when `force`, or when no other live member exists (or the
 * limit is still the unlimited one a ledger starts with).  slot may be MF_LEDGER_SLOTS (a
 * process that holds no slot yet: every live member is another).
 * Return: 0, or -EEXIST when another member's limit was kept (*kept receives it, if not NULL). */
int mf_ledger_set_limit(mf_ledger_t *l, unsigned slot, unsigned pool, uint64_t limit,
                        bool force, uint64_t *kept);

/* The slots worth looking at: every slot at or above this index is free.  Clamped to
 * MF_LEDGER_SLOTS (a corrupt header costs a longer loop, never a read outside the mapping). */
unsigned mf_ledger_top(const mf_ledger_t *l);

/* The group-wide rate limit of a message of `kind` (MF_LSAY_*): true for at most one caller
 * per MF_LEDGER_SAY_NS in the whole group, *held (when given) receiving how many lines of that
 * kind were held back since the last one; false otherwise (the line is counted as held back:
 * say nothing).  Lock-free (a CAS on the header's timestamp). */
bool mf_ledger_say(mf_ledger_t *l, unsigned kind, uint64_t *held);

/* The group-wide pace of the dead-member sweep: true for one caller per interval_ns in the
 * whole group (a sweep reads /proc once per live member: with thousands of members, one
 * sweep per member per tick would cost more than the members themselves). */
bool mf_ledger_sweep_due(mf_ledger_t *l, uint64_t interval_ns);

/* Frees the slots whose process is dead or whose pid was reused.  Return: how many. */
int mf_ledger_reclaim(mf_ledger_t *l);

/* Checks total[pool] == Σ contrib over live slots for every pool (tests, `status --check`).
 * Return: 0, or -EIO. */
int mf_ledger_verify(mf_ledger_t *l);

/* Copies a slot's published snapshot consistently.  Return: 0, or -EAGAIN (owner mid-write). */
int mf_ledger_read_pub(const mf_ledger_slot_t *s, mf_ledger_pub_t *out);

/* ---- this process (the module) ---------------------------------------------------------- */

/* The sampler calls this each interval: publishes usage and counters into this process's slot,
 * answers mailbox requests, returns idle credit when the group asked (squeeze), and reclaims
 * dead members about once a second.  Never allocates; safe to call when the module is off. */
void mf_ledger_tick(void);

/* Admission pre-flight for `memfence run`: would an instance with cfg be admitted to its group
 * now?  Claims nothing.  Return: 0 admitted (or no group / no reservation), -ENOSPC refused
 * (report receives the pre-flight report: needed, available, safety margin, what to change),
 * another -errno when the ledger cannot be used (report says why; run may go on). */
int mf_ledger_admission_check(const mf_config_t *cfg, char *report, size_t size);

/* After a refused charge in `pool` on this thread: the group's line ("group models: 1.9 GiB of
 * 2 GiB used by 3 instances"), for the refusal report.  Return: bytes written, 0 when the last
 * refusal on this thread was not the group's. */
size_t mf_ledger_refusal_text(char *buf, size_t size, unsigned pool);

/* Records an event ("refused malloc(1.0 GiB)") in this process's row.  Allocation-free. */
void mf_ledger_note_event(const char *what);

/* ---- reading every ledger (status, metrics) ---------------------------------------------- */

typedef struct mf_ledger_row {
    char group[MF_NAME_MAX], instance[MF_NAME_MAX], program[MF_NAME_MAX];
    int pid, ppid;
    uint32_t flags;
    uint64_t reserve, charged[MF_POOL_COUNT];
    mf_ledger_pub_t pub;
    char last_event[MF_LEDGER_EVENT];
    uint64_t last_event_ns, joined_ns;
} mf_ledger_row_t;

typedef struct mf_ledger_group {
    char group[MF_NAME_MAX];            /* "" for the solo ledger */
    char path[512];
    uint64_t limit[MF_POOL_COUNT], total[MF_POOL_COUNT];
    uint64_t refusals, reclaimed, admissions_refused;
    uint64_t turned_away;               /* joiners refused: no free slot or no lock */
    unsigned members;
} mf_ledger_group_t;

/* Reads every ledger of this user in the directories to look in (`dir` if given, else
 * $XDG_RUNTIME_DIR and /dev/shm), reclaiming dead slots on the way.  Only `group` when not
 * NULL ("" = the solo ledger).  Rows are sorted by group then pid.  Problems with files
 * (refused, unreadable) are written, one line each, into warn when given.
 * Return: the number of rows (at most max_rows), *ngroups set; or -errno. */
int mf_ledger_scan(const char *dir, const char *group, mf_ledger_row_t *rows, size_t max_rows,
                   mf_ledger_group_t *groups, size_t max_groups, size_t *ngroups,
                   char *warn, size_t warnlen);

/* Formats the Prometheus text exposition of rows/groups into buf.  Return: the length (the
 * output is cut at a whole line when buf is too small; *truncated set when given). */
size_t mf_ledger_metrics_text(char *buf, size_t size, const mf_ledger_row_t *rows, size_t nrows,
                              const mf_ledger_group_t *groups, size_t ngroups, bool *truncated);

/* Writes the metrics of every instance (as `memfence metrics`) to path atomically: a temporary
 * file in the same directory, then rename.  For the sampler (metrics_file); never allocates
 * through the fenced heap.  Return: 0 or -errno. */
int mf_ledger_write_metrics_file(const char *path);

/* ---- mailbox (for `memfence report PID`) --------------------------------------------------- */

enum { MF_LREQ_REPORT = 1 };

/* The function that answers a request in the owning process: writes the answer to fd.
 * The profile module registers it at init.  Return: 0 or -errno. */
typedef int (*mf_ledger_answer_fn)(unsigned kind, int fd);
void mf_ledger_set_answer(mf_ledger_answer_fn fn);

/* In the owning process (its tick): answers a pending request on slot with fn, writing the
 * reply file in dir (see below).  Return: 1 when a request was answered, else 0. */
int mf_ledger_serve(mf_ledger_t *l, unsigned slot, const char *dir, mf_ledger_answer_fn fn);

/* The reply file of pid: DIR/memfence-UID-PID.reply (written by the owner, 0600). */
int mf_ledger_reply_path(const char *dir, unsigned uid, pid_t pid, char *buf, size_t size);

/* From another process: asks live instance pid (of this user, found in any ledger) to write
 * the answer to a request of `kind`, and waits up to timeout_ms for it.  On success path
 * receives the reply file (the caller reads and unlinks it).  Return: 0, -ESRCH (no such live
 * instance), -ETIMEDOUT (its sampler did not answer: not running?), -ENOSYS (nothing answers
 * requests of that kind in that process), or the owner's -errno. */
int mf_ledger_request(const char *dir, pid_t pid, unsigned kind, unsigned timeout_ms,
                      char *path, size_t size);

/* The module's lifecycle (module.h). */
MF_MODULE_DECL(ledger);

#endif
