/* analysis_cmds.c - `footfall analysis`: features and segments of a data directory's store
 * (as POST /api/analysis/WHAT), and the clustering algorithms on a matrix given as CSV, so
 * their results can be set beside scikit-learn's on the same numbers:
 *
 *   footfall analysis kmeans --input FILE --k K [--n-init N] [--max-iter N] [--seed N] [--sample N]
 *   footfall analysis dbscan --input FILE --eps E --min-pts M
 *   footfall analysis kdist  --input FILE --min-pts M [--sample N] [--seed N]
 *
 *   footfall analysis itemsets --input FILE --min-support S [--max-size N] [--algorithm
 *            fpgrowth|apriori] [--min-confidence C]
 *
 * each printing one JSON object: labels (one per row, in order), and what the method gives;
 * itemsets reads one transaction per line (items separated by commas) and prints the frequent
 * itemsets and the rules. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/arima.h"
#include "analysis/dbscan.h"
#include "analysis/itemsets.h"
#include "analysis/tx_text.h"
#include "analysis/kmeans.h"
#include "analysis/matrix_csv.h"
#include "cli/cli.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/errors.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/timeutil.h"

static int usage(void)
{
    fprintf(stderr, "footfall analysis: usage:\n"
                    "  footfall analysis features|segments|rules|recommend|forecast --data DIR [--project ID] '<json>'\n"
                    "  footfall analysis kmeans --input FILE.csv --k K [--n-init N] [--max-iter N] [--seed N]\n"
                    "                           [--sample N]   (rows the silhouette is measured on: 5000)\n"
                    "  footfall analysis dbscan --input FILE.csv --eps E --min-pts M\n"
                    "  footfall analysis kdist --input FILE.csv --min-pts M [--sample N] [--seed N]\n"
                    "  footfall analysis itemsets --input FILE --min-support S [--max-size N]\n"
                    "                             [--algorithm fpgrowth|apriori] [--min-confidence C]\n"
                    "  footfall analysis arima --input FILE [--order p,d,q] [--seasonal P,D,Q,s] [--horizon H]\n"
                    "                          [--max-p N] [--max-q N]\n"
                    "  footfall analysis adf --input FILE\n");
    return 2;
}

/* The file (- for stdin) into b: 0, or -1 with a message (b freed). */
static int read_file(const char *path, struct ff_buf *b)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    int rc = f ? 0 : -errno;
    char chunk[1 << 16];
    size_t n;
    while (f && !rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0) rc = ff_buf_append(b, chunk, n);
    if (f && !rc && ferror(f)) rc = -EIO;
    if (f && f != stdin) fclose(f);
    if (!rc) return 0;
    fprintf(stderr, "footfall analysis: cannot read %s: %s\n", path, strerror(-rc));
    ff_buf_free(b);
    return -1;
}

static int write_double(struct ff_buf *o, double v)
{
    if (!isfinite(v)) return ff_buf_append_str(o, "null");
    return ff_buf_printf(o, "%.17g", v);
}

static int parse_share(const char *opt, const char *v, double lo, double *out)
{
    char *end;
    *out = strtod(v, &end);
    if (*end || !(*out >= lo && *out <= 1)) {
        fprintf(stderr, "footfall analysis: %s is a number from %g to 1, not '%s'\n", opt, lo, v);
        return -1;
    }
    return 0;
}

static int write_names(struct ff_buf *o, char **names, const uint32_t *items, uint32_t n)
{
    int rc = ff_buf_putc(o, '[');
    for (uint32_t i = 0; !rc && i < n; i++) {
        if (i) rc = ff_buf_putc(o, ',');
        if (!rc) rc = ff_json_write_str(o, names[items[i]], strlen(names[items[i]]));
    }
    return rc ? rc : ff_buf_putc(o, ']');
}

