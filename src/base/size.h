/* size.h — byte sizes and percentages as users write them.
 *
 * A size is a non-negative integer with an optional K, M, G or T suffix (powers of 1024; "KiB",
 * "MB" and "k" are accepted too), or a percentage "N%" / "N.N%" of a base the caller supplies
 * later (the memory the process can really have).  "0" is a size.  "none"/"off"/"unlimited"
 * mean no limit.  Pure functions; no allocation.
 */
#ifndef MF_SIZE_H
#define MF_SIZE_H

#include <stdbool.h>
#include <stdint.h>

#define MF_UNLIMITED UINT64_MAX

typedef struct mf_size {
    uint64_t bytes;     /* when !is_pct: the size (MF_UNLIMITED for none) */
    uint32_t ppm;       /* when is_pct: parts per million of the base (50% = 500000) */
    bool is_pct;
} mf_size_t;

/* Parses s into *out.  Return: 0, or -EINVAL (malformed), -ERANGE (overflow, >100%). */
int mf_size_parse(const char *s, mf_size_t *out);

/* Resolves a parsed size against base (bytes); a percentage rounds down to a page.  */
uint64_t mf_size_resolve(const mf_size_t *sz, uint64_t base);

/* Resolves a share of a budget: a percentage of `budget`, at least `floor` and at most a
 * quarter of it; a size as given, at most the budget.  0 without a budget (MF_UNLIMITED). */
uint64_t mf_size_share(const mf_size_t *sz, uint64_t budget, uint64_t floor);

/* Parses a duration: "100ms", "2s", "1.5s", "10m", "1h", "250us"; a bare number is milliseconds.
 * Return: 0 with *ns set, or -EINVAL / -ERANGE. */
int mf_duration_parse(const char *s, uint64_t *ns);

/* Parses a probability or fraction "0.01" in [0,1] into parts per 2^32. Return 0 or -EINVAL. */
int mf_prob_parse(const char *s, uint64_t *p32);

#endif
