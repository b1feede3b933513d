/* region.c — the region table: an AVL tree of disjoint address ranges with flags, nodes taken
 * from chunks mapped with mf_sys_mmap (see region.h for the contract and the bounds). */
#include "family/region.h"

#include <errno.h>
#include <sys/mman.h>

#include "base/sys.h"

#define NODES_PER_CHUNK (MF_REGION_CHUNK / sizeof(mf_region_t))

/* ---- nodes ------------------------------------------------------------------------------ */

int mf_region_init(mf_region_table_t *t, size_t capacity)
{
    if (capacity == 0)
        capacity = MF_REGION_CAP;
    if (capacity > (size_t)MF_REGION_CHUNKS_MAX * NODES_PER_CHUNK)
        return -EINVAL;
    pthread_mutex_init(&t->lock, NULL);
    t->root = NULL;
    t->free = NULL;
    t->nfree = 0;
    t->bump = NULL;
    t->bump_left = 0;
    t->count = 0;
    t->made = 0;
    t->capacity = capacity;
    t->counted = 0;
    t->nchunks = 0;
    return 0;
}

void mf_region_fini(mf_region_table_t *t)
{
    for (unsigned i = 0; i < t->nchunks; i++)
        mf_sys_munmap(t->chunks[i], MF_REGION_CHUNK);
    size_t cap = t->capacity;
    pthread_mutex_destroy(&t->lock);
    mf_region_init(t, cap);
}

void mf_region_fork_child(mf_region_table_t *t)
{
    pthread_mutex_init(&t->lock, NULL);
}

