/* matrix_csv.h - a numeric matrix from CSV text (the input of `footfall analysis kmeans` and
 * `dbscan`, so that the same matrix can go to scikit-learn): one row per line, values
 * separated by commas, an optional header line (a first line that is not all numbers), blank
 * lines and a final newline ignored, "\r\n" accepted. */
#ifndef FF_MATRIX_CSV_H
#define FF_MATRIX_CSV_H

#include <stddef.h>

/* On success 0 and *x (n × d, ff_free it), *n, *d. On bad input FF_EINVAL and err names the
 * line and column (1-based) and what is wrong; -ENOMEM. At most 64 columns. */
int ff_matrix_parse_csv(const char *buf, size_t len, double **x, size_t *n, size_t *d, char *err, size_t errlen);

#endif