/* footfall analysis itemsets: frequent itemsets and rules of the transactions in a file */
static int cmd_itemsets(int argc, char **argv)
{
    const char *input = NULL;
    double min_support = 0, min_conf = 0.5;
    uint64_t max_size = 3;
    int apriori = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return usage();
        i++;
        if (!strcmp(a, "--input")) input = v;
        else if (!strcmp(a, "--min-support")) { if (parse_share(a, v, 1e-12, &min_support)) return 2; }
        else if (!strcmp(a, "--min-confidence")) { if (parse_share(a, v, 0, &min_conf)) return 2; }
        else if (!strcmp(a, "--max-size")) { if (ff_cli_size(a, v, &max_size)) return 2; }
        else if (!strcmp(a, "--algorithm") && (!strcmp(v, "apriori") || !strcmp(v, "fpgrowth"))) apriori = v[0] == 'a';
        else return usage();
    }
    if (!input || !(min_support > 0) || max_size < 1 || max_size > FF_ITEMSET_MAX) return usage();
    struct ff_buf in, text, out;
    ff_buf_init(&in, SIZE_MAX / 4);
    ff_buf_init(&text, SIZE_MAX / 4);
    ff_buf_init(&out, SIZE_MAX / 4);
    int rc = read_file(input, &in);
    if (rc) {
        ff_buf_free(&text);
        ff_buf_free(&out);
        return 1;
    }
    struct ff_txset t;
    char **names, err[256];
    rc = ff_tx_text_parse(in.data ? in.data : "", in.len, &t, &names, &text, err, sizeof err);
    ff_buf_free(&in);
    if (rc) {
        fprintf(stderr, "footfall analysis: %s: %s\n", input, rc == -ENOMEM ? "out of memory" : err);
        ff_buf_free(&text);
        return rc == -ENOMEM ? 1 : 2;
    }
    uint64_t min_count = (uint64_t)ceil(min_support * (double)t.ntx - 1e-9);
    struct ff_itemsets sets;
    struct ff_rules rules = {0};
    uint64_t t0 = ff_mono_ns();
    rc = apriori ? ff_apriori(&t, min_count, max_size, &sets) : ff_fpgrowth(&t, min_count, max_size, &sets);
    if (!rc) rc = ff_rules_from(&sets, t.ntx, min_conf, 0, &rules);
    double secs = (double)(ff_mono_ns() - t0) / 1e9;
    if (!rc)
        rc = ff_buf_printf(&out, "{\"transactions\":%zu,\"items\":%zu,\"min_count\":%llu,\"fit_seconds\":%.6f,\"itemsets\":[",
                           t.ntx, t.nitems, (unsigned long long)(min_count ? min_count : 1), secs);
    for (size_t i = 0; !rc && i < sets.n; i++) {
        rc = ff_buf_append_str(&out, i ? ",{\"items\":" : "{\"items\":");
        if (!rc) rc = write_names(&out, names, sets.pool + sets.v[i].at, sets.v[i].n);
        if (!rc) rc = ff_buf_printf(&out, ",\"count\":%llu}", (unsigned long long)sets.v[i].count);
    }
    if (!rc) rc = ff_buf_append_str(&out, "],\"rules\":[");
    for (size_t r = 0; !rc && r < rules.n; r++) {
        const struct ff_rule *x = &rules.v[r];
        rc = ff_buf_append_str(&out, r ? ",{\"if\":" : "{\"if\":");
        if (!rc) rc = write_names(&out, names, rules.pool + x->ante, x->nante);
        if (!rc) rc = ff_buf_append_str(&out, ",\"then\":");
        if (!rc) rc = write_names(&out, names, rules.pool + x->cons, x->ncons);
        if (!rc) rc = ff_buf_printf(&out, ",\"count\":%llu,\"confidence\":", (unsigned long long)x->count);
        if (!rc) rc = write_double(&out, x->confidence);
        if (!rc) rc = ff_buf_append_str(&out, ",\"lift\":");
        if (!rc) rc = write_double(&out, x->lift);
        if (!rc) rc = ff_buf_append_str(&out, ",\"conviction\":");
        if (!rc) rc = write_double(&out, x->conviction);
        if (!rc) rc = ff_buf_putc(&out, '}');
    }
    if (!rc) rc = ff_buf_append_str(&out, "]}\n");
    if (!rc) fwrite(out.data, 1, out.len, stdout);
    else fprintf(stderr, "footfall analysis: out of memory\n");
    ff_rules_free(&rules);
    ff_itemsets_free(&sets);
    ff_tx_text_free(&t, names, &text);
    ff_buf_free(&out);
    return rc ? 1 : 0;
}

