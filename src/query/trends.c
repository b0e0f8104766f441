/* trends.c - kind "trends": per series (an event, or every event), per breakdown value and
 * per interval of the query's zone, a count of events or of distinct persons or sessions.
 *
 * Cells are (series, breakdown value, bucket) packed in 64 bits and counted in one hash
 * table; distinct persons and sessions are (cell, XXH3 of the id) pairs in a hash set, so a
 * cell counts an id the first time it enters the set. A series' total over the whole range
 * is one more bucket (TOTAL): for distinct measures it is not the sum of its buckets. The top
 * breakdown values by total are answered; the rest are folded into "$other" (for distinct
 * measures by re-counting their pairs, so a person in two small values counts once). Rows
 * come from colscan.h, each thread counting into its own tables, merged at the end. */
#include <errno.h>
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

/* One thread's counts (colscan.h); state 0 ends up with everyone's. */
struct tstate {
    const struct trends *t;
    struct ff_qtable cells; /* (cell, 0) → count */
    struct ff_qdistinct seen; /* (cell, id hash): distinct measures, counted into cells at the end */
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
    struct tstate st[FF_QTHREADS_MAX];
};

static int consume(void *arg, const struct ff_qbatch *b)
{
    struct tstate *st = arg;
    const struct trends *t = st->t;
    const struct ff_query *q = t->q;
    int distinct = q->measure != FF_M_COUNT;
    for (uint32_t i = 0; i < b->n; i++) {
        int64_t k = ff_query_bucket_memo(q, &st->memo, b->t[i]) - t->first;
        if (k < 0 || k >= t->nbuckets) continue;
        uint64_t id = q->measure == FF_M_SESSIONS ? b->session[i] : b->person[i];
        for (size_t s = 0; s < q->nseries; s++) {
            if (!(b->match[i] >> s & 1)) continue;
            uint64_t cell = cell_key(s, b->value[i], (uint32_t)k);
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
    return 0;
}

static int merge(void *into, void *from)
{
    struct tstate *a = into, *b = from;
    return a->t->q->measure != FF_M_COUNT ? ff_qdistinct_merge(&a->seen, &b->seen)
                                          : ff_qtable_merge_with(&a->cells, &b->cells, FF_QMERGE_ADD);
}

/* ---- the answer ---- */

struct ranked {
    uint32_t value;
    uint64_t total;
    struct ff_str text; /* the value; "" for none */
};

/* Largest total first; ties by value (none first), so the answer does not depend on the
 * order the scan met them in. */
static int by_total(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->total != y->total) return x->total > y->total ? -1 : 1;
    return ff_str_cmp(x->text, y->text);
}

static int write_series(struct trends *t, struct ff_buf *o, size_t s, const char *label, size_t label_len,
                        int is_other, const struct ff_qtable *cells, uint32_t value, int *first)
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
    for (uint32_t b = 0; !rc && b < t->nbuckets; b++)
        rc = ff_buf_printf(o, "%s%llu", b ? "," : "", (unsigned long long)ff_qtable_get(cells, cell_key(s, value, b), 0));
    if (!rc)
        rc = ff_buf_printf(o, "],\"total\":%llu}", (unsigned long long)ff_qtable_get(cells, cell_key(s, value, TOTAL), 0));
    return rc;
}

#define OTHER 0x0fffffffu

