/* levels.c — pressure levels with hysteresis, the retained-memory rule, action lists and the
 * throttle curve (see levels.h).  Pure functions: no I/O, no allocation, no globals written. */
#include "config/levels.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <strings.h>

#include "base/stats.h"

static const char *const level_names[] = { "LOW", "MODERATE", "HIGH", "CRITICAL" };
static const char *const input_names[] = { "usage", "rss", "host", "psi", "retained" };

const char *mf_level_name(unsigned level)
{ return level < MF_ARRAY_LEN(level_names) ? level_names[level] : "?"; }

const char *mf_input_name(unsigned input)
{ return input < MF_ARRAY_LEN(input_names) ? input_names[input] : "?"; }

static uint32_t pct_to_ppm(double pct)
{
    if (!(pct > 0)) return 0;
    if (pct > 100) pct = 100;
    return (uint32_t)(pct * 10000.0 + 0.5);
}

void mf_levels_init(mf_level_cfg_t *cfg, double moderate, double high, double critical)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->enter[MF_LEVEL_MODERATE] = pct_to_ppm(moderate);
    cfg->enter[MF_LEVEL_HIGH] = MF_MAX(pct_to_ppm(high), cfg->enter[MF_LEVEL_MODERATE]);
    cfg->enter[MF_LEVEL_CRITICAL] = MF_MAX(pct_to_ppm(critical), cfg->enter[MF_LEVEL_HIGH]);
    cfg->band = MF_LEVEL_BAND;
    cfg->inputs = MF_IN_ALL;
    cfg->retain_min = 8u << 20;
    cfg->retain_samples = 1;
}

/* The retained rule, with its own hysteresis: on when the anonymous RSS is at least twice the
 * live usage and the gap at least retain_min; off again below 1.5× or half the gap. */
static bool retained_rule(const mf_level_cfg_t *cfg, mf_level_state_t *st, const mf_level_in_t *in)
{
    if (!(cfg->inputs & (1u << MF_IN_RETAINED)) || in->rss_anon == UINT64_MAX || cfg->retain_min == 0) {
        st->retained_run = 0;
        return false;
    }
    uint64_t gap = in->rss_anon > in->used ? in->rss_anon - in->used : 0;
    if (st->retained) return in->rss_anon / 3 * 2 >= in->used && gap >= cfg->retain_min / 2;
    bool enter = in->rss_anon / 2 >= in->used && gap >= cfg->retain_min;
    st->retained_run = enter ? st->retained_run + 1 : 0;
    return st->retained_run >= MF_MAX(cfg->retain_samples, 1u);
}

bool mf_levels_step(const mf_level_cfg_t *cfg, mf_level_state_t *st, const mf_level_in_t *in)
{
    uint32_t x = 0;
    unsigned cause = MF_IN_USAGE, old = st->level;
    for (unsigned i = 0; i < MF_IN_COUNT; i++) {
        if ((cfg->inputs & (1u << i)) && in->ppm[i] > x) {
            x = in->ppm[i];
            cause = i;
        }
    }
    /* up: the highest level whose threshold x reaches */
    unsigned up = MF_LEVEL_LOW;
    for (unsigned l = MF_LEVEL_MODERATE; l <= MF_LEVEL_CRITICAL; l++)
        if (cfg->enter[l] && x >= cfg->enter[l]) up = l;
    unsigned lvl = up;
    /* down: stay at each level above `up` while x is within the band below its threshold */
    for (unsigned l = old; l > up; l--) {
        uint32_t floor = cfg->enter[l] > cfg->band ? cfg->enter[l] - cfg->band : 0;
        if (x >= floor) {
            lvl = l;
            break;
        }
    }
    st->retained = retained_rule(cfg, st, in);
    if (lvl == MF_LEVEL_LOW && st->retained) {
        lvl = MF_LEVEL_MODERATE;
        cause = MF_IN_RETAINED;
    }
    st->value = x;
    st->cause = cause;
    st->level = lvl;
    return lvl != old;
}

/* ---- action lists ----------------------------------------------------------------------- */

static void why_set(char *why, size_t len, const char *a, const char *b, size_t blen)
{
    if (!why || !len) return;
    size_t al = strlen(a);
    if (al >= len) al = len - 1;
    memcpy(why, a, al);
    size_t n = MF_MIN(blen, len - 1 - al);
    memcpy(why + al, b, n);
    why[al + n] = '\0';
}

