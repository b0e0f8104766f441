/* analysis.c - see analysis.h: a request's options, the matrix they choose from the feature
 * table, and the answers of features and segments. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/analysis.h"
#include "analysis/arima.h"
#include "analysis/baskets.h"
#include "analysis/dbscan.h"
#include "analysis/features.h"
#include "analysis/itemsets.h"
#include "analysis/kmeans.h"
#include "analysis/scale.h"
#include "core/alloc.h"
#include "core/errors.h"
#include "core/json.h"
#include "core/strmap.h"
#include "core/timeutil.h"
#include "event/event.h"
#include "query/query_int.h"

#define MAX_COLUMNS 64
#define MAX_K 50
#define SILHOUETTE_SAMPLE 10000 /* rows the silhouette of each candidate k is measured on */
#define KDIST_SAMPLE 10000
#define KDIST_POINTS 100         /* points of the k-distance curve in the answer */

enum { W_FEATURES, W_SEGMENTS, W_RULES, W_RECOMMEND, W_FORECAST };
static const char *const whats[] = {"features", "segments", "rules", "recommend", "forecast"};

int ff_analysis_known(const char *what, size_t len)
{
    for (size_t i = 0; i < sizeof whats / sizeof *whats; i++)
        if (strlen(whats[i]) == len && memcmp(whats[i], what, len) == 0) return 1;
    return 0;
}

struct opts {
    int what;
    struct ff_features_opts f;
    char columns[MAX_COLUMNS][FF_QUERY_NAME_MAX];
    size_t ncolumns;
    int scale;                 /* enum ff_scaling */
    int select;                /* select given */
    char label[FF_QUERY_NAME_MAX];
    double threshold;
    size_t select_k;
    int format;                /* 0 csv, 1 ndjson, 2 json */
    int dbscan;
    size_t k, k_min, k_max, n_init, max_iter, min_pts, list;
    uint64_t seed;
    double eps;
    char save[FF_QUERY_NAME_MAX];
    int live;                  /* the saved k-means model is updated as events arrive */
    int by_elbow;              /* k from k_min … k_max chosen by the elbow, not the silhouette */
    char update[FF_QUERY_NAME_MAX]; /* update the saved segmentation NAME (mini-batch) */
    /* rules, recommend */
    int by;                    /* FF_BASKET_* */
    char items[FF_QUERY_NAME_MAX];
    double min_support, min_confidence;
    size_t max_size, limit;
    int apriori, sort, list_itemsets;
    char person[FF_QUERY_NAME_MAX];
    /* forecast */
    size_t horizon;
    int order[3], have_order;     /* p, d, q */
    int sorder[4], seasonal;      /* P, D, Q, s; seasonal: 0 none, 1 given, 2 chosen */
    int interval;                 /* the trends query's */
    int has_kind;                 /* the request names its kind (else it is trends) */
    int level;                    /* the interval anomalies are outside of: 80, 95 or 99 */
    size_t max_pq;
};

struct ctx {
    int what;
    const char *content_type;
    const struct ff_segment_saver *saver;
    const char *project;
    /* what a forecast's trends query is answered with */
    const struct ff_segment_source *segments;
    const char *tz;
    int64_t now_us;
    const char *json; /* the request as it came (kept with a saved model) */
    size_t len;
};

/* ---- options ---- */

struct op {
    const struct ff_json_doc *d;
    char *err;
    size_t errlen;
    const char **field;
};

static int bad(struct op *p, const char *field, const char *msg)
{
    snprintf(p->err, p->errlen, "%s", msg);
    *p->field = field;
    return FF_EINVAL;
}

/* A string member into out (size FF_QUERY_NAME_MAX): 1 found, 0 absent, FF_EINVAL. */
static int get_name(struct op *p, uint32_t obj, const char *key, char *out, const char *msg)
{
    uint32_t i = ff_json_get(p->d, obj, key);
    if (i == FF_JSON_NONE) return 0;
    const char *s;
    uint32_t n;
    if (!ff_json_str(p->d, i, &s, &n) || !n || n >= FF_QUERY_NAME_MAX) return bad(p, key, msg);
    memcpy(out, s, n);
    out[n] = '\0';
    return 1;
}

static int get_number(struct op *p, uint32_t obj, const char *key, double lo, double hi, double *out, const char *msg)
{
    uint32_t i = ff_json_get(p->d, obj, key);
    if (i == FF_JSON_NONE) return 0;
    const struct ff_json_node *n = &p->d->nodes[i];
    double v = n->type == FF_JSON_INT ? (double)n->v.i : n->type == FF_JSON_UINT ? (double)n->v.u
             : n->type == FF_JSON_DOUBLE ? n->v.d : NAN;
    if (!(v >= lo && v <= hi)) return bad(p, key, msg);
    *out = v;
    return 1;
}

static int get_whole(struct op *p, uint32_t obj, const char *key, size_t lo, size_t hi, size_t *out, const char *msg)
{
    double v;
    int rc = get_number(p, obj, key, (double)lo, (double)hi, &v, msg);
    if (rc == 1 && v != floor(v)) return bad(p, key, msg);
    if (rc == 1) *out = (size_t)v;
    return rc < 0 ? rc : 0;
}

static int get_names(struct op *p, const char *key, char (*out)[FF_QUERY_NAME_MAX], size_t max, size_t *n,
                     const char *msg)
{
    uint32_t a = ff_json_get(p->d, 0, key);
    if (a == FF_JSON_NONE) return 0;
    if (p->d->nodes[a].type != FF_JSON_ARRAY || !p->d->nodes[a].len || p->d->nodes[a].len > max) return bad(p, key, msg);
    for (uint32_t i = a + 1; i < p->d->nodes[a].end; i = p->d->nodes[i].end) {
        const char *s;
        uint32_t len;
        if (!ff_json_str(p->d, i, &s, &len) || !len || len >= FF_QUERY_NAME_MAX) return bad(p, key, msg);
        memcpy(out[*n], s, len);
        out[(*n)++][len] = '\0';
    }
    return 0;
}

static int parse_rule_opts(struct op *p, int what, struct opts *o)
{
    o->by = what == W_RECOMMEND ? FF_BASKET_PERSONS : FF_BASKET_SESSIONS;
    snprintf(o->items, sizeof o->items, "event");
    o->min_support = 0.01, o->min_confidence = what == W_RECOMMEND ? 0.1 : 0.5, o->max_size = 3;
    o->limit = what == W_RECOMMEND ? 10 : 100;
    char name[FF_QUERY_NAME_MAX];
    int rc = get_name(p, 0, "transactions", name, "transactions is sessions or persons");
    if (rc == 1) {
        o->by = !strcmp(name, "persons") ? FF_BASKET_PERSONS : !strcmp(name, "sessions") ? FF_BASKET_SESSIONS : -1;
        rc = o->by < 0 ? bad(p, "transactions", "transactions is sessions or persons") : 0;
    }
    if (rc >= 0) rc = get_name(p, 0, "items", o->items, "items is a field: event, page, or properties.KEY");
    if (rc >= 0 && get_number(p, 0, "min_support", 1e-9, 1, &o->min_support, "min_support is a share of the transactions, more than 0 and at most 1") < 0)
        rc = FF_EINVAL;
    if (rc >= 0 && get_number(p, 0, "min_confidence", 0, 1, &o->min_confidence, "min_confidence is from 0 to 1") < 0)
        rc = FF_EINVAL;
    if (rc >= 0) rc = get_whole(p, 0, "max_size", 1, FF_ITEMSET_MAX, &o->max_size, "max_size is a whole number from 1 to 10");
    if (rc >= 0) rc = get_whole(p, 0, "limit", 0, 100000, &o->limit, "limit is a whole number from 0 to 100000");
    if (rc >= 0 && (rc = get_name(p, 0, "algorithm", name, "algorithm is fpgrowth or apriori")) == 1) {
        o->apriori = !strcmp(name, "apriori");
        rc = !o->apriori && strcmp(name, "fpgrowth") ? bad(p, "algorithm", "algorithm is fpgrowth or apriori") : 0;
    }
    if (rc >= 0 && (rc = get_name(p, 0, "sort", name, "sort is lift, confidence, support or conviction")) == 1) {
        static const char *const sorts[] = {"lift", "confidence", "support", "conviction"};
        o->sort = -1;
        for (int i = 0; i < 4; i++)
            if (!strcmp(name, sorts[i])) o->sort = i;
        rc = o->sort < 0 ? bad(p, "sort", "sort is lift, confidence, support or conviction") : 0;
    }
    uint32_t li = rc < 0 ? FF_JSON_NONE : ff_json_get(p->d, 0, "itemsets");
    if (li != FF_JSON_NONE) {
        if (p->d->nodes[li].type != FF_JSON_TRUE && p->d->nodes[li].type != FF_JSON_FALSE)
            rc = bad(p, "itemsets", "itemsets is true (list the frequent itemsets too) or false");
        o->list_itemsets = p->d->nodes[li].type == FF_JSON_TRUE;
    }
    if (rc >= 0 && what == W_RECOMMEND && get_name(p, 0, "person", o->person, "person is a user id, anonymous id or person id") != 1)
        rc = bad(p, "person", "person is a user id, anonymous id or person id");
    return rc < 0 ? rc : 0;
}

static int get_ints(struct op *p, const char *key, int *v, size_t n, const int *hi, const char *msg)
{
    uint32_t a = ff_json_get(p->d, 0, key);
    if (a == FF_JSON_NONE) return 0;
    if (p->d->nodes[a].type != FF_JSON_ARRAY || p->d->nodes[a].len != n) return bad(p, key, msg);
    size_t i = 0;
    for (uint32_t e = a + 1; e < p->d->nodes[a].end; e = p->d->nodes[e].end, i++) {
        const struct ff_json_node *x = &p->d->nodes[e];
        if ((x->type != FF_JSON_INT && x->type != FF_JSON_UINT) || x->v.i < 0 || x->v.i > hi[i]) return bad(p, key, msg);
        v[i] = (int)x->v.i;
    }
    return 1;
}

