/* leak.h — the leak trend: a least-squares line through usage (and RSS) over a sliding window.
 *
 * The sampler adds a point every interval; the window keeps at most MF_LEAK_POINTS of them,
 * spaced at max(interval, window / MF_LEAK_POINTS), so a 10-minute window costs 128 points,
 * not 6000.  The trend is "steady and significant" when the window is at least half full, the
 * fit is good (R² ≥ 0.9: growth, not noise or a single step), and the growth over one window is
 * at least `min_growth` bytes.  Pure: no I/O, no clock, no allocation.
 */
#ifndef MF_LEAK_H
#define MF_LEAK_H

#include <stdbool.h>
#include <stdint.h>

#define MF_LEAK_POINTS 128

enum { MF_LEAK_USAGE, MF_LEAK_RSS, MF_LEAK_SERIES };

typedef struct mf_leak {
    uint64_t window_ns;
    uint64_t step_ns;               /* spacing of the points */
    uint64_t t_first;               /* time origin of the window (ns) */
    uint64_t last_add;              /* time of the newest point */
    uint64_t last_report;           /* time of the last reported leak line; 0 = never */
    unsigned head, count;           /* ring: oldest at (head - count) mod N */
    uint64_t t[MF_LEAK_POINTS];     /* ns */
    double v[MF_LEAK_SERIES][MF_LEAK_POINTS];
} mf_leak_t;

typedef struct mf_trend {
    double slope;                   /* bytes per second */
    double r2;                      /* coefficient of determination, 0..1 */
    double span_s;                  /* seconds between the oldest and newest point */
    double last;                    /* the fitted value at the newest point, bytes */
    unsigned points;
} mf_trend_t;

/* Sets up an empty window. */
void mf_leak_init(mf_leak_t *lk, uint64_t window_ns, uint64_t interval_ns);

/* Adds one sample at `now` (ns, monotonic) unless the previous point is closer than the step;
 * drops points older than the window.  Return: true when a point was added. */
bool mf_leak_add(mf_leak_t *lk, uint64_t now, uint64_t usage, uint64_t rss);

/* The least-squares fit of one series.  Return: 0, or -EAGAIN with fewer than 3 points. */
int mf_leak_fit(const mf_leak_t *lk, unsigned series, mf_trend_t *out);

/* True when the fit is a steady, significant growth (see above). */
bool mf_leak_steady(const mf_leak_t *lk, const mf_trend_t *tr, uint64_t min_growth);

/* True when a leak line may be written at `now` (at most once per window), and records it. */
bool mf_leak_may_report(mf_leak_t *lk, uint64_t now);

#endif
