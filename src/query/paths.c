/* paths.c - kind "paths": where visits go, as the nodes and weighted edges a Sankey chart
 * draws.
 *
 * A session's path is its events in time order as items: a page's path, a screen's name, a
 * track call's event name; an item repeated right after itself is one item (a reload). From
 * the first occurrence of `start` (or the session's first item), the next depth-1 items (or,
 * for direction previous, the ones before it, nearest first) make the path. Node "2_/pricing"
 * is the item at step 2; an edge's value is the number of sessions that went that way. The
 * `limit` heaviest edges are answered, with the nodes they touch.
 *
 * With a start, a first pass notes each session that has it and when it first came, so
 * that the second keeps only those sessions' items from then on (or, going back, up to
 * then): what a path can reach, far less than every item of the range. */
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

struct item {
    struct ff_qrow r; /* key: XXH3 of the session id */
    uint32_t label;   /* ff_qvalues index */
};

struct paths;

/* One thread's items (colscan.h), as runs of a session's rows; the walk reads every thread's. */
struct pstate {
    struct ff_qrowvec items;
    const struct paths *p;
    uint64_t session, bound;   /* the last session looked up in the starts: its rows come together */
    int looked, found;
};

/* One thread's starts (the first pass): (session, 0) → when its start first came (order_key). */
struct sstate {
    struct ff_qtable starts;
    const struct paths *p;
};

struct paths {
    const struct ff_query *q;
    struct pstate st[FF_QTHREADS_MAX];
    struct sstate ss[FF_QTHREADS_MAX];
    struct ff_qvalues labels;
    uint32_t start;            /* the start's label, with a start */
};

/* A time as an ordered unsigned number, never 0 for an event's. */
static uint64_t order_key(int64_t t) { return (uint64_t)t ^ (1ULL << 63); }

static int note_starts(void *arg, const struct ff_qbatch *b)
{
    struct sstate *ss = arg;
    for (uint32_t i = 0; i < b->n; i++) {
        if (b->value[i] != ss->p->start) continue;
        int created, rc = 0;
        uint64_t k = order_key(b->t[i]), *v = ff_qtable_at(&ss->starts, b->session[i], 0, k, &created, &rc);
        if (!v) return rc;
        if (k < *v) *v = k;
    }
    return 0;
}

static int merge_starts(void *into, void *from)
{
    return ff_qtable_merge_with(&((struct sstate *)into)->starts, &((struct sstate *)from)->starts, FF_QMERGE_MIN);
}

static int consume(void *arg, const struct ff_qbatch *b)
{
    struct pstate *st = arg;
    const struct paths *p = st->p;
    for (uint32_t i = 0; i < b->n; i++) {
        if (p->q->path_start[0]) { /* only what a path from the start can reach */
            if (!st->looked || st->session != b->session[i]) {
                st->looked = 1, st->session = b->session[i];
                st->bound = ff_qtable_get(&p->ss[0].starts, b->session[i], 0);
                st->found = st->bound != 0; /* no event's time makes a key of 0 */
            }
            uint64_t k = order_key(b->t[i]);
            if (!st->found || (p->q->path_back ? k > st->bound : k < st->bound)) continue;
        }
        struct item x = {{b->session[i], b->t[i], b->seq[i]}, b->value[i]};
        int rc = ff_qrowvec_push(&st->items, &x, sizeof x);
        if (rc) return rc;
    }
    return 0;
}

struct edge {
    uint32_t step, from, to; /* from step `step` to step + 1 */
    uint32_t rfrom, rto;     /* their labels' places in text order: ties go by them */
    uint64_t value;
};

static int by_value(const void *a, const void *b)
{
    const struct edge *x = a, *y = b;
    if (x->value != y->value) return x->value > y->value ? -1 : 1;
    if (x->step != y->step) return x->step < y->step ? -1 : 1;
    if (x->rfrom != y->rfrom) return x->rfrom < y->rfrom ? -1 : 1;
    return x->rto < y->rto ? -1 : x->rto > y->rto;
}

/* Each label's place in text order (labels are numbered in the order threads met them). */
struct ranked_label {
    struct ff_str text;
    uint32_t idx;
};

static int by_text(const void *a, const void *b)
{
    return ff_str_cmp(((const struct ranked_label *)a)->text, ((const struct ranked_label *)b)->text);
}