static int parse_forecast_opts(struct op *p, struct opts *o)
{
    static const char *const ivs[] = {"minute", "hour", "day", "week", "month"};
    char name[FF_QUERY_NAME_MAX];
    o->interval = FF_IV_DAY;
    o->has_kind = ff_json_get(p->d, 0, "kind") != FF_JSON_NONE;
    int rc = get_name(p, 0, "interval", name, "interval is minute, hour, day, week or month");
    if (rc == 1) {
        o->interval = -1;
        for (int i = 0; i < 5; i++)
            if (!strcmp(name, ivs[i])) o->interval = i;
        rc = o->interval < 0 ? bad(p, "interval", "interval is minute, hour, day, week or month") : 0;
    }
    o->horizon = o->interval == FF_IV_HOUR ? 24 : o->interval == FF_IV_DAY ? 14 : 12;
    o->max_pq = 2;
    if (rc >= 0) rc = get_whole(p, 0, "horizon", 1, 1000, &o->horizon, "horizon is a whole number of intervals from 1 to 1000");
    size_t level = 95;
    if (rc >= 0) rc = get_whole(p, 0, "level", 80, 99, &level, "level is 80, 95 or 99 (the interval anomalies leave)");
    if (rc >= 0 && level != 80 && level != 95 && level != 99) rc = bad(p, "level", "level is 80, 95 or 99 (the interval anomalies leave)");
    o->level = (int)level;
    static const int ohi[3] = {FF_ARIMA_MAX_ORDER, 2, FF_ARIMA_MAX_ORDER}, shi[4] = {FF_ARIMA_MAX_SORDER, 1, FF_ARIMA_MAX_SORDER, 60};
    if (rc >= 0 && (rc = get_ints(p, "order", o->order, 3, ohi, "order is [p, d, q]: p and q 0-5, d 0-2")) == 1) o->have_order = 1, rc = 0;
    /* seasonal: true (the interval's rhythm: 7 days, 24 hours, 12 months), false, or [P, D, Q, s] */
    uint32_t se = rc < 0 ? FF_JSON_NONE : ff_json_get(p->d, 0, "seasonal");
    o->seasonal = o->interval == FF_IV_DAY || o->interval == FF_IV_HOUR ? 2 : 0;
    if (se != FF_JSON_NONE) {
        int t = p->d->nodes[se].type;
        if (t == FF_JSON_TRUE || t == FF_JSON_FALSE) o->seasonal = t == FF_JSON_TRUE ? 2 : 0;
        else if (get_ints(p, "seasonal", o->sorder, 4, shi, "seasonal is true, false or [P, D, Q, s]: P and Q 0-2, D 0-1, s 2-60") == 1 &&
                 o->sorder[3] >= 2)
            o->seasonal = 1;
        else rc = bad(p, "seasonal", "seasonal is true, false or [P, D, Q, s]: P and Q 0-2, D 0-1, s 2-60");
    }
    if (o->seasonal == 2) o->sorder[3] = o->interval == FF_IV_DAY ? 7 : o->interval == FF_IV_HOUR ? 24 : 12;
    return rc < 0 ? rc : 0;
}

static int parse_opts(struct op *p, int what, struct opts *o)
{
    memset(o, 0, sizeof *o);
    o->what = what;
    o->scale = what == W_SEGMENTS ? FF_SCALE_ZSCORE : FF_SCALE_NONE;
    o->k_min = 2, o->k_max = 8, o->n_init = 10, o->max_iter = 300, o->list = 20;
    int rc = get_name(p, 0, "revenue", o->f.revenue, "revenue is a field name, such as properties.revenue");
    if (rc >= 0)
        rc = get_names(p, "events", o->f.events, FF_FEATURES_MAX_EVENTS, &o->f.nevents,
                       "events is a list of 1 to 32 event names to count");
    if (rc >= 0) rc = get_whole(p, 0, "top_events", 0, FF_FEATURES_MAX_EVENTS, &o->f.top_events, "top_events is 0 to 32");
    if (rc >= 0)
        rc = get_names(p, "columns", o->columns, MAX_COLUMNS, &o->ncolumns,
                       "columns is a list of 1 to 64 feature names (see the features answer's header)");
    char name[FF_QUERY_NAME_MAX];
    if (rc >= 0 && (rc = get_name(p, 0, "scale", name, "scale is none, zscore or minmax")) == 1) {
        o->scale = ff_scaling_parse(name, strlen(name));
        rc = o->scale < 0 ? bad(p, "scale", "scale is none, zscore or minmax") : 0;
    }
    uint32_t sel = rc < 0 ? FF_JSON_NONE : ff_json_get(p->d, 0, "select");
    if (sel != FF_JSON_NONE) {
        static const char msg[] = "select is {\"label\": a feature column, \"threshold\": a number (0), \"k\": columns kept}";
        o->select = 1, o->select_k = 5;
        if (p->d->nodes[sel].type != FF_JSON_OBJECT || get_name(p, sel, "label", o->label, msg) != 1) rc = bad(p, "select", msg);
        if (rc >= 0 && get_number(p, sel, "threshold", -1e300, 1e300, &o->threshold, msg) < 0) rc = FF_EINVAL;
        if (rc >= 0 && get_whole(p, sel, "k", 1, MAX_COLUMNS, &o->select_k, msg) < 0) rc = FF_EINVAL;
        if (rc < 0) *p->field = "select";
    }
    if (rc >= 0 && (rc = get_name(p, 0, "format", name, "format is csv, ndjson or json")) == 1) {
        o->format = strcmp(name, "csv") == 0 ? 0 : strcmp(name, "ndjson") == 0 ? 1 : strcmp(name, "json") == 0 ? 2 : -1;
        rc = o->format < 0 ? bad(p, "format", "format is csv, ndjson or json") : 0;
    }
    if (rc >= 0 && (rc = get_name(p, 0, "method", name, "method is kmeans or dbscan")) == 1) {
        o->dbscan = strcmp(name, "dbscan") == 0;
        rc = !o->dbscan && strcmp(name, "kmeans") != 0 ? bad(p, "method", "method is kmeans or dbscan") : 0;
    }
    if (rc >= 0) rc = get_whole(p, 0, "k", 1, MAX_K, &o->k, "k is a whole number from 1 to 50");
    if (rc >= 0) rc = get_whole(p, 0, "k_min", 2, MAX_K, &o->k_min, "k_min is a whole number from 2 to 50");
    if (rc >= 0) rc = get_whole(p, 0, "k_max", 2, MAX_K, &o->k_max, "k_max is a whole number from 2 to 50");
    if (rc >= 0 && o->k_min > o->k_max) rc = bad(p, "k_min", "k_min must not be more than k_max");
    if (rc >= 0) rc = get_whole(p, 0, "n_init", 1, 100, &o->n_init, "n_init is a whole number from 1 to 100");
    if (rc >= 0) rc = get_whole(p, 0, "max_iter", 1, 10000, &o->max_iter, "max_iter is a whole number from 1 to 10000");
    size_t seed = 0;
    if (rc >= 0) rc = get_whole(p, 0, "seed", 0, (size_t)1 << 52, &seed, "seed is a whole number from 0 to 2^52");
    o->seed = seed;
    if (rc >= 0 && get_number(p, 0, "eps", 1e-300, 1e300, &o->eps, "eps is a distance more than 0 (in scaled units)") < 0)
        rc = FF_EINVAL;
    if (rc >= 0) rc = get_whole(p, 0, "min_pts", 1, 100000, &o->min_pts, "min_pts is a whole number from 1 to 100000");
    if (rc >= 0) rc = get_whole(p, 0, "persons", 0, 100000, &o->list, "persons (listed per segment) is 0 to 100000");
    if (rc >= 0 && get_name(p, 0, "save", o->save, "save is a name prefix of 1 to 60 of A-Z a-z 0-9 _ . -") == 1) {
        size_t n = strlen(o->save);
        int ok = n <= 60;
        for (size_t i = 0; i < n && ok; i++) {
            char c = o->save[i];
            ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
        }
        if (!ok) rc = bad(p, "save", "save is a name prefix of 1 to 60 of A-Z a-z 0-9 _ . -");
    }
    uint32_t lv = rc < 0 ? FF_JSON_NONE : ff_json_get(p->d, 0, "live");
    if (lv != FF_JSON_NONE) {
        if (p->d->nodes[lv].type != FF_JSON_TRUE && p->d->nodes[lv].type != FF_JSON_FALSE)
            rc = bad(p, "live", "live is true (the saved segments follow new events) or false");
        o->live = p->d->nodes[lv].type == FF_JSON_TRUE;
    }
    if (rc >= 0) rc = get_name(p, 0, "update", o->update, "update is the name a k-means segmentation was saved as");
    if (rc >= 0 && (rc = get_name(p, 0, "choose", name, "choose is silhouette or elbow")) == 1) {
        o->by_elbow = !strcmp(name, "elbow");
        rc = !o->by_elbow && strcmp(name, "silhouette") ? bad(p, "choose", "choose is silhouette or elbow") : 0;
    }
    if (rc >= 0 && (what == W_RULES || what == W_RECOMMEND)) rc = parse_rule_opts(p, what, o);
    if (rc >= 0 && what == W_FORECAST) rc = parse_forecast_opts(p, o);
    return rc < 0 ? rc : 0;
}

/* ---- the matrix ---- */

/* A table of the chosen columns (scaled), sharing the persons of the full table. */
struct view {
    struct ff_ftable t;    /* t.x, t.cols, t.d own; the rest borrowed */
    size_t src[MAX_COLUMNS]; /* the full table's column of each */
    double shift[MAX_COLUMNS], scale[MAX_COLUMNS];
    double fscore[MAX_COLUMNS]; /* when select: of the candidates, in src order of `cand` */
    size_t cand[MAX_COLUMNS * 2], ncand;
    int label_col;
};

static int is_default_segment_column(const char *name)
{
    return strncmp(name, "dow:", 4) != 0 && strncmp(name, "hour:", 5) != 0;
}