static const struct { const char *name; int sig; } signals[] = {
    { "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "ILL", SIGILL },
    { "TRAP", SIGTRAP }, { "ABRT", SIGABRT }, { "BUS", SIGBUS }, { "FPE", SIGFPE },
    { "SEGV", SIGSEGV }, { "STKFLT", SIGSTKFLT }, { "KILL", SIGKILL }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "PIPE", SIGPIPE },
    { "ALRM", SIGALRM }, { "TERM", SIGTERM }, { "CHLD", SIGCHLD }, { "CONT", SIGCONT },
    { "STOP", SIGSTOP }, { "TSTP", SIGTSTP }, { "TTIN", SIGTTIN }, { "TTOU", SIGTTOU },
    { "URG", SIGURG }, { "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ }, { "VTALRM", SIGVTALRM },
    { "PROF", SIGPROF }, { "WINCH", SIGWINCH }, { "IO", SIGIO }, { "PWR", SIGPWR },
    { "SYS", SIGSYS },
};

static int parse_small(const char *s, int *v)
{
    int x = 0;
    if (!*s) return -EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || x > 1000) return -EINVAL;
        x = x * 10 + (*s - '0');
    }
    *v = x;
    return 0;
}

int mf_levels_parse_signal(const char *name)
{
    int n;
    if (parse_small(name, &n) == 0) return (n >= 1 && n < 65) ? n : -EINVAL;
    if (strncasecmp(name, "SIG", 3) == 0) name += 3;
    for (size_t i = 0; i < MF_ARRAY_LEN(signals); i++)
        if (strcasecmp(name, signals[i].name) == 0) return signals[i].sig;
    if (strncasecmp(name, "RTMIN", 5) == 0) {
        int off = 0;
        if (name[5] == '+' && parse_small(name + 6, &off) < 0) return -EINVAL;
        if (name[5] && name[5] != '+') return -EINVAL;
        return SIGRTMIN + off <= SIGRTMAX ? SIGRTMIN + off : -EINVAL;
    }
    if (strncasecmp(name, "RTMAX", 5) == 0) {
        int off = 0;
        if (name[5] == '-' && parse_small(name + 6, &off) < 0) return -EINVAL;
        if (name[5] && name[5] != '-') return -EINVAL;
        return SIGRTMAX - off >= SIGRTMIN ? SIGRTMAX - off : -EINVAL;
    }
    return -EINVAL;
}

static const struct { const char *word; unsigned bit; } action_words[] = {
    { "trim", MF_ACT_TRIM }, { "purge", MF_ACT_TRIM }, { "throttle", MF_ACT_THROTTLE },
    { "log", MF_ACT_LOG }, { "refuse-large", MF_ACT_REFUSE_LARGE },
};

int mf_levels_parse_actions(const char *text, unsigned *actions, int *signo, char *why, size_t whylen)
{
    unsigned acts = 0;
    int sig = 0;
    const char *p = text;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t') p++;
        if (!*p) break;
        const char *s = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t') p++;
        size_t n = (size_t)(p - s);
        char word[48];
        if (n >= sizeof word) {
            why_set(why, whylen, "unknown action: ", s, n);
            return -EINVAL;
        }
        memcpy(word, s, n);
        word[n] = '\0';
        bool ok = false;
        if (strcasecmp(word, "none") == 0) {
            ok = true;
        } else if (strncasecmp(word, "signal:", 7) == 0) {
            int v = mf_levels_parse_signal(word + 7);
            if (v < 0) {
                why_set(why, whylen, "'", word + 7, n - 7);
                size_t at = why ? strlen(why) : 0;
                if (why && at + 1 < whylen)
                    why_set(why + at, whylen - at, "' is not a signal (e.g. signal:SIGUSR2)", "", 0);
                return -EINVAL;
            }
            sig = v;
            acts |= MF_ACT_SIGNAL;
            ok = true;
        } else {
            for (size_t i = 0; i < MF_ARRAY_LEN(action_words); i++)
                if (strcasecmp(word, action_words[i].word) == 0) {
                    acts |= action_words[i].bit;
                    ok = true;
                }
        }
        if (!ok) {
            why_set(why, whylen, "unknown action (trim, throttle, log, signal:SIG, refuse-large, none): ",
                    word, n);
            return -EINVAL;
        }
    }
    *actions = acts;
    *signo = sig;
    return 0;
}