static uint32_t *label_ranks(const struct ff_qvalues *labels)
{
    size_t n = labels->n + 1;
    uint32_t *rank = ff_malloc(n * sizeof *rank);
    struct ranked_label *r = ff_malloc(n * sizeof *r);
    if (!rank || !r) {
        ff_free(rank), ff_free(r);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) r[i] = (struct ranked_label){ff_qvalues_text(labels, (uint32_t)i), (uint32_t)i};
    qsort(r, n, sizeof *r, by_text);
    for (size_t i = 0; i < n; i++) rank[r[i].idx] = (uint32_t)i;
    ff_free(r);
    return rank;
}

static int write_node_name(struct ff_buf *o, const struct paths *p, uint32_t step, uint32_t label)
{
    char prefix[16];
    snprintf(prefix, sizeof prefix, "%u_", step + 1);
    struct ff_str l = ff_qvalues_text(&p->labels, label);
    struct ff_buf tmp;
    ff_buf_init(&tmp, (size_t)1 << 20);
    int rc = ff_buf_append_str(&tmp, prefix);
    if (!rc) rc = ff_buf_append(&tmp, l.p, l.len);
    if (!rc) rc = ff_json_write_str(o, tmp.data, tmp.len);
    ff_buf_free(&tmp);
    return rc;
}

/* The walk over sessions: each one's items in time order, repeats collapsed, from the start. */
struct walk {
    const struct ff_query *q;
    int has_start;
    uint32_t start;
    uint32_t *seq;             /* scratch: a session's labels */
    struct ff_qtable edges;    /* (step << 32 | from, to) → sessions */
    struct ff_qtable nodes;    /* (step, label) → sessions */
    size_t sessions;
};

static int walk_session(void *arg, const void *rows, size_t nrows)
{
    struct walk *w = arg;
    const struct ff_query *q = w->q;
    const struct item *items = rows;
    uint32_t *seq = w->seq;
    size_t n = 0; /* the session's items, repeats collapsed */
    for (size_t i = 0; i < nrows; i++)
        if (!n || seq[n - 1] != items[i].label) seq[n++] = items[i].label;
    size_t from = 0;
    if (w->has_start) {
        while (from < n && seq[from] != w->start) from++;
        if (from == n) return 0;
    }
    w->sessions++;
    int rc = 0;
    for (size_t k = 0; !rc && k < q->depth; k++) {
        size_t i = q->path_back ? from - k : from + k;
        if ((q->path_back && k > from) || i >= n) break;
        rc = ff_qtable_add(&w->nodes, k, seq[i], 1) < 0 ? -ENOMEM : 0;
        if (!rc && k) {
            size_t prev = q->path_back ? i + 1 : i - 1;
            rc = ff_qtable_add(&w->edges, (uint64_t)(k - 1) << 32 | seq[prev], seq[i], 1) < 0 ? -ENOMEM : 0;
        }
    }
    return rc;
}

