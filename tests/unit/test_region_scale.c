/* test_region_scale.c — the region table's bounds: a million regions (balanced height, exact
 * totals, the memory the nodes take), what happens when the table is full (operations that
 * need a node fail with -ENOMEM and change nothing), and threads mutating it under its lock. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "family/region.h"
#include "t.h"

#define PG 4096u
#define BASE ((uintptr_t)1 << 40)
#define MILLION 1000000u

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

static const uint32_t CW = MF_RG_COUNTED | MF_RG_PRIVATE | MF_RG_WRITE;

static void test_million(void)
{
    mf_region_table_t t;
    mf_region_init(&t, 0);
    unsigned *order = malloc(MILLION * sizeof *order);
    for (unsigned i = 0; i < MILLION; i++)
        order[i] = i;
    for (unsigned i = MILLION - 1; i > 0; i--) {
        unsigned j = (unsigned)(rnd() % (i + 1)), x = order[i];
        order[i] = order[j];
        order[j] = x;
    }
    /* one page mapped, one page of gap: a million regions that cannot merge */
    for (unsigned i = 0; i < MILLION; i++) {
        uintptr_t a = BASE + (uintptr_t)order[i] * 2 * PG;
        if (mf_region_set(&t, a, a + PG, CW, NULL) != 0) {
            T_CHECK(!"set failed");
            break;
        }
    }
    free(order);
    T_EQU(t.count, MILLION);
    T_EQU(t.counted, (uint64_t)MILLION * PG);
    int h = mf_region_height(&t);
    fprintf(stderr, "a million regions: height %d, %u chunks of %u KiB (%zu bytes a node)\n", h,
            t.nchunks, MF_REGION_CHUNK / 1024, sizeof(mf_region_t));
    T_CHECK(h <= (int)(1.4405 * log2(MILLION + 2.0)));   /* the AVL bound: 28 */
    T_CHECK(t.nchunks * (uint64_t)MF_REGION_CHUNK <= (uint64_t)MILLION * 48);
    const char *why = NULL;
    T_EQ(mf_region_check(&t, &why), 0);
    /* any lookup is a walk of at most h nodes */
    const mf_region_t *r = mf_region_find(&t, BASE + (uintptr_t)777777 * 2 * PG + 5);
    T_CHECK(r && r->start == BASE + (uintptr_t)777777 * 2 * PG);
    T_CHECK(mf_region_find(&t, BASE + (uintptr_t)777777 * 2 * PG + PG) == NULL);
    /* filling every gap with the same flags merges all of it into one region */
    for (unsigned i = 0; i < MILLION; i += 2) {
        uintptr_t a = BASE + (uintptr_t)i * 2 * PG + PG;
        mf_region_set(&t, a, a + PG, CW, NULL);
    }
    T_EQU(t.count, MILLION / 2);
    /* one clear over the upper half removes half a million regions, exactly */
    mf_region_delta_t d = { 0 };
    uintptr_t mid = BASE + (uintptr_t)MILLION * PG;
    uint64_t want = mf_region_counted_in(&t, mid, BASE + (uintptr_t)MILLION * 4 * PG);
    T_EQ(mf_region_clear(&t, mid, BASE + (uintptr_t)MILLION * 4 * PG, &d), 0);
    T_EQU(d.removed, want);
    T_EQU(t.counted, (uint64_t)MILLION * PG * 3 / 2 - want);
    T_EQ(mf_region_check(&t, &why), 0);
    /* nodes freed by the clear are reused: refilling does not map more chunks */
    unsigned chunks = t.nchunks;
    for (unsigned i = MILLION / 2; i < MILLION; i++) {
        uintptr_t a = BASE + (uintptr_t)i * 2 * PG;
        mf_region_set(&t, a, a + PG, CW, NULL);
    }
    T_EQU(t.nchunks, chunks);
    T_EQ(mf_region_check(&t, &why), 0);
    mf_region_fini(&t);
}

