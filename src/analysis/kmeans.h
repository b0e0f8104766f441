/* kmeans.h - k-means clustering of the rows of a dense matrix (n rows of d doubles, row
 * after row), as scikit-learn's KMeans does it, so the two can be checked against each other:
 *
 *   seeding   greedy k-means++: each new centre is the best of 2 + ln k candidates drawn
 *             with probability proportional to the squared distance to the nearest centre
 *   fitting   Lloyd's iterations until no row changes cluster or the centres move less than
 *             tol (relative to the mean variance of the columns), at most max_iter; a cluster
 *             left empty takes the row farthest from its centre
 *   restarts  n_init seedings, the lowest inertia (sum of squared distances) wins
 *
 * plus what choosing k needs (the silhouette of a labelling, the elbow of an inertia curve)
 * and mini-batch k-means, which moves fitted centres with new rows as they come. Every step
 * runs on all cores. Results depend only on the seed. */
#ifndef FF_KMEANS_H
#define FF_KMEANS_H

#include <stddef.h>
#include <stdint.h>

struct ff_kmeans_opts {
    size_t k;
    size_t n_init;   /* restarts (0: 10) */
    size_t max_iter; /* Lloyd iterations per restart (0: 300) */
    double tol;      /* (0: 1e-4) */
    uint64_t seed;
};

struct ff_kmeans {
    size_t k, d;
    double *centers;    /* k × d */
    uint32_t *labels;   /* n: each row's cluster */
    size_t *sizes;      /* k: rows per cluster */
    double inertia;
    size_t iterations;  /* of the restart that won */
};

/* Fits k clusters to x (n × d, n >= k >= 1). 0, FF_EINVAL (k out of range) or -ENOMEM. */
int ff_kmeans_fit(const double *x, size_t n, size_t d, const struct ff_kmeans_opts *o, struct ff_kmeans *out);
void ff_kmeans_free(struct ff_kmeans *m);

/* The nearest of k centres to row x, and the squared distance to it in *dist2. */
uint32_t ff_kmeans_nearest(const double *centers, size_t k, size_t d, const double *x, double *dist2);

/* The mean silhouette coefficient of a labelling (Euclidean distances), over at most
 * `sample` rows drawn with `seed` (0: all rows; O(n²)). Rows alone in their cluster count 0.
 * NAN when there are fewer than 2 clusters. */
double ff_silhouette(const double *x, size_t n, size_t d, const uint32_t *labels, size_t k, size_t sample,
                     uint64_t seed);

/* The elbow of an inertia curve: inertia[i] is k = kmin + i's; the k whose point lies
 * farthest below the straight line from the first point to the last. */
size_t ff_elbow(const double *inertia, size_t kmin, size_t count);

/* Mini-batch k-means (scikit-learn's MiniBatchKMeans update): centres that move toward each
 * batch's rows, each by the batch's weight against all the rows it has taken so far. */
struct ff_minibatch {
    size_t k, d;
    double *centers; /* k × d */
    double *weight;  /* k: rows each centre has taken */
};
/* Starts from fitted centres, each having taken weight[j] rows (NULL: 1 each). */
int ff_minibatch_init(struct ff_minibatch *mb, const double *centers, const double *weight, size_t k, size_t d);
/* Takes m rows: assigns each to its nearest centre (labels, when not NULL, receives them)
 * and moves the centres. 0 or -ENOMEM. */
int ff_minibatch_update(struct ff_minibatch *mb, const double *rows, size_t m, uint32_t *labels);
void ff_minibatch_free(struct ff_minibatch *mb);

#endif
