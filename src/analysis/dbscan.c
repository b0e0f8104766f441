/* dbscan.c - see dbscan.h. Core rows are found on every core (a neighbour count per row,
 * stopped at min_pts); clusters then grow on one thread, in row order, as scikit-learn's
 * dbscan_inner grows them, so that border rows go where scikit-learn puts them. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/dbscan.h"
#include "analysis/kdtree.h"
#include "analysis/kmeans.h"
#include "analysis/parallel.h"
#include "core/alloc.h"
#include "core/errors.h"

struct core_pass {
    const struct ff_kdtree *t;
    const double *x;
    size_t n, d, min_pts;
    double eps;
    uint8_t *core;
};

static void core_work(void *arg, size_t th, size_t nt)
{
    struct core_pass *p = arg;
    size_t lo, hi;
    ff_par_range(p->n, th, nt, &lo, &hi);
    for (size_t i = lo; i < hi; i++) p->core[i] = ff_kdtree_count(p->t, p->x + i * p->d, p->eps, p->min_pts) >= p->min_pts;
}

/* The rows still to visit of the cluster growing: a row is pushed once per core row next
 * to it, so the stack can need more than n entries. */
struct grow {
    int32_t *labels;
    uint32_t *stack;
    size_t n, cap;
    int err;
};

static int push_unlabelled(void *arg, uint32_t row)
{
    struct grow *g = arg;
    if (g->labels[row] != -1) return 0;
    if (g->n == g->cap) {
        uint32_t *ns = ff_realloc(g->stack, 2 * g->cap * sizeof *ns);
        if (!ns) return g->err = -ENOMEM;
        g->stack = ns, g->cap *= 2;
    }
    g->stack[g->n++] = row;
    return 0;
}

int ff_dbscan_fit(const double *x, size_t n, size_t d, double eps, size_t min_pts, struct ff_dbscan *out)
{
    memset(out, 0, sizeof *out);
    if (!(eps > 0) || !min_pts || !d) return FF_EINVAL;
    struct ff_kdtree t;
    int rc = ff_kdtree_build(&t, x, n, d);
    if (rc) return rc;
    uint8_t *core = ff_malloc(n ? n : 1);
    out->labels = ff_malloc((n ? n : 1) * sizeof *out->labels);
    struct grow g = {.labels = out->labels, .cap = n + 64};
    g.stack = ff_malloc(g.cap * sizeof *g.stack);
    if (!core || !out->labels || !g.stack) rc = -ENOMEM;
    if (!rc) {
        struct core_pass p = {.t = &t, .x = x, .n = n, .d = d, .min_pts = min_pts, .eps = eps, .core = core};
        ff_par_run(ff_par_threads(n, 1024), core_work, &p);
        for (size_t i = 0; i < n; i++) out->labels[i] = -1, out->core += core[i];
    }
    int32_t cluster = 0;
    for (size_t i0 = 0; !rc && i0 < n; i0++) {
        if (out->labels[i0] != -1 || !core[i0]) continue;
        g.n = 0;
        size_t i = i0;
        for (;;) {
            if (out->labels[i] == -1) {
                out->labels[i] = cluster;
                if (core[i]) ff_kdtree_radius(&t, x + i * d, eps, push_unlabelled, &g);
                if ((rc = g.err)) break;
            }
            if (!g.n) break;
            i = g.stack[--g.n];
        }
        cluster++;
    }
    if (!rc) {
        out->clusters = (size_t)cluster;
        for (size_t i = 0; i < n; i++) out->noise += out->labels[i] < 0;
    }
    ff_free(core);
    ff_free(g.stack);
    ff_kdtree_free(&t);
    if (rc) ff_dbscan_free(out);
    return rc;
}

void ff_dbscan_free(struct ff_dbscan *m)
{
    ff_free(m->labels);
    memset(m, 0, sizeof *m);
}

struct kdist_pass {
    const struct ff_kdtree *t;
    const double *x;
    const size_t *rows;
    size_t m, d, k;
    double *out;
};

static void kdist_work(void *arg, size_t th, size_t nt)
{
    struct kdist_pass *p = arg;
    size_t lo, hi;
    ff_par_range(p->m, th, nt, &lo, &hi);
    for (size_t i = lo; i < hi; i++) p->out[i] = ff_kdtree_kth(p->t, p->x + p->rows[i] * p->d, p->k);
}

static int desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

int ff_dbscan_kdist(const double *x, size_t n, size_t d, size_t min_pts, size_t sample, uint64_t seed, double **curve,
                    size_t *ncurve, double *eps_hint)
{
    *curve = NULL, *ncurve = 0, *eps_hint = NAN;
    if (!min_pts || min_pts > n) return FF_EINVAL;
    size_t m = sample && sample < n ? sample : n;
    struct ff_kdtree t;
    int rc = ff_kdtree_build(&t, x, n, d);
    if (rc) return rc;
    size_t *rows = ff_malloc(n * sizeof *rows);
    double *out = ff_malloc(m * sizeof *out);
    if (!rows || !out) rc = -ENOMEM;
    if (!rc) {
        for (size_t i = 0; i < n; i++) rows[i] = i;
        struct ff_rng rng;
        ff_rng_seed(&rng, seed);
        for (size_t i = 0; i < m && m < n; i++) {
            size_t j = i + ff_rng_below(&rng, n - i), s = rows[i];
            rows[i] = rows[j], rows[j] = s;
        }
        struct kdist_pass p = {.t = &t, .x = x, .rows = rows, .m = m, .d = d, .k = min_pts, .out = out};
        ff_par_run(ff_par_threads(m, 256), kdist_work, &p);
        qsort(out, m, sizeof *out, desc);
        *eps_hint = out[ff_elbow(out, 0, m)];
        *curve = out, *ncurve = m;
        out = NULL;
    }
    ff_free(rows);
    ff_free(out);
    ff_kdtree_free(&t);
    return rc;
}
