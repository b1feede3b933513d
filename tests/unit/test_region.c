/* test_region.c — the region table against a page-by-page model: random set, clear, update and
 * copy operations over a small address space, checking after each one that the table holds
 * exactly the model's flags page for page, that its counted total and the reported deltas are
 * exact, and that its invariants (order, balance, merged neighbours) hold. */
#include <errno.h>
#include <string.h>

#include "family/region.h"
#include "t.h"

#define PG 4096u
#define NPAGES 2048u
#define BASE ((uintptr_t)1 << 40)

static uint8_t model[NPAGES];            /* 0 = nothing mapped, else flags | 0x80 */

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

static uintptr_t A(unsigned page) { return BASE + (uintptr_t)page * PG; }

static uint64_t model_counted(unsigned a, unsigned b)
{
    uint64_t s = 0;
    for (unsigned i = a; i < b; i++)
        if (model[i] && (model[i] & MF_RG_COUNTED))
            s += PG;
    return s;
}

static int compare(const mf_region_table_t *t)
{
    for (unsigned i = 0; i < NPAGES; i++) {
        const mf_region_t *r = mf_region_find(t, A(i) + 17);
        uint8_t want = model[i];
        uint8_t got = r ? (uint8_t)(r->flags | 0x80) : 0;
        if (want != got) {
            fprintf(stderr, "page %u: model %#x, table %#x\n", i, want, got);
            return -1;
        }
    }
    return 0;
}

static uint32_t fn_prot(uint32_t f, void *ctx)
{
    /* like mprotect: writable or not; becoming writable commits (drops NORESERVE) */
    int w = *(int *)ctx;
    if (!(f & MF_RG_PRIVATE))
        return f;
    if (w && !(f & MF_RG_WRITE))
        f &= ~MF_RG_NORESERVE;
    f = w ? (f | MF_RG_WRITE) : (f & ~MF_RG_WRITE);
    f &= ~MF_RG_COUNTED;
    if ((f & MF_RG_WRITE) && !(f & MF_RG_NORESERVE))
        f |= MF_RG_COUNTED;
    return f;
}

static uint32_t random_flags(void)
{
    uint32_t f = (uint32_t)(rnd() & (MF_RG_PRIVATE | MF_RG_WRITE | MF_RG_NORESERVE | MF_RG_FILE));
    if ((f & MF_RG_PRIVATE) && (f & MF_RG_WRITE) && !(f & MF_RG_NORESERVE))
        f |= MF_RG_COUNTED;
    if (!(f & MF_RG_PRIVATE) && !(f & MF_RG_NORESERVE))
        f |= MF_RG_COUNTED;
    if (rnd() % 16 == 0)
        f |= MF_RG_NOMERGE;
    return f;
}

static void test_basic(void)
{
    mf_region_table_t t;
    T_EQ(mf_region_init(&t, 0), 0);
    mf_region_delta_t d = { 0 };
    T_EQ(mf_region_set(&t, A(0), A(10), MF_RG_COUNTED | MF_RG_PRIVATE | MF_RG_WRITE, &d), 0);
    T_EQU(d.added, 10 * PG);
    T_EQU(t.counted, 10 * PG);
    /* punching a hole splits one region into two */
    d = (mf_region_delta_t){ 0 };
    T_EQ(mf_region_clear(&t, A(3), A(5), &d), 0);
    T_EQU(d.removed, 2 * PG);
    T_EQU(t.count, 2);
    /* filling it with the same flags merges the three back into one */
    T_EQ(mf_region_set(&t, A(3), A(5), MF_RG_COUNTED | MF_RG_PRIVATE | MF_RG_WRITE, NULL), 0);
    T_EQU(t.count, 1);
    T_EQU(t.counted, 10 * PG);
    /* NOMERGE regions stay apart */
    T_EQ(mf_region_set(&t, A(10), A(12), MF_RG_SHM | MF_RG_NOMERGE | MF_RG_COUNTED, NULL), 0);
    T_EQ(mf_region_set(&t, A(12), A(14), MF_RG_SHM | MF_RG_NOMERGE | MF_RG_COUNTED, NULL), 0);
    T_EQU(t.count, 3);
    const mf_region_t *r = mf_region_find(&t, A(12));
    T_CHECK(r && r->start == A(12) && r->end == A(14));
    T_EQU(mf_region_counted_in(&t, A(2), A(13)), 11 * PG);
    T_EQU(mf_region_pieces(&t, A(2), A(13)), 3);
    const char *why = NULL;
    T_EQ(mf_region_check(&t, &why), 0);
    /* copy refuses overlapping ranges */
    T_EQ(mf_region_copy(&t, A(0), A(4) - A(0), A(2), NULL), -EINVAL);
    mf_region_fini(&t);
    T_EQU(t.count, 0);
}

