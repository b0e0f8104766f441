/* arima.c - see arima.h. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/arima.h"
#include "analysis/parallel.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/errors.h"

#define MAXR (FF_ARIMA_MAX_LAG + 1)
#define NPAR (1 + 2 * FF_ARIMA_MAX_ORDER + 2 * FF_ARIMA_MAX_SORDER)

/* ---- stationary polynomials from free parameters ---- */

/* u (n free numbers) → AR coefficients φ (1 - φ1 L - … stationary): each u a partial
 * autocorrelation u / √(1 + u²) in (-1, 1), then the Durbin-Levinson recursion. */
static void constrain(const double *u, size_t n, double *phi)
{
    double prev[FF_ARIMA_MAX_ORDER + 1];
    for (size_t k = 0; k < n; k++) {
        double r = u[k] / sqrt(1 + u[k] * u[k]);
        memcpy(prev, phi, k * sizeof *phi);
        for (size_t i = 0; i < k; i++) phi[i] = prev[i] - r * prev[k - 1 - i];
        phi[k] = r;
    }
}

/* The inverse; 0, or -1 when φ is not stationary. */
static int unconstrain(const double *phi, size_t n, double *u)
{
    double a[FF_ARIMA_MAX_ORDER + 1], prev[FF_ARIMA_MAX_ORDER + 1];
    memcpy(a, phi, n * sizeof *a);
    for (size_t k = n; k-- > 0;) {
        double r = a[k];
        if (!(fabs(r) < 1)) return -1;
        u[k] = r / sqrt(1 - r * r);
        memcpy(prev, a, k * sizeof *a);
        for (size_t i = 0; i < k; i++) a[i] = (prev[i] + r * prev[k - 1 - i]) / (1 - r * r);
    }
    return 0;
}

/* ---- the model's polynomials ---- */

/* AR lag polynomial coefficients φ*_1 … (y_t = Σ φ*_i y_{t-i} + …) of (1 - φ(L))(1 - Φ(L^s)),
 * and MA θ*_1 … of (1 + θ(L))(1 + Θ(L^s)); their degrees. */
static void expand(const struct ff_arima *m, double *arp, size_t *np, double *map, size_t *nq)
{
    const struct ff_arima_order *o = &m->o;
    size_t s = o->s > 1 ? (size_t)o->s : 0, pa = (size_t)o->p + s * (size_t)o->P, qa = (size_t)o->q + s * (size_t)o->Q;
    /* as polynomials with constant 1: a(L) = 1 - Σ … */
    double a[MAXR + 1] = {1}, b[MAXR + 1] = {1};
    for (int i = 1; i <= o->p; i++) a[i] = -m->ar[i - 1];
    double sa[MAXR + 1] = {1};
    for (int j = 1; j <= o->P; j++) sa[(size_t)j * s] = -m->sar[j - 1];
    double prod[MAXR + 1] = {0};
    for (size_t i = 0; i <= (size_t)o->p; i++)
        for (size_t j = 0; j <= s * (size_t)o->P; j++) prod[i + j] += a[i] * sa[j];
    for (size_t i = 1; i <= pa; i++) arp[i - 1] = -prod[i];
    for (int i = 1; i <= o->q; i++) b[i] = m->ma[i - 1];
    double sb[MAXR + 1] = {1};
    for (int j = 1; j <= o->Q; j++) sb[(size_t)j * s] = m->sma[j - 1];
    double prodb[MAXR + 1] = {0};
    for (size_t i = 0; i <= (size_t)o->q; i++)
        for (size_t j = 0; j <= s * (size_t)o->Q; j++) prodb[i + j] += b[i] * sb[j];
    for (size_t i = 1; i <= qa; i++) map[i - 1] = prodb[i];
    *np = pa, *nq = qa;
}

/* The differencing (1 - L)^d (1 - L^s)^D as y_t - Σ δ_i y_{t-i}: δ_1 … δ_nd. */
static size_t differencing(const struct ff_arima_order *o, double *delta)
{
    double poly[2 * MAXR + 8] = {1};
    size_t deg = 0;
    for (int k = 0; k < o->d + o->D; k++) {
        size_t lag = k < o->d ? 1 : (size_t)o->s;
        for (size_t i = deg + lag; i >= lag; i--) poly[i] -= poly[i - lag];
        deg += lag;
    }
    for (size_t i = 1; i <= deg; i++) delta[i - 1] = -poly[i];
    return deg;
}

/* ---- the Kalman filter of an ARMA(np, nq) in Harvey's state space, σ² = 1 ---- */

struct kf {
    size_t r;
    double phi[MAXR], theta[MAXR]; /* zero-padded to r (theta: R = [1, θ1 … θ_{r-1}]) */
    double a[MAXR], P[MAXR * MAXR];
};

