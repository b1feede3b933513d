/* leak.c — least-squares trend of usage and RSS over a sliding window (see leak.h). */
#include "sampler/leak.h"

#include <errno.h>
#include <string.h>

void mf_leak_init(mf_leak_t *lk, uint64_t window_ns, uint64_t interval_ns)
{
    memset(lk, 0, sizeof *lk);
    lk->window_ns = window_ns;
    lk->step_ns = window_ns / MF_LEAK_POINTS;
    if (lk->step_ns < interval_ns) lk->step_ns = interval_ns;
    /* a sample scheduled at exactly one step may arrive a little early */
    lk->step_ns -= lk->step_ns / 16;
}

static unsigned oldest(const mf_leak_t *lk)
{
    return (lk->head + MF_LEAK_POINTS - lk->count) % MF_LEAK_POINTS;
}

bool mf_leak_add(mf_leak_t *lk, uint64_t now, uint64_t usage, uint64_t rss)
{
    if (lk->count && now - lk->last_add < lk->step_ns) return false;
    /* drop points that left the window (and make room) */
    while (lk->count && (now - lk->t[oldest(lk)] > lk->window_ns || lk->count == MF_LEAK_POINTS))
        lk->count--;
    if (!lk->count) lk->t_first = now;
    lk->t[lk->head] = now;
    lk->v[MF_LEAK_USAGE][lk->head] = (double)usage;
    lk->v[MF_LEAK_RSS][lk->head] = (double)rss;
    lk->head = (lk->head + 1) % MF_LEAK_POINTS;
    lk->count++;
    lk->last_add = now;
    return true;
}

int mf_leak_fit(const mf_leak_t *lk, unsigned series, mf_trend_t *out)
{
    memset(out, 0, sizeof *out);
    if (lk->count < 3 || series >= MF_LEAK_SERIES) return -EAGAIN;
    unsigned first = oldest(lk);
    uint64_t t0 = lk->t[first];
    /* centred sums keep the doubles well conditioned */
    double st = 0, sv = 0;
    for (unsigned k = 0, i = first; k < lk->count; k++, i = (i + 1) % MF_LEAK_POINTS) {
        st += (double)(lk->t[i] - t0) * 1e-9;
        sv += lk->v[series][i];
    }
    double n = lk->count, mt = st / n, mv = sv / n;
    double stt = 0, stv = 0, svv = 0, tl = 0;
    for (unsigned k = 0, i = first; k < lk->count; k++, i = (i + 1) % MF_LEAK_POINTS) {
        double dt = (double)(lk->t[i] - t0) * 1e-9 - mt, dv = lk->v[series][i] - mv;
        stt += dt * dt;
        stv += dt * dv;
        svv += dv * dv;
        tl = (double)(lk->t[i] - t0) * 1e-9;
    }
    if (stt <= 0) return -EAGAIN;
    out->slope = stv / stt;
    out->r2 = svv > 0 ? (stv * stv) / (stt * svv) : 0;
    out->span_s = tl;
    out->last = mv + out->slope * (tl - mt);
    out->points = lk->count;
    return 0;
}

bool mf_leak_steady(const mf_leak_t *lk, const mf_trend_t *tr, uint64_t min_growth)
{
    double window_s = (double)lk->window_ns * 1e-9;
    if (tr->points < 8 || tr->span_s < window_s / 2) return false;
    if (tr->slope <= 0 || tr->r2 < 0.9) return false;
    return tr->slope * window_s >= (double)min_growth;
}

bool mf_leak_may_report(mf_leak_t *lk, uint64_t now)
{
    if (lk->last_report && now - lk->last_report < lk->window_ns) return false;
    lk->last_report = now ? now : 1;
    return true;
}
