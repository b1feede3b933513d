/* fail_spec.h — the `fail` spec of fault injection: its grammar, its parser and the pure
 * trigger test (the runtime that arms it: fail/fail.h).
 *
 * A spec is a comma-separated list (spaces around items are ignored):
 *   filters, which choose the ELIGIBLE calls:
 *     size>=SIZE           only requests of at least SIZE bytes (K/M/G/T; no percentages)
 *     calls=F[+F...]       only these families: malloc, mmap, cuda (or all); default all
 *     from=MODULE          only calls made from a loaded object whose file name contains
 *                          MODULE (the main program matches its own executable's name)
 *   triggers, which apply to eligible calls counted from 1 in each process:
 *     every=N              the Nth, 2Nth, ... eligible call
 *     after=SIZE           a call that would make the process hold more than SIZE, i.e.
 *                          host bytes in use + request > SIZE (a private, soft budget)
 *     prob=P               each eligible call with probability P (0..1); reproducible:
 *     seed=S               the draw of the Kth eligible call is a hash of (S, K), so the same
 *                          seed fails the same calls (default seed: the clock, logged)
 *     count=N              at most N failures in the process (count=0: count calls, fail none)
 * An eligible call fails when every trigger given holds (no trigger given: every eligible call
 * fails), until `count` failures were injected.  A failed call looks exactly like a refusal:
 * the hook returns NULL / ENOMEM.  Counting is per process: a fork child counts from 1 again.
 *
 * MEMFENCE_FAIL_REPORT=PATH (read by the module, not a config key): a file of at least
 * sizeof(mf_fail_report_t) bytes that every process sharing it updates in place (a shared
 * mapping, so a process that crashes, calls _exit or execs has counted too): the highest
 * eligible-call count any process reached, the failures injected, the processes armed.
 * `memfence run --fail-sweep` creates it for its counting run.
 *
 * MEMFENCE_FAIL_EXE=PATH (read by the module, not a config key): fault injection is armed only in
 * processes whose executable is PATH; the others neither count nor fail.  The sweep sets it to
 * the program the command finally runs when the command reaches it through wrappers.
 */
#ifndef MF_FAIL_SPEC_H
#define MF_FAIL_SPEC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/mf.h"

#define MF_FAIL_NO_COUNT UINT64_MAX     /* count not given: no cap */

typedef struct mf_fail_spec {
    /* filters */
    uint64_t size_min;          /* 0: any size */
    unsigned families;          /* MF_FAM_* mask; all by default */
    char from[MF_NAME_MAX];     /* "" : any caller */
    /* triggers (0 / false: not given) */
    uint64_t every;
    uint64_t after;
    bool has_after;
    uint64_t prob32;            /* probability in parts per 2^32 */
    bool has_prob;
    uint64_t seed;
    bool has_seed;
    uint64_t count;             /* MF_FAIL_NO_COUNT when not given */
} mf_fail_spec_t;

/* The shared counting file (MEMFENCE_FAIL_REPORT). */
#define MF_FAIL_REPORT_MAGIC 0x31544f5052464d46ull    /* "FMFRPOT1" */
typedef struct mf_fail_report {
    uint64_t magic;                 /* written by whoever creates the file */
    _Atomic uint64_t max_eligible;  /* highest eligible-call count of any process */
    _Atomic uint64_t injected;      /* failures injected, all processes */
    _Atomic uint64_t processes;     /* processes that armed fault injection */
    /* The command's own process, whose last image is the program the command finally runs
     * (a shell-script wrapper such as a pyenv shim execs it): written by the sweep's child
     * before it execs the command; each image of that pid counts itself in top_images and
     * writes its executable's path into top_exe (the last one wins). */
    _Atomic int32_t top_pid;
    _Atomic uint32_t top_images;
    char top_exe[256];
} mf_fail_report_t;

/* Parses a spec.  Pure; no allocation.  Return: 0, or -EINVAL with a one-line reason in `why`
 * (when given) naming the item at fault. */
int mf_fail_parse(const char *spec, mf_fail_spec_t *out, char *why, size_t whylen);

/* Formats a parsed spec back into the canonical text (every filter and trigger given).
 * Return: the length written. */
size_t mf_fail_format(const mf_fail_spec_t *spec, char *buf, size_t size);

/* True when the Kth eligible call (K from 1) meets the spec's triggers, with `held` bytes in use
 * and `req` asked for.  `count` is not looked at.  Pure. */
bool mf_fail_triggers(const mf_fail_spec_t *spec, uint64_t k, uint64_t held, uint64_t req);

#endif
