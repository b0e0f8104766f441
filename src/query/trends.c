/* trends.c - kind "trends": per series (an event, or every event), per breakdown value and
 * per interval of the query's zone, a count of events or of distinct persons or sessions.
 *
 * Cells are (series, breakdown value, bucket) packed in 64 bits and counted in one hash
 * table; distinct persons and sessions are (cell, XXH3 of the id) pairs in a hash set, so a
 * cell counts an id the first time it enters the set. A series' total over the whole range
 * is one more bucket (TOTAL): for distinct measures it is not the sum of its buckets. The top
 * breakdown values by total are answered; the rest are folded into "$other" (for distinct
 * measures by re-counting their pairs, so a person in two small values counts once). Rows
 * come from colscan.h, each thread counting into its own tables, merged at the end.
 *
 * Measures of a numeric field: sum, avg, min and max keep (cell, SUM|N|MIN|MAX) in a table
 * (doubles as their bits); p50, p90 and p99 keep every (cell, value) and take the nearest
 * rank once sorted; per_person_avg is events over distinct persons. A formula (A/B) is
 * worked out from the series' numbers, bucket by bucket. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "core/errors.h"
#include "core/json.h"
#include "event/event.h"
#include "query/colscan.h"
#include "store/store.h"

#define TOTAL 0xffffffffu
#define MAX_BUCKETS 10000
#define EMPTY FF_QTABLE_EMPTY

static uint64_t cell_key(size_t series, uint32_t value, uint32_t bucket)
{
    return (uint64_t)series << 60 | (uint64_t)value << 32 | bucket;
}

/* ---- the scan ---- */

/* (cell, value) pairs of the percentile measures */
struct nums {
    struct cv {
        uint64_t cell;
        double v;
    } *p;
    size_t n, cap;
};

enum { ACC_SUM, ACC_N, ACC_MIN, ACC_MAX, ACC_COMP }; /* COMP: what SUM lost to rounding (Neumaier) */

/* One thread's counts (colscan.h); state 0 ends up with everyone's. */
struct tstate {
    const struct trends *t;
    struct ff_qtable cells; /* (cell, 0) → count; for distinct measures and per_person, ids */
    struct ff_qdistinct seen; /* (cell, id hash): distinct measures, counted into cells at the end */
    struct ff_qtable counts;  /* per_person: (cell, 0) → events */
    struct ff_qtable acc;     /* sum … max: (cell, ACC_*) → double bits (N: a count) */
    struct nums vals;         /* p50 … p99 */
    /* per series, the (cell, id) counted last: a person's rows come together, so most rows
     * repeat it and need no look-up (ids are never 0) */
    uint64_t last_cell[FF_QUERY_MAX_SERIES], last_id[FF_QUERY_MAX_SERIES];
    struct ff_qbucket_memo memo;
};

struct trends {
    const struct ff_query *q;
    int64_t first;          /* bucket of from */
    uint32_t nbuckets;
    struct ff_qvalues values; /* the breakdown's */
    struct ff_qtable res;   /* percentiles: (cell, 0) → double bits, (cell, 1) → 1 */
    struct tstate st[FF_QTHREADS_MAX];
};

static uint64_t bits_of(double d)
{
    uint64_t b;
    memcpy(&b, &d, 8);
    return b;
}

static double double_of(uint64_t b)
{
    double d;
    memcpy(&d, &b, 8);
    return d;
}

/* a + b, and in *lost what rounding took from it (Neumaier): a sum of many prices keeps its
 * cents by adding the losses up beside it. */
static double add_compensated(double a, double b, double *lost)
{
    double sum = a + b;
    *lost = fabs(a) >= fabs(b) ? (a - sum) + b : (b - sum) + a;
    return sum;
}

/* Folds v, the bits of entry k (ACC_*) of a cell, into acc: a count adds, a sum adds with
 * compensation, a minimum or maximum keeps the lesser or greater. */
