/* visits.c - kinds "sessions" and "top" (see query.h).
 *
 * sessions: the sessions that start in the range, those with an event that passes the
 * filters: how many, their visitors (distinct persons), average duration, pages per session,
 * bounce rate, and the top entry and exit pages. Sessions are summed from rows (colscan.h) as
 * ff_store_sessions sums them from events: the entry is the first pageview (or screen), the
 * exit the last, a bounce one pageview and no track call.
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
    struct ff_qtable visitors;
    uint64_t *counts;         /* per value index: values are numbered from 1 as they are met */
    size_t ncounts;
    /* visitors of values 1..63 (most lists have no more): a person's set of them per run of
     * their rows, counted into visitors by top_write; a pair per value and person costs
     * twice as much */
    struct ff_qunion firsts;
    uint64_t run_person, run_set;
    struct ff_qdistinct seen; /* (value, person) for the values past 63 */
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
        ff_qdistinct_free(&t->c[i].seen);
        ff_qunion_free(&t->c[i].firsts);
        ff_free(t->c[i].counts);
    }
}

/* Room for value indexes below n, new ones 0. */
static int grow_counts(struct top_counts *c, size_t n)
{
    if (n <= c->ncounts) return 0;
    size_t cap = c->ncounts ? c->ncounts : 64;
    while (cap < n) cap *= 2;
    uint64_t *p = ff_realloc(c->counts, cap * sizeof *p);
    if (!p) return -ENOMEM;
    memset(p + c->ncounts, 0, (cap - c->ncounts) * sizeof *p);
    c->counts = p, c->ncounts = cap;
    return 0;
}

/* The set of first values of the run of rows of one person now ended. */
static int top_run_end(struct top_counts *c)
{
    int rc = c->run_set ? ff_qunion_add(&c->firsts, c->run_person, c->run_set) : 0;
    c->run_set = 0;
    return rc;
}

/* Person (hash, not 0) has the values of set, on a run of their rows. */
static int top_run_add(struct top_counts *c, uint64_t person, uint64_t set)
{
    int rc = person != c->run_person ? top_run_end(c) : 0;
    c->run_person = person, c->run_set |= set;
    return rc;
}

