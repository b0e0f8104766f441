/* kmeans.c - see kmeans.h. Distances are computed as sums of squared differences, not as
 * |x|² - 2x·c + |c|² (which loses precision when rows are far from the origin), one row
 * against all centres while the row is in cache. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/kmeans.h"
#include "analysis/parallel.h"
#include "core/alloc.h"
#include "core/errors.h"

#define ROWS_PER_THREAD 4096 /* less than this is not worth a thread */

static inline double dist2(const double *a, const double *b, size_t d)
{
    double s = 0;
    for (size_t j = 0; j < d; j++) {
        double t = a[j] - b[j];
        s += t * t;
    }
    return s;
}

uint32_t ff_kmeans_nearest(const double *centers, size_t k, size_t d, const double *x, double *out)
{
    uint32_t best = 0;
    double bd = INFINITY;
    for (size_t c = 0; c < k; c++) {
        double s = dist2(x, centers + c * d, d);
        if (s < bd) bd = s, best = (uint32_t)c;
    }
    if (out) *out = bd;
    return best;
}

/* ---- k-means++ seeding ---- */

struct seed_pass {
    const double *x;
    size_t n, d;
    double *closest;        /* n: squared distance to the nearest centre so far */
    const double *cand;     /* ncand candidate rows (pointers into x are copied here) */
    size_t ncand;
    double pot[FF_PAR_MAX][16]; /* per thread, per candidate: the potential were it chosen */
    int apply;              /* 0: sum potentials; 1: closest = min(closest, distance to cand 0) */
};

static void seed_work(void *arg, size_t t, size_t nt)
{
    struct seed_pass *p = arg;
    size_t lo, hi;
    ff_par_range(p->n, t, nt, &lo, &hi);
    double pot[16] = {0};
    for (size_t i = lo; i < hi; i++) {
        const double *xi = p->x + i * p->d;
        if (p->apply) {
            double s = dist2(xi, p->cand, p->d);
            if (s < p->closest[i]) p->closest[i] = s;
            continue;
        }
        for (size_t c = 0; c < p->ncand; c++) {
            double s = dist2(xi, p->cand + c * p->d, p->d);
            pot[c] += s < p->closest[i] ? s : p->closest[i];
        }
    }
    memcpy(p->pot[t], pot, sizeof pot);
}

/* The first row whose cumulative weight passes r. */
static size_t pick(const double *cum, size_t n, double r)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cum[mid] <= r) lo = mid + 1;
        else hi = mid;
    }
    return lo < n ? lo : n - 1;
}

static int kmeanspp(const double *x, size_t n, size_t d, size_t k, struct ff_rng *rng, double *centers, size_t nt)
{
    double *closest = ff_malloc(n * sizeof *closest), *cum = ff_malloc(n * sizeof *cum);
    double cand[16 * 64];
    int rc = closest && cum && d <= 64 ? 0 : -ENOMEM;
    size_t trials = 2 + (size_t)log((double)k);
    if (trials > 16) trials = 16;
    struct seed_pass p = {.x = x, .n = n, .d = d, .closest = closest, .cand = cand};
    if (!rc) {
        memcpy(centers, x + ff_rng_below(rng, n) * d, d * sizeof *centers);
        for (size_t i = 0; i < n; i++) closest[i] = INFINITY;
        memcpy(cand, centers, d * sizeof *cand);
        p.apply = 1;
        ff_par_run(nt, seed_work, &p);
    }
    for (size_t c = 1; !rc && c < k; c++) {
        double total = 0;
        for (size_t i = 0; i < n; i++) cum[i] = total += closest[i];
        size_t idx[16];
        for (size_t t = 0; t < trials; t++) {
            idx[t] = total > 0 ? pick(cum, n, ff_rng_double(rng) * total) : ff_rng_below(rng, n);
            memcpy(cand + t * d, x + idx[t] * d, d * sizeof *cand);
        }
        p.ncand = trials, p.apply = 0;
        ff_par_run(nt, seed_work, &p);
        size_t best = 0;
        double best_pot = INFINITY;
        for (size_t t = 0; t < trials; t++) {
            double s = 0;
            for (size_t th = 0; th < nt; th++) s += p.pot[th][t];
            if (s < best_pot) best_pot = s, best = t;
        }
        memcpy(centers + c * d, x + idx[best] * d, d * sizeof *centers);
        memcpy(cand, centers + c * d, d * sizeof *cand);
        p.apply = 1;
        ff_par_run(nt, seed_work, &p);
    }
    ff_free(closest);
    ff_free(cum);
    return rc;
}