int ff_query_paths(struct ff_store *s, const struct ff_query *q, struct ff_buf *out, char *err, size_t errlen)
{
    struct paths p;
    memset(&p, 0, sizeof p);
    p.q = q;
    ff_qvalues_init(&p.labels);
    /* items: a page's path, a screen's name, else the event's name; of sessions' events only */
    struct ff_field event_field, path_field, name_field;
    int rc = ff_field_compile("event", 5, &event_field, err, errlen);
    if (!rc) rc = ff_field_compile("path", 4, &path_field, err, errlen);
    if (!rc) rc = ff_field_compile("name", 4, &name_field, err, errlen);
    struct ff_qplan plan = {.q = q, .from_us = q->from_us, .keep_unmatched = 1, .value = &event_field,
                            .value_page = &path_field, .value_screen = &name_field, .value_required = 1,
                            .session = FF_QP_REQUIRED, .seq = 1, .values = &p.labels, .consume = note_starts,
                            .merge = merge_starts};
    void *states[FF_QTHREADS_MAX];
    for (int i = 0; i < FF_QTHREADS_MAX; i++) p.ss[i].p = p.st[i].p = &p;
    if (!rc && q->path_start[0]) { /* the first pass: which sessions have the start, and when */
        rc = ff_qvalues_index(&p.labels, (struct ff_str){q->path_start, (uint32_t)strlen(q->path_start)}, &p.start);
        for (int i = 0; i < FF_QTHREADS_MAX; i++) states[i] = &p.ss[i];
        if (!rc) rc = ff_qplan_run(s, &plan, states);
    }
    plan.consume = consume, plan.merge = NULL;
    for (int i = 0; i < FF_QTHREADS_MAX; i++) states[i] = &p.st[i];
    if (!rc) rc = ff_qplan_run(s, &plan, states);
    struct ff_qrowvec items[FF_QTHREADS_MAX];
    size_t nitems = 0;
    for (int i = 0; i < FF_QTHREADS_MAX; i++) items[i] = p.st[i].items, nitems += items[i].rows.n;
    /* edges: (step, from, to) → sessions; nodes: (step, label) → sessions */
    struct walk w = {q, 0, 0, NULL, {0}, {0}, 0};
    w.has_start = q->path_start[0] != 0;
    if (w.has_start) {
        const uint32_t *at = ff_strmap_get(&p.labels.map, q->path_start, strlen(q->path_start));
        w.start = at ? *at : UINT32_MAX; /* never seen: no paths */
    }
    if (!rc && !(w.seq = ff_malloc((nitems ? nitems : 1) * sizeof *w.seq))) rc = -ENOMEM;
    void *warg = &w;
    if (!rc) rc = ff_qrowvec_each_key(items, FF_QTHREADS_MAX, sizeof(struct item), walk_session, &warg, 1);
    if (rc == FF_ETOOBIG) snprintf(err, errlen, "too many events for one paths query: narrow it or shorten the range");
    struct edge *e = rc ? NULL : ff_malloc((w.edges.n ? w.edges.n : 1) * sizeof *e);
    if (!rc && !e) rc = -ENOMEM;
    size_t ne = 0;
    for (size_t i = 0; !rc && i < w.edges.cap; i++)
        if (w.edges.s[i].a != FF_QTABLE_EMPTY)
            e[ne++] = (struct edge){(uint32_t)(w.edges.s[i].a >> 32), (uint32_t)w.edges.s[i].a, (uint32_t)w.edges.s[i].b, 0, 0,
                                    w.edges.s[i].v};
    uint32_t *rank = rc ? NULL : label_ranks(&p.labels);
    if (!rc && !rank) rc = -ENOMEM;
    for (size_t i = 0; !rc && i < ne; i++) e[i].rfrom = rank[e[i].from], e[i].rto = rank[e[i].to];
    ff_free(rank);
    if (!rc && ne) qsort(e, ne, sizeof *e, by_value);
    if (ne > q->limit) ne = q->limit;
    if (!rc) rc = ff_query_open_answer(q, "paths", out);
    if (!rc)
        rc = ff_buf_printf(out, ",\"direction\":\"%s\",\"depth\":%zu,\"sessions\":%zu,\"nodes\":[",
                           q->path_back ? "previous" : "next", q->depth, w.sessions);
    /* the nodes the answered edges touch (the start alone when no edge is answered) */
    struct ff_qtable shown = {0};
    int first = 1;
    for (size_t i = 0; !rc && i < ne * 2 + 1; i++) {
        uint32_t step, label;
        if (i < ne * 2) step = e[i / 2].step + (i & 1), label = i & 1 ? e[i / 2].to : e[i / 2].from;
        else if (w.has_start && w.start != UINT32_MAX && w.sessions) step = 0, label = w.start;
        else break;
        int fresh = ff_qtable_add(&shown, step, label, 0);
        if (fresh < 0) rc = fresh;
        if (fresh != 1) continue;
        rc = ff_buf_append_str(out, first ? "{\"name\":" : ",{\"name\":");
        first = 0;
        if (!rc) rc = write_node_name(out, &p, step, label);
        struct ff_str l = ff_qvalues_text(&p.labels, label);
        if (!rc) rc = ff_buf_printf(out, ",\"step\":%u,\"item\":", step + 1);
        if (!rc) rc = ff_json_write_str(out, l.p, l.len);
        if (!rc) rc = ff_buf_printf(out, ",\"sessions\":%llu}", (unsigned long long)ff_qtable_get(&w.nodes, step, label));
    }
    if (!rc) rc = ff_buf_append_str(out, "],\"edges\":[");
    for (size_t i = 0; !rc && i < ne; i++) {
        rc = ff_buf_append_str(out, i ? ",{\"source\":" : "{\"source\":");
        if (!rc) rc = write_node_name(out, &p, e[i].step, e[i].from);
        if (!rc) rc = ff_buf_append_str(out, ",\"target\":");
        if (!rc) rc = write_node_name(out, &p, e[i].step + 1, e[i].to);
        if (!rc) rc = ff_buf_printf(out, ",\"sessions\":%llu}", (unsigned long long)e[i].value);
    }
    if (!rc) rc = ff_buf_append_str(out, "]}");
    ff_qtable_free(&shown);
    ff_qtable_free(&w.edges);
    ff_qtable_free(&w.nodes);
    ff_free(e);
    ff_free(w.seq);
    for (int i = 0; i < FF_QTHREADS_MAX; i++) {
        ff_qrowvec_release(&p.st[i].items);
        ff_qtable_free(&p.ss[i].starts);
    }
    ff_qvalues_free(&p.labels);
    return rc;
}