static int acc_put(struct ff_qtable *acc, uint64_t cell, int k, uint64_t v)
{
    int created, err = 0;
    uint64_t *p = ff_qtable_at(acc, cell, (uint64_t)k, v, &created, &err);
    if (!p) return err;
    if (created) return 0;
    double a = double_of(*p), b = double_of(v);
    if (k == ACC_N) {
        *p += v;
    } else if (k == ACC_SUM) {
        double lost;
        *p = bits_of(add_compensated(a, b, &lost));
        return lost != 0 ? acc_put(acc, cell, ACC_COMP, bits_of(lost)) : 0;
    } else if (k == ACC_COMP) {
        *p = bits_of(a + b);
    } else if ((k == ACC_MIN && b < a) || (k == ACC_MAX && b > a)) {
        *p = v;
    }
    return 0;
}

/* A sum, count, minimum and maximum gathered for one cell over consecutive rows, folded into
 * the table when the cell changes: rows come sorted by person and time, so most neighbours
 * share an hour and a breakdown value, and a lookup per entry and row (five, and as many for
 * the series' total) was most of a sum's time (23 ns a row over 7.5 M rows, against 0.9 for
 * a count). */
struct acc_run {
    uint64_t cell, n;
    double sum, comp, min, max; /* comp: what sum lost to rounding, as ACC_COMP */
};

static int run_flush(struct ff_qtable *acc, struct acc_run *r)
{
    if (!r->n) return 0;
    int rc = acc_put(acc, r->cell, ACC_N, r->n);
    if (!rc) rc = acc_put(acc, r->cell, ACC_SUM, bits_of(r->sum));
    if (!rc && r->comp != 0) rc = acc_put(acc, r->cell, ACC_COMP, bits_of(r->comp));
    if (!rc) rc = acc_put(acc, r->cell, ACC_MIN, bits_of(r->min));
    if (!rc) rc = acc_put(acc, r->cell, ACC_MAX, bits_of(r->max));
    r->n = 0;
    return rc;
}

static int run_add(struct ff_qtable *acc, struct acc_run *r, uint64_t cell, double v)
{
    if (r->n && r->cell != cell) {
        int rc = run_flush(acc, r);
        if (rc) return rc;
    }
    if (!r->n) {
        *r = (struct acc_run){cell, 1, v, 0, v, v};
        return 0;
    }
    double lost;
    r->sum = add_compensated(r->sum, v, &lost);
    r->comp += lost;
    r->n++;
    if (v < r->min) r->min = v;
    if (v > r->max) r->max = v;
    return 0;
}

static int acc_merge(struct ff_qtable *into, const struct ff_qtable *from)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < from->cap; i++)
        if (from->s[i].a != EMPTY) rc = acc_put(into, from->s[i].a, (int)from->s[i].b, from->s[i].v);
    return rc;
}

static int nums_add(struct nums *v, uint64_t cell, double d)
{
    if (v->n == v->cap) {
        if (v->n >= FF_QUERY_MAX_ENTRIES) return FF_ETOOBIG;
        size_t cap = v->cap ? v->cap * 2 : 4096;
        struct cv *p = ff_realloc(v->p, cap * sizeof *p);
        if (!p) return -ENOMEM;
        v->p = p, v->cap = cap;
    }
    v->p[v->n++] = (struct cv){cell, d};
    return 0;
}

static int by_cell_value(const void *a, const void *b)
{
    const struct cv *x = a, *y = b;
    if (x->cell != y->cell) return x->cell < y->cell ? -1 : 1;
    return (x->v > y->v) - (x->v < y->v);
}

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Keeps d as cell's number in res (a percentile). */
static int res_put(struct ff_qtable *res, uint64_t cell, double d)
{
    int rc = ff_qtable_add(res, cell, 0, bits_of(d));
    if (rc >= 0) rc = ff_qtable_add(res, cell, 1, 1); /* (cell, 1): it has one */
    return rc < 0 ? rc : 0;
}

/* Sorts the pairs (bucket cells only) and keeps in res each cell's nearest-rank percentile,
 * and each series and value's over the range (TOTAL) from all of its buckets' values. */
