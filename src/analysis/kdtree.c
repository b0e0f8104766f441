/* kdtree.c - see kdtree.h. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "analysis/kdtree.h"
#include "core/alloc.h"

#define LEAF_ROWS 32

struct ff_kdnode {
    uint32_t lo, hi;      /* its rows: idx[lo, hi) */
    int32_t left, right;  /* children (-1: a leaf) */
    uint32_t dim;
    double split;         /* left's rows have x[dim] <= split, right's >= split */
};

static inline double at(const struct ff_kdtree *t, uint32_t row, size_t dim) { return t->x[(size_t)row * t->d + dim]; }

/* Leaves idx[lo, hi) with its k-th smallest (by column dim) at k, the smaller before it. */
static void select_kth(const struct ff_kdtree *t, uint32_t *idx, size_t lo, size_t hi, size_t k, size_t dim)
{
    while (hi - lo > 1) {
        double pivot = at(t, idx[lo + (hi - lo) / 2], dim);
        size_t i = lo, j = hi - 1;
        while (i <= j) {
            while (at(t, idx[i], dim) < pivot) i++;
            while (at(t, idx[j], dim) > pivot) j--;
            if (i <= j) {
                uint32_t s = idx[i];
                idx[i] = idx[j], idx[j] = s;
                i++;
                if (j == 0) break;
                j--;
            }
        }
        if (k <= j) hi = j + 1;
        else if (k >= i) lo = i;
        else return;
    }
}

static int32_t build(struct ff_kdtree *t, uint32_t lo, uint32_t hi, size_t *cap)
{
    if (t->nnodes == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        struct ff_kdnode *nn = ff_realloc(t->node, nc * sizeof *nn);
        if (!nn) return -2;
        t->node = nn, *cap = nc;
    }
    int32_t me = (int32_t)t->nnodes++;
    t->node[me] = (struct ff_kdnode){.lo = lo, .hi = hi, .left = -1, .right = -1};
    if (hi - lo <= LEAF_ROWS) return me;
    /* split on the widest column */
    size_t dim = 0;
    double widest = -1;
    for (size_t j = 0; j < t->d; j++) {
        double mn = INFINITY, mx = -INFINITY;
        for (uint32_t i = lo; i < hi; i++) {
            double v = at(t, t->idx[i], j);
            if (v < mn) mn = v;
            if (v > mx) mx = v;
        }
        if (mx - mn > widest) widest = mx - mn, dim = j;
    }
    if (widest <= 0) return me; /* all the same point: a leaf, however many */
    uint32_t mid = lo + (hi - lo) / 2;
    select_kth(t, t->idx, lo, hi, mid, dim);
    t->node[me].dim = (uint32_t)dim;
    t->node[me].split = at(t, t->idx[mid], dim);
    int32_t l = build(t, lo, mid, cap);
    if (l < 0) return l;
    int32_t r = build(t, mid, hi, cap);
    if (r < 0) return r;
    t->node[me].left = l, t->node[me].right = r;
    return me;
}

int ff_kdtree_build(struct ff_kdtree *t, const double *x, size_t n, size_t d)
{
    memset(t, 0, sizeof *t);
    t->x = x, t->n = n, t->d = d;
    if (n > UINT32_MAX / 2) return -E2BIG;
    t->idx = ff_malloc((n ? n : 1) * sizeof *t->idx);
    if (!t->idx) return -ENOMEM;
    for (size_t i = 0; i < n; i++) t->idx[i] = (uint32_t)i;
    size_t cap = 0;
    if (build(t, 0, (uint32_t)n, &cap) < 0) {
        ff_kdtree_free(t);
        return -ENOMEM;
    }
    return 0;
}

void ff_kdtree_free(struct ff_kdtree *t)
{
    ff_free(t->idx);
    ff_free(t->node);
    memset(t, 0, sizeof *t);
}

static inline double d2(const struct ff_kdtree *t, const double *q, uint32_t row)
{
    const double *x = t->x + (size_t)row * t->d;
    double s = 0;
    for (size_t j = 0; j < t->d; j++) s += (q[j] - x[j]) * (q[j] - x[j]);
    return s;
}

struct radius {
    const double *q;
    double r2;
    int (*fn)(void *arg, uint32_t row);
    void *arg;
    size_t found, stop;
    int done;
};

static void radius_at(const struct ff_kdtree *t, int32_t ni, struct radius *s)
{
    while (!s->done) {
        const struct ff_kdnode *nd = &t->node[ni];
        if (nd->left < 0) {
            for (uint32_t i = nd->lo; i < nd->hi && !s->done; i++) {
                if (d2(t, s->q, t->idx[i]) > s->r2) continue;
                s->found++;
                if ((s->fn && s->fn(s->arg, t->idx[i])) || (s->stop && s->found >= s->stop)) s->done = 1;
            }
            return;
        }
        double diff = s->q[nd->dim] - nd->split;
        int32_t near = diff <= 0 ? nd->left : nd->right, far = diff <= 0 ? nd->right : nd->left;
        if (diff * diff <= s->r2) radius_at(t, far, s);
        ni = near;
    }
}

size_t ff_kdtree_radius(const struct ff_kdtree *t, const double *q, double r, int (*fn)(void *arg, uint32_t row),
                        void *arg)
{
    struct radius s = {.q = q, .r2 = r * r, .fn = fn, .arg = arg};
    if (t->n) radius_at(t, 0, &s);
    return s.found;
}

size_t ff_kdtree_count(const struct ff_kdtree *t, const double *q, double r, size_t stop)
{
    struct radius s = {.q = q, .r2 = r * r, .stop = stop};
    if (t->n) radius_at(t, 0, &s);
    return s.found;
}

/* ---- k nearest: a max-heap of the k smallest squared distances met ---- */

struct knn {
    const double *q;
    double *heap;
    size_t k, n;
};

static void heap_offer(struct knn *s, double v)
{
    if (s->n < s->k) {
        size_t i = s->n++;
        while (i && s->heap[(i - 1) / 2] < v) s->heap[i] = s->heap[(i - 1) / 2], i = (i - 1) / 2;
        s->heap[i] = v;
        return;
    }
    if (v >= s->heap[0]) return;
    size_t i = 0;
    for (;;) { /* sift v down from the root */
        size_t c = 2 * i + 1;
        if (c >= s->n) break;
        if (c + 1 < s->n && s->heap[c + 1] > s->heap[c]) c++;
        if (s->heap[c] <= v) break;
        s->heap[i] = s->heap[c], i = c;
    }
    s->heap[i] = v;
}

static void knn_at(const struct ff_kdtree *t, int32_t ni, struct knn *s)
{
    const struct ff_kdnode *nd = &t->node[ni];
    if (nd->left < 0) {
        for (uint32_t i = nd->lo; i < nd->hi; i++) heap_offer(s, d2(t, s->q, t->idx[i]));
        return;
    }
    double diff = s->q[nd->dim] - nd->split;
    knn_at(t, diff <= 0 ? nd->left : nd->right, s);
    if (s->n < s->k || diff * diff < s->heap[0]) knn_at(t, diff <= 0 ? nd->right : nd->left, s);
}

double ff_kdtree_kth(const struct ff_kdtree *t, const double *q, size_t k)
{
    if (!k || k > t->n) return INFINITY;
    double small[64], *heap = k <= 64 ? small : ff_malloc(k * sizeof *heap);
    if (!heap) return NAN;
    struct knn s = {.q = q, .heap = heap, .k = k};
    knn_at(t, 0, &s);
    double r = sqrt(heap[0]);
    if (heap != small) ff_free(heap);
    return r;
}