/* The stationary state covariance: P = T P T' + R R', by doubling (Σ T^k RR' T'^k). */
static int stationary_cov(struct kf *f)
{
    size_t r = f->r;
    double *A = ff_malloc(3 * r * r * sizeof *A), *Q = f->P, *W, *X;
    if (!A) return -ENOMEM;
    W = A + r * r, X = W + r * r;
    memset(A, 0, r * r * sizeof *A);
    for (size_t i = 0; i < r; i++) {
        A[i * r] = f->phi[i];
        if (i + 1 < r) A[i * r + i + 1] = 1;
        for (size_t j = 0; j < r; j++) Q[i * r + j] = f->theta[i] * f->theta[j];
    }
    /* A is T^(2^it): the terms left are below A's size squared, so the sum is done once A is
     * negligible (or, for a process at the edge of stationarity, after 2^60 steps) */
    for (int it = 0; it < 60; it++) {
        /* Q += A Q A'; A = A A */
        for (size_t i = 0; i < r; i++)
            for (size_t j = 0; j < r; j++) {
                double s = 0;
                for (size_t k = 0; k < r; k++) s += A[i * r + k] * Q[k * r + j];
                W[i * r + j] = s;
            }
        double change = 0, size = 0;
        for (size_t i = 0; i < r; i++)
            for (size_t j = 0; j < r; j++) {
                double s = 0;
                for (size_t k = 0; k < r; k++) s += W[i * r + k] * A[j * r + k];
                Q[i * r + j] += s;
                change += fabs(s), size += fabs(Q[i * r + j]);
            }
        for (size_t i = 0; i < r; i++)
            for (size_t j = 0; j < r; j++) {
                double s = 0;
                for (size_t k = 0; k < r; k++) s += A[i * r + k] * A[k * r + j];
                X[i * r + j] = s;
            }
        memcpy(A, X, r * r * sizeof *A);
        double amax = 0;
        for (size_t i = 0; i < r * r; i++) amax = fmax(amax, fabs(A[i]));
        if (change <= 1e-15 * size || amax < 1e-9) break;
    }
    ff_free(A);
    return 0;
}

/* One value w of the filter: its innovation *v and variance *F (σ² = 1), then the state and
 * (unless steady) its covariance moved on to the next value. The change of P, or -1 when F
 * is not positive. */
static double kf_step(struct kf *f, double w, int steady, double *v, double *F)
{
    size_t r = f->r;
    double *P = f->P;
    *F = P[0];
    if (!(*F > 0)) return -1;
    *v = w - f->a[0];
    /* a' = T (a + K v), K = P e1 / F */
    double au[MAXR];
    for (size_t i = 0; i < r; i++) au[i] = f->a[i] + P[i * r] / *F * *v;
    for (size_t i = 0; i < r; i++) f->a[i] = f->phi[i] * au[0] + (i + 1 < r ? au[i + 1] : 0);
    if (steady) return 0;
    /* P' = T (P - P e1 e1' P / F) T' + R R'; (T U)_ij = φ_i U_0j + U_{i+1,j} */
    double U[MAXR * MAXR], TU[MAXR * MAXR], change = 0;
    for (size_t i = 0; i < r; i++)
        for (size_t j = 0; j < r; j++) U[i * r + j] = P[i * r + j] - P[i * r] * P[j * r] / *F;
    for (size_t i = 0; i < r; i++)
        for (size_t j = 0; j < r; j++) TU[i * r + j] = f->phi[i] * U[j] + (i + 1 < r ? U[(i + 1) * r + j] : 0);
    for (size_t i = 0; i < r; i++)
        for (size_t j = 0; j < r; j++) {
            double x = f->phi[j] * TU[i * r] + (j + 1 < r ? TU[i * r + j + 1] : 0) + f->theta[i] * f->theta[j];
            change += fabs(x - P[i * r + j]);
            P[i * r + j] = x;
        }
    return change;
}

/* Filters w (n values, mean already taken off) from the stationary state: Σ v²/F and
 * Σ log F; leaves f->a, f->P as the prediction for the value after the last. */
static int kf_run(struct kf *f, const double *w, size_t n, double *ssq, double *sumlog)
{
    memset(f->a, 0, sizeof f->a);
    int rc = stationary_cov(f);
    if (rc) return rc;
    int steady = 0;
    *ssq = 0, *sumlog = 0;
    for (size_t t = 0; t < n; t++) {
        double v, F, change = kf_step(f, w[t], steady, &v, &F);
        if (change < 0) return FF_EINVAL;
        *ssq += v * v / F, *sumlog += log(F);
        if (!steady && change < 1e-13) steady = 1; /* the gain no longer changes: only the state moves */
    }
    return 0;
}

/* ---- the likelihood of a parameter vector ---- */

struct problem {
    const struct ff_arima_order *o;
    int has_mean;
    const double *w; /* the differenced series */
    size_t n;
    double scale;    /* of w: the mean is optimised in units of it */
};

