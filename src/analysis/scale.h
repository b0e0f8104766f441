/* scale.h - preparing a feature matrix (n × d doubles, row after row) for clustering, as
 * scikit-learn's preprocessing does:
 *
 *   z-score   (x - mean) / standard deviation (population, ddof 0), as StandardScaler
 *   min-max   (x - min) / (max - min), as MinMaxScaler
 *
 * a column that does not vary is only shifted (its scale is 1). And feature selection by
 * the ANOVA F-score of each column against class labels (f_classif, SelectKBest). */
#ifndef FF_SCALE_H
#define FF_SCALE_H

#include <stddef.h>
#include <stdint.h>

enum ff_scaling { FF_SCALE_NONE, FF_SCALE_ZSCORE, FF_SCALE_MINMAX };

/* Scales x in place; shift[j] and scale[j] (d each) receive what was applied, so that
 * original = scaled * scale + shift. */
void ff_scale(double *x, size_t n, size_t d, int how, double *shift, double *scale);
/* Turns a scaled row back into the columns' own units. */
void ff_unscale(double *row, size_t d, const double *shift, const double *scale);
/* The name of a scaling ("none", "zscore", "minmax"), or -1 for a name that is none. */
int ff_scaling_parse(const char *name, size_t len);

/* The F-score of each of the d columns against labels (n values, each < nclasses): the
 * between-class variance over the within-class variance. A column constant within every
 * class but varying between them scores INFINITY; one constant everywhere NAN. 0, FF_EINVAL
 * (fewer than 2 classes present, or no more rows than classes) or -ENOMEM. */
int ff_fscore(const double *x, size_t n, size_t d, const uint32_t *labels, size_t nclasses, double *f);
/* The k best columns by F-score, best first (NAN last), into best[k]. */
void ff_best_k(const double *f, size_t d, size_t k, size_t *best);

#endif