static int make_view(const struct ff_ftable *t, const struct opts *o, struct view *v, char *err, size_t errlen,
                     const char **field)
{
    memset(v, 0, sizeof *v);
    v->label_col = -1;
    size_t cand[FF_FEATURES_MAX_EVENTS + 64], nc = 0;
    if (o->ncolumns) {
        for (size_t i = 0; i < o->ncolumns; i++) {
            int c = ff_ftable_column(t, o->columns[i], strlen(o->columns[i]));
            if (c < 0) {
                snprintf(err, errlen, "columns: '%s' is not a feature (events, sessions, monetary, count:EVENT, "
                         "dow:mon, hour:09, ...)", o->columns[i]);
                *field = "columns";
                return FF_EINVAL;
            }
            cand[nc++] = (size_t)c;
        }
    } else {
        for (size_t c = 0; c < t->d && nc < sizeof cand / sizeof *cand; c++)
            if (o->what == W_FEATURES || is_default_segment_column(t->cols[c])) cand[nc++] = c;
    }
    if (o->select) {
        int lc = ff_ftable_column(t, o->label, strlen(o->label));
        if (lc < 0) {
            snprintf(err, errlen, "select: the label '%s' is not a feature column", o->label);
            *field = "select";
            return FF_EINVAL;
        }
        v->label_col = lc;
        size_t m = 0;
        for (size_t i = 0; i < nc; i++)
            if (cand[i] != (size_t)lc) cand[m++] = cand[i];
        nc = m;
        uint32_t *labels = ff_malloc((t->n ? t->n : 1) * sizeof *labels);
        double *x = ff_malloc((t->n * nc + 1) * sizeof *x);
        if (!labels || !x) {
            ff_free(labels), ff_free(x);
            return -ENOMEM;
        }
        for (size_t i = 0; i < t->n; i++) {
            labels[i] = t->x[i * t->d + (size_t)lc] > o->threshold;
            for (size_t j = 0; j < nc; j++) x[i * nc + j] = t->x[i * t->d + cand[j]];
        }
        int rc = ff_fscore(x, t->n, nc, labels, 2, v->fscore);
        ff_free(labels), ff_free(x);
        if (rc == FF_EINVAL) {
            snprintf(err, errlen, "select: every person is on one side of %s > %g: F-scores need both", o->label,
                     o->threshold);
            *field = "select";
            return rc;
        }
        if (rc) return rc;
        memcpy(v->cand, cand, nc * sizeof *cand);
        v->ncand = nc;
        size_t best[MAX_COLUMNS], k = o->select_k < nc ? o->select_k : nc;
        ff_best_k(v->fscore, nc, k, best);
        for (size_t i = 0; i < k; i++) v->src[i] = cand[best[i]];
        v->t.d = k;
    } else {
        if (nc > MAX_COLUMNS) nc = MAX_COLUMNS;
        memcpy(v->src, cand, nc * sizeof *cand);
        v->t.d = nc;
    }
    size_t n = t->n, d = v->t.d;
    v->t.n = n;
    v->t.person = t->person, v->t.device = t->device, v->t.channel = t->channel;
    v->t.cols = ff_malloc((d ? d : 1) * sizeof *v->t.cols);
    v->t.x = ff_malloc((n * d + 1) * sizeof *v->t.x);
    if (!v->t.cols || !v->t.x) return -ENOMEM;
    for (size_t j = 0; j < d; j++) v->t.cols[j] = t->cols[v->src[j]];
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) v->t.x[i * d + j] = t->x[i * t->d + v->src[j]];
    ff_scale(v->t.x, n, d, o->scale, v->shift, v->scale);
    return 0;
}

static void view_free(struct view *v)
{
    ff_free(v->t.cols);
    ff_free(v->t.x);
}

static int write_num(struct ff_buf *o, double v)
{
    return isfinite(v) ? ff_field_double_text(o, v) : ff_buf_append_str(o, "null");
}

static int write_names(struct ff_buf *o, char *const *names, const size_t *idx, size_t n)
{
    int rc = ff_buf_putc(o, '[');
    for (size_t i = 0; !rc && i < n; i++) {
        const char *nm = names[idx ? idx[i] : i];
        if (i) rc = ff_buf_putc(o, ',');
        if (!rc) rc = ff_json_write_str(o, nm, strlen(nm));
    }
    return rc ? rc : ff_buf_putc(o, ']');
}

static const char *const scale_names[] = {"none", "zscore", "minmax"};

/* ,"scale":…,"columns":[…] and, with select, the F-scores of the candidates */
static int write_matrix_info(struct ff_buf *o, const struct ff_ftable *t, const struct view *v, const struct opts *op)
{
    int rc = ff_buf_printf(o, ",\"persons\":%zu,\"scale\":\"%s\",\"columns\":", t->n, scale_names[op->scale]);
    if (!rc) rc = write_names(o, v->t.cols, NULL, v->t.d);
    if (!rc && op->select) {
        rc = ff_buf_append_str(o, ",\"select\":{\"label\":");
        if (!rc) rc = ff_json_write_str(o, op->label, strlen(op->label));
        if (!rc) rc = ff_buf_append_str(o, ",\"threshold\":");
        if (!rc) rc = write_num(o, op->threshold);
        if (!rc) rc = ff_buf_append_str(o, ",\"fscores\":{");
        for (size_t i = 0; !rc && i < v->ncand; i++) {
            if (i) rc = ff_buf_putc(o, ',');
            if (!rc) rc = ff_json_write_str(o, t->cols[v->cand[i]], strlen(t->cols[v->cand[i]]));
            if (!rc) rc = ff_buf_putc(o, ':');
            if (!rc) rc = write_num(o, v->fscore[i]);
        }
        if (!rc) rc = ff_buf_append_str(o, "}}");
    }
    return rc;
}

/* ---- features ---- */

static int answer_features(struct ctx *c, const struct ff_ftable *t, const struct view *v, const struct opts *o,
                           struct ff_buf *out)
{
    if (o->format == 0) {
        c->content_type = "text/csv; charset=utf-8";
        return ff_ftable_write_csv(&v->t, out);
    }
    if (o->format == 1) {
        c->content_type = "application/x-ndjson";
        return ff_ftable_write_ndjson(&v->t, out);
    }
    int rc = ff_buf_append_str(out, "{\"kind\":\"features\"");
    if (!rc) rc = write_matrix_info(out, t, v, o);
    if (!rc && o->scale != FF_SCALE_NONE) {
        rc = ff_buf_append_str(out, ",\"scaling\":{\"shift\":[");
        for (size_t j = 0; !rc && j < v->t.d; j++) rc = (j ? ff_buf_putc(out, ',') : 0) || write_num(out, v->shift[j]);
        if (!rc) rc = ff_buf_append_str(out, "],\"scale\":[");
        for (size_t j = 0; !rc && j < v->t.d; j++) rc = (j ? ff_buf_putc(out, ',') : 0) || write_num(out, v->scale[j]);
        if (!rc) rc = ff_buf_append_str(out, "]}");
    }
    if (!rc) rc = ff_buf_append_str(out, ",\"rows\":[");
    for (size_t i = 0; !rc && i < v->t.n; i++) {
        rc = ff_buf_append_str(out, i ? ",[" : "[");
        if (!rc) rc = ff_json_write_str(out, t->person[i].p, t->person[i].len);
        for (size_t j = 0; !rc && j < v->t.d; j++) rc = ff_buf_putc(out, ',') || write_num(out, v->t.x[i * v->t.d + j]);
        if (!rc) rc = ff_buf_putc(out, ']');
    }
    return rc ? rc : ff_buf_append_str(out, "]}");
}

/* ---- segments ---- */

/* Each segment's size, centroid in the features' own units (the mean of its persons'
 * unscaled rows), and first `list` persons; saved as NAME-s when asked. labels: -1 is noise. */
static int write_segments(struct ctx *c, const struct ff_ftable *t, const struct view *v, const struct opts *o,
                          const int32_t *labels, size_t k, struct ff_buf *out, char *err, size_t errlen)
{
    size_t d = v->t.d, n = t->n;
    double *sum = ff_calloc(k * d + 1, sizeof *sum);
    size_t *size = ff_calloc(k + 1, sizeof *size);
    int rc = sum && size ? 0 : -ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        if (labels[i] < 0) continue;
        size[labels[i]]++;
        for (size_t j = 0; j < d; j++) sum[(size_t)labels[i] * d + j] += t->x[i * t->d + v->src[j]];
    }
    if (!rc) rc = ff_buf_append_str(out, ",\"segments\":[");
    struct ff_buf def;
    ff_buf_init(&def, (size_t)1 << 26);
    for (size_t s = 0; !rc && s < k; s++) {
        rc = ff_buf_printf(out, "%s{\"segment\":%zu,\"size\":%zu,\"share\":%.4f,\"centroid\":{", s ? "," : "", s, size[s],
                           n ? (double)size[s] / (double)n : 0.0);
        for (size_t j = 0; !rc && j < d; j++) {
            rc = j ? ff_buf_putc(out, ',') : 0;
            if (!rc) rc = ff_json_write_str(out, v->t.cols[j], strlen(v->t.cols[j]));
            if (!rc) rc = ff_buf_putc(out, ':');
            if (!rc) rc = write_num(out, size[s] ? sum[s * d + j] / (double)size[s] : NAN);
        }
        if (!rc) rc = ff_buf_append_str(out, "},\"persons\":[");
        size_t listed = 0;
        for (size_t i = 0; !rc && i < n && listed < o->list; i++)
            if (labels[i] == (int32_t)s) {
                rc = listed++ ? ff_buf_putc(out, ',') : 0;
                if (!rc) rc = ff_json_write_str(out, t->person[i].p, t->person[i].len);
            }
        if (!rc) rc = ff_buf_append_str(out, "]");
        if (!rc && o->save[0]) {
            char name[FF_QUERY_NAME_MAX + 24]; /* save is at most 60 bytes */
            snprintf(name, sizeof name, "%s-%zu", o->save, s);
            if (!size[s]) {
                rc = ff_buf_append_str(out, ",\"saved\":null");
            } else if (size[s] > FF_SEGMENT_MAX_PERSONS) {
                snprintf(err, errlen, "save: segment %zu has %zu persons, more than a saved segment holds (%d)", s,
                         size[s], FF_SEGMENT_MAX_PERSONS);
                rc = FF_EINVAL;
            } else {
                ff_buf_reset(&def);
                rc = ff_buf_append_str(&def, "{\"persons\":[");
                size_t m = 0;
                for (size_t i = 0; !rc && i < n; i++)
                    if (labels[i] == (int32_t)s) {
                        rc = m++ ? ff_buf_putc(&def, ',') : 0;
                        if (!rc) rc = ff_json_write_str(&def, t->person[i].p, t->person[i].len);
                    }
                if (!rc) rc = ff_buf_append_str(&def, "]}");
                if (!rc && (!c->saver || !c->saver->save)) {
                    snprintf(err, errlen, "save: segments cannot be saved here");
                    rc = FF_EINVAL;
                }
                if (!rc && c->saver->save(c->saver->arg, c->project, name, def.data, def.len, err, errlen)) rc = -EIO;
                if (!rc) rc = ff_buf_printf(out, ",\"saved\":\"%s\"", name);
            }
        }
        if (!rc) rc = ff_buf_putc(out, '}');
    }
    ff_buf_free(&def);
    ff_free(sum);
    ff_free(size);
    return rc ? rc : ff_buf_putc(out, ']');
}