/* params: [mean/scale], ar u, ma u, sar u, sma u → the model's coefficients */
static void unpack(const struct problem *pb, const double *x, struct ff_arima *m)
{
    const struct ff_arima_order *o = pb->o;
    size_t i = 0;
    m->o = *o;
    m->has_mean = pb->has_mean;
    m->mean = pb->has_mean ? x[i++] * pb->scale : 0;
    constrain(x + i, (size_t)o->p, m->ar), i += (size_t)o->p;
    constrain(x + i, (size_t)o->q, m->ma), i += (size_t)o->q;
    for (int k = 0; k < o->q; k++) m->ma[k] = -m->ma[k];
    constrain(x + i, (size_t)o->P, m->sar), i += (size_t)o->P;
    constrain(x + i, (size_t)o->Q, m->sma);
    for (int k = 0; k < o->Q; k++) m->sma[k] = -m->sma[k];
}

/* Minus the profiled log-likelihood (σ² at its maximum), and that σ². */
static double negll(const struct problem *pb, const double *x, double *sigma2, struct kf *kf)
{
    struct ff_arima m;
    memset(&m, 0, sizeof m);
    unpack(pb, x, &m);
    double arp[MAXR], map[MAXR];
    size_t np, nq;
    expand(&m, arp, &np, map, &nq);
    struct kf local, *f = kf ? kf : &local;
    memset(f, 0, sizeof *f);
    f->r = np > nq + 1 ? np : nq + 1;
    for (size_t i = 0; i < np; i++) f->phi[i] = arp[i];
    f->theta[0] = 1;
    for (size_t i = 0; i < nq; i++) f->theta[i + 1] = map[i];
    double *w = ff_malloc(pb->n * sizeof *w);
    if (!w) return INFINITY;
    for (size_t t = 0; t < pb->n; t++) w[t] = pb->w[t] - m.mean;
    double ssq, sumlog;
    int rc = kf_run(f, w, pb->n, &ssq, &sumlog);
    ff_free(w);
    if (rc) return INFINITY;
    double n = (double)pb->n, s2 = ssq / n;
    if (sigma2) *sigma2 = s2;
    return 0.5 * (n * log(2 * M_PI) + sumlog + n * log(s2) + n);
}

/* ---- BFGS with numerical gradients ---- */

static void gradient(const struct problem *pb, const double *x, size_t k, double *g)
{
    double xx[NPAR];
    memcpy(xx, x, k * sizeof *x);
    for (size_t i = 0; i < k; i++) {
        double h = 1e-6 * (fabs(x[i]) > 1 ? fabs(x[i]) : 1);
        xx[i] = x[i] + h;
        double fp = negll(pb, xx, NULL, NULL);
        xx[i] = x[i] - h;
        double fm = negll(pb, xx, NULL, NULL);
        xx[i] = x[i];
        g[i] = (fp - fm) / (2 * h);
    }
}

static double minimise(const struct problem *pb, double *x, size_t k, size_t *iters, int *converged)
{
    double f = negll(pb, x, NULL, NULL), g[NPAR], H[NPAR * NPAR] = {0}, gn[NPAR], xn[NPAR], d[NPAR];
    for (size_t i = 0; i < k; i++) H[i * k + i] = 1;
    gradient(pb, x, k, g);
    *converged = 0;
    size_t it;
    for (it = 0; it < 300 && isfinite(f); it++) {
        double gmax = 0;
        for (size_t i = 0; i < k; i++) gmax = fmax(gmax, fabs(g[i]));
        if (gmax < 1e-6 * (1 + fabs(f)) * 1e-2) {
            *converged = 1;
            break;
        }
        double slope = 0;
        for (size_t i = 0; i < k; i++) {
            d[i] = 0;
            for (size_t j = 0; j < k; j++) d[i] -= H[i * k + j] * g[j];
            slope += d[i] * g[i];
        }
        if (slope >= 0) { /* not a descent direction: start the curvature over */
            memset(H, 0, sizeof H);
            for (size_t i = 0; i < k; i++) H[i * k + i] = 1, d[i] = -g[i];
            slope = 0;
            for (size_t i = 0; i < k; i++) slope += d[i] * g[i];
        }
        /* no parameter moves more than 1 at once: partial autocorrelations saturate fast,
         * and a first step along a raw gradient would throw them against ±1 */
        double dmax = 0, step = 1, fn = INFINITY;
        for (size_t i = 0; i < k; i++) dmax = fmax(dmax, fabs(d[i]));
        if (dmax > 1) step = 1 / dmax;
        for (int ls = 0; ls < 40; ls++, step *= 0.5) { /* backtracking to Armijo's condition */
            for (size_t i = 0; i < k; i++) xn[i] = x[i] + step * d[i];
            fn = negll(pb, xn, NULL, NULL);
            if (isfinite(fn) && fn <= f + 1e-4 * step * slope) break;
        }
        if (!(fn <= f)) {
            *converged = 1; /* no step lowers it: as low as it goes */
            break;
        }
        gradient(pb, xn, k, gn);
        double s[NPAR], yv[NPAR], sy = 0;
        for (size_t i = 0; i < k; i++) s[i] = xn[i] - x[i], yv[i] = gn[i] - g[i], sy += s[i] * yv[i];
        double fold = f;
        memcpy(x, xn, k * sizeof *x);
        memcpy(g, gn, k * sizeof *g);
        f = fn;
        if (it == 0 && sy > 1e-12) { /* the first curvature sets the scale of H (Nocedal & Wright 6.20) */
            double yy = 0;
            for (size_t i = 0; i < k; i++) yy += yv[i] * yv[i];
            for (size_t i = 0; i < k; i++) H[i * k + i] = sy / yy;
        }
        if (sy > 1e-12) { /* H = (I - ρ s y') H (I - ρ y s') + ρ s s' */
            double rho = 1 / sy, Hy[NPAR], yHy = 0;
            for (size_t i = 0; i < k; i++) {
                Hy[i] = 0;
                for (size_t j = 0; j < k; j++) Hy[i] += H[i * k + j] * yv[j];
                yHy += yv[i] * Hy[i];
            }
            for (size_t i = 0; i < k; i++)
                for (size_t j = 0; j < k; j++)
                    H[i * k + j] += -rho * (s[i] * Hy[j] + Hy[i] * s[j]) + (rho * rho * yHy + rho) * s[i] * s[j];
        }
        if (fabs(fold - f) < 1e-13 * (1 + fabs(f))) {
            *converged = 1;
            break;
        }
    }
    *iters = it;
    return f;
}