static int percentiles(const struct ff_query *q, struct nums *v, struct ff_qtable *res)
{
    double pct = q->measure == FF_M_P50 ? 0.5 : q->measure == FF_M_P90 ? 0.9 : 0.99;
    qsort(v->p, v->n, sizeof *v->p, by_cell_value);
    double *all = NULL;
    size_t cap = 0;
    int rc = 0;
    for (size_t g = 0, e; !rc && g < v->n; g = e) { /* one series and value: its buckets in order */
        uint64_t sv = v->p[g].cell & ~(uint64_t)0xffffffff;
        for (e = g; e < v->n && (v->p[e].cell & ~(uint64_t)0xffffffff) == sv; e++) {}
        for (size_t a = g, z; !rc && a < e; a = z) {
            for (z = a; z < e && v->p[z].cell == v->p[a].cell; z++) {}
            rc = res_put(res, v->p[a].cell, v->p[a + ff_nearest_rank(pct, z - a)].v);
        }
        if (rc) break;
        if (e - g > cap) {
            double *n2 = ff_realloc(all, (e - g) * sizeof *all);
            if (!n2) {
                rc = -ENOMEM;
                break;
            }
            all = n2, cap = e - g;
        }
        for (size_t i = g; i < e; i++) all[i - g] = v->p[i].v;
        qsort(all, e - g, sizeof *all, by_double);
        rc = res_put(res, sv | TOTAL, all[ff_nearest_rank(pct, e - g)]);
    }
    ff_free(all);
    return rc;
}

static int consume(void *arg, const struct ff_qbatch *b)
{
    struct tstate *st = arg;
    const struct trends *t = st->t;
    const struct ff_query *q = t->q;
    int distinct = q->measure == FF_M_PERSONS || q->measure == FF_M_SESSIONS || q->measure == FF_M_PER_PERSON;
    struct acc_run runs[FF_QUERY_MAX_SERIES][2]; /* per series: its cell's and its total's */
    for (size_t s = 0; s < q->nseries; s++) runs[s][0].n = runs[s][1].n = 0;
    for (uint32_t i = 0; i < b->n; i++) {
        int64_t k = ff_query_bucket_memo(q, &st->memo, b->t[i]) - t->first;
        if (k < 0 || k >= t->nbuckets) continue;
        uint64_t id = q->measure == FF_M_SESSIONS ? b->session[i] : b->person[i];
        for (size_t s = 0; s < q->nseries; s++) {
            if (!(b->match[i] >> s & 1)) continue;
            uint64_t cell = cell_key(s, b->value[i], (uint32_t)k);
            if (q->measure >= FF_M_SUM) { /* a numeric field, or events per person */
                uint64_t total = cell_key(s, b->value[i], TOTAL);
                int rc = 0;
                if (q->measure == FF_M_PER_PERSON) {
                    rc = ff_qtable_add(&st->counts, cell, 0, b->weight[i]) < 0 ? -ENOMEM : 0;
                    if (!rc) rc = ff_qtable_add(&st->counts, total, 0, b->weight[i]) < 0 ? -ENOMEM : 0;
                } else if (FF_M_NUMERIC(q->measure) && q->measure >= FF_M_P50) {
                    rc = nums_add(&st->vals, cell, b->num[i]); /* TOTAL: from the buckets' values */
                } else {
                    rc = run_add(&st->acc, &runs[s][0], cell, b->num[i]);
                    if (!rc) rc = run_add(&st->acc, &runs[s][1], total, b->num[i]);
                }
                if (rc) return rc;
                if (q->measure != FF_M_PER_PERSON) continue;
            }
            if (distinct && st->last_cell[s] == cell && st->last_id[s] == id) continue; /* and its TOTAL too */
            st->last_cell[s] = cell, st->last_id[s] = id;
            int rc = distinct ? ff_qdistinct_add(&st->seen, cell, id) : ff_qtable_add(&st->cells, cell, 0, b->weight[i]);
            if (rc >= 0) {
                uint64_t total = cell_key(s, b->value[i], TOTAL);
                rc = distinct ? ff_qdistinct_add(&st->seen, total, id) : ff_qtable_add(&st->cells, total, 0, b->weight[i]);
            }
            if (rc > 0) rc = 0;
            if (rc) return rc;
        }
    }
    int rc = 0;
    for (size_t s = 0; s < q->nseries && !rc; s++)
        if (!(rc = run_flush(&st->acc, &runs[s][0]))) rc = run_flush(&st->acc, &runs[s][1]);
    return rc;
}