/* "p,d,q" or "P,D,Q,s" into v[0..n): 0 or -1 */
static int parse_ints(const char *s, int *v, int n)
{
    for (int i = 0; i < n; i++) {
        char *end;
        long x = strtol(s, &end, 10);
        if (end == s || x < 0 || x > 1000 || (i + 1 < n ? *end != ',' : *end != '\0')) return -1;
        v[i] = (int)x;
        s = end + 1;
    }
    return 0;
}

/* footfall analysis arima|adf: a series (one number per line, or the first column of a CSV) */
static int cmd_arima(int adf, int argc, char **argv)
{
    const char *input = NULL;
    int order[3] = {-1, -1, -1}, sorder[4] = {0, 0, 0, 0}, have_order = 0;
    uint64_t horizon = 10, max_p = 3, max_q = 3;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return usage();
        i++;
        int rc = 0;
        if (!strcmp(a, "--input")) input = v;
        else if (!strcmp(a, "--order")) rc = parse_ints(v, order, 3), have_order = 1;
        else if (!strcmp(a, "--seasonal")) rc = parse_ints(v, sorder, 4);
        else if (!strcmp(a, "--horizon")) rc = ff_cli_size(a, v, &horizon) || horizon > 100000 ? -1 : 0;
        else if (!strcmp(a, "--max-p")) rc = ff_cli_size(a, v, &max_p) || max_p > FF_ARIMA_MAX_ORDER ? -1 : 0;
        else if (!strcmp(a, "--max-q")) rc = ff_cli_size(a, v, &max_q) || max_q > FF_ARIMA_MAX_ORDER ? -1 : 0;
        else return usage();
        if (rc) {
            fprintf(stderr, "footfall analysis: bad %s '%s'\n", a, v);
            return 2;
        }
    }
    if (!input) return usage();
    struct ff_buf in, out;
    ff_buf_init(&in, SIZE_MAX / 4);
    ff_buf_init(&out, SIZE_MAX / 4);
    if (read_file(input, &in)) {
        ff_buf_free(&out);
        return 1;
    }
    double *x = NULL;
    size_t n, d;
    char err[256];
    int rc = ff_matrix_parse_csv(in.data ? in.data : "", in.len, &x, &n, &d, err, sizeof err);
    ff_buf_free(&in);
    if (rc) {
        fprintf(stderr, "footfall analysis: %s: %s\n", input, rc == -ENOMEM ? "out of memory" : err);
        ff_buf_free(&out);
        return rc == -ENOMEM ? 1 : 2;
    }
    for (size_t i = 0; i < n; i++) x[i] = x[i * d]; /* the first column */
    if (adf) {
        struct ff_adf t;
        rc = ff_adf(x, n, &t);
        if (rc) snprintf(err, sizeof err, "the series is too short or constant");
        if (!rc) {
            rc = ff_buf_append_str(&out, "{\"stat\":") || write_double(&out, t.stat);
            if (!rc) rc = ff_buf_append_str(&out, ",\"pvalue\":") || write_double(&out, t.pvalue);
            if (!rc) rc = ff_buf_printf(&out, ",\"lags\":%zu,\"nobs\":%zu,\"crit\":{\"1%%\":", t.lags, t.nobs);
            if (!rc) rc = write_double(&out, t.crit[0]) || ff_buf_append_str(&out, ",\"5%\":") || write_double(&out, t.crit[1]);
            if (!rc) rc = ff_buf_append_str(&out, ",\"10%\":") || write_double(&out, t.crit[2]) || ff_buf_append_str(&out, "}}\n");
        }
    } else {
        struct ff_arima m;
        uint64_t t0 = ff_mono_ns();
        if (have_order) {
            struct ff_arima_order o = {order[0], order[1], order[2], sorder[0], sorder[1], sorder[2], sorder[3]};
            rc = ff_arima_fit(x, n, &o, &m, err, sizeof err);
        } else {
            struct ff_arima_auto a = {.d = -1, .max_p = (int)max_p, .max_q = (int)max_q, .s = sorder[3], .D = sorder[1]};
            size_t tried;
            rc = ff_arima_select(x, n, &a, &m, NULL, 0, &tried, err, sizeof err);
        }
        double *mean = rc ? NULL : ff_malloc((horizon + 1) * sizeof *mean), *se = rc ? NULL : ff_malloc((horizon + 1) * sizeof *se);
        if (!rc && (!mean || !se)) rc = -ENOMEM;
        if (!rc) rc = ff_arima_forecast(&m, x, n, horizon, mean, se);
        double secs = (double)(ff_mono_ns() - t0) / 1e9;
        if (!rc) rc = ff_buf_printf(&out, "{\"fit_seconds\":%.6f,\"model\":{", secs) || ff_arima_write_json(&out, &m) ||
                      ff_buf_putc(&out, '}');
        if (!rc) rc = ff_buf_append_str(&out, ",\"forecast\":[");
        for (size_t h = 0; !rc && h < horizon; h++) {
            rc = (h ? ff_buf_putc(&out, ',') : 0) || ff_buf_append_str(&out, "{\"mean\":") || write_double(&out, mean[h]);
            if (!rc) rc = ff_buf_append_str(&out, ",\"se\":") || write_double(&out, se[h]) || ff_buf_putc(&out, '}');
        }
        if (!rc) rc = ff_buf_append_str(&out, "]}\n");
        ff_free(mean);
        ff_free(se);
    }
    ff_free(x);
    if (!rc) fwrite(out.data, 1, out.len, stdout);
    else fprintf(stderr, "footfall analysis: %s\n", rc == -ENOMEM ? "out of memory" : err);
    ff_buf_free(&out);
    return rc == FF_EINVAL ? 2 : rc ? 1 : 0;
}