static void test_full(void)
{
    mf_region_table_t t;
    T_EQ(mf_region_init(&t, (size_t)MF_REGION_CHUNKS_MAX * MF_REGION_CHUNK), -EINVAL);
    T_EQ(mf_region_init(&t, 1000), 0);
    unsigned ok = 0;
    for (unsigned i = 0; i < 2000; i++) {
        uintptr_t a = BASE + (uintptr_t)i * 2 * PG;
        if (mf_region_set(&t, a, a + PG, CW, NULL) == 0)
            ok++;
    }
    /* set reserves two nodes, so the last free node is kept for a split */
    T_CHECK(ok >= 998 && ok <= 1000);
    T_EQU(t.count, ok);
    uint64_t counted = t.counted;
    uintptr_t big = BASE + (uintptr_t)5000 * 2 * PG;
    T_EQ(mf_region_set(&t, big, big + 8 * PG, CW, NULL), -ENOMEM);
    T_EQU(t.counted, counted);
    T_EQ(mf_region_reserve(&t, 3), -ENOMEM);
    /* a clear at region boundaries needs no node and works */
    mf_region_delta_t d = { 0 };
    T_EQ(mf_region_clear(&t, BASE, BASE + 4 * PG, &d), 0);
    T_EQU(d.removed, 2 * PG);
    T_EQU(t.count, ok - 2);
    /* punching holes inside regions takes the freed nodes, then fails cleanly */
    T_EQ(mf_region_set(&t, BASE, BASE + 4 * PG, CW, NULL), 0);   /* one merged region */
    int rc = 0;
    unsigned holes = 0;
    for (unsigned i = 0; rc == 0 && i < 100; i++) {
        uintptr_t a = big + (uintptr_t)i * 3 * PG;
        rc = mf_region_set(&t, a, a + 2 * PG, CW, NULL);
        holes++;
    }
    T_EQ(rc, -ENOMEM);
    counted = t.counted;
    size_t count = t.count;
    rc = mf_region_clear(&t, BASE + PG, BASE + 2 * PG, NULL);   /* would split [0, 4) */
    if (rc == 0) {                                                /* there was a spare node */
        T_EQU(t.count, count + 1);
        rc = mf_region_clear(&t, BASE + 2 * PG + 1024, BASE + 3 * PG, NULL);
    }
    const char *why = NULL;
    T_EQ(mf_region_check(&t, &why), 0);
    T_CHECK(t.made <= 1000);
    mf_region_fini(&t);
}

typedef struct worker {
    mf_region_table_t *t;
    unsigned id;
    uint64_t counted;              /* what this thread's zone should hold at the end */
    uint64_t found;                /* what the table says it holds */
} worker_t;

static void *work(void *arg)
{
    worker_t *w = arg;
    enum { PAGES = 512 };
    uint8_t model[PAGES] = { 0 };
    uint64_t s = 0x1234567ull * (w->id + 1);
    uintptr_t zone = BASE + ((uintptr_t)w->id << 32);
    for (unsigned i = 0; i < 20000; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        unsigned a = (unsigned)(s % PAGES), b = MF_MIN(PAGES, a + 1 + (unsigned)((s >> 20) % 32));
        int on = (int)((s >> 40) & 1);
        mf_region_lock(w->t);
        if (on)
            mf_region_set(w->t, zone + (uintptr_t)a * PG, zone + (uintptr_t)b * PG, CW, NULL);
        else
            mf_region_clear(w->t, zone + (uintptr_t)a * PG, zone + (uintptr_t)b * PG, NULL);
        mf_region_unlock(w->t);
        for (unsigned p = a; p < b; p++)
            model[p] = (uint8_t)on;
    }
    w->counted = 0;
    for (unsigned p = 0; p < PAGES; p++)
        w->counted += model[p] ? PG : 0;
    mf_region_lock(w->t);
    w->found = mf_region_counted_in(w->t, zone, zone + (uintptr_t)PAGES * PG);
    mf_region_unlock(w->t);
    return NULL;
}

static void test_threads(void)
{
    static mf_region_table_t t = MF_REGION_TABLE_INIT;     /* the static form map.c uses */
    enum { N = 4 };
    pthread_t th[N];
    worker_t w[N];
    for (unsigned i = 0; i < N; i++) {
        w[i] = (worker_t){ .t = &t, .id = i };
        pthread_create(&th[i], NULL, work, &w[i]);
    }
    uint64_t sum = 0;
    for (unsigned i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        sum += w[i].counted;
        T_EQU(w[i].found, w[i].counted);
    }
    T_EQU(t.counted, sum);
    const char *why = NULL;
    T_EQ(mf_region_check(&t, &why), 0);
    mf_region_fini(&t);
}

int main(void)
{
    test_million();
    test_full();
    test_threads();
    return t_done();
}