/* ---- k-means models: segments that follow new events ---- */

static int write_doubles(struct ff_buf *o, const double *v, size_t n)
{
    int rc = ff_buf_putc(o, '[');
    for (size_t i = 0; !rc && i < n; i++) rc = (i ? ff_buf_putc(o, ',') : 0) || ff_buf_printf(o, "%.17g", v[i]);
    return rc ? rc : ff_buf_putc(o, ']');
}

/* Keeps what updating the saved segments takes: the request, the columns and their scaling,
 * the centres (scaled) and the persons each has taken, and when. */
static int save_model(struct ctx *c, const struct view *v, const struct opts *o, const double *centers,
                      const size_t *sizes, size_t k, char *err, size_t errlen)
{
    if (!c->saver || !c->saver->save_model) return 0;
    struct ff_buf m;
    ff_buf_init(&m, (size_t)1 << 26);
    size_t d = v->t.d;
    int rc = ff_buf_append_str(&m, "{\"request\":");
    if (!rc) rc = ff_buf_append(&m, c->json, c->len);
    if (!rc) rc = ff_buf_append_str(&m, ",\"columns\":") || write_names(&m, v->t.cols, NULL, d);
    if (!rc) rc = ff_buf_append_str(&m, ",\"shift\":") || write_doubles(&m, v->shift, d);
    if (!rc) rc = ff_buf_append_str(&m, ",\"scale\":") || write_doubles(&m, v->scale, d);
    if (!rc) rc = ff_buf_append_str(&m, ",\"centers\":[");
    for (size_t j = 0; !rc && j < k; j++) rc = (j ? ff_buf_putc(&m, ',') : 0) || write_doubles(&m, centers + j * d, d);
    if (!rc) rc = ff_buf_append_str(&m, "],\"weight\":[");
    for (size_t j = 0; !rc && j < k; j++) rc = ff_buf_printf(&m, "%s%zu", j ? "," : "", sizes[j]);
    if (!rc) rc = ff_buf_printf(&m, "],\"updated\":%lld,\"live\":%s}", (long long)c->now_us, o->live ? "true" : "false");
    if (!rc && c->saver->save_model(c->saver->arg, c->project, o->save, m.data, m.len, err, errlen)) rc = -EIO;
    ff_buf_free(&m);
    return rc;
}

/* n numbers of array node `a` into v: 0, or -1 when it is not that. */
static int read_doubles(const struct ff_json_doc *d, uint32_t a, double *v, size_t n)
{
    if (a == FF_JSON_NONE || d->nodes[a].type != FF_JSON_ARRAY || d->nodes[a].len != n) return -1;
    size_t i = 0;
    for (uint32_t e = a + 1; e < d->nodes[a].end; e = d->nodes[e].end, i++) {
        const struct ff_json_node *x = &d->nodes[e];
        v[i] = x->type == FF_JSON_DOUBLE ? x->v.d : x->type == FF_JSON_INT ? (double)x->v.i : x->type == FF_JSON_UINT ? (double)x->v.u : NAN;
        if (!isfinite(v[i])) return -1;
    }
    return 0;
}

/* The persons of saved segments PREFIX-0 … PREFIX-(k-1) into `members` (person → 1 + its
 * segment); their ids are copied into `ids`, which is sized first so that it never moves
 * under the map's keys. */
static int load_members(struct ctx *c, const char *prefix, size_t k, struct ff_strmap *members, struct ff_buf *ids)
{
    struct ff_buf defs[MAX_K];
    size_t total = 0;
    int rc = 0;
    char nm[FF_QUERY_NAME_MAX + 24];
    for (size_t sg = 0; sg < k; sg++) {
        ff_buf_init(&defs[sg], (size_t)1 << 26);
        snprintf(nm, sizeof nm, "%s-%zu", prefix, sg);
        int g = rc || !c->segments || !c->segments->get ? -ENOENT : c->segments->get(c->segments->arg, c->project, nm, &defs[sg]);
        if (g && g != -ENOENT) rc = g; /* a segment left empty was never saved */
        total += defs[sg].len;
    }
    if (!rc && ff_buf_reserve(ids, total + 1)) rc = -ENOMEM;
    struct ff_json_parser *jp = ff_json_parser_new();
    struct ff_buf scratch;
    ff_buf_init(&scratch, (size_t)1 << 27);
    if (!jp) rc = -ENOMEM;
    for (size_t sg = 0; !rc && sg < k; sg++) {
        struct ff_json_doc doc;
        if (!defs[sg].len) continue;
        if (ff_json_parse_copy(jp, &scratch, defs[sg].data, defs[sg].len, &doc)) {
            rc = -EIO;
            break;
        }
        uint32_t ps = ff_json_get(&doc, 0, "persons");
        for (uint32_t e = ps + 1; !rc && ps != FF_JSON_NONE && e < doc.nodes[ps].end; e = doc.nodes[e].end) {
            const char *p;
            uint32_t n;
            if (!ff_json_str(&doc, e, &p, &n)) continue;
            size_t at = ids->len;
            int found;
            if ((rc = ff_buf_append(ids, p, n))) break;
            if (!ff_strmap_put(members, ids->data + at, n, (uint32_t)sg + 1, &found)) rc = -ENOMEM;
        }
    }
    ff_json_parser_free(jp);
    ff_buf_free(&scratch);
    for (size_t sg = 0; sg < k; sg++) ff_buf_free(&defs[sg]);
    return rc;
}

/* {"update": NAME}: the persons with events since the model was last updated get their rows
 * of the model's features (over its request's range, now), scaled as the model was; mini-
 * batch k-means moves the centres toward them and puts each in its nearest segment; the saved
 * segments NAME-0 … are rewritten with them, and the model with its new centres. */
