/* kdtree.h - a k-d tree over the rows of a dense matrix (n × d doubles, not copied), for
 * the neighbour searches of DBSCAN: every row within a radius, the k nearest rows. Built by
 * splitting on the widest column at its median until leaves hold a few dozen rows; searches
 * skip a side of a split when the distance to it alone already exceeds what is wanted. */
#ifndef FF_KDTREE_H
#define FF_KDTREE_H

#include <stddef.h>
#include <stdint.h>

struct ff_kdtree {
    const double *x;
    size_t n, d;
    uint32_t *idx;          /* rows, reordered: each node owns a range */
    struct ff_kdnode *node; /* node 0 is the root */
    size_t nnodes;
};

int ff_kdtree_build(struct ff_kdtree *t, const double *x, size_t n, size_t d);
void ff_kdtree_free(struct ff_kdtree *t);

/* Calls fn(arg, row) for each row within distance r of q (distance <= r; q's own row
 * included when q is one), until fn returns non-zero. Returns how many rows were passed. */
size_t ff_kdtree_radius(const struct ff_kdtree *t, const double *q, double r, int (*fn)(void *arg, uint32_t row),
                        void *arg);
/* How many rows lie within distance r of q, counting no further than `stop` (0: all). */
size_t ff_kdtree_count(const struct ff_kdtree *t, const double *q, double r, size_t stop);
/* The distance from q to its k-th nearest row (q's own row counts when q is one). */
double ff_kdtree_kth(const struct ff_kdtree *t, const double *q, size_t k);

#endif