static void test_random(unsigned rounds)
{
    mf_region_table_t t;
    mf_region_init(&t, 0);
    memset(model, 0, sizeof model);
    unsigned bad = 0;
    for (unsigned i = 0; i < rounds && bad < 3; i++) {
        unsigned a = (unsigned)(rnd() % NPAGES);
        unsigned len = 1 + (unsigned)(rnd() % (rnd() % 4 == 0 ? 256 : 16));
        unsigned b = MF_MIN(NPAGES, a + len);
        mf_region_delta_t d = { 0 };
        uint64_t before = t.counted, want_removed = model_counted(a, b), want_added = 0;
        T_EQU(mf_region_counted_in(&t, A(a), A(b)), want_removed);
        unsigned op = (unsigned)(rnd() % 4);
        int rc = 0;
        if (op == 0) {
            uint32_t f = random_flags();
            rc = mf_region_set(&t, A(a), A(b), f, &d);
            for (unsigned p = a; p < b; p++)
                model[p] = (uint8_t)(f | 0x80);
            want_added = (f & MF_RG_COUNTED) ? (uint64_t)(b - a) * PG : 0;
        } else if (op == 1) {
            rc = mf_region_clear(&t, A(a), A(b), &d);
            memset(model + a, 0, b - a);
        } else if (op == 2) {
            int w = (int)(rnd() & 1);
            rc = mf_region_update(&t, A(a), A(b), fn_prot, &w, &d);
            uint64_t removed = 0;
            for (unsigned p = a; p < b; p++) {
                if (!model[p])
                    continue;
                uint32_t of = model[p] & 0x7f, nf = fn_prot(of, &w);
                if (of != nf) {
                    if (of & MF_RG_COUNTED) removed += PG;
                    if (nf & MF_RG_COUNTED) want_added += PG;
                }
                model[p] = (uint8_t)(nf | 0x80);
            }
            want_removed = removed;
        } else {
            unsigned dst = (unsigned)(rnd() % NPAGES);
            unsigned n = b - a;
            if (dst + n > NPAGES || (dst < b && a < dst + n)) {
                want_removed = 0;
            } else {
                T_EQ(mf_region_reserve(&t, mf_region_pieces(&t, A(a), A(b)) + 2), 0);
                rc = mf_region_copy(&t, A(a), A(b) - A(a), A(dst), &d);
                want_removed = model_counted(dst, dst + n);
                for (unsigned k = 0; k < n; k++)      /* gaps in the source leave dst as is */
                    if (model[a + k])
                        model[dst + k] = model[a + k];
                want_added = model_counted(dst, dst + n);
            }
        }
        T_EQ(rc, 0);
        /* a set or update may both remove and re-add the same bytes; the net is what counts */
        T_EQ((int64_t)(d.added - d.removed), (int64_t)(want_added - want_removed));
        T_EQU(t.counted, before + d.added - d.removed);
        T_EQU(t.counted, model_counted(0, NPAGES));
        const char *why = NULL;
        if (mf_region_check(&t, &why) != 0) {
            fprintf(stderr, "round %u op %u: %s\n", i, op, why);
            bad++;
        }
        if (compare(&t) != 0) {
            fprintf(stderr, "round %u op %u [%u,%u): table differs from model\n", i, op, a, b);
            bad++;
        }
    }
    T_EQ(bad, 0);
    mf_region_fini(&t);
}

int main(void)
{
    test_basic();
    test_random(20000);
    return t_done();
}
