/* test_analysis.c - the analysis kernels' edge cases (analysis/): what scikit-learn is not
 * asked about in tests/integration/test_analysis.py. The k-d tree against brute force, k-means
 * on degenerate data (every row the same point, k = n, empty clusters), mini-batch updates
 * against their formula, the elbow of a known curve, scaling and F-scores of constant
 * columns, DBSCAN's border rows and the CSV reader's errors. */
#include <math.h>

#include "testutil.h"

#include "analysis/dbscan.h"
#include "analysis/kdtree.h"
#include "analysis/kmeans.h"
#include "analysis/matrix_csv.h"
#include "analysis/parallel.h"
#include "analysis/scale.h"
#include "core/alloc.h"
#include "core/errors.h"

static double *random_rows(size_t n, size_t d, uint64_t seed)
{
    struct ff_rng r;
    ff_rng_seed(&r, seed);
    double *x = ff_malloc(n * d * sizeof *x);
    for (size_t i = 0; i < n * d; i++) x[i] = ff_rng_double(&r) * 10 - 5;
    return x;
}

static void test_kdtree_against_brute_force(void **state)
{
    (void)state;
    size_t n = 3000, d = 5;
    double *x = random_rows(n, d, 1);
    for (size_t i = 0; i < 200; i++) memcpy(x + (n - 1 - i) * d, x + i * d, d * sizeof *x); /* duplicates */
    struct ff_kdtree t;
    assert_int_equal(ff_kdtree_build(&t, x, n, d), 0);
    double *dist = ff_malloc(n * sizeof *dist);
    for (size_t q = 0; q < n; q += 97) {
        for (size_t i = 0; i < n; i++) {
            double s = 0;
            for (size_t j = 0; j < d; j++) s += (x[q * d + j] - x[i * d + j]) * (x[q * d + j] - x[i * d + j]);
            dist[i] = sqrt(s);
        }
        double r = 2.5;
        size_t within = 0;
        for (size_t i = 0; i < n; i++) within += dist[i] <= r;
        assert_int_equal(ff_kdtree_count(&t, x + q * d, r, 0), within);
        for (size_t k = 1; k <= 40; k += 13) { /* the k-th smallest distance */
            size_t below = 0, at_most = 0;
            double got = ff_kdtree_kth(&t, x + q * d, k);
            for (size_t i = 0; i < n; i++) below += dist[i] < got - 1e-12, at_most += dist[i] <= got + 1e-12;
            assert_true(below < k && at_most >= k);
        }
    }
    ff_free(dist);
    ff_kdtree_free(&t);
    ff_free(x);
}

static void test_kmeans_on_degenerate_data(void **state)
{
    (void)state;
    size_t n = 50, d = 3;
    double *x = ff_calloc(n * d, sizeof *x);
    for (size_t i = 0; i < n * d; i++) x[i] = 7;
    struct ff_kmeans m;
    struct ff_kmeans_opts o = {.k = 3, .n_init = 2};
    assert_int_equal(ff_kmeans_fit(x, n, d, &o, &m), 0); /* every row the same point */
    assert_true(m.inertia == 0);
    size_t total = 0;
    for (size_t c = 0; c < 3; c++) total += m.sizes[c];
    assert_int_equal(total, n);
    ff_kmeans_free(&m);
    ff_free(x);
    /* k = n: every row its own cluster, inertia 0 */
    x = random_rows(8, 2, 4);
    o.k = 8;
    assert_int_equal(ff_kmeans_fit(x, 8, 2, &o, &m), 0);
    assert_true(m.inertia < 1e-20);
    for (size_t c = 0; c < 8; c++) assert_int_equal(m.sizes[c], 1);
    ff_kmeans_free(&m);
    o.k = 9;
    assert_int_equal(ff_kmeans_fit(x, 8, 2, &o, &m), FF_EINVAL);
    o.k = 0;
    assert_int_equal(ff_kmeans_fit(x, 8, 2, &o, &m), FF_EINVAL);
    ff_free(x);
}

static void test_kmeans_separates_far_groups(void **state)
{
    (void)state;
    size_t n = 20000, d = 4;
    double *x = random_rows(n, d, 9);
    for (size_t i = 0; i < n; i++) x[i * d] += (double)(i % 4) * 1000; /* four far groups */
    struct ff_kmeans m;
    struct ff_kmeans_opts o = {.k = 4, .seed = 3};
    assert_int_equal(ff_kmeans_fit(x, n, d, &o, &m), 0);
    for (size_t i = 4; i < n; i++) assert_int_equal(m.labels[i], m.labels[i % 4]);
    for (size_t c = 0; c < 4; c++) assert_int_equal(m.sizes[c], n / 4);
    double sil = ff_silhouette(x, n, d, m.labels, 4, 2000, 1);
    assert_true(sil > 0.99);
    ff_kmeans_free(&m);
    ff_free(x);
}

