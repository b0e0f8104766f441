/* scale.c - see scale.h. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/scale.h"
#include "core/alloc.h"
#include "core/errors.h"

void ff_scale(double *x, size_t n, size_t d, int how, double *shift, double *scale)
{
    for (size_t j = 0; j < d; j++) {
        double a = 0, b = 1;
        if (how == FF_SCALE_ZSCORE && n) {
            double m = 0, v = 0;
            for (size_t i = 0; i < n; i++) m += x[i * d + j];
            m /= (double)n;
            for (size_t i = 0; i < n; i++) v += (x[i * d + j] - m) * (x[i * d + j] - m);
            a = m, b = sqrt(v / (double)n);
        } else if (how == FF_SCALE_MINMAX && n) {
            double lo = INFINITY, hi = -INFINITY;
            for (size_t i = 0; i < n; i++) {
                if (x[i * d + j] < lo) lo = x[i * d + j];
                if (x[i * d + j] > hi) hi = x[i * d + j];
            }
            a = lo, b = hi - lo;
        }
        if (!(b > 0)) b = 1;
        if (how != FF_SCALE_NONE)
            for (size_t i = 0; i < n; i++) x[i * d + j] = (x[i * d + j] - a) / b;
        if (shift) shift[j] = how == FF_SCALE_NONE ? 0 : a;
        if (scale) scale[j] = how == FF_SCALE_NONE ? 1 : b;
    }
}

void ff_unscale(double *row, size_t d, const double *shift, const double *scale)
{
    for (size_t j = 0; j < d; j++) row[j] = row[j] * scale[j] + shift[j];
}

int ff_scaling_parse(const char *name, size_t len)
{
    static const char *const names[] = {"none", "zscore", "minmax"};
    for (int i = 0; i < 3; i++)
        if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0) return i;
    return -1;
}

int ff_fscore(const double *x, size_t n, size_t d, const uint32_t *labels, size_t nclasses, double *f)
{
    size_t *cnt = ff_calloc(nclasses, sizeof *cnt);
    double *sum = ff_calloc(nclasses, sizeof *sum);
    if (!cnt || !sum) {
        ff_free(cnt), ff_free(sum);
        return -ENOMEM;
    }
    size_t present = 0;
    for (size_t i = 0; i < n; i++) present += cnt[labels[i]]++ == 0;
    int rc = present >= 2 && n > present ? 0 : FF_EINVAL;
    for (size_t j = 0; !rc && j < d; j++) {
        double all = 0;
        memset(sum, 0, nclasses * sizeof *sum);
        for (size_t i = 0; i < n; i++) sum[labels[i]] += x[i * d + j], all += x[i * d + j];
        double mean = all / (double)n, between = 0, within = 0;
        for (size_t c = 0; c < nclasses; c++)
            if (cnt[c]) between += (double)cnt[c] * (sum[c] / (double)cnt[c] - mean) * (sum[c] / (double)cnt[c] - mean);
        for (size_t i = 0; i < n; i++) {
            double m = sum[labels[i]] / (double)cnt[labels[i]], t = x[i * d + j] - m;
            within += t * t;
        }
        double msb = between / (double)(present - 1), msw = within / (double)(n - present);
        f[j] = msw > 0 ? msb / msw : msb > 0 ? INFINITY : NAN;
    }
    ff_free(cnt);
    ff_free(sum);
    return rc;
}

void ff_best_k(const double *f, size_t d, size_t k, size_t *best)
{
    if (k > d) k = d;
    char *taken = ff_calloc(d ? d : 1, 1);
    for (size_t r = 0; r < k; r++) {
        size_t pick = SIZE_MAX;
        for (size_t j = 0; j < d; j++) {
            if (taken && taken[j]) continue;
            if (pick == SIZE_MAX || (isnan(f[pick]) && !isnan(f[j])) || (!isnan(f[j]) && f[j] > f[pick])) pick = j;
        }
        best[r] = pick;
        if (taken) taken[pick] = 1;
    }
    ff_free(taken);
}