/* ---- Lloyd's iterations ---- */

struct lloyd {
    const double *x;
    size_t n, d, k;
    const double *centers;
    uint32_t *labels;
    double *dist;                 /* n: each row's squared distance to its centre */
    double *sums[FF_PAR_MAX];     /* k × d per thread */
    size_t *counts[FF_PAR_MAX];   /* k per thread */
    double inertia[FF_PAR_MAX];
    size_t changed[FF_PAR_MAX];
};

static void lloyd_work(void *arg, size_t t, size_t nt)
{
    struct lloyd *l = arg;
    size_t lo, hi, d = l->d;
    ff_par_range(l->n, t, nt, &lo, &hi);
    double *sums = l->sums[t], inertia = 0;
    size_t *counts = l->counts[t], changed = 0;
    memset(sums, 0, l->k * d * sizeof *sums);
    memset(counts, 0, l->k * sizeof *counts);
    for (size_t i = lo; i < hi; i++) {
        const double *xi = l->x + i * d;
        double s;
        uint32_t c = ff_kmeans_nearest(l->centers, l->k, d, xi, &s);
        changed += c != l->labels[i];
        l->labels[i] = c;
        l->dist[i] = s;
        inertia += s;
        counts[c]++;
        double *sc = sums + c * d;
        for (size_t j = 0; j < d; j++) sc[j] += xi[j];
    }
    l->inertia[t] = inertia;
    l->changed[t] = changed;
}

/* A cluster left empty takes the row farthest from its centre among those whose cluster
 * keeps another row (scikit-learn relocates the same way). */
static void relocate_empty(struct lloyd *l, double *sums, size_t *counts)
{
    for (size_t c = 0; c < l->k; c++) {
        if (counts[c]) continue;
        size_t far = SIZE_MAX;
        for (size_t i = 0; i < l->n; i++)
            if (counts[l->labels[i]] > 1 && (far == SIZE_MAX || l->dist[i] > l->dist[far])) far = i;
        if (far == SIZE_MAX) return;
        uint32_t old = l->labels[far];
        const double *xf = l->x + far * l->d;
        for (size_t j = 0; j < l->d; j++) sums[old * l->d + j] -= xf[j], sums[c * l->d + j] = xf[j];
        counts[old]--, counts[c] = 1;
        l->labels[far] = (uint32_t)c;
        l->dist[far] = 0;
    }
}

/* One run from seeded centres: the Lloyd loop as scikit-learn's _kmeans_single_lloyd. */
static void lloyd_run(struct lloyd *l, double *centers, double *next, size_t max_iter, double tol, size_t nt,
                      double *inertia, size_t *iters)
{
    size_t k = l->k, d = l->d, it = 0;
    for (size_t i = 0; i < l->n; i++) l->labels[i] = UINT32_MAX;
    for (it = 0; it < max_iter; it++) {
        l->centers = centers;
        ff_par_run(nt, lloyd_work, l);
        size_t changed = 0;
        for (size_t t = 1; t < nt; t++) {
            for (size_t j = 0; j < k * d; j++) l->sums[0][j] += l->sums[t][j];
            for (size_t c = 0; c < k; c++) l->counts[0][c] += l->counts[t][c];
        }
        for (size_t t = 0; t < nt; t++) changed += l->changed[t];
        relocate_empty(l, l->sums[0], l->counts[0]);
        double shift = 0;
        for (size_t c = 0; c < k; c++)
            for (size_t j = 0; j < d; j++) {
                double v = l->counts[0][c] ? l->sums[0][c * d + j] / (double)l->counts[0][c] : centers[c * d + j];
                shift += (v - centers[c * d + j]) * (v - centers[c * d + j]);
                next[c * d + j] = v;
            }
        memcpy(centers, next, k * d * sizeof *centers);
        if (it > 0 && changed == 0) {
            it++;
            break;
        }
        if (shift <= tol) {
            it++;
            break;
        }
    }
    /* the labels and inertia of the final centres */
    l->centers = centers;
    ff_par_run(nt, lloyd_work, l);
    double sum = 0;
    for (size_t t = 0; t < nt; t++) sum += l->inertia[t];
    *inertia = sum;
    *iters = it;
}

