/* visits.c - kinds "sessions" and "top" (see query.h).
 *
 * sessions: the sessions that start in the range (store.h, ff_store_sessions), those with an
 * event that passes the filters: how many, their visitors (distinct persons), average
 * duration, pages per session, bounce rate, and the top entry and exit pages.
 * top: per value of a field, its visitors (distinct persons with an event that has it) and
 * views (pageviews that have it), as Plausible lists pages, sources, countries and devices;
 * entry_page and exit_page list where sessions began and ended (visits instead of views). */
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

/* Rows of a top list: value index → visitors (distinct persons) and a second count; one set
 * of counts per thread of a scan (colscan.h), merged into c[0]. */
struct top_counts {
    struct ff_qtable visitors, seen, counts;
    uint32_t last_value; /* the (value, person) counted last: rows repeat it */
    uint64_t last_person;
};
struct top {
    struct ff_qvalues values;
    struct top_counts c[FF_QTHREADS_MAX];
};

static void top_init(struct top *t)
{
    memset(t, 0, sizeof *t);
    ff_qvalues_init(&t->values);
}

static void top_free(struct top *t)
{
    ff_qvalues_free(&t->values);
    for (int i = 0; i < FF_QTHREADS_MAX; i++) {
        ff_qtable_free(&t->c[i].visitors);
        ff_qtable_free(&t->c[i].seen);
        ff_qtable_free(&t->c[i].counts);
    }
}

/* One person (hash; 0: none) with value index idx, adding `by` to its count. */
static int top_count(struct top_counts *c, uint32_t idx, uint64_t person, uint64_t by)
{
    int rc = 0;
    if (person && (person != c->last_person || idx != c->last_value)) {
        rc = ff_qtable_count(&c->visitors, &c->seen, 1, idx, person);
        c->last_person = person, c->last_value = idx;
    }
    if (!rc && by) rc = ff_qtable_add(&c->counts, idx, 0, by) < 0 ? -ENOMEM : 0;
    return rc;
}

/* One person with value v, adding `by` to its count. */
static int top_add(struct top *t, struct ff_str v, struct ff_str person, uint64_t by)
{
    uint32_t idx;
    int rc = ff_qvalues_index(&t->values, v, &idx);
    return rc ? rc : top_count(&t->c[0], idx, person.len ? XXH3_64bits(person.p, person.len) : 0, by);
}

struct row {
    struct ff_str value;
    uint64_t visitors, count;
};

static int by_visitors(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    if (x->visitors != y->visitors) return x->visitors > y->visitors ? -1 : 1;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return ff_str_cmp(x->value, y->value);
}

/* [{"value":…,"visitors":N,"<count_name>":M}, …], the top `limit` by visitors, then count. */
static int top_write(struct top *t, size_t limit, const char *count_name, struct ff_buf *o)
{
    struct row *r = ff_malloc((t->values.n + 1) * sizeof *r);
    if (!r) return -ENOMEM;
    for (size_t i = 0; i < t->values.n; i++)
        r[i] = (struct row){t->values.v[i], ff_qtable_get(&t->c[0].visitors, i + 1, 0),
                            ff_qtable_get(&t->c[0].counts, i + 1, 0)};
    qsort(r, t->values.n, sizeof *r, by_visitors);
    int rc = ff_buf_putc(o, '[');
    for (size_t i = 0; !rc && i < t->values.n && i < limit; i++) {
        rc = ff_buf_append_str(o, i ? ",{\"value\":" : "{\"value\":");
        if (!rc) rc = ff_json_write_str(o, r[i].value.p, r[i].value.len);
        if (!rc)
            rc = ff_buf_printf(o, ",\"visitors\":%llu,\"%s\":%llu}", (unsigned long long)r[i].visitors, count_name,
                               (unsigned long long)r[i].count);
    }
    ff_free(r);
    return rc ? rc : ff_buf_putc(o, ']');
}

/* ---- sessions ---- */

struct matcher {
    const struct ff_query *q;
    struct ff_field_ctx *ctx;
};

static int session_event_passes(void *arg, const struct ff_event *ev)
{
    struct matcher *m = arg;
    ff_field_ctx_reset(m->ctx);
    return ff_filters_pass(m->ctx, ev, m->q->filters, m->q->nfilters);
}

static int load_sessions(struct ff_store *s, const struct ff_query *q, struct ff_session_list *l, char *err,
                         size_t errlen)
{
    struct ff_session_filter sf = {q->from_us, q->to_us, NULL, 0, q->project[0] ? q->project : NULL, q->bots, SIZE_MAX,
                                   (uint64_t)q->deadline_ns};
    struct matcher m = {q, q->nfilters ? ff_field_ctx_new() : NULL};
    if (q->nfilters && !m.ctx) return -ENOMEM;
    struct ff_traits *traits = NULL;
    int rc = q->nfilters && ff_query_uses_traits(q) ? ff_traits_load(s, q, &traits) : 0;
    if (m.ctx) ff_field_ctx_set_traits(m.ctx, traits);
    if (!rc) rc = ff_store_sessions(s, &sf, q->nfilters ? session_event_passes : NULL, &m, l);
    ff_traits_free(traits);
    ff_field_ctx_free(m.ctx);
    if (rc == FF_ETOOBIG)
        snprintf(err, errlen, "more than %zu sessions in the range: ask for a shorter one", (size_t)FF_SESSIONS_READ_MAX);
    return rc == -ETIMEDOUT ? FF_QUERY_TIMEOUT : rc;
}