static int answer_update(struct ctx *c, struct ff_store *s, const struct opts *o, struct ff_buf *out, char *err,
                         size_t errlen, const char **field)
{
    struct ff_buf mtext;
    ff_buf_init(&mtext, (size_t)1 << 26);
    int rc = c->saver && c->saver->get_model ? c->saver->get_model(c->saver->arg, c->project, o->update, &mtext) : -ENOENT;
    if (rc == -ENOENT) {
        snprintf(err, errlen, "update: no k-means segmentation is saved as '%s' (save one with \"save\")", o->update);
        *field = "update";
        ff_buf_free(&mtext);
        return FF_EINVAL;
    }
    struct ff_json_parser *jp = rc ? NULL : ff_json_parser_new(), *jp2 = NULL;
    struct ff_buf scratch, scratch2, rtext;
    ff_buf_init(&scratch, (size_t)1 << 26);
    ff_buf_init(&scratch2, (size_t)1 << 24);
    ff_buf_init(&rtext, (size_t)1 << 20);
    struct ff_json_doc doc, rdoc;
    if (!rc && (!jp || ff_json_parse_copy(jp, &scratch, mtext.data, mtext.len, &doc))) rc = -EIO;
    uint32_t cols = rc ? FF_JSON_NONE : ff_json_get(&doc, 0, "columns"), cen = rc ? FF_JSON_NONE : ff_json_get(&doc, 0, "centers");
    size_t d = cols == FF_JSON_NONE ? 0 : doc.nodes[cols].len, k = cen == FF_JSON_NONE ? 0 : doc.nodes[cen].len;
    if (!rc && (!d || d > MAX_COLUMNS || !k || k > MAX_K)) rc = -EIO;
    double shift[MAX_COLUMNS], scale[MAX_COLUMNS], weight[MAX_K], *centers = rc ? NULL : ff_malloc(k * d * sizeof *centers);
    if (!rc && !centers) rc = -ENOMEM;
    if (!rc && (read_doubles(&doc, ff_json_get(&doc, 0, "shift"), shift, d) ||
                read_doubles(&doc, ff_json_get(&doc, 0, "scale"), scale, d) ||
                read_doubles(&doc, ff_json_get(&doc, 0, "weight"), weight, k)))
        rc = -EIO;
    size_t j = 0;
    for (uint32_t e = cen + 1; !rc && e < doc.nodes[cen].end; e = doc.nodes[e].end, j++)
        if (read_doubles(&doc, e, centers + j * d, d)) rc = -EIO;
    uint32_t up = rc ? FF_JSON_NONE : ff_json_get(&doc, 0, "updated");
    int64_t updated = up == FF_JSON_NONE ? 0 : doc.nodes[up].v.i;
    int live = !rc && ff_json_get(&doc, 0, "live") != FF_JSON_NONE && doc.nodes[ff_json_get(&doc, 0, "live")].type == FF_JSON_TRUE;
    /* the model's own request: its range now, its features (the columns it was fitted on) */
    uint32_t req = rc ? FF_JSON_NONE : ff_json_get(&doc, 0, "request");
    if (!rc && (req == FF_JSON_NONE || ff_json_write_node(&rtext, &doc, req))) rc = -EIO;
    struct ff_query q;
    memset(&q, 0, sizeof q);
    const char *qfield;
    int have_q = 0;
    if (!rc) {
        rc = ff_query_parse_common(rtext.data, rtext.len, c->now_us, c->tz, &q, err, errlen, &qfield);
        have_q = !rc;
        if (!rc) snprintf(q.project, sizeof q.project, "%s", c->project);
    }
    struct opts mo;
    if (!rc && (!(jp2 = ff_json_parser_new()) || ff_json_parse_copy(jp2, &scratch2, rtext.data, rtext.len, &rdoc))) rc = -EIO;
    struct op p = {&rdoc, err, errlen, field};
    if (!rc) rc = parse_opts(&p, W_SEGMENTS, &mo);
    mo.f.nevents = 0;
    for (uint32_t e = cols + 1; !rc && e < doc.nodes[cols].end; e = doc.nodes[e].end) {
        const char *nm;
        uint32_t nl;
        if (ff_json_str(&doc, e, &nm, &nl) && nl > 6 && !memcmp(nm, "count:", 6) && mo.f.nevents < FF_FEATURES_MAX_EVENTS)
            snprintf(mo.f.events[mo.f.nevents++], FF_QUERY_NAME_MAX, "%.*s", (int)(nl - 6), nm + 6);
    }
    struct ff_ftable t;
    memset(&t, 0, sizeof t);
    if (!rc) rc = ff_features_build(s, &q, &mo.f, &t, err, errlen);
    size_t src[MAX_COLUMNS];
    j = 0;
    for (uint32_t e = cols + 1; !rc && e < doc.nodes[cols].end; e = doc.nodes[e].end, j++) {
        const char *nm;
        uint32_t nl;
        int ci = ff_json_str(&doc, e, &nm, &nl) ? ff_ftable_column(&t, nm, nl) : -1;
        if (ci < 0) rc = -EIO;
        else src[j] = (size_t)ci;
    }
    /* the persons active since the last update: their last event is no older than it */
    int64_t end = q.to_us < q.now_us ? q.to_us : q.now_us;
    size_t *act = rc ? NULL : ff_malloc((t.n + 1) * sizeof *act), m = 0;
    double *rows = rc ? NULL : ff_malloc((t.n * d + 1) * sizeof *rows);
    uint32_t *labels = rc ? NULL : ff_malloc((t.n + 1) * sizeof *labels);
    if (!rc && (!act || !rows || !labels)) rc = -ENOMEM;
    int c_events = ff_ftable_column(&t, "events", 6), c_recency = ff_ftable_column(&t, "recency_days", 12);
    for (size_t i = 0; !rc && i < t.n; i++) {
        double last = (double)end - t.x[i * t.d + (size_t)c_recency] * 86400e6;
        if (t.x[i * t.d + (size_t)c_events] <= 0 || last < (double)updated - 1000) continue;
        for (size_t jj = 0; jj < d; jj++) rows[m * d + jj] = (t.x[i * t.d + src[jj]] - shift[jj]) / scale[jj];
        act[m++] = i;
    }
    struct ff_minibatch mb = {0};
    if (!rc) rc = ff_minibatch_init(&mb, centers, weight, k, d);
    if (!rc && m) rc = ff_minibatch_update(&mb, rows, m, labels);
    /* the saved segments: everyone as they were, the active persons where they are now */
    struct ff_strmap members;
    ff_strmap_init(&members);
    struct ff_buf ids, def;
    ff_buf_init(&ids, (size_t)1 << 30);
    ff_buf_init(&def, (size_t)1 << 26);
    char nm[FF_QUERY_NAME_MAX + 24];
    if (!rc) rc = load_members(c, o->update, k, &members, &ids);
    size_t moved = 0;
    for (size_t i = 0; !rc && i < m; i++) {
        int found;
        struct ff_str id = t.person[act[i]];
        uint32_t *slot = ff_strmap_put(&members, id.p, id.len, labels[i] + 1, &found);
        if (!slot) rc = -ENOMEM;
        else if (found) {
            moved += *slot != labels[i] + 1;
            *slot = labels[i] + 1;
        }
    }
    size_t sizes[MAX_K] = {0};
    for (size_t sg = 0; !rc && sg < k; sg++) {
        ff_buf_reset(&def);
        rc = ff_buf_append_str(&def, "{\"persons\":[");
        size_t n = 0;
        for (size_t i = 0; !rc && i < members.cap; i++) {
            const struct ff_strmap_slot *sl = &members.slots[i];
            if (!sl->p || sl->value != sg + 1) continue;
            rc = (n++ ? ff_buf_putc(&def, ',') : 0) || ff_json_write_str(&def, sl->p, sl->len);
        }
        if (!rc) rc = ff_buf_append_str(&def, "]}");
        sizes[sg] = n;
        snprintf(nm, sizeof nm, "%s-%zu", o->update, sg);
        if (!rc && n && c->saver->save(c->saver->arg, c->project, nm, def.data, def.len, err, errlen)) rc = -EIO;
    }
    /* the model moves on */
    if (!rc) {
        struct ff_buf mdl;
        ff_buf_init(&mdl, (size_t)1 << 26);
        rc = ff_buf_append_str(&mdl, "{\"request\":") || ff_buf_append(&mdl, rtext.data, rtext.len);
        if (!rc) rc = ff_buf_append_str(&mdl, ",\"columns\":") || ff_json_write_node(&mdl, &doc, cols);
        if (!rc) rc = ff_buf_append_str(&mdl, ",\"shift\":") || write_doubles(&mdl, shift, d);
        if (!rc) rc = ff_buf_append_str(&mdl, ",\"scale\":") || write_doubles(&mdl, scale, d);
        if (!rc) rc = ff_buf_append_str(&mdl, ",\"centers\":[");
        for (j = 0; !rc && j < k; j++) rc = (j ? ff_buf_putc(&mdl, ',') : 0) || write_doubles(&mdl, mb.centers + j * d, d);
        if (!rc) rc = ff_buf_append_str(&mdl, "],\"weight\":") || write_doubles(&mdl, mb.weight, k);
        if (!rc) rc = ff_buf_printf(&mdl, ",\"updated\":%lld,\"live\":%s}", (long long)c->now_us, live ? "true" : "false");
        if (!rc && c->saver->save_model(c->saver->arg, c->project, o->update, mdl.data, mdl.len, err, errlen)) rc = -EIO;
        ff_buf_free(&mdl);
    }
    if (!rc) {
        char since[40];
        ff_time_format_iso(updated, since);
        rc = ff_buf_printf(out, "{\"kind\":\"segments\",\"method\":\"minibatch\",\"updated\":\"%s\",\"since\":\"%s\","
                                "\"active\":%zu,\"moved\":%zu,\"live\":%s,\"columns\":", o->update, since, m, moved,
                           live ? "true" : "false");
        if (!rc) rc = ff_json_write_node(out, &doc, cols);
        if (!rc) rc = ff_buf_append_str(out, ",\"segments\":[");
        for (size_t sg = 0; !rc && sg < k; sg++) {
            double ctr[MAX_COLUMNS];
            memcpy(ctr, mb.centers + sg * d, d * sizeof *ctr);
            ff_unscale(ctr, d, shift, scale);
            rc = ff_buf_printf(out, "%s{\"segment\":%zu,\"size\":%zu,\"weight\":", sg ? "," : "", sg, sizes[sg]);
            if (!rc) rc = write_num(out, mb.weight[sg]) || ff_buf_append_str(out, ",\"centroid\":{");
            j = 0;
            for (uint32_t e = cols + 1; !rc && e < doc.nodes[cols].end; e = doc.nodes[e].end, j++)
                rc = (j ? ff_buf_putc(out, ',') : 0) || ff_json_write_node(out, &doc, e) || ff_buf_putc(out, ':') || write_num(out, ctr[j]);
            if (!rc) rc = ff_buf_append_str(out, "}}");
        }
        if (!rc) rc = ff_buf_append_str(out, "]}");
    }
    if (rc == -EIO && !err[0]) snprintf(err, errlen, "update: the model saved as '%s' cannot be read or written", o->update);
    ff_minibatch_free(&mb);
    ff_strmap_free(&members);
    ff_buf_free(&ids);
    ff_buf_free(&def);
    ff_free(act);
    ff_free(rows);
    ff_free(labels);
    ff_free(centers);
    ff_ftable_free(&t);
    if (have_q) ff_query_free(&q);
    ff_json_parser_free(jp);
    ff_json_parser_free(jp2);
    ff_buf_free(&scratch);
    ff_buf_free(&scratch2);
    ff_buf_free(&rtext);
    ff_buf_free(&mtext);
    return rc;
}

