/* arima.h - seasonal ARIMA(p,d,q)(P,D,Q,s) fitted by exact maximum likelihood, its forecasts
 * with intervals, and the augmented Dickey-Fuller test that decides d; the model and the
 * numbers of statsmodels' ARIMA and adfuller, so the two can be checked against each other:
 *
 *   (1 - φ(L))(1 - Φ(L^s)) (1 - L)^d (1 - L^s)^D y_t = (1 + θ(L))(1 + Θ(L^s)) ε_t   (+ a mean
 *   when d = D = 0: the ARMA part is y_t - μ)
 *
 *   likelihood  the Kalman filter of the differenced series' ARMA in state-space form, from
 *               its stationary distribution (exact Gaussian likelihood, as statsmodels' exact
 *               diffuse initialisation gives for the differenced data), σ² profiled out
 *   fitting     BFGS over parameters mapped so that every AR polynomial is stationary and
 *               every MA polynomial invertible (partial autocorrelations in (-1, 1))
 *   forecasts   the filter's last state run forward, the differencing undone; standard
 *               errors from the ψ-weights of the whole model, 80% and 95% intervals
 *   ADF         Δy_t = α + γ y_{t-1} + Σ β_i Δy_{t-i}, the lag chosen by AIC up to
 *               12 (n/100)^¼, the t-statistic of γ; p-value by MacKinnon (1994), critical
 *               values by MacKinnon (2010). */
#ifndef FF_ARIMA_H
#define FF_ARIMA_H

#include <stddef.h>
#include <stdint.h>

#define FF_ARIMA_MAX_ORDER 5    /* p, q */
#define FF_ARIMA_MAX_SORDER 2   /* P, Q */
#define FF_ARIMA_MAX_LAG 60     /* p + s·P and q + s·Q */

struct ff_arima_order {
    int p, d, q;
    int P, D, Q, s; /* s 0: not seasonal */
};

struct ff_arima {
    struct ff_arima_order o;
    int has_mean;
    double mean;
    double ar[FF_ARIMA_MAX_ORDER], ma[FF_ARIMA_MAX_ORDER];
    double sar[FF_ARIMA_MAX_SORDER], sma[FF_ARIMA_MAX_SORDER];
    double sigma2;
    double llf, aic, bic;
    size_t nobs;      /* observations the likelihood is of (after differencing) */
    size_t k;         /* estimated parameters, σ² included */
    size_t iterations;
    int converged;
};

/* 0, FF_EINVAL (orders out of range, or too few observations: err says), -ENOMEM. */
int ff_arima_fit(const double *y, size_t n, const struct ff_arima_order *o, struct ff_arima *m, char *err,
                 size_t errlen);
/* h forecasts after y (the series the model was fitted to) and their standard errors. */
int ff_arima_forecast(const struct ff_arima *m, const double *y, size_t n, size_t h, double *mean, double *se);

/* The one-step-ahead prediction of each y_t from the values before it, and its standard
 * error (NAN for the first d + s·D, which the differencing needs). For anomalies: a value
 * outside pred ± z·se. */
int ff_arima_one_step(const struct ff_arima *m, const double *y, size_t n, double *pred, double *se);

/* Chooses d by ADF (difference while the p-value is above 0.05, at most twice) unless
 * d >= 0 is given, then p and q (0 … max_p, 0 … max_q) and, with s, P and Q (0 … 1) by AIC,
 * D as given; the candidates are fitted on every core. tried (may be NULL) receives each
 * candidate fitted: their count in *ntried. */
struct ff_arima_auto {
    int d;          /* -1: by ADF */
    int max_p, max_q;
    int s, D;       /* s > 1: seasonal */
};
int ff_arima_select(const double *y, size_t n, const struct ff_arima_auto *a, struct ff_arima *best,
                    struct ff_arima *tried, size_t cap, size_t *ntried, char *err, size_t errlen);

struct ff_adf {
    double stat, pvalue;
    double crit[3];   /* 1%, 5%, 10% */
    size_t lags, nobs;
};
/* 0, or FF_EINVAL when the series is too short (fewer than 8 values) or constant. */
int ff_adf(const double *y, size_t n, struct ff_adf *out);

/* The model's members as JSON (no braces): order, seasonal_order, mean (when it has one), ar,
 * ma, sar, sma, sigma2, llf, aic, bic, nobs, iterations, converged. */
struct ff_buf;
int ff_arima_write_json(struct ff_buf *o, const struct ff_arima *m);

/* The standard normal quantiles the intervals use. */
#define FF_Z80 1.2815515655446004
#define FF_Z95 1.959963984540054
#define FF_Z99 2.5758293035489004

#endif