/* ---- fitting ---- */

static size_t nparams(const struct ff_arima_order *o, int has_mean)
{
    return (size_t)has_mean + (size_t)(o->p + o->q + o->P + o->Q);
}

/* Yule-Walker AR(p) coefficients of w (for a starting point). 0 or -1. */
static int yule_walker(const double *w, size_t n, size_t p, double mean, double *phi)
{
    double acf[FF_ARIMA_MAX_ORDER + 1] = {0};
    for (size_t k = 0; k <= p; k++) {
        for (size_t t = k; t < n; t++) acf[k] += (w[t] - mean) * (w[t - k] - mean);
        acf[k] /= (double)n;
    }
    if (!(acf[0] > 0)) return -1;
    /* Durbin-Levinson on the autocorrelations */
    double prev[FF_ARIMA_MAX_ORDER + 1], v = acf[0];
    for (size_t k = 0; k < p; k++) {
        double num = acf[k + 1];
        for (size_t i = 0; i < k; i++) num -= phi[i] * acf[k - i];
        double r = num / v;
        if (!(fabs(r) < 1)) return -1;
        memcpy(prev, phi, k * sizeof *phi);
        for (size_t i = 0; i < k; i++) phi[i] = prev[i] - r * prev[k - 1 - i];
        phi[k] = r;
        v *= 1 - r * r;
    }
    return 0;
}