static int answer_kmeans(struct ctx *c, const struct ff_ftable *t, const struct view *v, const struct opts *o,
                         struct ff_buf *out, char *err, size_t errlen, const char **field)
{
    size_t n = t->n, d = v->t.d;
    size_t kmin = o->k ? o->k : o->k_min, kmax = o->k ? o->k : o->k_max;
    if (kmax > n) kmax = n;
    if (kmin > kmax) {
        snprintf(err, errlen, "k: %zu persons are too few for %zu segments", n, kmin);
        *field = o->k ? "k" : "k_min";
        return FF_EINVAL;
    }
    size_t count = kmax - kmin + 1;
    struct ff_kmeans best = {0};
    double inertia[MAX_K], sil[MAX_K];
    size_t iters[MAX_K], chosen = 0;
    int rc = 0;
    for (size_t i = 0; !rc && i < count; i++) {
        struct ff_kmeans m;
        struct ff_kmeans_opts ko = {.k = kmin + i, .n_init = o->n_init, .max_iter = o->max_iter, .seed = o->seed};
        if ((rc = ff_kmeans_fit(v->t.x, n, d, &ko, &m))) break;
        inertia[i] = m.inertia, iters[i] = m.iterations;
        sil[i] = ff_silhouette(v->t.x, n, d, m.labels, m.k, SILHOUETTE_SAMPLE, o->seed);
        int better = !best.centers || (count > 1 && isfinite(sil[i]) && (!isfinite(sil[chosen]) || sil[i] > sil[chosen]));
        if (better) {
            ff_kmeans_free(&best);
            best = m, chosen = i;
        } else {
            ff_kmeans_free(&m);
        }
    }
    size_t elbow = ff_elbow(inertia, kmin, count);
    if (!rc && o->by_elbow && count > 1 && best.k != elbow) { /* the elbow's k, fitted again (same seed: same fit) */
        ff_kmeans_free(&best);
        chosen = elbow - kmin;
        struct ff_kmeans_opts ko = {.k = elbow, .n_init = o->n_init, .max_iter = o->max_iter, .seed = o->seed};
        rc = ff_kmeans_fit(v->t.x, n, d, &ko, &best);
    }
    if (rc) {
        ff_kmeans_free(&best);
        return rc;
    }
    rc = ff_buf_append_str(out, "{\"kind\":\"segments\",\"method\":\"kmeans\"");
    if (!rc) rc = write_matrix_info(out, t, v, o);
    if (!rc)
        rc = ff_buf_printf(out, ",\"k\":%zu,\"chosen_by\":\"%s\",\"elbow\":%zu,\"inertia\":", best.k,
                           count == 1 ? "given" : o->by_elbow ? "elbow" : "silhouette", elbow);
    if (!rc) rc = write_num(out, best.inertia);
    if (!rc) rc = ff_buf_printf(out, ",\"iterations\":%zu,\"silhouette\":", best.iterations);
    if (!rc) rc = write_num(out, sil[chosen]);
    if (!rc) rc = ff_buf_append_str(out, ",\"candidates\":[");
    for (size_t i = 0; !rc && i < count; i++) {
        rc = ff_buf_printf(out, "%s{\"k\":%zu,\"inertia\":", i ? "," : "", kmin + i);
        if (!rc) rc = write_num(out, inertia[i]);
        if (!rc) rc = ff_buf_printf(out, ",\"iterations\":%zu,\"silhouette\":", iters[i]);
        if (!rc) rc = write_num(out, sil[i]);
        if (!rc) rc = ff_buf_putc(out, '}');
    }
    if (!rc) rc = ff_buf_putc(out, ']');
    int32_t *labels = rc ? NULL : ff_malloc((n ? n : 1) * sizeof *labels);
    if (!rc && !labels) rc = -ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) labels[i] = (int32_t)best.labels[i];
    if (!rc) rc = write_segments(c, t, v, o, labels, best.k, out, err, errlen);
    if (!rc && o->save[0]) rc = save_model(c, v, o, best.centers, best.sizes, best.k, err, errlen);
    if (rc == FF_EINVAL) *field = "save";
    if (!rc) rc = ff_buf_putc(out, '}');
    ff_free(labels);
    ff_kmeans_free(&best);
    return rc;
}

static int answer_dbscan(struct ctx *c, const struct ff_ftable *t, const struct view *v, const struct opts *o,
                         struct ff_buf *out, char *err, size_t errlen, const char **field)
{
    size_t n = t->n, d = v->t.d, min_pts = o->min_pts ? o->min_pts : 2 * d;
    if (min_pts > n) {
        snprintf(err, errlen, "min_pts: %zu is more than the %zu persons", min_pts, n);
        *field = "min_pts";
        return FF_EINVAL;
    }
    double *curve = NULL, hint = NAN;
    size_t ncurve = 0;
    int rc = ff_dbscan_kdist(v->t.x, n, d, min_pts, KDIST_SAMPLE, o->seed, &curve, &ncurve, &hint);
    if (rc) return rc;
    double eps = o->eps > 0 ? o->eps : hint;
    struct ff_dbscan m = {0};
    if (!(eps > 0)) {
        snprintf(err, errlen, "eps: the k-distance hint is 0 (many persons share one point): give eps");
        *field = "eps";
        rc = FF_EINVAL;
    }
    if (!rc) rc = ff_dbscan_fit(v->t.x, n, d, eps, min_pts, &m);
    if (!rc) rc = ff_buf_append_str(out, "{\"kind\":\"segments\",\"method\":\"dbscan\"");
    if (!rc) rc = write_matrix_info(out, t, v, o);
    if (!rc) rc = ff_buf_append_str(out, ",\"eps\":");
    if (!rc) rc = write_num(out, eps);
    if (!rc) rc = ff_buf_printf(out, ",\"eps_from\":\"%s\",\"min_pts\":%zu,\"eps_hint\":", o->eps > 0 ? "given" : "hint", min_pts);
    if (!rc) rc = write_num(out, hint);
    if (!rc) rc = ff_buf_append_str(out, ",\"k_distance\":[");
    for (size_t i = 0; !rc && i < KDIST_POINTS && ncurve; i++) {
        size_t at = ncurve == 1 ? 0 : i * (ncurve - 1) / (KDIST_POINTS - 1);
        rc = (i ? ff_buf_putc(out, ',') : 0) || write_num(out, curve[at]);
    }
    if (!rc) rc = ff_buf_printf(out, "],\"clusters\":%zu,\"noise\":%zu,\"core\":%zu", m.clusters, m.noise, m.core);
    if (!rc) rc = write_segments(c, t, v, o, m.labels, m.clusters, out, err, errlen);
    if (rc == FF_EINVAL && !*field[0]) *field = "save";
    if (!rc) rc = ff_buf_append_str(out, ",\"noise_persons\":[");
    size_t listed = 0;
    for (size_t i = 0; !rc && i < n && listed < o->list; i++)
        if (m.labels[i] < 0) {
            rc = listed++ ? ff_buf_putc(out, ',') : 0;
            if (!rc) rc = ff_json_write_str(out, t->person[i].p, t->person[i].len);
        }
    if (!rc) rc = ff_buf_append_str(out, "]}");
    ff_free(curve);
    ff_dbscan_free(&m);
    return rc;
}

/* ---- association rules and recommendations ---- */

static int write_items(struct ff_buf *o, const struct ff_str *names, const uint32_t *items, uint32_t n)
{
    int rc = ff_buf_putc(o, '[');
    for (uint32_t i = 0; !rc && i < n; i++) {
        if (i) rc = ff_buf_putc(o, ',');
        if (!rc) rc = ff_json_write_str(o, names[items[i]].p, names[items[i]].len);
    }
    return rc ? rc : ff_buf_putc(o, ']');
}

static int write_rule(struct ff_buf *o, const struct ff_rules *r, const struct ff_rule *x, const struct ff_str *names)
{
    int rc = ff_buf_append_str(o, "{\"if\":");
    if (!rc) rc = write_items(o, names, r->pool + x->ante, x->nante);
    if (!rc) rc = ff_buf_append_str(o, ",\"then\":");
    if (!rc) rc = write_items(o, names, r->pool + x->cons, x->ncons);
    if (!rc) rc = ff_buf_printf(o, ",\"count\":%llu,\"support\":", (unsigned long long)x->count);
    if (!rc) rc = write_num(o, x->support);
    if (!rc) rc = ff_buf_append_str(o, ",\"confidence\":");
    if (!rc) rc = write_num(o, x->confidence);
    if (!rc) rc = ff_buf_append_str(o, ",\"lift\":");
    if (!rc) rc = write_num(o, x->lift);
    if (!rc) rc = ff_buf_append_str(o, ",\"conviction\":"); /* null: infinite (confidence 1) */
    if (!rc) rc = write_num(o, x->conviction);
    return rc ? rc : ff_buf_putc(o, '}');
}

/* The items one person has: a scan of the range for them alone (the query's segment
 * narrowed to the person, resolved as a segment's persons are). */
static int person_items(struct ff_store *s, const struct ff_query *q, const struct opts *o, const struct ff_field *item,
                        const struct ff_str *names, size_t nnames, uint8_t *has)
{
    struct ff_query pq = *q;
    struct ff_str who = {o->person, strlen(o->person)};
    memset(&pq.segment, 0, sizeof pq.segment);
    pq.segment.set = 1, pq.segment.persons = &who, pq.segment.npersons = 1, pq.segment.min_count = 1;
    pq.segment.from_us = q->from_us, pq.segment.to_us = q->to_us;
    struct ff_txset t;
    struct ff_qvalues vals;
    struct ff_str *pn;
    ff_qvalues_init(&vals);
    int rc = ff_baskets_build(s, &pq, FF_BASKET_PERSONS, item, &t, &vals, &pn);
    for (size_t i = 0; !rc && i < t.off[t.ntx]; i++) { /* its ids are its own: match by name */
        struct ff_str nm = pn[t.items[i]];
        size_t lo = 0, hi = nnames;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (ff_str_cmp(names[mid], nm) < 0) lo = mid + 1;
            else hi = mid;
        }
        if (lo < nnames && !ff_str_cmp(names[lo], nm)) has[lo] = 1;
    }
    if (!rc) ff_free(pn), ff_baskets_free(&t);
    ff_qvalues_free(&vals);
    return rc;
}