static size_t append(char *buf, size_t size, size_t at, const char *s)
{
    if (at + 1 >= size) return at;
    if (at) buf[at++] = ',';
    size_t n = MF_MIN(strlen(s), size - 1 - at);
    memcpy(buf + at, s, n);
    buf[at + n] = '\0';
    return at + n;
}

char *mf_levels_format_actions(unsigned actions, int signo, char *buf, size_t size)
{
    size_t at = 0;
    if (!size) return buf;
    buf[0] = '\0';
    for (size_t i = 0; i < MF_ARRAY_LEN(action_words); i++)
        if ((actions & action_words[i].bit) && strcmp(action_words[i].word, "purge") != 0)
            at = append(buf, size, at, action_words[i].word);
    if (actions & MF_ACT_SIGNAL) {
        char s[32] = "signal:";
        const char *nm = NULL;
        for (size_t i = 0; i < MF_ARRAY_LEN(signals); i++)
            if (signals[i].sig == signo) nm = signals[i].name;
        size_t l = 7;
        if (nm) {
            memcpy(s + l, "SIG", 3);
            l += 3;
            size_t k = strlen(nm);
            memcpy(s + l, nm, k);
            l += k;
        } else {
            char d[8];
            int k = 0, v = signo;
            do { d[k++] = (char)('0' + v % 10); v /= 10; } while (v && k < 7);
            while (k) s[l++] = d[--k];
        }
        s[l] = '\0';
        at = append(buf, size, at, s);
    }
    if (at == 0) append(buf, size, 0, "none");
    return buf;
}

int mf_levels_parse_inputs(const char *text, unsigned *mask, char *why, size_t whylen)
{
    unsigned m = 0;
    const char *p = text;
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        if (!*p) break;
        const char *s = p;
        while (*p && *p != ',' && *p != ' ') p++;
        size_t n = (size_t)(p - s);
        unsigned i;
        for (i = 0; i <= MF_IN_RETAINED; i++)
            if (strlen(input_names[i]) == n && strncasecmp(s, input_names[i], n) == 0) break;
        if (i > MF_IN_RETAINED) {
            if (n == 3 && strncasecmp(s, "all", 3) == 0) {
                m = MF_IN_ALL;
                continue;
            }
            why_set(why, whylen, "unknown level input (usage, rss, host, psi, retained, all): ", s, n);
            return -EINVAL;
        }
        m |= 1u << i;
    }
    *mask = m;
    return 0;
}

/* ---- throttle curve and PSI score ------------------------------------------------------- */

uint64_t mf_levels_throttle_ns(const mf_level_cfg_t *cfg, unsigned level, uint32_t ppm, uint64_t max_ns)
{
    if (level > MF_LEVEL_CRITICAL || !(cfg->actions[level] & MF_ACT_THROTTLE) || max_ns == 0)
        return 0;
    unsigned start = level;
    while (start > MF_LEVEL_MODERATE && (cfg->actions[start - 1] & MF_ACT_THROTTLE)) start--;
    uint32_t lo = cfg->enter[start];
    uint32_t hi = MF_PPM;
    for (unsigned l = start + 1; l <= MF_LEVEL_CRITICAL; l++)
        if (cfg->enter[l] > lo) {
            hi = cfg->enter[l];
            break;
        }
    double f = hi > lo ? (double)((int64_t)ppm - lo) / (double)(hi - lo) : 1.0;
    if (f > 1) f = 1;
    if (f < 0) f = 0;
    uint64_t d = (uint64_t)((double)max_ns * f * f);
    return MF_MAX(d, max_ns / 8);
}

uint32_t mf_levels_psi_ppm(int some10, int full10)
{
    /* hundredths of a percent → ppm is × 100 */
    uint64_t s = some10 > 0 ? (uint64_t)some10 * 100 * 3 : 0;
    uint64_t f = full10 > 0 ? (uint64_t)full10 * 100 * 9 : 0;
    uint64_t v = MF_MAX(s, f);
    return (uint32_t)MF_MIN(v, (uint64_t)MF_PPM);
}
