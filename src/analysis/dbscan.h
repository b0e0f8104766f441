/* dbscan.h - density-based clustering (DBSCAN) of the rows of a dense matrix, labelled as
 * scikit-learn's DBSCAN labels them, so that the two agree up to the clusters' numbering:
 *
 *   a row is a core row when at least min_pts rows (itself included) lie within eps of it
 *   (Euclidean, distance <= eps); clusters grow from core rows taken in row order, through
 *   every row within eps of a core row of theirs; a border row (not core, near a core row)
 *   belongs to the first cluster that reaches it; every other row is noise (-1).
 *
 * Neighbours come from a k-d tree (kdtree.h). The k-distance hint suggests eps for a
 * min_pts: each row's distance to its min_pts-th nearest row, sorted, and its knee. */
#ifndef FF_DBSCAN_H
#define FF_DBSCAN_H

#include <stddef.h>
#include <stdint.h>

struct ff_dbscan {
    int32_t *labels;  /* n: cluster 0, 1, … or -1 (noise) */
    size_t clusters;
    size_t noise;
    size_t core;      /* core rows */
};

/* 0, FF_EINVAL (eps not > 0, min_pts 0) or -ENOMEM. */
int ff_dbscan_fit(const double *x, size_t n, size_t d, double eps, size_t min_pts, struct ff_dbscan *out);
void ff_dbscan_free(struct ff_dbscan *m);

/* The k-distance curve of at most `sample` rows (0: all; drawn with seed), sorted from the
 * largest down, into *curve (ff_free it; *ncurve entries), and its knee: the eps it suggests. */
int ff_dbscan_kdist(const double *x, size_t n, size_t d, size_t min_pts, size_t sample, uint64_t seed, double **curve,
                    size_t *ncurve, double *eps_hint);

#endif