int ff_kmeans_fit(const double *x, size_t n, size_t d, const struct ff_kmeans_opts *o, struct ff_kmeans *out)
{
    memset(out, 0, sizeof *out);
    size_t k = o->k;
    if (k < 1 || k > n || d < 1 || d > 64) return FF_EINVAL;
    size_t n_init = o->n_init ? o->n_init : 10, max_iter = o->max_iter ? o->max_iter : 300;
    size_t nt = ff_par_threads(n, ROWS_PER_THREAD);
    /* tol is relative to the data's mean column variance */
    double tol = o->tol > 0 ? o->tol : 1e-4, var = 0;
    for (size_t j = 0; j < d; j++) {
        double m = 0, m2 = 0;
        for (size_t i = 0; i < n; i++) m += x[i * d + j];
        m /= (double)n;
        for (size_t i = 0; i < n; i++) m2 += (x[i * d + j] - m) * (x[i * d + j] - m);
        var += m2 / (double)n;
    }
    tol *= var / (double)d;

    struct lloyd l = {.x = x, .n = n, .d = d, .k = k};
    l.labels = ff_malloc(n * sizeof *l.labels);
    l.dist = ff_malloc(n * sizeof *l.dist);
    double *centers = ff_malloc(k * d * sizeof *centers), *next = ff_malloc(k * d * sizeof *next);
    out->centers = ff_malloc(k * d * sizeof *out->centers);
    out->labels = ff_malloc(n * sizeof *out->labels);
    out->sizes = ff_calloc(k, sizeof *out->sizes);
    int rc = l.labels && l.dist && centers && next && out->centers && out->labels && out->sizes ? 0 : -ENOMEM;
    for (size_t t = 0; !rc && t < nt; t++) {
        l.sums[t] = ff_malloc(k * d * sizeof *l.sums[t]);
        l.counts[t] = ff_malloc(k * sizeof *l.counts[t]);
        if (!l.sums[t] || !l.counts[t]) rc = -ENOMEM;
    }
    struct ff_rng rng;
    ff_rng_seed(&rng, o->seed);
    out->inertia = INFINITY;
    out->k = k, out->d = d;
    for (size_t r = 0; !rc && r < n_init; r++) {
        rc = kmeanspp(x, n, d, k, &rng, centers, nt);
        if (rc) break;
        double inertia;
        size_t iters;
        lloyd_run(&l, centers, next, max_iter, tol, nt, &inertia, &iters);
        if (inertia < out->inertia) {
            out->inertia = inertia, out->iterations = iters;
            memcpy(out->centers, centers, k * d * sizeof *centers);
            memcpy(out->labels, l.labels, n * sizeof *l.labels);
        }
    }
    if (!rc)
        for (size_t i = 0; i < n; i++) out->sizes[out->labels[i]]++;
    for (size_t t = 0; t < nt; t++) ff_free(l.sums[t]), ff_free(l.counts[t]);
    ff_free(l.labels);
    ff_free(l.dist);
    ff_free(centers);
    ff_free(next);
    if (rc) ff_kmeans_free(out);
    return rc;
}

void ff_kmeans_free(struct ff_kmeans *m)
{
    ff_free(m->centers);
    ff_free(m->labels);
    ff_free(m->sizes);
    memset(m, 0, sizeof *m);
}

/* ---- silhouette ---- */

struct sil {
    const double *x;
    size_t d, k, m;
    const size_t *rows;     /* m rows of x */
    const uint32_t *labels; /* of all of x */
    const size_t *size;     /* k: sampled rows per cluster */
    double total[FF_PAR_MAX];
};

static void sil_work(void *arg, size_t t, size_t nt)
{
    struct sil *s = arg;
    size_t lo, hi;
    ff_par_range(s->m, t, nt, &lo, &hi);
    double *sum = ff_malloc(s->k * sizeof *sum), total = 0;
    if (!sum) return; /* s->total[t] stays NAN: the caller reports it */
    for (size_t a = lo; a < hi; a++) {
        const double *xa = s->x + s->rows[a] * s->d;
        uint32_t la = s->labels[s->rows[a]];
        memset(sum, 0, s->k * sizeof *sum);
        for (size_t b = 0; b < s->m; b++)
            if (b != a) sum[s->labels[s->rows[b]]] += sqrt(dist2(xa, s->x + s->rows[b] * s->d, s->d));
        if (s->size[la] < 2) continue; /* alone in its cluster: 0 */
        double in = sum[la] / (double)(s->size[la] - 1), out = INFINITY;
        for (size_t c = 0; c < s->k; c++)
            if (c != la && s->size[c] && sum[c] / (double)s->size[c] < out) out = sum[c] / (double)s->size[c];
        double mx = in > out ? in : out;
        if (mx > 0) total += (out - in) / mx;
    }
    s->total[t] = total;
    ff_free(sum);
}