int ff_arima_fit(const double *y, size_t n, const struct ff_arima_order *o, struct ff_arima *m, char *err,
                 size_t errlen)
{
    memset(m, 0, sizeof *m);
    int s = o->s > 1 ? o->s : 0;
    if (o->p < 0 || o->q < 0 || o->d < 0 || o->p > FF_ARIMA_MAX_ORDER || o->q > FF_ARIMA_MAX_ORDER || o->d > 2 ||
        o->P < 0 || o->Q < 0 || o->D < 0 || o->P > FF_ARIMA_MAX_SORDER || o->Q > FF_ARIMA_MAX_SORDER || o->D > 1 ||
        (!s && (o->P || o->Q || o->D)) || o->p + s * o->P > FF_ARIMA_MAX_LAG || o->q + s * o->Q > FF_ARIMA_MAX_LAG) {
        snprintf(err, errlen, "order: p and q 0-%d, d 0-2, P and Q 0-%d, D 0-1, p + s*P and q + s*Q at most %d",
                 FF_ARIMA_MAX_ORDER, FF_ARIMA_MAX_SORDER, FF_ARIMA_MAX_LAG);
        return FF_EINVAL;
    }
    struct ff_arima_order oo = *o;
    oo.s = s;
    double delta[2 * MAXR + 8];
    size_t nd = differencing(&oo, delta);
    size_t k = nparams(&oo, !oo.d && !oo.D);
    if (n < nd + k + 3 || n - nd < 8) {
        snprintf(err, errlen, "%zu values are too few for this model: it needs at least %zu", n,
                 nd + k + 3 > nd + 8 ? nd + k + 3 : nd + 8);
        return FF_EINVAL;
    }
    double *w = ff_malloc((n - nd) * sizeof *w);
    if (!w) return -ENOMEM;
    for (size_t t = nd; t < n; t++) {
        w[t - nd] = y[t];
        for (size_t i = 0; i < nd; i++) w[t - nd] -= delta[i] * y[t - 1 - i];
    }
    struct problem pb = {&oo, !oo.d && !oo.D, w, n - nd, 1};
    double mean = 0, sd = 0;
    for (size_t t = 0; t < pb.n; t++) mean += w[t];
    mean /= (double)pb.n;
    for (size_t t = 0; t < pb.n; t++) sd += (w[t] - mean) * (w[t] - mean);
    sd = sqrt(sd / (double)pb.n);
    pb.scale = sd > 0 ? sd : 1;
    /* two starts: Yule-Walker AR and zeros elsewhere, and all zeros; the better end wins */
    double best[NPAR], x[NPAR], fbest = INFINITY;
    size_t iters = 0;
    int conv = 0;
    for (int start = 0; start < 2; start++) {
        memset(x, 0, sizeof x);
        size_t i = 0;
        if (pb.has_mean) x[i++] = mean / pb.scale;
        double phi[FF_ARIMA_MAX_ORDER];
        if (start == 0 && oo.p && (yule_walker(w, pb.n, (size_t)oo.p, pb.has_mean ? mean : 0, phi) ||
                                   unconstrain(phi, (size_t)oo.p, x + i)))
            memset(x + i, 0, (size_t)oo.p * sizeof *x);
        if (start == 1 && !oo.p) break; /* the same start again */
        size_t it;
        int c;
        double f = minimise(&pb, x, k, &it, &c);
        if (f < fbest) fbest = f, memcpy(best, x, sizeof x), iters = it, conv = c;
    }
    int rc = isfinite(fbest) ? 0 : FF_EINVAL;
    if (rc) snprintf(err, errlen, "the likelihood could not be evaluated (a constant series?)");
    if (!rc) {
        double s2;
        unpack(&pb, best, m);
        m->llf = -negll(&pb, best, &s2, NULL);
        m->sigma2 = s2;
        m->nobs = pb.n;
        m->k = k + 1;
        m->aic = -2 * m->llf + 2 * (double)m->k;
        m->bic = -2 * m->llf + (double)m->k * log((double)m->nobs);
        m->iterations = iters, m->converged = conv;
    }
    ff_free(w);
    return rc;
}

int ff_arima_forecast(const struct ff_arima *m, const double *y, size_t n, size_t h, double *mean, double *se)
{
    double delta[2 * MAXR + 8];
    size_t nd = differencing(&m->o, delta);
    if (n <= nd) return FF_EINVAL;
    double *w = ff_malloc((n - nd) * sizeof *w), *ext = ff_malloc((n + h) * sizeof *ext);
    if (!w || !ext) {
        ff_free(w), ff_free(ext);
        return -ENOMEM;
    }
    for (size_t t = nd; t < n; t++) {
        w[t - nd] = y[t];
        for (size_t i = 0; i < nd; i++) w[t - nd] -= delta[i] * y[t - 1 - i];
    }
    /* the filter's state after the data, run forward */
    struct problem pb = {&m->o, m->has_mean, w, n - nd, 1};
    double x[NPAR] = {0};
    size_t i = 0;
    if (m->has_mean) x[i++] = m->mean;
    (void)unconstrain(m->ar, (size_t)m->o.p, x + i), i += (size_t)m->o.p;
    double neg[FF_ARIMA_MAX_ORDER];
    for (int k = 0; k < m->o.q; k++) neg[k] = -m->ma[k];
    (void)unconstrain(neg, (size_t)m->o.q, x + i), i += (size_t)m->o.q;
    (void)unconstrain(m->sar, (size_t)m->o.P, x + i), i += (size_t)m->o.P;
    for (int k = 0; k < m->o.Q; k++) neg[k] = -m->sma[k];
    (void)unconstrain(neg, (size_t)m->o.Q, x + i);
    struct kf f;
    double nll = negll(&pb, x, NULL, &f);
    int rc = isfinite(nll) ? 0 : FF_EINVAL;
    memcpy(ext, y, n * sizeof *y);
    for (size_t j = 0; !rc && j < h; j++) {
        double wf = m->mean + f.a[0], an[MAXR];
        for (size_t r = 0; r < f.r; r++) an[r] = f.phi[r] * f.a[0] + (r + 1 < f.r ? f.a[r + 1] : 0);
        memcpy(f.a, an, f.r * sizeof *an);
        ext[n + j] = wf;
        for (size_t d = 0; d < nd; d++) ext[n + j] += delta[d] * ext[n + j - 1 - d];
        mean[j] = ext[n + j];
    }
    /* ψ-weights of the whole model (differencing included) */
    double arp[MAXR], map[MAXR];
    size_t np, nq;
    expand(m, arp, &np, map, &nq);
    double full[3 * MAXR + 8] = {0};
    double a[MAXR + 1] = {1}, b[2 * MAXR + 9] = {1};
    for (size_t k = 1; k <= np; k++) a[k] = -arp[k - 1];
    for (size_t k = 1; k <= nd; k++) b[k] = -delta[k - 1];
    for (size_t p = 0; p <= np; p++)
        for (size_t q = 0; q <= nd; q++) full[p + q] += a[p] * b[q];
    size_t nf = np + nd;
    double *psi = rc ? NULL : ff_malloc((h + 1) * sizeof *psi), acc = 0;
    if (!rc && !psi) rc = -ENOMEM;
    for (size_t j = 0; !rc && j < h; j++) {
        double v = j == 0 ? 1 : (j <= nq ? map[j - 1] : 0);
        for (size_t k = 1; k <= j && k <= nf; k++) v -= full[k] * psi[j - k];
        psi[j] = v;
        acc += v * v;
        se[j] = sqrt(m->sigma2 * acc);
    }
    ff_free(psi);
    ff_free(w);
    ff_free(ext);
    return rc;
}