static int merge(void *into, void *from)
{
    struct tstate *a = into, *b = from;
    int m = a->t->q->measure;
    if (m == FF_M_COUNT) return ff_qtable_merge_with(&a->cells, &b->cells, FF_QMERGE_ADD);
    if (m == FF_M_PERSONS || m == FF_M_SESSIONS) return ff_qdistinct_merge(&a->seen, &b->seen);
    if (m == FF_M_PER_PERSON) {
        int rc = ff_qdistinct_merge(&a->seen, &b->seen);
        return rc ? rc : ff_qtable_merge_with(&a->counts, &b->counts, FF_QMERGE_ADD);
    }
    if (m >= FF_M_P50) {
        for (size_t i = 0; i < b->vals.n; i++) {
            int rc = nums_add(&a->vals, b->vals.p[i].cell, b->vals.p[i].v);
            if (rc) return rc;
        }
        return 0;
    }
    return acc_merge(&a->acc, &b->acc);
}

/* Where a series' numbers come from: the scan's tables, or those of "$other". */
struct source {
    const struct ff_qtable *cells, *counts, *acc, *res;
};

/* A cell's number; NaN when it has none (an average of nothing). */
static double cell_value(const struct ff_query *q, const struct source *src, uint64_t cell)
{
    switch (q->measure) {
    case FF_M_COUNT:
    case FF_M_PERSONS:
    case FF_M_SESSIONS: return (double)ff_qtable_get(src->cells, cell, 0);
    case FF_M_PER_PERSON: {
        uint64_t persons = ff_qtable_get(src->cells, cell, 0);
        return persons ? (double)ff_qtable_get(src->counts, cell, 0) / (double)persons : NAN;
    }
    case FF_M_P50:
    case FF_M_P90:
    case FF_M_P99: return ff_qtable_get(src->res, cell, 1) ? double_of(ff_qtable_get(src->res, cell, 0)) : NAN;
    default: break;
    }
    uint64_t n = ff_qtable_get(src->acc, cell, ACC_N);
    if (!n) return q->measure == FF_M_SUM ? 0 : NAN;
    double sum = double_of(ff_qtable_get(src->acc, cell, ACC_SUM)) + double_of(ff_qtable_get(src->acc, cell, ACC_COMP));
    if (q->measure == FF_M_SUM) return sum;
    if (q->measure == FF_M_AVG) return sum / (double)n;
    return double_of(ff_qtable_get(src->acc, cell, q->measure == FF_M_MIN ? ACC_MIN : ACC_MAX));
}

static int write_number(const struct ff_query *q, struct ff_buf *o, double d)
{
    if (q->measure <= FF_M_SESSIONS) return ff_buf_printf(o, "%llu", (unsigned long long)d);
    return isfinite(d) ? ff_json_write_double(o, d) : ff_buf_append_str(o, "null");
}

/* ---- the answer ---- */

struct ranked {
    uint32_t value;
    double total;       /* NaN ranks last */
    struct ff_str text; /* the value; "" for none */
};

/* Largest total first; ties by value (none first), so the answer does not depend on the
 * order the scan met them in. */
static int by_total(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    double p = isnan(x->total) ? -INFINITY : x->total, q = isnan(y->total) ? -INFINITY : y->total;
    if (p != q) return p > q ? -1 : 1;
    return ff_str_cmp(x->text, y->text);
}

static int write_series(struct trends *t, struct ff_buf *o, size_t s, const char *label, size_t label_len,
                        int is_other, const struct source *src, uint32_t value, int *first)
{
    const struct ff_query *q = t->q;
    int rc = ff_buf_append_str(o, *first ? "{\"event\":" : ",{\"event\":");
    *first = 0;
    if (!rc) rc = q->series[s].event[0] ? ff_json_write_str(o, q->series[s].event, strlen(q->series[s].event))
                                        : ff_buf_append_str(o, "null");
    if (!rc && q->has_breakdown) {
        rc = ff_buf_append_str(o, ",\"breakdown\":");
        if (!rc) rc = is_other || label ? ff_json_write_str(o, is_other ? "$other" : label, is_other ? 6 : label_len)
                                        : ff_buf_append_str(o, "null");
    }
    if (!rc) rc = ff_buf_append_str(o, ",\"data\":[");
    for (uint32_t b = 0; !rc && b < t->nbuckets; b++) {
        if (b) rc = ff_buf_putc(o, ',');
        if (!rc) rc = write_number(q, o, cell_value(q, src, cell_key(s, value, b)));
    }
    if (!rc) rc = ff_buf_append_str(o, "],\"total\":");
    if (!rc) rc = write_number(q, o, cell_value(q, src, cell_key(s, value, TOTAL)));
    if (!rc) rc = ff_buf_putc(o, '}');
    return rc;
}