double ff_silhouette(const double *x, size_t n, size_t d, const uint32_t *labels, size_t k, size_t sample,
                     uint64_t seed)
{
    size_t m = sample && sample < n ? sample : n;
    size_t *rows = ff_malloc(n * sizeof *rows), *size = ff_calloc(k, sizeof *size);
    if (!rows || !size) {
        ff_free(rows), ff_free(size);
        return NAN;
    }
    for (size_t i = 0; i < n; i++) rows[i] = i;
    struct ff_rng rng;
    ff_rng_seed(&rng, seed);
    for (size_t i = 0; i < m && m < n; i++) { /* a partial Fisher-Yates shuffle: m distinct rows */
        size_t j = i + ff_rng_below(&rng, n - i), t = rows[i];
        rows[i] = rows[j], rows[j] = t;
    }
    size_t used = 0;
    for (size_t i = 0; i < m; i++) used += size[labels[rows[i]]]++ == 0;
    double result = NAN;
    if (used >= 2) {
        struct sil s = {.x = x, .d = d, .k = k, .m = m, .rows = rows, .labels = labels, .size = size};
        for (size_t t = 0; t < FF_PAR_MAX; t++) s.total[t] = NAN;
        size_t nt = ff_par_threads(m * m / 64, ROWS_PER_THREAD);
        ff_par_run(nt, sil_work, &s);
        result = 0;
        for (size_t t = 0; t < nt; t++) result += s.total[t];
        result /= (double)m;
    }
    ff_free(rows);
    ff_free(size);
    return result;
}

size_t ff_elbow(const double *inertia, size_t kmin, size_t count)
{
    if (count < 3) return kmin;
    double first = inertia[0], last = inertia[count - 1], span = first - last;
    if (!(span > 0)) return kmin;
    size_t best = 0;
    double best_gap = -INFINITY;
    for (size_t i = 0; i < count; i++) {
        double line = first - span * (double)i / (double)(count - 1); /* the chord at i */
        double gap = (line - inertia[i]) / span;
        if (gap > best_gap) best_gap = gap, best = i;
    }
    return kmin + best;
}

/* ---- mini-batch k-means ---- */

int ff_minibatch_init(struct ff_minibatch *mb, const double *centers, const double *weight, size_t k, size_t d)
{
    mb->k = k, mb->d = d;
    mb->centers = ff_malloc(k * d * sizeof *mb->centers);
    mb->weight = ff_malloc(k * sizeof *mb->weight);
    if (!mb->centers || !mb->weight) {
        ff_minibatch_free(mb);
        return -ENOMEM;
    }
    memcpy(mb->centers, centers, k * d * sizeof *centers);
    for (size_t c = 0; c < k; c++) mb->weight[c] = weight ? weight[c] : 1;
    return 0;
}

int ff_minibatch_update(struct ff_minibatch *mb, const double *rows, size_t m, uint32_t *labels)
{
    size_t k = mb->k, d = mb->d;
    uint32_t *own = labels ? NULL : ff_malloc(m * sizeof *own), *lab = labels ? labels : own;
    double *sum = ff_calloc(k * d, sizeof *sum), *took = ff_calloc(k, sizeof *took);
    int rc = lab && sum && took ? 0 : -ENOMEM;
    /* every row is assigned with the centres as they were, then each centre moves once, to
     * the weighted mean of where it was and its rows */
    for (size_t i = 0; !rc && i < m; i++) {
        uint32_t c = lab[i] = ff_kmeans_nearest(mb->centers, k, d, rows + i * d, NULL);
        took[c]++;
        for (size_t j = 0; j < d; j++) sum[c * d + j] += rows[i * d + j];
    }
    for (size_t c = 0; !rc && c < k; c++) {
        if (!took[c]) continue;
        double w = mb->weight[c], nw = w + took[c];
        for (size_t j = 0; j < d; j++) mb->centers[c * d + j] = (mb->centers[c * d + j] * w + sum[c * d + j]) / nw;
        mb->weight[c] = nw;
    }
    ff_free(own);
    ff_free(sum);
    ff_free(took);
    return rc;
}

void ff_minibatch_free(struct ff_minibatch *mb)
{
    ff_free(mb->centers);
    ff_free(mb->weight);
    mb->centers = NULL, mb->weight = NULL;
}