static int answer_rules(struct ff_store *s, const struct ff_query *q, const struct opts *o, struct ff_buf *out,
                        char *err, size_t errlen, const char **field)
{
    struct ff_field item;
    char ferr[256];
    if (ff_field_compile(o->items, strlen(o->items), &item, ferr, sizeof ferr)) {
        snprintf(err, errlen, "items: %s", ferr);
        *field = "items";
        return FF_EINVAL;
    }
    struct ff_txset t;
    struct ff_qvalues vals;
    struct ff_str *names = NULL;
    ff_qvalues_init(&vals);
    int rc = ff_baskets_build(s, q, o->by, &item, &t, &vals, &names);
    if (rc) {
        ff_qvalues_free(&vals);
        return rc;
    }
    uint64_t min_count = (uint64_t)ceil(o->min_support * (double)t.ntx - 1e-9);
    if (min_count < 1) min_count = 1;
    struct ff_itemsets sets;
    struct ff_rules rules = {0};
    rc = o->apriori ? ff_apriori(&t, min_count, o->max_size, &sets) : ff_fpgrowth(&t, min_count, o->max_size, &sets);
    if (!rc) rc = ff_rules_from(&sets, t.ntx, o->min_confidence, o->sort, &rules);
    static const char *const bys[] = {"sessions", "persons"};
    if (!rc && o->person[0]) {
        uint8_t *has = ff_calloc(t.nitems + 1, 1);
        size_t *best = ff_malloc((t.nitems + 1) * sizeof *best);
        rc = has && best ? person_items(s, q, o, &item, names, t.nitems, has) : -ENOMEM;
        /* each item the person lacks, by the best rule whose if-part they have all of */
        for (size_t i = 0; !rc && i < t.nitems; i++) best[i] = SIZE_MAX;
        for (size_t r = 0; !rc && r < rules.n; r++) {
            const struct ff_rule *x = &rules.v[r];
            int applies = 1;
            for (uint32_t k = 0; k < x->nante && applies; k++) applies = has[rules.pool[x->ante + k]];
            for (uint32_t k = 0; applies && k < x->ncons; k++) {
                uint32_t it = rules.pool[x->cons + k];
                if (has[it]) continue;
                const struct ff_rule *b = best[it] == SIZE_MAX ? NULL : &rules.v[best[it]];
                if (!b || x->confidence > b->confidence || (x->confidence == b->confidence && x->lift > b->lift)) best[it] = r;
            }
        }
        if (!rc) rc = ff_buf_append_str(out, "{\"kind\":\"recommend\",\"person\":");
        if (!rc) rc = ff_json_write_str(out, o->person, strlen(o->person));
        if (!rc) rc = ff_buf_printf(out, ",\"transactions\":%zu,\"rules\":%zu,\"has\":[", t.ntx, rules.n);
        for (size_t i = 0, k = 0; !rc && i < t.nitems; i++)
            if (has[i]) {
                rc = k++ ? ff_buf_putc(out, ',') : 0;
                if (!rc) rc = ff_json_write_str(out, names[i].p, names[i].len);
            }
        if (!rc) rc = ff_buf_append_str(out, "],\"recommendations\":[");
        /* best first: by the rule's confidence, then lift, then the item's name */
        for (size_t listed = 0; !rc && listed < o->limit; listed++) {
            size_t pick = SIZE_MAX;
            for (size_t i = 0; i < t.nitems; i++) {
                if (best[i] == SIZE_MAX) continue;
                const struct ff_rule *x = &rules.v[best[i]], *y = pick == SIZE_MAX ? NULL : &rules.v[best[pick]];
                if (!y || x->confidence > y->confidence || (x->confidence == y->confidence && x->lift > y->lift)) pick = i;
            }
            if (pick == SIZE_MAX) break;
            const struct ff_rule *x = &rules.v[best[pick]];
            rc = ff_buf_append_str(out, listed ? ",{\"item\":" : "{\"item\":");
            if (!rc) rc = ff_json_write_str(out, names[pick].p, names[pick].len);
            if (!rc) rc = ff_buf_append_str(out, ",\"because\":");
            if (!rc) rc = write_rule(out, &rules, x, names);
            if (!rc) rc = ff_buf_putc(out, '}');
            best[pick] = SIZE_MAX;
        }
        if (!rc) rc = ff_buf_append_str(out, "]}");
        ff_free(has);
        ff_free(best);
    } else if (!rc) {
        rc = ff_buf_printf(out, "{\"kind\":\"rules\",\"transactions\":%zu,\"by\":\"%s\",\"items\":", t.ntx, bys[o->by]);
        if (!rc) rc = ff_json_write_str(out, o->items, strlen(o->items));
        if (!rc) rc = ff_buf_printf(out, ",\"distinct_items\":%zu,\"algorithm\":\"%s\",\"min_count\":%llu,\"itemsets_found\":%zu,"
                                   "\"rules_found\":%zu",
                                   t.nitems, o->apriori ? "apriori" : "fpgrowth", (unsigned long long)min_count, sets.n, rules.n);
        if (!rc && o->list_itemsets) {
            rc = ff_buf_append_str(out, ",\"itemsets\":[");
            for (size_t i = 0; !rc && i < sets.n && i < o->limit; i++) {
                rc = ff_buf_append_str(out, i ? ",{\"items\":" : "{\"items\":");
                if (!rc) rc = write_items(out, names, sets.pool + sets.v[i].at, sets.v[i].n);
                if (!rc) rc = ff_buf_printf(out, ",\"count\":%llu,\"support\":", (unsigned long long)sets.v[i].count);
                if (!rc) rc = write_num(out, t.ntx ? (double)sets.v[i].count / (double)t.ntx : 0);
                if (!rc) rc = ff_buf_putc(out, '}');
            }
            if (!rc) rc = ff_buf_putc(out, ']');
        }
        if (!rc) rc = ff_buf_append_str(out, ",\"rules\":[");
        for (size_t r = 0; !rc && r < rules.n && r < o->limit; r++)
            rc = (r ? ff_buf_putc(out, ',') : 0) || write_rule(out, &rules, &rules.v[r], names);
        if (!rc) rc = ff_buf_append_str(out, "]}");
    }
    ff_rules_free(&rules);
    ff_itemsets_free(&sets);
    ff_free(names);
    ff_baskets_free(&t);
    ff_qvalues_free(&vals);
    return rc;
}

/* ---- forecasts ---- */

/* One series: the model (given, or chosen by AIC), forecasts for the horizon with 80% and
 * 95% intervals, and the anomalies: values outside the 95% interval of their one-step
 * prediction. `open` is the interval still in progress (its value left out of the fit). */
static int forecast_series(const struct ff_query *q, const struct opts *o, const double *y, size_t n, int64_t first,
                           int open, struct ff_buf *out, char *err, size_t errlen)
{
    size_t fit_n = open && n ? n - 1 : n;
    struct ff_arima m;
    int rc;
    if (o->have_order) {
        struct ff_arima_order ord = {o->order[0], o->order[1], o->order[2], o->seasonal ? o->sorder[0] : 0,
                                     o->seasonal ? o->sorder[1] : 0, o->seasonal ? o->sorder[2] : 0,
                                     o->seasonal ? o->sorder[3] : 0};
        rc = ff_arima_fit(y, fit_n, &ord, &m, err, errlen);
        if (rc == FF_EINVAL && o->seasonal == 2) { /* too short for the rhythm: without it */
            ord.P = ord.D = ord.Q = ord.s = 0;
            rc = ff_arima_fit(y, fit_n, &ord, &m, err, errlen);
        }
    } else {
        struct ff_arima_auto a = {.d = -1, .max_p = (int)o->max_pq, .max_q = (int)o->max_pq,
                                  .s = o->seasonal && fit_n >= 3 * (size_t)o->sorder[3] ? o->sorder[3] : 0,
                                  .D = o->seasonal == 1 ? o->sorder[1] : 0};
        size_t tried;
        rc = ff_arima_select(y, fit_n, &a, &m, NULL, 0, &tried, err, errlen);
    }
    if (rc) return rc;
    size_t h = o->horizon;
    double *mean = ff_malloc((h + 1) * sizeof *mean), *se = ff_malloc((h + 1) * sizeof *se);
    double *pred = ff_malloc((fit_n + 1) * sizeof *pred), *pse = ff_malloc((fit_n + 1) * sizeof *pse);
    if (!mean || !se || !pred || !pse) rc = -ENOMEM;
    if (!rc) rc = ff_arima_forecast(&m, y, fit_n, h, mean, se);
    if (!rc) rc = ff_arima_one_step(&m, y, fit_n, pred, pse);
    struct ff_query qq = *q;
    qq.interval = o->interval;
    char label[64];
    if (!rc) rc = ff_buf_append_str(out, ",\"model\":{") || ff_arima_write_json(out, &m);
    if (!rc) rc = ff_buf_printf(out, ",\"chosen_by\":\"%s\"},\"forecast\":[", o->have_order ? "given" : "aic");
    for (size_t j = 0; !rc && j < h; j++) {
        ff_query_bucket_label(&qq, first + (int64_t)(fit_n + j), label);
        rc = ff_buf_printf(out, "%s{\"bucket\":\"%s\",\"mean\":", j ? "," : "", label);
        double lo80 = mean[j] - FF_Z80 * se[j], hi80 = mean[j] + FF_Z80 * se[j];
        double lo95 = mean[j] - FF_Z95 * se[j], hi95 = mean[j] + FF_Z95 * se[j];
        if (!rc) rc = write_num(out, mean[j]) || ff_buf_append_str(out, ",\"lower80\":") || write_num(out, lo80);
        if (!rc) rc = ff_buf_append_str(out, ",\"upper80\":") || write_num(out, hi80);
        if (!rc) rc = ff_buf_append_str(out, ",\"lower95\":") || write_num(out, lo95);
        if (!rc) rc = ff_buf_append_str(out, ",\"upper95\":") || write_num(out, hi95);
        if (!rc && j == 0 && open) rc = ff_buf_append_str(out, ",\"actual_so_far\":") || write_num(out, y[n - 1]);
        if (!rc) rc = ff_buf_putc(out, '}');
    }
    double z = o->level == 80 ? FF_Z80 : o->level == 99 ? FF_Z99 : FF_Z95;
    if (!rc) rc = ff_buf_printf(out, "],\"anomaly_level\":%d,\"anomalies\":[", o->level);
    for (size_t t = 0, k = 0; !rc && t < fit_n; t++) {
        if (!isfinite(pred[t]) || fabs(y[t] - pred[t]) <= z * pse[t]) continue;
        ff_query_bucket_label(&qq, first + (int64_t)t, label);
        rc = ff_buf_printf(out, "%s{\"bucket\":\"%s\",\"actual\":", k++ ? "," : "", label);
        if (!rc) rc = write_num(out, y[t]) || ff_buf_append_str(out, ",\"expected\":") || write_num(out, pred[t]);
        if (!rc) rc = ff_buf_append_str(out, ",\"lower\":") || write_num(out, pred[t] - z * pse[t]);
        if (!rc) rc = ff_buf_append_str(out, ",\"upper\":") || write_num(out, pred[t] + z * pse[t]);
        if (!rc) rc = ff_buf_putc(out, '}');
    }
    if (!rc) rc = ff_buf_putc(out, ']');
    ff_free(mean);
    ff_free(se);
    ff_free(pred);
    ff_free(pse);
    return rc;
}