int ff_arima_one_step(const struct ff_arima *m, const double *y, size_t n, double *pred, double *se)
{
    double delta[2 * MAXR + 8];
    size_t nd = differencing(&m->o, delta);
    if (n <= nd) return FF_EINVAL;
    double arp[MAXR], map[MAXR];
    size_t np, nq;
    expand(m, arp, &np, map, &nq);
    struct kf f;
    memset(&f, 0, sizeof f);
    f.r = np > nq + 1 ? np : nq + 1;
    for (size_t i = 0; i < np; i++) f.phi[i] = arp[i];
    f.theta[0] = 1;
    for (size_t i = 0; i < nq; i++) f.theta[i + 1] = map[i];
    int rc = stationary_cov(&f);
    for (size_t t = 0; t < nd; t++) pred[t] = NAN, se[t] = NAN; /* no prediction before the differencing has data */
    for (size_t t = nd; !rc && t < n; t++) {
        double w = y[t];
        for (size_t i = 0; i < nd; i++) w -= delta[i] * y[t - 1 - i];
        pred[t] = (y[t] - w) + m->mean + f.a[0]; /* what the differencing carries over, and the ARMA's */
        double v, F;
        if (kf_step(&f, w - m->mean, 0, &v, &F) < 0) rc = FF_EINVAL;
        else se[t] = sqrt(m->sigma2 * F);
    }
    return rc;
}

/* ---- the augmented Dickey-Fuller test ---- */

/* Least squares of y (n) on the k columns of X (n × k, row-major) by Householder QR: the
 * coefficients, the residual sum of squares, and ((X'X)^-1)_jj for column `which`. */
static int ols(const double *X, const double *y, size_t n, size_t k, double *beta, double *ssr, size_t which,
               double *xtx_inv)
{
    double *A = ff_malloc(n * k * sizeof *A), *b = ff_malloc(n * sizeof *b);
    if (!A || !b) {
        ff_free(A), ff_free(b);
        return -ENOMEM;
    }
    memcpy(A, X, n * k * sizeof *A);
    memcpy(b, y, n * sizeof *b);
    int rc = 0;
    for (size_t j = 0; j < k && !rc; j++) {
        double norm = 0;
        for (size_t i = j; i < n; i++) norm += A[i * k + j] * A[i * k + j];
        norm = sqrt(norm);
        if (norm == 0) {
            rc = FF_EINVAL;
            break;
        }
        double alpha = A[j * k + j] > 0 ? -norm : norm, v0 = A[j * k + j] - alpha;
        /* v = (v0, A[j+1.., j]); H = I - 2 v v' / v'v */
        double vv = v0 * v0;
        for (size_t i = j + 1; i < n; i++) vv += A[i * k + j] * A[i * k + j];
        for (size_t c = j + 1; c < k; c++) {
            double s = v0 * A[j * k + c];
            for (size_t i = j + 1; i < n; i++) s += A[i * k + j] * A[i * k + c];
            s = 2 * s / vv;
            A[j * k + c] -= s * v0;
            for (size_t i = j + 1; i < n; i++) A[i * k + c] -= s * A[i * k + j];
        }
        double s = v0 * b[j];
        for (size_t i = j + 1; i < n; i++) s += A[i * k + j] * b[i];
        s = 2 * s / vv;
        b[j] -= s * v0;
        for (size_t i = j + 1; i < n; i++) b[i] -= s * A[i * k + j];
        A[j * k + j] = alpha;
    }
    if (!rc) {
        for (size_t j = k; j-- > 0;) {
            double s = b[j];
            for (size_t c = j + 1; c < k; c++) s -= A[j * k + c] * beta[c];
            beta[j] = s / A[j * k + j];
        }
        *ssr = 0;
        for (size_t i = k; i < n; i++) *ssr += b[i] * b[i];
        /* (X'X)^-1 = R^-1 R^-T: its jj entry is the squared norm of row j of R^-1 */
        double *Ri = ff_calloc(k * k, sizeof *Ri);
        if (!Ri) rc = -ENOMEM;
        for (size_t c = 0; !rc && c < k; c++) { /* column c of R^-1: solve R z = e_c */
            for (size_t j = k; j-- > 0;) {
                double s = j == c ? 1 : 0;
                for (size_t q = j + 1; q < k; q++) s -= A[j * k + q] * Ri[q * k + c];
                Ri[j * k + c] = s / A[j * k + j];
            }
        }
        if (!rc) {
            double s = 0;
            for (size_t c = 0; c < k; c++) s += Ri[which * k + c] * Ri[which * k + c];
            *xtx_inv = s;
        }
        ff_free(Ri);
    }
    ff_free(A);
    ff_free(b);
    return rc;
}