/* One person (hash; 0: none) with value index idx, adding `by` to its count. */
static int top_count(struct top_counts *c, uint32_t idx, uint64_t person, uint64_t by)
{
    int rc = 0;
    if (person && idx < FF_QUNION_CELLS) {
        rc = top_run_add(c, person, (uint64_t)1 << idx);
    } else if (person && (person != c->last_person || idx != c->last_value)) {
        rc = ff_qdistinct_add(&c->seen, idx, person);
        c->last_person = person, c->last_value = idx;
    }
    if (!rc && by) {
        if (idx >= c->ncounts && (rc = grow_counts(c, idx + 1))) return rc;
        c->counts[idx] += by;
    }
    return rc;
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
static int top_write(struct top *t, const struct ff_qvalues *values, size_t limit, const char *count_name,
                     struct ff_buf *o)
{
    uint64_t firsts[FF_QUNION_CELLS] = {0};
    int rc = top_run_end(&t->c[0]);
    if (!rc) rc = ff_qunion_count(&t->c[0].firsts, firsts);
    if (!rc) rc = ff_qdistinct_count(&t->c[0].seen, &t->c[0].visitors);
    for (uint32_t v = 1; !rc && v < FF_QUNION_CELLS; v++)
        if (firsts[v] && (rc = ff_qtable_add(&t->c[0].visitors, v, 0, firsts[v])) > 0) rc = 0;
    struct row *r = rc ? NULL : ff_malloc((values->n + 1) * sizeof *r);
    if (!r) return rc ? rc : -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < values->n; i++) {
        r[n] = (struct row){values->v[i], ff_qtable_get(&t->c[0].visitors, i + 1, 0),
                            i + 1 < t->c[0].ncounts ? t->c[0].counts[i + 1] : 0};
        /* values are shared with another list (entry and exit pages): not every one is in this */
        n += r[n].visitors || r[n].count || values == &t->values;
    }
    qsort(r, n, sizeof *r, by_visitors);
    rc = ff_buf_putc(o, '[');
    for (size_t i = 0; !rc && i < n && i < limit; i++) {
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

/* One session summed from its rows (a run of them on one thread, then all its runs). */
struct visit {
    uint64_t session;           /* its id's hash */
    int64_t start, end;
    int64_t entry_t, exit_t;    /* its first and last pageview's (t, seq): entry and exit */
    uint64_t entry_seq, exit_seq;
    uint64_t person;
    uint32_t events, pageviews, tracks, entry, exit; /* entry, exit: page value indexes (0: none) */
    uint32_t matched;           /* an event of it passed the filters */
};

/* Runs of a session's rows, summed, in partitions by the session's hash: each partition is
 * then summed into whole sessions on its own, in a table that fits the caches. */
#define VPARTS 256
struct vrun {
    struct visit *v;
    size_t n, cap;
};
struct visits {
    struct vrun part[VPARTS];
    struct visit cur;           /* the run being summed */
    int has_cur;
    size_t n;
};

enum { M_PAGE = 1, M_SCREEN = 2, M_TRACK = 4, M_PASSED = 8 };

static int before(int64_t t, uint64_t seq, int64_t t2, uint64_t seq2) { return t < t2 || (t == t2 && seq < seq2); }

/* Folds x (a row, or a run) into the session at *v. */
static void visit_fold(struct visit *v, const struct visit *x)
{
    if (x->pageviews) {
        int had = v->pageviews > 0;
        if (!had || before(x->entry_t, x->entry_seq, v->entry_t, v->entry_seq))
            v->entry_t = x->entry_t, v->entry_seq = x->entry_seq, v->entry = x->entry;
        if (!had || !before(x->exit_t, x->exit_seq, v->exit_t, v->exit_seq))
            v->exit_t = x->exit_t, v->exit_seq = x->exit_seq, v->exit = x->exit;
    }
    if (x->start < v->start) v->start = x->start;
    if (x->end > v->end) v->end = x->end;
    v->events += x->events, v->pageviews += x->pageviews, v->tracks += x->tracks;
    v->matched |= x->matched;
    if (!v->person) v->person = x->person;
}

static int vrun_push(struct vrun *r, const struct visit *x)
{
    int rc = ff_qrows_reserve((void **)&r->v, r->n, &r->cap, sizeof *r->v);
    if (!rc) r->v[r->n++] = *x;
    return rc;
}

/* The run being summed goes to its partition. */
static int end_run(struct visits *vs)
{
    if (!vs->has_cur) return 0;
    vs->has_cur = 0;
    if (++vs->n > FF_SESSIONS_READ_MAX * 4) return FF_ETOOBIG;
    return vrun_push(&vs->part[vs->cur.session >> 56], &vs->cur);
}

static int visits_consume(void *arg, const struct ff_qbatch *b)
{
    struct visits *vs = arg;
    int rc = 0;
    for (uint32_t i = 0; !rc && i < b->n; i++) {
        uint32_t m = b->match[i], pv = (m & (M_PAGE | M_SCREEN)) != 0;
        struct visit x = {b->session[i], b->t[i], b->t[i], pv ? b->t[i] : 0, pv ? b->t[i] : 0, b->seq[i], b->seq[i],
                          b->person[i], 1, pv, (m & M_TRACK) != 0, b->value[i], b->value[i], (m & M_PASSED) != 0};
        if (vs->has_cur && vs->cur.session == x.session) {
            visit_fold(&vs->cur, &x);
            continue;
        }
        rc = end_run(vs);
        vs->cur = x;
        vs->has_cur = 1;
    }
    return rc;
}

static int visits_finish(void *arg) { return end_run(arg); }

static int visits_merge(void *into, void *from)
{
    struct visits *a = into, *b = from;
    for (size_t p = 0; p < VPARTS; p++)
        for (size_t i = 0; i < b->part[p].n; i++)
            if (vrun_push(&a->part[p], &b->part[p].v[i])) return -ENOMEM;
    return 0;
}

/* Sums each partition's runs into sessions, in place: their runs to the front, one each. */
static int sum_runs(struct visits *vs)
{
    size_t most = 0;
    for (size_t p = 0; p < VPARTS; p++)
        if (vs->part[p].n > most) most = vs->part[p].n;
    size_t cap = 16;
    while (cap < most * 2) cap *= 2;
    uint32_t *slot = ff_malloc(cap * sizeof *slot); /* index + 1 of the session in the partition */
    if (!slot) return -ENOMEM;
    for (size_t p = 0; p < VPARTS; p++) {
        struct vrun *r = &vs->part[p];
        size_t c = 16, kept = 0;
        while (c < r->n * 2) c *= 2;
        memset(slot, 0, c * sizeof *slot);
        for (size_t i = 0; i < r->n; i++) {
            size_t j = (r->v[i].session * 0x9e3779b97f4a7c15ULL >> 20) & (c - 1);
            for (; slot[j] && r->v[slot[j] - 1].session != r->v[i].session; j = (j + 1) & (c - 1)) {}
            if (slot[j]) {
                visit_fold(&r->v[slot[j] - 1], &r->v[i]);
                continue;
            }
            r->v[kept] = r->v[i];
            slot[j] = (uint32_t)++kept;
        }
        r->n = kept;
    }
    ff_free(slot);
    return 0;
}

/* The sessions that start in the range, those with an event that passes the filters, bots'
 * left out (unless asked for): read on past `to` for the rest of their events. *out (ff_free)
 * in no order; page values in *pages. */
static int load_visits(struct ff_store *s, const struct ff_query *q, struct ff_qvalues *pages, struct visit **out,
                       size_t *nout, char *err, size_t errlen)
{
    struct ff_field page;
    struct ff_filter track = {.op = FF_OP_EQ, .nvalues = 1};
    struct ff_str track_name = {"track", 5};
    track.values = &track_name;
    int rc = ff_field_compile("page", 4, &page, err, errlen);
    if (!rc) rc = ff_field_compile("type", 4, &track.field, err, errlen);
    if (rc) return FF_EINVAL;
    struct ff_qplan p = {.q = q, .from_us = q->from_us, .nmatch = 3, .match_event = {"$pageview", "$screen", ""},
                         .match_filters = {NULL, NULL, &track}, .match_nfilters = {0, 0, 1}, .keep_unmatched = 1,
                         .filter_bit = M_PASSED, .value = &page, .value_mask = M_PAGE | M_SCREEN,
                         .person = FF_QP_HASH, .session = FF_QP_REQUIRED, .seq = 1, .values = pages,
                         .consume = visits_consume, .merge = visits_merge, .finish = visits_finish};
    p.to_us = q->to_us > INT64_MAX - FF_SESSION_SPAN_US ? INT64_MAX : q->to_us + FF_SESSION_SPAN_US;
    struct visits st[FF_QTHREADS_MAX];
    memset(st, 0, sizeof st);
    void *states[FF_QTHREADS_MAX];
    for (int i = 0; i < FF_QTHREADS_MAX; i++) states[i] = &st[i];
    rc = ff_qplan_run(s, &p, states);
    if (rc == FF_ETOOBIG)
        snprintf(err, errlen, "more than %zu sessions in the range: ask for a shorter one", (size_t)FF_SESSIONS_READ_MAX);
    if (!rc) rc = sum_runs(&st[0]);
    size_t total = 0, n = 0;
    for (size_t p = 0; !rc && p < VPARTS; p++) total += st[0].part[p].n;
    if (!rc && total > FF_SESSIONS_READ_MAX) {
        snprintf(err, errlen, "more than %zu sessions in the range: ask for a shorter one", (size_t)FF_SESSIONS_READ_MAX);
        rc = FF_ETOOBIG;
    }
    struct visit *v = rc ? NULL : ff_malloc((total ? total : 1) * sizeof *v);
    if (!rc && !v) rc = -ENOMEM;
    for (size_t p = 0; !rc && p < VPARTS; p++)
        for (size_t i = 0; i < st[0].part[p].n; i++) {
            const struct visit *x = &st[0].part[p].v[i];
            if (x->matched && x->start < q->to_us) v[n++] = *x;
        }
    *out = rc ? NULL : v;
    *nout = n;
    if (rc) ff_free(v);
    for (int i = 0; i < FF_QTHREADS_MAX; i++)
        for (size_t p = 0; p < VPARTS; p++) ff_free(st[i].part[p].v);
    return rc;
}

int ff_query_sessions(struct ff_store *s, const struct ff_query *q, struct ff_buf *out, char *err, size_t errlen)
{
    struct top entry, exit;
    top_init(&entry);
    top_init(&exit);
    struct visit *v;
    size_t n;
    int rc = load_visits(s, q, &entry.values, &v, &n, err, errlen);
    struct ff_qdistinct persons;
    memset(&persons, 0, sizeof persons);
    int64_t duration_us = 0; /* whole numbers: the sums do not depend on the order */
    size_t bounces = 0, pages = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        const struct visit *x = &v[i];
        if (x->person) rc = ff_qdistinct_add(&persons, 0, x->person);
        duration_us += x->end - x->start;
        pages += x->pageviews;
        bounces += x->pageviews == 1 && x->tracks == 0; /* Plausible's and GA's bounce */
        if (!rc && x->entry) rc = top_count(&entry.c[0], x->entry, x->person, 1);
        if (!rc && x->exit) rc = top_count(&exit.c[0], x->exit, x->person, 1);
    }
    struct ff_qtable visitors = {0};
    if (!rc) rc = ff_qdistinct_count(&persons, &visitors);
    double d = n ? (double)n : 1;
    if (!rc) rc = ff_query_open_answer(q, "sessions", out);
    if (!rc)
        rc = ff_buf_printf(out, ",\"sessions\":%zu,\"visitors\":%zu,\"avg_duration_seconds\":%.3f,\"pages_per_session\":%.3f,"
                                "\"bounce_rate\":%.4f,\"entry_pages\":",
                           n, (size_t)ff_qtable_get(&visitors, 0, 0), (double)duration_us / 1e6 / d, (double)pages / d, (double)bounces / d);
    if (!rc) rc = top_write(&entry, &entry.values, q->limit, "visits", out);
    if (!rc) rc = ff_buf_append_str(out, ",\"exit_pages\":");
    if (!rc) rc = top_write(&exit, &entry.values, q->limit, "visits", out);
    if (!rc) rc = ff_buf_putc(out, '}');
    ff_free(v);
    top_free(&entry);
    top_free(&exit);
    ff_qdistinct_free(&persons);
    ff_qtable_free(&visitors);
    return rc;
}

/* ---- top ---- */

/* Matchers 0 and 1: pageviews and screens, the views a value gets; any event makes a visitor. */
static int top_consume(void *arg, const struct ff_qbatch *b)
{
    struct top_counts *c = arg;
    int rc = 0;
    for (uint32_t i = 0; !rc && i < b->n; i++) {
        if (!b->values[i]) {
            rc = top_count(c, b->value[i], b->person[i], b->match[i] ? b->weight[i] : 0);
        } else if (b->person[i]) { /* a run of a person's rows, as a set */
            rc = top_run_add(c, b->person[i], b->values[i]);
        }
    }
    return rc;
}

static int top_merge(void *into, void *from)
{
    struct top_counts *a = into, *b = from;
    int rc = top_run_end(a);
    if (!rc) rc = top_run_end(b);
    if (!rc) rc = ff_qunion_merge(&a->firsts, &b->firsts);
    if (!rc) rc = ff_qdistinct_merge(&a->seen, &b->seen);
    if (!rc) rc = grow_counts(a, b->ncounts);
    for (size_t i = 0; !rc && i < b->ncounts; i++) a->counts[i] += b->counts[i];
    return rc;
}

int ff_query_top(struct ff_store *s, const struct ff_query *q, struct ff_buf *out, char *err, size_t errlen)
{
    struct top t;
    top_init(&t);
    int rc = 0;
    err[0] = '\0';
    if (q->top_visit != FF_TOP_EVENTS) { /* where sessions began or ended */
        struct visit *v = NULL;
        size_t n = 0;
        rc = load_visits(s, q, &t.values, &v, &n, err, errlen);
        for (size_t i = 0; !rc && i < n; i++) {
            uint32_t page = q->top_visit == FF_TOP_ENTRY ? v[i].entry : v[i].exit;
            if (page) rc = top_count(&t.c[0], page, v[i].person, 1);
        }
        ff_free(v);
    } else {
        struct ff_qplan p = {.q = q, .from_us = q->from_us, .nmatch = 2, .match_event = {"$pageview", "$screen"},
                             .keep_unmatched = 1, .value = &q->dimension, .value_required = 1,
                             .person = FF_QP_HASH, .t_use = FF_QT_NONE, .weighted = 1, .value_sets = 1, .values = &t.values, .consume = top_consume,
                             .merge = top_merge};
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
    if (!rc) rc = top_write(&t, &t.values, q->limit, q->top_visit == FF_TOP_EVENTS ? "views" : "visits", out);
    if (!rc) rc = ff_buf_putc(out, '}');
    top_free(&t);
    return rc;
}
