/* paths.c - kind "paths": where visits go, as the nodes and weighted edges a Sankey chart
 * draws.
 *
 * A session's path is its events in time order as items: a page's path, a screen's name, a
 * track call's event name; an item repeated right after itself is one item (a reload). From
 * the first occurrence of `start` (or the session's first item), the next depth-1 items (or,
 * for direction previous, the ones before it, nearest first) make the path. Node "2_/pricing"
 * is the item at step 2; an edge's value is the number of sessions that went that way. The
 * `limit` heaviest edges are answered, with the nodes they touch. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "core/errors.h"
#include "core/json.h"
#include "event/event.h"
#include "query/query_int.h"
#include "store/store.h"

struct item {
    struct ff_qrow r; /* key: XXH3 of the session id */
    uint32_t label;   /* ff_qvalues index */
};

struct paths {
    const struct ff_query *q;
    struct ff_field_ctx *ctx;
    struct ff_field event_field, path_field;
    struct item *items;
    size_t n, cap;
    struct ff_qvalues labels;
    int rc;
};

static int visit(void *arg, const struct ff_event *ev)
{
    struct paths *p = arg;
    if (!ev->session_id.len || !ff_query_wants(p->ctx, p->q, ev)) return 0;
    struct ff_str label = {"", 0};
    if (ev->type == FF_EV_PAGE) ff_field_value(p->ctx, ev, &p->path_field, &label);
    else if (ev->type == FF_EV_SCREEN) label = ev->name;
    else ff_field_value(p->ctx, ev, &p->event_field, &label);
    if (!label.len) return 0;
    uint32_t idx;
    int rc = ff_qvalues_index(&p->labels, label, &idx);
    if (!rc) rc = ff_qrows_reserve((void **)&p->items, p->n, &p->cap, sizeof *p->items);
    if (!rc) p->items[p->n++] = (struct item){{XXH3_64bits(ev->session_id.p, ev->session_id.len), ev->timestamp_us, ev->seq}, idx};
    return rc ? (p->rc = rc) : 0;
}

struct edge {
    uint32_t step, from, to; /* from step `step` to step + 1 */
    uint64_t value;
};

static int by_value(const void *a, const void *b)
{
    const struct edge *x = a, *y = b;
    if (x->value != y->value) return x->value > y->value ? -1 : 1;
    if (x->step != y->step) return x->step < y->step ? -1 : 1;
    if (x->from != y->from) return x->from < y->from ? -1 : 1;
    return x->to < y->to ? -1 : x->to > y->to;
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

int ff_query_paths(struct ff_store *s, const struct ff_query *q, struct ff_buf *out, char *err, size_t errlen)
{
    struct paths p;
    memset(&p, 0, sizeof p);
    p.q = q;
    ff_qvalues_init(&p.labels);
    int rc = ff_field_compile("path", 4, &p.path_field, err, errlen);
    if (!rc) rc = ff_query_scan(s, q, &p.ctx, &p.event_field, visit, &p, &p.rc);
    if (rc == FF_ETOOBIG) snprintf(err, errlen, "too many events for one paths query: narrow it or shorten the range");
    uint32_t start = 0;
    int has_start = q->path_start[0] != 0;
    if (has_start) {
        const uint32_t *at = ff_strmap_get(&p.labels.map, q->path_start, strlen(q->path_start));
        start = at ? *at : UINT32_MAX; /* never seen: no paths */
    }
    if (!rc && p.n) qsort(p.items, p.n, sizeof *p.items, ff_qrow_cmp);
    /* edges: (step, from, to) → sessions; nodes: (step, label) → sessions */
    struct ff_qtable edges = {0}, nodes = {0};
    uint32_t *seq = rc ? NULL : ff_malloc((p.n ? p.n : 1) * sizeof *seq);
    if (!rc && !seq) rc = -ENOMEM;
    size_t sessions = 0;
    for (size_t a = 0, z; !rc && a < p.n; a = z) {
        for (z = a + 1; z < p.n && p.items[z].r.key == p.items[a].r.key;) z++;
        size_t n = 0; /* the session's items, repeats collapsed */
        for (size_t i = a; i < z; i++)
            if (!n || seq[n - 1] != p.items[i].label) seq[n++] = p.items[i].label;
        size_t from = 0;
        if (has_start) {
            while (from < n && seq[from] != start) from++;
            if (from == n) continue;
        }
        sessions++;
        for (size_t k = 0; !rc && k < q->depth; k++) {
            size_t i = q->path_back ? from - k : from + k;
            if ((q->path_back && k > from) || i >= n) break;
            rc = ff_qtable_add(&nodes, k, seq[i], 1) < 0 ? -ENOMEM : 0;
            if (!rc && k) {
                size_t prev = q->path_back ? i + 1 : i - 1;
                rc = ff_qtable_add(&edges, (uint64_t)(k - 1) << 32 | seq[prev], seq[i], 1) < 0 ? -ENOMEM : 0;
            }
        }
    }
    struct edge *e = rc ? NULL : ff_malloc((edges.n ? edges.n : 1) * sizeof *e);
    if (!rc && !e) rc = -ENOMEM;
    size_t ne = 0;
    for (size_t i = 0; !rc && i < edges.cap; i++)
        if (edges.a[i] != FF_QTABLE_EMPTY)
            e[ne++] = (struct edge){(uint32_t)(edges.a[i] >> 32), (uint32_t)edges.a[i], (uint32_t)edges.b[i], edges.v[i]};
    if (!rc && ne) qsort(e, ne, sizeof *e, by_value);
    if (ne > q->limit) ne = q->limit;
    if (!rc) rc = ff_query_open_answer(q, "paths", out);
    if (!rc)
        rc = ff_buf_printf(out, ",\"direction\":\"%s\",\"depth\":%zu,\"sessions\":%zu,\"nodes\":[",
                           q->path_back ? "previous" : "next", q->depth, sessions);
    /* the nodes the answered edges touch (the start alone when no edge is answered) */
    struct ff_qtable shown = {0};
    int first = 1;
    for (size_t i = 0; !rc && i < ne * 2 + 1; i++) {
        uint32_t step, label;
        if (i < ne * 2) step = e[i / 2].step + (i & 1), label = i & 1 ? e[i / 2].to : e[i / 2].from;
        else if (has_start && start != UINT32_MAX && sessions) step = 0, label = start;
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
        if (!rc) rc = ff_buf_printf(out, ",\"sessions\":%llu}", (unsigned long long)ff_qtable_get(&nodes, step, label));
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
    ff_qtable_free(&edges);
    ff_qtable_free(&nodes);
    ff_free(e);
    ff_free(seq);
    ff_free(p.items);
    ff_qvalues_free(&p.labels);
    ff_field_ctx_free(p.ctx);
    return rc;
}