/* The formula at one bucket of one breakdown value: NaN when a series has no number there
 * or it divides by zero. */
static double formula_at(const struct ff_query *q, const struct source *src, uint32_t value, uint32_t bucket)
{
    double stack[FF_FORMULA_MAX];
    int n = 0;
    const struct ff_formula *f = &q->formula;
    for (int i = 0; i < f->n; i++) {
        char op = f->t[i].op;
        if (op == 'n') stack[n++] = f->t[i].number;
        else if (op == 's') stack[n++] = cell_value(q, src, cell_key(f->t[i].series, value, bucket));
        else {
            double b = stack[--n], a = stack[--n];
            stack[n++] = op == '+' ? a + b : op == '-' ? a - b : op == '*' ? a * b : b != 0 ? a / b : NAN;
        }
    }
    return n == 1 ? stack[0] : NAN;
}

static int write_formula(struct trends *t, struct ff_buf *o, const struct source *src, uint32_t value)
{
    const struct ff_query *q = t->q;
    int rc = ff_buf_append_str(o, ",{\"formula\":");
    if (!rc) rc = ff_json_write_str(o, q->formula.text, strlen(q->formula.text));
    if (!rc && q->has_breakdown) {
        struct ff_str label = ff_qvalues_text(&t->values, value);
        rc = ff_buf_append_str(o, ",\"breakdown\":");
        if (!rc) rc = value ? ff_json_write_str(o, label.p, label.len) : ff_buf_append_str(o, "null");
    }
    if (!rc) rc = ff_buf_append_str(o, ",\"data\":[");
    for (uint32_t b = 0; !rc && b <= t->nbuckets; b++) {
        double d = formula_at(q, src, value, b < t->nbuckets ? b : TOTAL);
        if (b == t->nbuckets) rc = ff_buf_append_str(o, "],\"total\":");
        else if (b) rc = ff_buf_putc(o, ',');
        if (!rc) rc = isfinite(d) ? ff_json_write_double(o, d) : ff_buf_append_str(o, "null");
    }
    if (!rc) rc = ff_buf_putc(o, '}');
    return rc;
}

#define OTHER 0x0fffffffu

/* The cell has rows (a breakdown value with none is not answered). */
static int cell_present(const struct ff_query *q, const struct source *src, uint64_t cell)
{
    switch (q->measure) {
    case FF_M_COUNT:
    case FF_M_PERSONS:
    case FF_M_SESSIONS: return ff_qtable_get(src->cells, cell, 0) > 0;
    case FF_M_PER_PERSON: return ff_qtable_get(src->counts, cell, 0) > 0;
    case FF_M_P50:
    case FF_M_P90:
    case FF_M_P99: return ff_qtable_get(src->res, cell, 1) > 0;
    default: return ff_qtable_get(src->acc, cell, ACC_N) > 0;
    }
}

/* Series s's numbers for the breakdown values marked in rest, folded into the OTHER value:
 * counts and sums add, distinct ids are counted again, percentiles sorted again. */