static int answer(struct trends *t, struct ff_buf *o)
{
    const struct ff_query *q = t->q;
    static const char *const intervals[] = {"minute", "hour", "day", "week", "month"};
    static const char *const measures[] = {"count", "unique_persons", "unique_sessions"};
    char label[64];
    int rc = ff_query_open_answer(q, "trends", o);
    if (!rc) rc = ff_buf_printf(o, ",\"interval\":\"%s\",\"measure\":\"%s\",\"buckets\":[", intervals[q->interval],
                                measures[q->measure]);
    for (uint32_t b = 0; !rc && b < t->nbuckets; b++) {
        ff_query_bucket_label(q, t->first + b, label);
        rc = ff_buf_printf(o, "%s\"%s\"", b ? "," : "", label);
    }
    if (!rc) rc = ff_buf_append_str(o, "],\"series\":[");
    struct ranked *r = ff_malloc((t->values.n + 1) * sizeof *r);
    if (!r) rc = -ENOMEM;
    int first = 1;
    for (size_t s = 0; !rc && s < q->nseries; s++) {
        size_t n = 0;
        for (uint32_t v = 0; v <= t->values.n && (q->has_breakdown || v == 0); v++) {
            uint64_t total = ff_qtable_get(&t->st[0].cells, cell_key(s, v, TOTAL), 0);
            if (total || !q->has_breakdown) r[n++] = (struct ranked){v, total, ff_qvalues_text(&t->values, v)};
        }
        qsort(r, n, sizeof *r, by_total);
        size_t top = q->has_breakdown && n > q->breakdown_limit ? q->breakdown_limit : n;
        for (size_t i = 0; !rc && i < top; i++) {
            uint32_t v = r[i].value;
            rc = write_series(t, o, s, v ? ff_qvalues_text(&t->values, v).p : NULL, ff_qvalues_text(&t->values, v).len, 0,
                              &t->st[0].cells, v, &first);
        }
        if (rc || top == n) continue;
        /* the rest, folded into one series */
        struct ff_qtable other = {0}, seen = {0};
        char *rest = ff_calloc(t->values.n + 1, 1);
        if (!rest) rc = -ENOMEM;
        for (size_t i = top; !rc && i < n; i++) rest[r[i].value] = 1;
        /* counts add up; distinct ids are counted again over the folded cells */
        int distinct = q->measure != FF_M_COUNT;
        for (size_t p = 0; distinct && !rc && p < FF_QDISTINCT_PARTS; p++) {
            const struct ff_qpairs *pp = &t->st[0].seen.part[p];
            for (size_t i = 0; !rc && i < pp->n; i++) {
                uint64_t k = pp->v[i][0];
                if (k >> 60 == s && rest[(k >> 32) & OTHER])
                    rc = ff_qtable_count(&other, &seen, cell_key(s, OTHER, (uint32_t)k), pp->v[i][1]);
            }
        }
        const struct ff_qtable *from = &t->st[0].cells;
        for (size_t i = 0; !distinct && !rc && i < from->cap; i++) {
            uint64_t k = from->s[i].a;
            if (k == EMPTY || k >> 60 != s || !rest[(k >> 32) & OTHER]) continue;
            rc = ff_qtable_add(&other, cell_key(s, OTHER, (uint32_t)k), 0, from->s[i].v) < 0 ? -ENOMEM : 0;
        }
        if (!rc) rc = write_series(t, o, s, NULL, 0, 1, &other, OTHER, &first);
        ff_free(rest);
        ff_qtable_free(&other);
        ff_qtable_free(&seen);
    }
    ff_free(r);
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
    if (q->measure == FF_M_PERSONS) p.person = FF_QP_REQUIRED;
    if (q->measure == FF_M_SESSIONS) p.session = FF_QP_REQUIRED;
    void *states[FF_QTHREADS_MAX];
    for (int i = 0; i < FF_QTHREADS_MAX; i++) t.st[i].t = &t, states[i] = &t.st[i];
    int rc = ff_qplan_run(s, &p, states);
    if (rc == FF_ETOOBIG)
        snprintf(err, errlen, "the query needs more than its memory budget (%zu cells or distinct ids, %zu breakdown "
                 "values): narrow it with filters or a shorter range", FF_QUERY_MAX_ENTRIES, FF_QUERY_MAX_VALUES);
    if (!rc && q->measure != FF_M_COUNT) rc = ff_qdistinct_count(&t.st[0].seen, &t.st[0].cells);
    if (!rc) rc = answer(&t, out);
    ff_qvalues_free(&t.values);
    for (int i = 0; i < FF_QTHREADS_MAX; i++) {
        ff_qtable_free(&t.st[i].cells);
        ff_qdistinct_free(&t.st[i].seen);
    }
    return rc;
}