int mf_region_reserve(mf_region_table_t *t, size_t n)
{
    while (t->nfree < n) {
        if (t->bump_left == 0) {
            if (t->made >= t->capacity || t->nchunks >= MF_REGION_CHUNKS_MAX)
                return -ENOMEM;
            void *p = mf_sys_mmap(NULL, MF_REGION_CHUNK, PROT_READ | PROT_WRITE,
                                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (mf_sys_mmap_failed(p))
                return -ENOMEM;
            t->chunks[t->nchunks++] = p;
            t->bump = p;
            t->bump_left = NODES_PER_CHUNK;
        }
        if (t->made >= t->capacity)
            return -ENOMEM;
        mf_region_t *node = (mf_region_t *)t->bump;
        t->bump += sizeof(mf_region_t);
        t->bump_left--;
        t->made++;
        node->left = t->free;
        t->free = node;
        t->nfree++;
    }
    return 0;
}

/* Callers reserve first, so this only fails when a reservation was short. */
static mf_region_t *node_get(mf_region_table_t *t)
{
    if (t->nfree == 0 && mf_region_reserve(t, 1) < 0)
        return NULL;
    mf_region_t *n = t->free;
    t->free = n->left;
    t->nfree--;
    n->left = n->right = NULL;
    n->height = 1;
    return n;
}

static void node_put(mf_region_table_t *t, mf_region_t *n)
{
    n->left = t->free;
    n->right = NULL;
    t->free = n;
    t->nfree++;
}

/* ---- the AVL tree, keyed by start ------------------------------------------------------- */

static int height(const mf_region_t *n) { return n ? n->height : 0; }

static void fix_height(mf_region_t *n)
{
    int l = height(n->left), r = height(n->right);
    n->height = 1 + (l > r ? l : r);
}

static mf_region_t *rotate_right(mf_region_t *n)
{
    mf_region_t *l = n->left;
    n->left = l->right;
    l->right = n;
    fix_height(n);
    fix_height(l);
    return l;
}

static mf_region_t *rotate_left(mf_region_t *n)
{
    mf_region_t *r = n->right;
    n->right = r->left;
    r->left = n;
    fix_height(n);
    fix_height(r);
    return r;
}

static mf_region_t *rebalance(mf_region_t *n)
{
    fix_height(n);
    int b = height(n->left) - height(n->right);
    if (b > 1) {
        if (height(n->left->left) < height(n->left->right))
            n->left = rotate_left(n->left);
        return rotate_right(n);
    }
    if (b < -1) {
        if (height(n->right->right) < height(n->right->left))
            n->right = rotate_right(n->right);
        return rotate_left(n);
    }
    return n;
}

static mf_region_t *avl_insert(mf_region_t *root, mf_region_t *n)
{
    if (!root)
        return n;
    if (n->start < root->start)
        root->left = avl_insert(root->left, n);
    else
        root->right = avl_insert(root->right, n);
    return rebalance(root);
}

static mf_region_t *avl_remove_min(mf_region_t *n, mf_region_t **min)
{
    if (!n->left) {
        *min = n;
        return n->right;
    }
    n->left = avl_remove_min(n->left, min);
    return rebalance(n);
}

/* Unlinks the node whose start is `key` (it must exist). */
static mf_region_t *avl_remove(mf_region_t *n, uintptr_t key)
{
    if (!n)
        return NULL;
    if (key < n->start) {
        n->left = avl_remove(n->left, key);
    } else if (key > n->start) {
        n->right = avl_remove(n->right, key);
    } else {
        mf_region_t *l = n->left, *r = n->right, *m;
        if (!r)
            return l;
        r = avl_remove_min(r, &m);
        m->left = l;
        m->right = r;
        return rebalance(m);
    }
    return rebalance(n);
}

/* The node with the greatest start <= addr. */
static mf_region_t *find_le(const mf_region_table_t *t, uintptr_t addr)
{
    mf_region_t *n = t->root, *best = NULL;
    while (n) {
        if (n->start <= addr) {
            best = n;
            n = n->right;
        } else {
            n = n->left;
        }
    }
    return best;
}

/* The node with the smallest start >= addr. */
static mf_region_t *find_ge(const mf_region_table_t *t, uintptr_t addr)
{
    mf_region_t *n = t->root, *best = NULL;
    while (n) {
        if (n->start >= addr) {
            best = n;
            n = n->left;
        } else {
            n = n->right;
        }
    }
    return best;
}

/* One walk for both: *le = the node with the greatest start <= addr, *gt = the node with the
 * smallest start > addr (the fast paths below save the walks a split or merge would need). */
static void neighbours(const mf_region_table_t *t, uintptr_t addr, mf_region_t **le,
                       mf_region_t **gt)
{
    mf_region_t *n = t->root;
    *le = *gt = NULL;
    while (n) {
        if (n->start <= addr) {
            *le = n;
            n = n->right;
        } else {
            *gt = n;
            n = n->left;
        }
    }
}

static mf_region_t *containing(const mf_region_table_t *t, uintptr_t addr)
{
    mf_region_t *n = find_le(t, addr);
    return n && n->end > addr ? n : NULL;
}

static void unlink_node(mf_region_table_t *t, mf_region_t *n)
{
    t->root = avl_remove(t->root, n->start);
    t->count--;
    node_put(t, n);
}

static void link_node(mf_region_table_t *t, mf_region_t *n)
{
    t->root = avl_insert(t->root, n);
    t->count++;
}

/* ---- range operations ------------------------------------------------------------------- */

static void account_remove(mf_region_table_t *t, uint32_t flags, uint64_t bytes,
                           mf_region_delta_t *d)
{
    if (flags & MF_RG_COUNTED) {
        t->counted -= bytes;
        if (d)
            d->removed += bytes;
    }
}

static void account_add(mf_region_table_t *t, uint32_t flags, uint64_t bytes,
                        mf_region_delta_t *d)
{
    if (flags & MF_RG_COUNTED) {
        t->counted += bytes;
        if (d)
            d->added += bytes;
    }
}

int mf_region_clear(mf_region_table_t *t, uintptr_t s, uintptr_t e, mf_region_delta_t *d)
{
    if (s >= e)
        return 0;
    mf_region_t *p, *next;
    neighbours(t, s, &p, &next);
    /* fast paths (munmap of one whole mapping, or of nothing known): no further walk */
    if (p && p->start == s && p->end == e) {
        account_remove(t, p->flags, e - s, d);
        unlink_node(t, p);
        return 0;
    }
    if ((!p || p->end <= s) && (!next || next->start >= e))
        return 0;
    if (p && p->end <= s)
        p = NULL;
    if (p && p->start < s) {
        if (p->end > e) {
            /* The hole is inside one region: it splits in two.  Changing a key in place is
             * safe: the tail's start e still lies between p's start and p's successor. */
            mf_region_t *tail = node_get(t);
            if (!tail)
                return -ENOMEM;
            tail->start = e;
            tail->end = p->end;
            tail->flags = p->flags;
            account_remove(t, p->flags, e - s, d);
            p->end = s;
            link_node(t, tail);
            return 0;
        }
        account_remove(t, p->flags, p->end - s, d);
        p->end = s;
    }
    for (mf_region_t *q = find_ge(t, s); q && q->start < e; q = find_ge(t, s)) {
        if (q->end <= e) {
            account_remove(t, q->flags, q->end - q->start, d);
            unlink_node(t, q);
        } else {
            account_remove(t, q->flags, e - q->start, d);
            q->start = e;          /* nothing else starts in [s, e) now: order is kept */
            break;
        }
    }
    return 0;
}

static int mergeable(const mf_region_t *a, uint32_t flags)
{
    return a && a->flags == flags && !(flags & MF_RG_NOMERGE);
}

int mf_region_set(mf_region_table_t *t, uintptr_t s, uintptr_t e, uint32_t flags,
                  mf_region_delta_t *d)
{
    if (s >= e)
        return 0;
    if (mf_region_reserve(t, 2) < 0)
        return -ENOMEM;
    mf_region_t *pred, *succ;
    neighbours(t, s, &pred, &succ);
    if ((pred && pred->end > s) || (succ && succ->start < e)) {
        /* something to replace first (rare for a fresh mapping): the general path */
        mf_region_clear(t, s, e, d);
        pred = s > 0 ? containing(t, s - 1) : NULL;
        succ = find_ge(t, e);
    }
    if (pred && pred->end != s)
        pred = NULL;
    if (succ && succ->start != e)
        succ = NULL;
    int pm = mergeable(pred, flags), sm = mergeable(succ, flags);
    if (pm && sm) {
        pred->end = succ->end;
        unlink_node(t, succ);
    } else if (pm) {
        pred->end = e;
    } else if (sm) {
        succ->start = s;           /* [s, e) is clear and pred ends at or before s */
    } else {
        mf_region_t *n = node_get(t);
        n->start = s;
        n->end = e;
        n->flags = flags;
        link_node(t, n);
    }
    account_add(t, flags, e - s, d);
    return 0;
}

const mf_region_t *mf_region_find(const mf_region_table_t *t, uintptr_t addr)
{
    return containing(t, addr);
}

const mf_region_t *mf_region_next(const mf_region_table_t *t, uintptr_t addr)
{
    mf_region_t *c = containing(t, addr);
    return c ? c : find_ge(t, addr);
}

/* fn must be idempotent (fn(fn(f)) == fn(f)): a piece merged with a neighbour that is still to
 * come is seen again with its new flags. */
int mf_region_update(mf_region_table_t *t, uintptr_t s, uintptr_t e, mf_region_fn fn, void *ctx,
                     mf_region_delta_t *d)
{
    uintptr_t x = s;
    while (x < e) {
        const mf_region_t *q = mf_region_next(t, x);
        if (!q || q->start >= e)
            break;
        uintptr_t a = MF_MAX(q->start, x), b = MF_MIN(q->end, e);
        uint32_t nf = fn(q->flags, ctx);
        if (nf != q->flags) {
            int rc = mf_region_set(t, a, b, nf, d);
            if (rc < 0)
                return rc;
        }
        x = b;
    }
    return 0;
}

size_t mf_region_pieces(const mf_region_table_t *t, uintptr_t s, uintptr_t e)
{
    size_t k = 0;
    for (const mf_region_t *q = mf_region_next(t, s); q && q->start < e;
         q = mf_region_next(t, q->end))
        k++;
    return k;
}

uint64_t mf_region_counted_in(const mf_region_table_t *t, uintptr_t s, uintptr_t e)
{
    uint64_t sum = 0;
    for (const mf_region_t *q = mf_region_next(t, s); q && q->start < e;
         q = mf_region_next(t, q->end)) {
        if (q->flags & MF_RG_COUNTED)
            sum += MF_MIN(q->end, e) - MF_MAX(q->start, s);
    }
    return sum;
}

int mf_region_copy(mf_region_table_t *t, uintptr_t src, uintptr_t len, uintptr_t dst,
                   mf_region_delta_t *d)
{
    if (len == 0)
        return 0;
    if (src < dst + len && dst < src + len)
        return -EINVAL;
    int rc = 0;
    uintptr_t x = src, e = src + len;
    while (rc == 0 && x < e) {
        const mf_region_t *q = mf_region_next(t, x);
        if (!q || q->start >= e)
            break;
        uintptr_t a = MF_MAX(q->start, x), b = MF_MIN(q->end, e);
        rc = mf_region_set(t, dst + (a - src), dst + (b - src), q->flags, d);
        x = b;
    }
    return rc;
}

/* ---- checks ----------------------------------------------------------------------------- */

typedef struct walk {
    const mf_region_t *prev;
    size_t count;
    uint64_t counted;
    const char *why;
} walk_t;

static int walk(const mf_region_t *n, walk_t *w)
{
    if (!n)
        return 0;
    int l = walk(n->left, w);
    if (l < 0)
        return -1;
    if (n->start >= n->end && !w->why)
        w->why = "empty or inverted region";
    if (w->prev && w->prev->end > n->start && !w->why)
        w->why = "regions overlap or are out of order";
    if (w->prev && w->prev->end == n->start && w->prev->flags == n->flags &&
        !(n->flags & MF_RG_NOMERGE) && !w->why)
        w->why = "adjacent regions with equal flags are not merged";
    w->prev = n;
    w->count++;
    if (n->flags & MF_RG_COUNTED)
        w->counted += n->end - n->start;
    int r = walk(n->right, w);
    if (r < 0)
        return -1;
    if (n->height != 1 + (l > r ? l : r) && !w->why)
        w->why = "wrong stored height";
    if ((l - r > 1 || r - l > 1) && !w->why)
        w->why = "AVL balance violated";
    return 1 + (l > r ? l : r);
}

int mf_region_check(const mf_region_table_t *t, const char **why)
{
    walk_t w = { 0 };
    walk(t->root, &w);
    if (!w.why && w.count != t->count)
        w.why = "region count does not match the tree";
    if (!w.why && w.counted != t->counted)
        w.why = "counted total does not match the tree";
    if (why)
        *why = w.why;
    return w.why ? -EUCLEAN : 0;
}

int mf_region_height(const mf_region_table_t *t) { return height(t->root); }