int ff_query_sessions(struct ff_store *s, const struct ff_query *q, struct ff_buf *out, char *err, size_t errlen)
{
    struct ff_session_list l;
    int rc = load_sessions(s, q, &l, err, errlen);
    if (rc) return rc;
    struct top entry, exit;
    top_init(&entry);
    top_init(&exit);
    struct ff_qtable persons = {0};
    double duration = 0, pages = 0;
    size_t bounces = 0, visitors = 0;
    for (size_t i = 0; !rc && i < l.n; i++) {
        const struct ff_session_summary *x = &l.v[i];
        struct ff_str who = x->attr[FF_SA_PERSON].len ? x->attr[FF_SA_PERSON] : x->attr[FF_SA_DEVICE];
        int fresh = ff_qtable_add(&persons, XXH3_64bits(who.p, who.len), 0, 0);
        if (fresh < 0) rc = fresh;
        visitors += fresh == 1;
        duration += (double)(x->end - x->start) / 1e6;
        pages += x->pageviews;
        bounces += (size_t)ff_session_bounce(x);
        if (!rc && x->attr[FF_SA_ENTRY].len) rc = top_add(&entry, x->attr[FF_SA_ENTRY], who, 1);
        if (!rc && x->attr[FF_SA_EXIT].len) rc = top_add(&exit, x->attr[FF_SA_EXIT], who, 1);
    }
    double n = l.n ? (double)l.n : 1;
    if (!rc) rc = ff_query_open_answer(q, "sessions", out);
    if (!rc)
        rc = ff_buf_printf(out, ",\"sessions\":%zu,\"visitors\":%zu,\"avg_duration_seconds\":%.3f,\"pages_per_session\":%.3f,"
                                "\"bounce_rate\":%.4f,\"entry_pages\":",
                           l.n, visitors, duration / n, pages / n, (double)bounces / n);
    if (!rc) rc = top_write(&entry, q->limit, "visits", out);
    if (!rc) rc = ff_buf_append_str(out, ",\"exit_pages\":");
    if (!rc) rc = top_write(&exit, q->limit, "visits", out);
    if (!rc) rc = ff_buf_putc(out, '}');
    top_free(&entry);
    top_free(&exit);
    ff_qtable_free(&persons);
    ff_session_list_free(&l);
    return rc;
}

/* ---- top ---- */

/* Matchers 0 and 1: pageviews and screens, the views a value gets; any event makes a visitor. */
static int top_consume(void *arg, const struct ff_qbatch *b)
{
    struct top_counts *c = arg;
    int rc = 0;
    for (uint32_t i = 0; !rc && i < b->n; i++) rc = top_count(c, b->value[i], b->person[i], b->match[i] ? 1 : 0);
    return rc;
}

static int top_merge(void *into, void *from)
{
    struct top_counts *a = into, *b = from;
    int rc = ff_qtable_merge(&a->visitors, &a->seen, &b->visitors, &b->seen, 1);
    return rc ? rc : ff_qtable_merge(&a->counts, NULL, &b->counts, NULL, 0);
}

int ff_query_top(struct ff_store *s, const struct ff_query *q, struct ff_buf *out, char *err, size_t errlen)
{
    struct top t;
    top_init(&t);
    int rc = 0;
    err[0] = '\0';
    if (q->top_visit != FF_TOP_EVENTS) { /* where sessions began or ended */
        struct ff_session_list l;
        rc = load_sessions(s, q, &l, err, errlen);
        int a = q->top_visit == FF_TOP_ENTRY ? FF_SA_ENTRY : FF_SA_EXIT;
        for (size_t i = 0; !rc && i < l.n; i++) {
            const struct ff_session_summary *x = &l.v[i];
            struct ff_str who = x->attr[FF_SA_PERSON].len ? x->attr[FF_SA_PERSON] : x->attr[FF_SA_DEVICE];
            if (x->attr[a].len) rc = top_add(&t, x->attr[a], who, 1);
        }
        ff_session_list_free(&l); /* safe after a failed load too: it is left empty */
    } else {
        struct ff_qplan p = {.q = q, .from_us = q->from_us, .nmatch = 2, .match_event = {"$pageview", "$screen"},
                             .keep_unmatched = 1, .value = &q->dimension, .value_required = 1,
                             .person = FF_QP_HASH, .values = &t.values, .consume = top_consume, .merge = top_merge};
        void *states[FF_QTHREADS_MAX];
        for (int i = 0; i < FF_QTHREADS_MAX; i++) states[i] = &t.c[i];
        rc = ff_qplan_run(s, &p, states);
    }
    if (rc == FF_ETOOBIG && !err[0])
        snprintf(err, errlen, "the query needs more than its memory budget: narrow it with filters or a shorter range");
    if (!rc) rc = ff_query_open_answer(q, "top", out);
    if (!rc) {
        const char *dim = q->top_visit == FF_TOP_ENTRY ? "entry_page" : q->top_visit == FF_TOP_EXIT ? "exit_page"
                                                                                                     : q->dimension.name;
        rc = ff_buf_append_str(out, ",\"dimension\":");
        if (!rc) rc = ff_json_write_str(out, dim, strlen(dim));
        if (!rc) rc = ff_buf_append_str(out, ",\"results\":");
    }
    if (!rc) rc = top_write(&t, q->limit, q->top_visit == FF_TOP_EVENTS ? "views" : "visits", out);
    if (!rc) rc = ff_buf_putc(out, '}');
    top_free(&t);
    return rc;
}