static int answer_forecast(struct ctx *c, struct ff_store *s, const struct ff_query *q, const struct opts *o,
                           const char *json, size_t len, struct ff_buf *out, char *err, size_t errlen, const char **field)
{
    /* the trends query the request is ("kind" may be left out), answered as POST /api/query
     * answers it */
    struct ff_buf tr, body;
    ff_buf_init(&tr, (size_t)1 << 30);
    ff_buf_init(&body, (size_t)1 << 21);
    const char *open_brace = memchr(json, '{', len), *rest = open_brace ? open_brace + 1 : json + len;
    size_t rlen = (size_t)(json + len - rest), skip = 0;
    while (skip < rlen && (rest[skip] == ' ' || rest[skip] == '\t' || rest[skip] == '\r' || rest[skip] == '\n')) skip++;
    int brc = o->has_kind ? ff_buf_append(&body, json, len)
                          : ff_buf_append_str(&body, skip < rlen && rest[skip] == '}' ? "{\"kind\":\"trends\"" : "{\"kind\":\"trends\",");
    if (!brc && !o->has_kind) brc = ff_buf_append(&body, rest, rlen);
    const char *tfield = "";
    int status = brc ? 503
                     : ff_query_answer(s, body.data, body.len, c->now_us, q->project[0] ? q->project : NULL, c->tz,
                                       c->segments, &tr, &tfield);
    ff_buf_free(&body);
    struct ff_json_parser *jp = ff_json_parser_new();
    struct ff_buf scratch;
    ff_buf_init(&scratch, (size_t)1 << 30);
    struct ff_json_doc doc;
    int rc = jp ? 0 : -ENOMEM;
    if (!rc && ff_json_parse_copy(jp, &scratch, tr.data ? tr.data : "", tr.len, &doc)) rc = -EIO;
    if (!rc && status != 200) { /* its error is the request's */
        const char *m;
        uint32_t ml;
        if (ff_json_str(&doc, ff_json_get(&doc, 0, "error"), &m, &ml)) snprintf(err, errlen, "%.*s", (int)ml, m);
        *field = tfield;
        rc = status == 413 ? FF_ETOOBIG : status == 408 ? FF_QUERY_TIMEOUT : FF_EINVAL;
    }
    uint32_t kind = rc ? FF_JSON_NONE : ff_json_get(&doc, 0, "kind");
    const char *kv;
    uint32_t kl;
    if (!rc && (!ff_json_str(&doc, kind, &kv, &kl) || kl != 6 || memcmp(kv, "trends", 6))) {
        snprintf(err, errlen, "kind: a forecast is of a trends query");
        *field = "kind";
        rc = FF_EINVAL;
    }
    uint32_t series = rc ? FF_JSON_NONE : ff_json_get(&doc, 0, "series"), buckets = rc ? FF_JSON_NONE : ff_json_get(&doc, 0, "buckets");
    if (!rc && (series == FF_JSON_NONE || buckets == FF_JSON_NONE)) rc = -EIO;
    struct ff_query qq = *q;
    qq.interval = o->interval;
    int64_t first = rc ? 0 : ff_query_bucket(&qq, q->from_us);
    int open = q->to_us > q->now_us - 1; /* the last interval is still going on */
    if (!rc) rc = ff_buf_printf(out, "{\"kind\":\"forecast\",\"interval\":\"%s\",\"horizon\":%zu,\"open\":%s,\"buckets\":",
                                (const char *[]){"minute", "hour", "day", "week", "month"}[o->interval], o->horizon,
                                open ? "true" : "false");
    if (!rc) rc = ff_json_write_node(out, &doc, buckets);
    if (!rc) rc = ff_buf_append_str(out, ",\"series\":[");
    size_t k = 0;
    for (uint32_t e = series + 1; !rc && e < doc.nodes[series].end; e = doc.nodes[e].end, k++) {
        uint32_t data = ff_json_get(&doc, e, "data");
        if (data == FF_JSON_NONE) continue;
        size_t n = doc.nodes[data].len, i = 0;
        double *y = ff_malloc((n + 1) * sizeof *y);
        if (!y) {
            rc = -ENOMEM;
            break;
        }
        for (uint32_t v = data + 1; v < doc.nodes[data].end; v = doc.nodes[v].end, i++) {
            const struct ff_json_node *x = &doc.nodes[v];
            y[i] = x->type == FF_JSON_INT ? (double)x->v.i : x->type == FF_JSON_UINT ? (double)x->v.u
                 : x->type == FF_JSON_DOUBLE ? x->v.d : 0;
        }
        rc = ff_buf_append_str(out, k ? ",{" : "{");
        for (uint32_t f = e + 1; !rc && f < doc.nodes[e].end; f = doc.nodes[f].end) { /* its own fields as they were */
            if (f != e + 1) rc = ff_buf_putc(out, ',');
            if (!rc) rc = ff_json_write_str(out, doc.nodes[f].key, doc.nodes[f].key_len);
            if (!rc) rc = ff_buf_putc(out, ':');
            if (!rc) rc = ff_json_write_node(out, &doc, f);
        }
        if (!rc) {
            size_t mark = out->len;
            char serr[256] = "";
            int frc = forecast_series(q, o, y, n, first, open, out, serr, sizeof serr);
            if (frc == FF_EINVAL) { /* this series cannot be forecast: say why, go on with the rest */
                out->len = mark;
                rc = ff_buf_append_str(out, ",\"error\":");
                if (!rc) rc = ff_json_write_str(out, serr, strlen(serr));
            } else {
                rc = frc;
            }
        }
        if (!rc) rc = ff_buf_putc(out, '}');
        ff_free(y);
    }
    if (!rc) rc = ff_buf_append_str(out, "]}");
    if (rc == -EIO) snprintf(err, errlen, "the trends answer could not be read"), rc = -EIO;
    ff_json_parser_free(jp);
    ff_buf_free(&scratch);
    ff_buf_free(&tr);
    return rc;
}

/* ---- the request ---- */

static int run(void *arg, struct ff_store *s, const struct ff_query *q, const char *json, size_t len,
               struct ff_buf *out, char *err, size_t errlen, const char **field)
{
    struct ctx *c = arg;
    struct ff_json_parser *jp = ff_json_parser_new();
    struct ff_buf scratch;
    ff_buf_init(&scratch, (size_t)1 << 24);
    struct ff_json_doc doc;
    struct opts o;
    *field = "";
    int rc = jp ? 0 : -ENOMEM;
    if (!rc && ff_json_parse_copy(jp, &scratch, json, len, &doc)) rc = -EINVAL; /* parsed once already */
    struct op p = {&doc, err, errlen, field};
    if (!rc) rc = parse_opts(&p, c->what, &o);
    ff_json_parser_free(jp);
    ff_buf_free(&scratch);
    if (rc) return rc;
    if (c->what == W_RULES || c->what == W_RECOMMEND) return answer_rules(s, q, &o, out, err, errlen, field);
    if (c->what == W_FORECAST) return answer_forecast(c, s, q, &o, json, len, out, err, errlen, field);
    if (c->what == W_SEGMENTS && o.update[0]) return answer_update(c, s, &o, out, err, errlen, field);
    struct ff_ftable t;
    rc = ff_features_build(s, q, &o.f, &t, err, errlen);
    if (rc == FF_EINVAL) *field = "revenue";
    if (rc) return rc;
    struct view v;
    rc = make_view(&t, &o, &v, err, errlen, field);
    if (!rc && c->what == W_FEATURES) {
        rc = answer_features(c, &t, &v, &o, out);
    } else if (!rc && (!t.n || !v.t.d)) {
        snprintf(err, errlen, "no persons with events in the range: nothing to segment");
        *field = "from";
        rc = FF_EINVAL;
    } else if (!rc) {
        rc = o.dbscan ? answer_dbscan(c, &t, &v, &o, out, err, errlen, field)
                      : answer_kmeans(c, &t, &v, &o, out, err, errlen, field);
    }
    view_free(&v);
    ff_ftable_free(&t);
    return rc;
}

int ff_analysis_check(const char *what, const char *json, size_t len, char *err, size_t errlen, const char **field)
{
    int w = -1;
    for (size_t i = 0; i < sizeof whats / sizeof *whats; i++)
        if (strcmp(whats[i], what) == 0) w = (int)i;
    *field = "";
    if (w < 0) return snprintf(err, errlen, "no such analysis"), FF_EINVAL;
    struct ff_query q;
    int rc = ff_query_parse_common(json, len, ff_now_us(), "UTC", &q, err, errlen, field);
    if (rc) return rc;
    ff_query_free(&q);
    struct ff_json_parser *jp = ff_json_parser_new();
    struct ff_buf scratch;
    ff_buf_init(&scratch, (size_t)1 << 24);
    struct ff_json_doc doc;
    struct opts o;
    rc = jp ? 0 : -ENOMEM;
    if (!rc && ff_json_parse_copy(jp, &scratch, json, len, &doc)) rc = -EINVAL;
    struct op p = {&doc, err, errlen, field};
    if (!rc) rc = parse_opts(&p, w, &o);
    ff_json_parser_free(jp);
    ff_buf_free(&scratch);
    return rc;
}

int ff_analysis_answer(struct ff_store *s, const char *what, const char *json, size_t len, int64_t now_us,
                       const char *project, const char *default_tz, const struct ff_segment_source *segments,
                       const struct ff_segment_saver *saver, struct ff_buf *out, const char **content_type,
                       const char **field)
{
    struct ctx c = {.what = -1, .content_type = "application/json", .saver = saver,
                    .project = project && project[0] ? project : FF_DEFAULT_PROJECT, .segments = segments,
                    .tz = default_tz, .now_us = now_us, .json = json, .len = len};
    for (size_t i = 0; i < sizeof whats / sizeof *whats; i++)
        if (strcmp(whats[i], what) == 0) c.what = (int)i;
    struct ff_query_runner runner = {run, &c};
    int status = c.what < 0 ? 404
                            : ff_query_answer_with(s, json, len, now_us, project, default_tz, segments, &runner, out, field);
    if (status == 404) {
        ff_buf_reset(out);
        ff_buf_append_str(out, "{\"error\":\"no such analysis: features, segments, rules, recommend or forecast\","
                               "\"field\":\"\"}");
    }
    *content_type = status == 200 ? c.content_type : "application/json";
    return status;
}