static int fold_other(struct trends *t, size_t s, const char *rest, struct source *o, struct ff_qtable *tabs,
                      struct nums *ovals)
{
    const struct ff_query *q = t->q;
    const struct tstate *st = &t->st[0];
    struct ff_qtable *ocells = &tabs[0], *oseen = &tabs[1], *ocounts = &tabs[2], *oacc = &tabs[3], *ores = &tabs[4];
    *o = (struct source){ocells, ocounts, oacc, ores};
    int rc = 0;
#define IN_REST(k) ((k) >> 60 == s && rest[((k) >> 32) & OTHER])
    if (q->measure == FF_M_PERSONS || q->measure == FF_M_SESSIONS || q->measure == FF_M_PER_PERSON)
        for (size_t p = 0; !rc && p < FF_QDISTINCT_PARTS; p++) {
            for (const struct ff_qchunk *ch = st->seen.part[p].head; ch && !rc; ch = ch->next)
                for (size_t i = 0; !rc && i < ch->n; i++)
                    if (IN_REST(ch->v[i][0]))
                        rc = ff_qtable_count(ocells, oseen, cell_key(s, OTHER, (uint32_t)ch->v[i][0]), ch->v[i][1]);
        }
    const struct ff_qtable *from = q->measure == FF_M_COUNT ? &st->cells : q->measure == FF_M_PER_PERSON ? &st->counts : NULL;
    struct ff_qtable *into = q->measure == FF_M_COUNT ? ocells : ocounts;
    for (size_t i = 0; from && !rc && i < from->cap; i++)
        if (from->s[i].a != EMPTY && IN_REST(from->s[i].a))
            rc = ff_qtable_add(into, cell_key(s, OTHER, (uint32_t)from->s[i].a), 0, from->s[i].v) < 0 ? -ENOMEM : 0;
    if (FF_M_NUMERIC(q->measure) && q->measure < FF_M_P50)
        for (size_t i = 0; !rc && i < st->acc.cap; i++)
            if (st->acc.s[i].a != EMPTY && IN_REST(st->acc.s[i].a))
                rc = acc_put(oacc, cell_key(s, OTHER, (uint32_t)st->acc.s[i].a), (int)st->acc.s[i].b, st->acc.s[i].v);
    if (q->measure >= FF_M_P50 && q->measure <= FF_M_P99) {
        for (size_t i = 0; !rc && i < st->vals.n; i++)
            if (IN_REST(st->vals.p[i].cell)) rc = nums_add(ovals, cell_key(s, OTHER, (uint32_t)st->vals.p[i].cell), st->vals.p[i].v);
        if (!rc) rc = percentiles(q, ovals, ores);
    }
#undef IN_REST
    return rc;
}

static int answer(struct trends *t, struct ff_buf *o)
{
    const struct ff_query *q = t->q;
    static const char *const intervals[] = {"minute", "hour", "day", "week", "month"};
    static const char *const measures[] = {"count", "unique_persons", "unique_sessions", "sum", "avg", "min",
                                           "max", "p50", "p90", "p99", "per_person_avg"};
    char label[64];
    int rc = ff_query_open_answer(q, "trends", o);
    if (!rc) rc = ff_buf_printf(o, ",\"interval\":\"%s\",\"measure\":\"%s\"", intervals[q->interval], measures[q->measure]);
    if (!rc && FF_M_NUMERIC(q->measure)) {
        rc = ff_buf_append_str(o, ",\"property\":");
        if (!rc) rc = ff_json_write_str(o, q->measure_field.name, strlen(q->measure_field.name));
    }
    if (!rc) rc = ff_buf_append_str(o, ",\"buckets\":[");
    for (uint32_t b = 0; !rc && b < t->nbuckets; b++) {
        ff_query_bucket_label(q, t->first + b, label);
        rc = ff_buf_printf(o, "%s\"%s\"", b ? "," : "", label);
    }
    if (!rc) rc = ff_buf_append_str(o, "],\"series\":[");
    struct source main = {&t->st[0].cells, &t->st[0].counts, &t->st[0].acc, &t->res};
    struct ranked *r = ff_malloc((t->values.n + 1) * sizeof *r);
    uint32_t *shown = ff_malloc((t->values.n + 1) * sizeof *shown); /* the first series' values, for formulas */
    size_t nshown = 0;
    if (!r || !shown) rc = -ENOMEM;
    int first = 1;
    for (size_t s = 0; !rc && s < q->nseries; s++) {
        size_t n = 0;
        for (uint32_t v = 0; v <= t->values.n && (q->has_breakdown || v == 0); v++) {
            uint64_t total = cell_key(s, v, TOTAL);
            if (!q->has_breakdown || cell_present(q, &main, total))
                r[n++] = (struct ranked){v, cell_value(q, &main, total), ff_qvalues_text(&t->values, v)};
        }
        qsort(r, n, sizeof *r, by_total);
        size_t top = q->has_breakdown && n > q->breakdown_limit ? q->breakdown_limit : n;
        for (size_t i = 0; !rc && i < top; i++) {
            uint32_t v = r[i].value;
            if (s == 0) shown[nshown++] = v;
            rc = write_series(t, o, s, v ? ff_qvalues_text(&t->values, v).p : NULL, ff_qvalues_text(&t->values, v).len, 0,
                              &main, v, &first);
        }
        if (rc || top == n) continue;
        char *rest = ff_calloc(t->values.n + 1, 1);
        struct ff_qtable tabs[5];
        memset(tabs, 0, sizeof tabs);
        struct nums ovals = {0};
        struct source other;
        if (!rest) rc = -ENOMEM;
        for (size_t i = top; !rc && i < n; i++) rest[r[i].value] = 1;
        if (!rc) rc = fold_other(t, s, rest, &other, tabs, &ovals);
        if (!rc) rc = write_series(t, o, s, NULL, 0, 1, &other, OTHER, &first);
        ff_free(rest);
        for (int k = 0; k < 5; k++) ff_qtable_free(&tabs[k]);
        ff_free(ovals.p);
    }
    /* the formula, for each breakdown value the first series answers */
    for (size_t i = 0; !rc && q->has_formula && i < nshown; i++) rc = write_formula(t, o, &main, shown[i]);
    ff_free(r);
    ff_free(shown);
    if (!rc) rc = ff_buf_append_str(o, "]}");
    return rc;
}