/* The regression of the ADF test with `lags` lagged differences, over its last nobs rows:
 * columns [y_{t-1}, Δy_{t-1} … Δy_{t-lags}, 1]. */
static int adf_regress(const double *y, size_t n, size_t lags, size_t nobs, double *aic, double *tstat)
{
    size_t k = lags + 2;
    double *X = ff_malloc(nobs * k * sizeof *X), *dy = ff_malloc(nobs * sizeof *dy), beta[64], ssr, inv;
    if (!X || !dy) {
        ff_free(X), ff_free(dy);
        return -ENOMEM;
    }
    for (size_t r = 0; r < nobs; r++) {
        size_t t = n - nobs + r; /* Δy_t = y_t - y_{t-1}, t from 1 */
        dy[r] = y[t] - y[t - 1];
        X[r * k] = y[t - 1];
        for (size_t l = 1; l <= lags; l++) X[r * k + l] = y[t - l] - y[t - l - 1];
        X[r * k + k - 1] = 1;
    }
    int rc = ols(X, dy, nobs, k, beta, &ssr, 0, &inv);
    if (!rc) {
        double nn = (double)nobs;
        *aic = -2 * (-nn / 2 * (log(2 * M_PI) + log(ssr / nn) + 1)) + 2 * (double)k;
        *tstat = beta[0] / sqrt(ssr / (nn - (double)k) * inv);
    }
    ff_free(X);
    ff_free(dy);
    return rc;
}

/* MacKinnon (1994): the p-value of a Dickey-Fuller t-statistic, regression with a constant. */
static double mackinnon_p(double stat)
{
    if (stat > 2.74) return 1;
    if (stat < -18.83) return 0;
    double z = stat <= -1.61 ? 2.1659 + 1.4412 * stat + 0.038269 * stat * stat
                             : 1.7339 + 0.93202 * stat - 0.12745 * stat * stat - 0.010368 * stat * stat * stat;
    return 0.5 * erfc(-z / sqrt(2));
}

int ff_adf(const double *y, size_t n, struct ff_adf *out)
{
    memset(out, 0, sizeof *out);
    if (n < 8) return FF_EINVAL;
    size_t maxlag = (size_t)ceil(12 * pow((double)n / 100, 0.25));
    if (maxlag > n / 2 - 2) maxlag = n / 2 - 2;
    /* every lag on the same rows (those the longest leaves), the least AIC (ties: fewer lags) */
    size_t best = 0;
    double best_aic = INFINITY, t;
    for (size_t l = 0; l <= maxlag; l++) {
        double aic;
        int rc = adf_regress(y, n, l, n - 1 - maxlag, &aic, &t);
        if (rc == -ENOMEM) return rc;
        if (!rc && aic < best_aic) best_aic = aic, best = l;
    }
    if (!isfinite(best_aic)) return FF_EINVAL;
    out->lags = best;
    out->nobs = n - 1 - best;
    double aic;
    int rc = adf_regress(y, n, best, out->nobs, &aic, &out->stat);
    if (rc) return rc;
    if (!isfinite(out->stat)) return FF_EINVAL;
    out->pvalue = mackinnon_p(out->stat);
    /* MacKinnon (2010): b0 + b1/N + b2/N² + b3/N³ for 1%, 5%, 10% */
    static const double b[3][4] = {{-3.43035, -6.5393, -16.786, -79.433},
                                   {-2.86154, -2.8903, -4.234, -40.040},
                                   {-2.56677, -1.5384, -2.809, 0}};
    double x = 1 / (double)out->nobs;
    for (int i = 0; i < 3; i++) out->crit[i] = b[i][0] + x * (b[i][1] + x * (b[i][2] + x * b[i][3]));
    return 0;
}

/* ---- choosing the orders ---- */

#define MAX_CANDIDATES ((FF_ARIMA_MAX_ORDER + 1) * (FF_ARIMA_MAX_ORDER + 1) * 4)