int ff_cmd_analysis(int argc, char **argv)
{
    if (argc < 1) return usage();
    const char *what = argv[0];
    if (!strcmp(what, "features") || !strcmp(what, "segments") || !strcmp(what, "rules") || !strcmp(what, "recommend") ||
        !strcmp(what, "forecast"))
        return ff_cmd_analysis_store(what, argc - 1, argv + 1);
    if (!strcmp(what, "itemsets")) return cmd_itemsets(argc - 1, argv + 1);
    if (!strcmp(what, "arima") || !strcmp(what, "adf")) return cmd_arima(what[1] == 'd', argc - 1, argv + 1);
    int km = !strcmp(what, "kmeans"), db = !strcmp(what, "dbscan"), kd = !strcmp(what, "kdist");
    if (!km && !db && !kd) return usage();
    const char *input = NULL;
    uint64_t k = 0, n_init = 10, max_iter = 300, seed = 0, min_pts = 0, sample = 0;
    double eps = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return usage();
        i++;
        int rc = 0;
        if (!strcmp(a, "--input")) input = v;
        else if (!strcmp(a, "--k")) rc = ff_cli_size(a, v, &k);
        else if (!strcmp(a, "--n-init")) rc = ff_cli_size(a, v, &n_init);
        else if (!strcmp(a, "--max-iter")) rc = ff_cli_size(a, v, &max_iter);
        else if (!strcmp(a, "--seed")) rc = ff_cli_size(a, v, &seed);
        else if (!strcmp(a, "--min-pts")) rc = ff_cli_size(a, v, &min_pts);
        else if (!strcmp(a, "--sample")) rc = ff_cli_size(a, v, &sample);
        else if (!strcmp(a, "--eps")) {
            char *end;
            eps = strtod(v, &end);
            if (*end || !(eps > 0)) {
                fprintf(stderr, "footfall analysis: --eps is a distance more than 0, not '%s'\n", v);
                return 2;
            }
        } else return usage();
        if (rc) return 2;
    }
    if (!input || (km && !k) || (db && (!(eps > 0) || !min_pts)) || (kd && !min_pts)) return usage();
    struct ff_buf in, out;
    ff_buf_init(&in, SIZE_MAX / 4);
    ff_buf_init(&out, SIZE_MAX / 4);
    int rc = read_file(input, &in);
    if (rc) {
        ff_buf_free(&out);
        return 1;
    }
    double *x = NULL;
    size_t n, d;
    char err[256];
    rc = ff_matrix_parse_csv(in.data ? in.data : "", in.len, &x, &n, &d, err, sizeof err);
    ff_buf_free(&in);
    if (rc) {
        fprintf(stderr, "footfall analysis: %s: %s\n", input, rc == -ENOMEM ? "out of memory" : err);
        return rc == -ENOMEM ? 1 : 2;
    }
    if (km) {
        struct ff_kmeans m;
        struct ff_kmeans_opts o = {.k = k, .n_init = n_init, .max_iter = max_iter, .seed = seed};
        uint64_t t0 = ff_mono_ns();
        rc = ff_kmeans_fit(x, n, d, &o, &m);
        double secs = (double)(ff_mono_ns() - t0) / 1e9;
        if (rc) {
            fprintf(stderr, "footfall analysis: k-means: %s\n", rc == -ENOMEM ? "out of memory" : "k must be 1 to the rows");
        } else {
            rc = ff_buf_printf(&out, "{\"k\":%zu,\"rows\":%zu,\"columns\":%zu,\"fit_seconds\":%.6f,\"iterations\":%zu,"
                               "\"inertia\":", m.k, n, d, secs, m.iterations);
            if (!rc) rc = write_double(&out, m.inertia);
            /* on at most --sample rows (0: all, 5000 at most) */
            double sil = ff_silhouette(x, n, d, m.labels, m.k, sample ? sample : 5000, seed);
            if (!rc) rc = ff_buf_append_str(&out, ",\"silhouette\":");
            if (!rc) rc = write_double(&out, sil);
            if (!rc) rc = ff_buf_append_str(&out, ",\"centers\":[");
            for (size_t c = 0; !rc && c < m.k; c++) {
                rc = ff_buf_append_str(&out, c ? ",[" : "[");
                for (size_t j = 0; !rc && j < d; j++) rc = (j ? ff_buf_putc(&out, ',') : 0) || write_double(&out, m.centers[c * d + j]);
                if (!rc) rc = ff_buf_putc(&out, ']');
            }
            if (!rc) rc = ff_buf_append_str(&out, "],\"labels\":[");
            for (size_t i = 0; !rc && i < n; i++) rc = ff_buf_printf(&out, "%s%u", i ? "," : "", m.labels[i]);
            if (!rc) rc = ff_buf_append_str(&out, "]}\n");
            ff_kmeans_free(&m);
        }
    } else if (db) {
        struct ff_dbscan m;
        uint64_t t0 = ff_mono_ns();
        rc = ff_dbscan_fit(x, n, d, eps, min_pts, &m);
        double secs = (double)(ff_mono_ns() - t0) / 1e9;
        if (rc) {
            fprintf(stderr, "footfall analysis: DBSCAN: %s\n", rc == -ENOMEM ? "out of memory" : "bad eps or min-pts");
        } else {
            rc = ff_buf_printf(&out, "{\"rows\":%zu,\"columns\":%zu,\"fit_seconds\":%.6f,\"clusters\":%zu,\"noise\":%zu,"
                               "\"core\":%zu,\"labels\":[", n, d, secs, m.clusters, m.noise, m.core);
            for (size_t i = 0; !rc && i < n; i++) rc = ff_buf_printf(&out, "%s%d", i ? "," : "", m.labels[i]);
            if (!rc) rc = ff_buf_append_str(&out, "]}\n");
            ff_dbscan_free(&m);
        }
    } else {
        double *curve, hint;
        size_t nc;
        rc = ff_dbscan_kdist(x, n, d, min_pts, sample, seed, &curve, &nc, &hint);
        if (rc) {
            fprintf(stderr, "footfall analysis: k-distance: %s\n", rc == -ENOMEM ? "out of memory" : "min-pts must be 1 to the rows");
        } else {
            rc = ff_buf_append_str(&out, "{\"eps_hint\":");
            if (!rc) rc = write_double(&out, hint);
            if (!rc) rc = ff_buf_append_str(&out, ",\"curve\":[");
            for (size_t i = 0; !rc && i < nc; i++) rc = (i ? ff_buf_putc(&out, ',') : 0) || write_double(&out, curve[i]);
            if (!rc) rc = ff_buf_append_str(&out, "]}\n");
            ff_free(curve);
        }
    }
    ff_free(x);
    if (!rc) fwrite(out.data, 1, out.len, stdout);
    ff_buf_free(&out);
    return rc ? 1 : 0;
}
