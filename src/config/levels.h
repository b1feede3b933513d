/* levels.h — the pressure level state machine and the per-level actions.  Pure: no I/O, no
 * clock, no globals; the sampler feeds it one sample at a time.
 *
 * Inputs are ratios in parts per million of their scale: usage/budget, RSS/budget, host memory in
 * use (the larger of 1 - MemAvailable/MemTotal and the cgroup's working set/limit) and a PSI
 * score.  The level is the highest one whose threshold the largest enabled input reaches.  Going
 * up is immediate; going down needs the input to fall MF_LEVEL_BAND below the threshold of the
 * level being left (hysteresis), so a value hovering at a threshold does not flap.
 *
 * Independently, an anonymous RSS far above live usage (free memory the allocator retains, a
 * fragmented heap) raises the level to MODERATE by itself so the trim runs even when usage is low
 * — once it has held for `retain_samples` samples in a row, so that the moment between a large
 * block's uncharge and its unmapping (usage already down, RSS not yet) does not count.
 */
#ifndef MF_LEVELS_H
#define MF_LEVELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum mf_input { MF_IN_USAGE, MF_IN_RSS, MF_IN_HOST, MF_IN_PSI, MF_IN_COUNT,
                MF_IN_RETAINED = MF_IN_COUNT /* the retained rule (an input bit and a cause) */ };
#define MF_IN_ALL ((1u << (MF_IN_RETAINED + 1)) - 1)

enum mf_action {
    MF_ACT_TRIM = 1u << 0,
    MF_ACT_THROTTLE = 1u << 1,
    MF_ACT_LOG = 1u << 2,
    MF_ACT_SIGNAL = 1u << 3,
    MF_ACT_REFUSE_LARGE = 1u << 4,
};

#define MF_PPM 1000000u
#define MF_LEVEL_BAND 50000u        /* hysteresis: 5 percentage points */

typedef struct mf_level_cfg {
    uint32_t enter[4];              /* enter[L]: ppm at which level L begins (enter[0] = 0) */
    uint32_t band;                  /* hysteresis, ppm */
    unsigned actions[4];            /* MF_ACT_* per level */
    int signo[4];                   /* the signal of signal:SIG per level, 0 for none */
    unsigned inputs;                /* bit (1 << MF_IN_*) for each input that counts, the
                                       retained rule included (MF_IN_ALL: everything) */
    uint64_t retain_min;            /* retained rule: smallest gap RSS - usage, bytes */
    unsigned retain_samples;        /* ... holding for this many samples in a row (≥ 1) */
} mf_level_cfg_t;

typedef struct mf_level_in {
    uint32_t ppm[MF_IN_COUNT];      /* each input's ratio; inputs not enabled are ignored */
    uint64_t used;                  /* live usage, bytes (for the retained rule) */
    uint64_t rss_anon;              /* anonymous RSS, bytes (MF_UNKNOWN-safe: UINT64_MAX ignored) */
} mf_level_in_t;

typedef struct mf_level_state {
    unsigned level;                 /* enum mf_level */
    unsigned cause;                 /* MF_IN_* that set the level, MF_IN_RETAINED */
    uint32_t value;                 /* the driving input's ppm at the last step */
    bool retained;                  /* the retained rule holds */
    unsigned retained_run;          /* samples in a row that met the rule's entry condition */
} mf_level_state_t;

/* Fills cfg from the thresholds (percent), with every input enabled and the built-in band.
 * Thresholds out of order are raised to keep moderate ≤ high ≤ critical. */
void mf_levels_init(mf_level_cfg_t *cfg, double moderate, double high, double critical);

/* Evaluates one sample: updates *st.  Return: true when the level changed. */
bool mf_levels_step(const mf_level_cfg_t *cfg, mf_level_state_t *st, const mf_level_in_t *in);

/* Parses an action list "trim,throttle,log,signal:SIGUSR1,refuse-large" (or "none" / "") into
 * *actions and *signo.  Return: 0, or -EINVAL with a one-line reason in why. */
int mf_levels_parse_actions(const char *text, unsigned *actions, int *signo, char *why, size_t whylen);

/* Parses a signal name ("SIGUSR1", "USR1", "usr1", "SIGRTMIN+2") or number.  Return: the signal
 * number, or -EINVAL. */
int mf_levels_parse_signal(const char *name);

/* Formats an action set as the user writes it ("trim,throttle").  Return: buf. */
char *mf_levels_format_actions(unsigned actions, int signo, char *buf, size_t size);

/* "LOW", "MODERATE", "HIGH", "CRITICAL"; and the input names "usage", "rss", "host", "psi",
 * "retained". */
const char *mf_level_name(unsigned level);
const char *mf_input_name(unsigned input);

/* Parses the level_inputs list ("usage,rss,host,psi,retained", "all") into a bit mask.  Return: 0 or -EINVAL. */
int mf_levels_parse_inputs(const char *text, unsigned *mask, char *why, size_t whylen);

/* The throttle delay for a driving value of `ppm`: throttling starts at the threshold of the
 * lowest level whose actions include throttle and reaches max_ns at the next threshold above it
 * (100 % when there is none), growing with the square of the distance, never below max_ns / 8.
 * Return: nanoseconds, 0 when `level` does not throttle. */
uint64_t mf_levels_throttle_ns(const mf_level_cfg_t *cfg, unsigned level, uint32_t ppm, uint64_t max_ns);

/* The PSI score (ppm) from some/full avg10 in hundredths of a percent: 3 × some, 9 × full,
 * whichever is larger, capped at 100 % — some 20 % or full 6.7 % reads as 60 % (MODERATE),
 * some 30 % or full 10 % as 90 % (CRITICAL). */
uint32_t mf_levels_psi_ppm(int some10, int full10);

#endif