struct fit_job {
    const double *y;
    size_t n;
    struct ff_arima_order order[MAX_CANDIDATES];
    size_t n_orders;
    struct ff_arima fit[MAX_CANDIDATES];
    int rc[MAX_CANDIDATES];
    char err[MAX_CANDIDATES][160];
};

static void fit_work(void *arg, size_t t, size_t nt)
{
    struct fit_job *j = arg;
    for (size_t i = t; i < j->n_orders; i += nt) /* interleaved: the larger models are spread */
        j->rc[i] = ff_arima_fit(j->y, j->n, &j->order[i], &j->fit[i], j->err[i], sizeof j->err[i]);
}

int ff_arima_select(const double *y, size_t n, const struct ff_arima_auto *a, struct ff_arima *best,
                    struct ff_arima *tried, size_t cap, size_t *ntried, char *err, size_t errlen)
{
    *ntried = 0;
    memset(best, 0, sizeof *best);
    int d = a->d;
    if (d < 0) { /* difference while ADF cannot reject a unit root at 5% */
        double *z = ff_malloc((n + 1) * sizeof *z);
        if (!z) return -ENOMEM;
        memcpy(z, y, n * sizeof *y);
        size_t m = n;
        for (d = 0; d < 2; d++) {
            struct ff_adf t;
            if (ff_adf(z, m, &t) || t.pvalue <= 0.05) break;
            for (size_t i = 0; i + 1 < m; i++) z[i] = z[i + 1] - z[i];
            m--;
        }
        ff_free(z);
    }
    int seasonal = a->s > 1;
    /* every candidate, fitted on all cores; the least AIC wins (ties: the earlier, simpler one) */
    struct fit_job job = {.y = y, .n = n};
    for (int P = 0; P <= (seasonal ? 1 : 0); P++)
        for (int Q = 0; Q <= (seasonal ? 1 : 0); Q++)
            for (int p = 0; p <= a->max_p; p++)
                for (int q = 0; q <= a->max_q && job.n_orders < MAX_CANDIDATES; q++)
                    job.order[job.n_orders++] = (struct ff_arima_order){p, d, q, P, seasonal ? a->D : 0, Q, seasonal ? a->s : 0};
    ff_par_run(ff_par_threads(job.n_orders, 1), fit_work, &job);
    int found = 0;
    for (size_t i = 0; i < job.n_orders; i++) {
        if (job.rc[i] == -ENOMEM) return -ENOMEM;
        if (job.rc[i]) continue;
        if (tried && *ntried < cap) tried[*ntried] = job.fit[i];
        ++*ntried;
        if (!found || job.fit[i].aic < best->aic) *best = job.fit[i], found = 1;
    }
    if (!found) {
        snprintf(err, errlen, "%s", job.n_orders ? job.err[0] : "no model could be fitted");
        return FF_EINVAL;
    }
    return 0;
}

/* ---- the model as JSON ---- */

static int num(struct ff_buf *o, double v) { return isfinite(v) ? ff_buf_printf(o, "%.17g", v) : ff_buf_append_str(o, "null"); }

int ff_arima_write_json(struct ff_buf *o, const struct ff_arima *m)
{
    int rc = ff_buf_printf(o, "\"order\":[%d,%d,%d],\"seasonal_order\":[%d,%d,%d,%d]", m->o.p, m->o.d, m->o.q, m->o.P,
                           m->o.D, m->o.Q, m->o.s);
    if (!rc && m->has_mean) rc = ff_buf_append_str(o, ",\"mean\":") || num(o, m->mean);
    const struct { const char *name; const double *v; int n; } parts[] = {
        {"ar", m->ar, m->o.p}, {"ma", m->ma, m->o.q}, {"sar", m->sar, m->o.P}, {"sma", m->sma, m->o.Q}};
    for (size_t i = 0; !rc && i < 4; i++) {
        rc = ff_buf_printf(o, ",\"%s\":[", parts[i].name);
        for (int j = 0; !rc && j < parts[i].n; j++) rc = (j ? ff_buf_putc(o, ',') : 0) || num(o, parts[i].v[j]);
        if (!rc) rc = ff_buf_putc(o, ']');
    }
    if (!rc) rc = ff_buf_append_str(o, ",\"sigma2\":") || num(o, m->sigma2);
    if (!rc) rc = ff_buf_append_str(o, ",\"llf\":") || num(o, m->llf);
    if (!rc) rc = ff_buf_append_str(o, ",\"aic\":") || num(o, m->aic);
    if (!rc) rc = ff_buf_append_str(o, ",\"bic\":") || num(o, m->bic);
    if (!rc) rc = ff_buf_printf(o, ",\"nobs\":%zu,\"iterations\":%zu,\"converged\":%s", m->nobs, m->iterations,
                                m->converged ? "true" : "false");
    return rc;
}