static void test_minibatch_moves_centres_by_weight(void **state)
{
    (void)state;
    double centers[] = {0, 0, 10, 10}, weight[] = {3, 1};
    struct ff_minibatch mb;
    assert_int_equal(ff_minibatch_init(&mb, centers, weight, 2, 2), 0);
    double rows[] = {1, 1, 2, 0, 9, 11}; /* two near centre 0, one near centre 1 */
    uint32_t labels[3];
    assert_int_equal(ff_minibatch_update(&mb, rows, 3, labels), 0);
    assert_int_equal(labels[0], 0), assert_int_equal(labels[1], 0), assert_int_equal(labels[2], 1);
    /* centre 0: (0*3 + 1 + 2) / 5, (0*3 + 1 + 0) / 5; centre 1: (10 + 9) / 2, (10 + 11) / 2 */
    assert_true(fabs(mb.centers[0] - 0.6) < 1e-12 && fabs(mb.centers[1] - 0.2) < 1e-12);
    assert_true(fabs(mb.centers[2] - 9.5) < 1e-12 && fabs(mb.centers[3] - 10.5) < 1e-12);
    assert_true(mb.weight[0] == 5 && mb.weight[1] == 2);
    ff_minibatch_free(&mb);
}

static void test_elbow_of_a_known_curve(void **state)
{
    (void)state;
    double curve[] = {1000, 400, 120, 100, 90, 85, 82}; /* bends at the third point */
    assert_int_equal(ff_elbow(curve, 2, 7), 4);
    double flat[] = {5, 5, 5};
    assert_int_equal(ff_elbow(flat, 1, 3), 1);
}

static void test_scaling_and_f_scores_of_constant_columns(void **state)
{
    (void)state;
    double x[] = {1, 5, 2, 5, 3, 5, 4, 5}; /* column 1 constant */
    double shift[2], scale[2];
    ff_scale(x, 4, 2, FF_SCALE_ZSCORE, shift, scale);
    assert_true(fabs(shift[0] - 2.5) < 1e-12 && fabs(scale[0] - sqrt(1.25)) < 1e-12);
    assert_true(shift[1] == 5 && scale[1] == 1 && x[1] == 0 && x[7] == 0); /* only shifted */
    ff_unscale(x, 2, shift, scale);
    assert_true(fabs(x[0] - 1) < 1e-12 && x[1] == 5);
    uint32_t labels[] = {0, 0, 1, 1};
    double y[] = {1, 5, 2, 1, 5, 4, 3, 5, 6, 3, 5, 5}, f[3]; /* col 0 by class, col 1 constant, col 2 varies */
    assert_int_equal(ff_fscore(y, 4, 3, labels, 2, f), 0);
    assert_true(isinf(f[0]) && isnan(f[1]));
    size_t best[2];
    ff_best_k(f, 3, 2, best);
    assert_int_equal(best[0], 0);
    assert_int_equal(best[1], 2);
    uint32_t one[] = {1, 1, 1, 1};
    assert_int_equal(ff_fscore(y, 4, 3, one, 2, f), FF_EINVAL);
}

static void test_dbscan_border_rows_go_to_the_first_cluster(void **state)
{
    (void)state;
    /* two groups, {2.8 … 3.8} listed first and {0 … 1.0}, and 1.9 between them: within
     * eps of a core row of each (2.8 and 1.0) but not a core row itself (3 rows near it, 4
     * needed), so it goes to the cluster grown first, the one of row 0 */
    double x[] = {2.8, 3.2, 3.5, 3.8, 1.9, 0, 0.3, 0.6, 1.0, 10};
    struct ff_dbscan m;
    assert_int_equal(ff_dbscan_fit(x, 10, 1, 1.0, 4, &m), 0);
    assert_int_equal(m.clusters, 2);
    assert_int_equal(m.labels[0], 0);
    assert_int_equal(m.labels[4], 0);
    for (size_t i = 5; i < 9; i++) assert_int_equal(m.labels[i], 1);
    assert_int_equal(m.labels[9], -1);
    assert_int_equal(m.noise, 1);
    assert_int_equal(m.core, 8);
    ff_dbscan_free(&m);
    assert_int_equal(ff_dbscan_fit(x, 10, 1, 0, 3, &m), FF_EINVAL);
}

static void test_csv_errors(void **state)
{
    (void)state;
    double *x;
    size_t n, d;
    char err[200];
    const char ok[] = "a,b\r\n1, 2\n\n3e1,-4\n";
    assert_int_equal(ff_matrix_parse_csv(ok, sizeof ok - 1, &x, &n, &d, err, sizeof err), 0);
    assert_int_equal(n, 2), assert_int_equal(d, 2);
    assert_true(x[0] == 1 && x[1] == 2 && x[2] == 30 && x[3] == -4);
    ff_free(x);
    const char *bad[] = {"1,2\n3,nan\n", "1,2\n3\n", "", "a,b\n", "1,inf\n", "1,,2\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = 0;
        assert_int_equal(ff_matrix_parse_csv(bad[i], strlen(bad[i]), &x, &n, &d, err, sizeof err), FF_EINVAL);
        assert_true(err[0] != 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kdtree_against_brute_force),
        cmocka_unit_test(test_kmeans_on_degenerate_data),
        cmocka_unit_test(test_kmeans_separates_far_groups),
        cmocka_unit_test(test_minibatch_moves_centres_by_weight),
        cmocka_unit_test(test_elbow_of_a_known_curve),
        cmocka_unit_test(test_scaling_and_f_scores_of_constant_columns),
        cmocka_unit_test(test_dbscan_border_rows_go_to_the_first_cluster),
        cmocka_unit_test(test_csv_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