int ff_query_trends(struct ff_store *s, const struct ff_query *q, struct ff_buf *out, char *err, size_t errlen)
{
    struct trends t;
    memset(&t, 0, sizeof t);
    t.q = q;
    ff_qvalues_init(&t.values);
    t.first = ff_query_bucket(q, q->from_us);
    int64_t last = ff_query_bucket(q, q->to_us - 1);
    if (last - t.first + 1 > MAX_BUCKETS) {
        return ff_query_too_long(q, MAX_BUCKETS, err, errlen);
    }
    t.nbuckets = (uint32_t)(last - t.first + 1);
    struct ff_qplan p = {.q = q, .from_us = q->from_us, .nmatch = q->nseries, .t_use = FF_QT_BUCKET, .weighted = 1,
                         .values = &t.values, .consume = consume, .merge = merge};
    for (size_t i = 0; i < q->nseries; i++) p.match_event[i] = q->series[i].event;
    if (q->has_breakdown) p.value = &q->breakdown;
    if (q->measure == FF_M_PERSONS || q->measure == FF_M_PER_PERSON) p.person = FF_QP_REQUIRED;
    if (q->measure == FF_M_SESSIONS) p.session = FF_QP_REQUIRED;
    if (FF_M_NUMERIC(q->measure)) p.number = &q->measure_field, p.weighted = 0;
    void *states[FF_QTHREADS_MAX];
    for (int i = 0; i < FF_QTHREADS_MAX; i++) t.st[i].t = &t, states[i] = &t.st[i];
    int rc = ff_qplan_run(s, &p, states);
    if (rc == FF_ETOOBIG)
        snprintf(err, errlen, "the query needs more than its memory budget (%zu cells or distinct ids, %zu breakdown "
                 "values): narrow it with filters or a shorter range", FF_QUERY_MAX_ENTRIES, FF_QUERY_MAX_VALUES);
    if (!rc && (q->measure == FF_M_PERSONS || q->measure == FF_M_SESSIONS || q->measure == FF_M_PER_PERSON))
        rc = ff_qdistinct_count(&t.st[0].seen, &t.st[0].cells);
    if (!rc && q->measure >= FF_M_P50 && q->measure <= FF_M_P99) rc = percentiles(q, &t.st[0].vals, &t.res);
    if (rc == FF_ETOOBIG)
        snprintf(err, errlen, "the query needs more than its memory budget (%zu cells or values): narrow it with "
                 "filters or a shorter range", FF_QUERY_MAX_ENTRIES);
    if (!rc) rc = answer(&t, out);
    ff_qvalues_free(&t.values);
    ff_qtable_free(&t.res);
    for (int i = 0; i < FF_QTHREADS_MAX; i++) {
        ff_qtable_free(&t.st[i].cells);
        ff_qdistinct_free(&t.st[i].seen);
        ff_qtable_free(&t.st[i].counts);
        ff_qtable_free(&t.st[i].acc);
        ff_free(t.st[i].vals.p);
    }
    return rc;
}
