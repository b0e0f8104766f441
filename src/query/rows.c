/* rows.c - kinds "live", "events" and "persons": rows rather than aggregates (see query.h).
 *
 * live: who is here now and how fast events arrive, by receive time: distinct persons in the
 * last 5 minutes, events per second over the last minute and per minute over the last 30,
 * and the latest events. events: the events that match, newest first, `limit` from
 * `offset`. persons: the persons who did them, with how many and when first and last, the
 * most active first. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "core/errors.h"
#include "core/json.h"
#include "core/timeutil.h"
#include "event/event.h"
#include "query/colscan.h"
#include "query/query_int.h"
#include "store/store.h"

#define LIVE_PERSONS_US (5 * 60 * 1000000LL)
#define LIVE_SECONDS 60
#define LIVE_MINUTES 30

/* ---- the newest K events, as JSON ---- */
struct kept {
    int64_t t;
    uint64_t seq;
    char *json;
    size_t len;
};

struct newest {
    struct kept *heap; /* a min-heap on (t, seq): the root goes first when a newer one comes */
    size_t n, k;
    int64_t bound;     /* once k are kept, the root's time: nothing before it can come in */
    struct ff_buf tmp;
};

static int older(const struct kept *a, const struct kept *b) { return a->t < b->t || (a->t == b->t && a->seq < b->seq); }

static void sift_down(struct newest *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && older(&h->heap[l], &h->heap[m])) m = l;
        if (r < h->n && older(&h->heap[r], &h->heap[m])) m = r;
        if (m == i) return;
        struct kept x = h->heap[i];
        h->heap[i] = h->heap[m], h->heap[m] = x;
        i = m;
    }
}

static int keep_newest(struct newest *h, const struct ff_event *ev, int64_t t)
{
    struct kept k = {t, ev->seq, NULL, 0};
    if (!h->k || (h->n == h->k && !older(&h->heap[0], &k))) return 0;
    ff_buf_reset(&h->tmp);
    int rc = ff_event_write_json(&h->tmp, ev);
    if (rc) return rc;
    if (!(k.json = ff_malloc(h->tmp.len))) return -ENOMEM;
    memcpy(k.json, h->tmp.data, h->tmp.len);
    k.len = h->tmp.len;
    if (h->n < h->k) { /* sift up */
        size_t i = h->n++;
        h->heap[i] = k;
        while (i && older(&h->heap[i], &h->heap[(i - 1) / 2])) {
            struct kept x = h->heap[i];
            h->heap[i] = h->heap[(i - 1) / 2], h->heap[(i - 1) / 2] = x;
            i = (i - 1) / 2;
        }
    } else {
        ff_free(h->heap[0].json);
        h->heap[0] = k;
        sift_down(h, 0);
    }
    if (h->n == h->k) h->bound = h->heap[0].t;
    return 0;
}

static int newest_first(const void *a, const void *b) { return older(b, a) ? -1 : older(a, b) ? 1 : 0; }

/* The kept events, newest first, from `skip` on, as a JSON list. */
static int write_newest(struct newest *h, size_t skip, struct ff_buf *o)
{
    qsort(h->heap, h->n, sizeof *h->heap, newest_first);
    int rc = ff_buf_putc(o, '[');
    for (size_t i = skip; !rc && i < h->n; i++) {
        if (i > skip) rc = ff_buf_putc(o, ',');
        if (!rc) rc = ff_buf_append(o, h->heap[i].json, h->heap[i].len);
    }
    return rc ? rc : ff_buf_putc(o, ']');
}

static void newest_free(struct newest *h)
{
    for (size_t i = 0; i < h->n; i++) ff_free(h->heap[i].json);
    ff_free(h->heap);
    ff_buf_free(&h->tmp);
}

/* ---- the scan ---- */
struct rows {
    const struct ff_query *q;
    struct ff_field_ctx *ctx;
    struct ff_field event_field;
    struct newest latest;
    /* live */
    uint64_t per_second[LIVE_SECONDS], per_minute[LIVE_MINUTES];
    struct ff_qtable here;  /* persons of the last 5 minutes */
    size_t persons_here;
    int rc;
};

/* ---- persons: from the column scan (colscan.h), a tally per thread ---- */
struct tally {
    struct person_tally {
        uint64_t count;
        int64_t first, last;
    } *p;      /* per person index (plan->persons, from 1) */
    size_t cap;
};

/* One person's `n` events, the first and last of them at t0 and t1. */
static int tally_add(struct tally *t, uint32_t who, uint64_t n, int64_t t0, int64_t t1)
{
    if (who >= t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        while (cap <= who) cap *= 2;
        struct person_tally *p = ff_realloc(t->p, cap * sizeof *p);
        if (!p) return -ENOMEM;
        memset(p + t->cap, 0, (cap - t->cap) * sizeof *p);
        t->p = p, t->cap = cap;
    }
    struct person_tally *x = &t->p[who];
    if (!n) return 0;
    if (!x->count || t0 < x->first) x->first = t0;
    if (!x->count || t1 > x->last) x->last = t1;
    x->count += n;
    return 0;
}

static int tally_consume(void *arg, const struct ff_qbatch *b)
{
    int rc = 0;
    for (uint32_t i = 0; !rc && i < b->n; i++) rc = tally_add(arg, b->who[i], b->weight[i], b->t[i], b->t[i]);
    return rc;
}

static int tally_merge(void *into, void *from)
{
    struct tally *a = into, *b = from;
    int rc = 0;
    for (size_t w = 0; !rc && w < b->cap; w++) rc = tally_add(a, (uint32_t)w, b->p[w].count, b->p[w].first, b->p[w].last);
    return rc;
}

static void tally_free(struct tally *t)
{
    ff_free(t->p);
    memset(t, 0, sizeof *t);
}

static int visit(void *arg, const struct ff_event *ev)
{
    struct rows *r = arg;
    const struct ff_query *q = r->q;
    if (!ff_query_wants(r->ctx, q, ev) || !ff_query_event_is(r->ctx, &r->event_field, ev, q->series[0].event)) return 0;
    int rc = 0;
    if (q->kind == FF_Q_EVENTS) {
        struct kept cursor = {q->before_t, q->before_seq, NULL, 0}, at = {ev->timestamp_us, ev->seq, NULL, 0};
        if (!q->has_before || older(&at, &cursor)) rc = keep_newest(&r->latest, ev, ev->timestamp_us);
    } else { /* live: by when the events arrived */
        int64_t age = q->now_us - ev->received_at_us;
        if (age >= 0 && age < LIVE_SECONDS * 1000000LL) r->per_second[LIVE_SECONDS - 1 - age / 1000000]++;
        if (age >= 0 && age < LIVE_MINUTES * 60000000LL) r->per_minute[LIVE_MINUTES - 1 - age / 60000000]++;
        struct ff_str who = ff_query_person(ev);
        if (age >= 0 && age < LIVE_PERSONS_US && who.len) {
            int fresh = ff_qtable_add(&r->here, XXH3_64bits(who.p, who.len), 0, 0);
            if (fresh < 0) rc = fresh;
            r->persons_here += fresh == 1;
        }
        if (!rc) rc = keep_newest(&r->latest, ev, ev->received_at_us);
    }
    return rc ? (r->rc = rc) : 0;
}

struct ranked_person {
    struct ff_str id;
    uint64_t count;
    int64_t first, last;
};

static int most_active(const void *a, const void *b)
{
    const struct ranked_person *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return ff_str_cmp(x->id, y->id);
}

static int write_persons(const struct ff_qvalues *persons, const struct tally *t, size_t offset, size_t limit,
                         struct ff_buf *o)
{
    struct ranked_person *p = ff_malloc((persons->n ? persons->n : 1) * sizeof *p);
    if (!p) return -ENOMEM;
    size_t n = 0;
    for (uint32_t w = 1; w < t->cap && w <= persons->n; w++)
        if (t->p[w].count) p[n++] = (struct ranked_person){ff_qvalues_text(persons, w), t->p[w].count, t->p[w].first, t->p[w].last};
    qsort(p, n, sizeof *p, most_active);
    int rc = ff_buf_printf(o, ",\"total\":%zu,\"persons\":[", n);
    for (size_t i = offset; !rc && i < n && i < offset + limit; i++) {
        char f[32], l[32];
        ff_time_format_iso(p[i].first, f);
        ff_time_format_iso(p[i].last, l);
        rc = ff_buf_append_str(o, i > offset ? ",{\"person\":" : "{\"person\":");
        if (!rc) rc = ff_json_write_str(o, p[i].id.p, p[i].id.len);
        if (!rc)
            rc = ff_buf_printf(o, ",\"events\":%llu,\"first\":\"%s\",\"last\":\"%s\"}", (unsigned long long)p[i].count, f, l);
    }
    ff_free(p);
    return rc ? rc : ff_buf_putc(o, ']');
}

/* persons: the column scan's rows of each person, counted on each thread */
static int query_persons(struct ff_store *s, const struct ff_query *q, struct ff_buf *out, char *err, size_t errlen)
{
    struct ff_qvalues persons;
    ff_qvalues_init(&persons);
    struct tally t[FF_QTHREADS_MAX];
    memset(t, 0, sizeof t);
    struct ff_qplan p = {.q = q, .from_us = q->from_us, .nmatch = 1, .match_event = {q->series[0].event},
                         .person = FF_QP_REQUIRED, .who = 1, .persons = &persons, .t_use = FF_QT_EXACT,
                         .weighted = 1, .consume = tally_consume, .merge = tally_merge};
    void *states[FF_QTHREADS_MAX];
    for (int i = 0; i < FF_QTHREADS_MAX; i++) states[i] = &t[i];
    int rc = ff_qplan_run(s, &p, states);
    if (rc == FF_ETOOBIG) snprintf(err, errlen, "the query needs more than its memory budget: narrow it or shorten the range");
    if (!rc) rc = ff_query_open_answer(q, "persons", out);
    if (!rc) rc = write_persons(&persons, &t[0], q->offset, q->limit, out);
    if (!rc) rc = ff_buf_putc(out, '}');
    for (int i = 0; i < FF_QTHREADS_MAX; i++) tally_free(&t[i]);
    ff_qvalues_free(&persons);
    return rc;
}

int ff_query_rows(struct ff_store *s, const struct ff_query *q, struct ff_buf *out, char *err, size_t errlen)
{
    if (q->kind == FF_Q_PERSONS) return query_persons(s, q, out, err, errlen);
    struct rows r;
    memset(&r, 0, sizeof r);
    r.q = q;
    ff_buf_init(&r.latest.tmp, (size_t)1 << 30);
    size_t offset = q->offset;
    struct ff_query live;
    if (q->kind == FF_Q_LIVE) { /* the last half hour, and a little ahead for clocks that run fast */
        live = *q;
        live.from_us = q->now_us - LIVE_MINUTES * 60000000LL - 60000000LL;
        live.to_us = q->now_us + 5 * 60000000LL;
        q = r.q = &live;
    }
    struct ff_query paged;
    if (q->kind == FF_Q_EVENTS && q->has_before && q->before_t < q->to_us - 1) { /* nothing newer is read */
        paged = *q;
        paged.to_us = q->before_t + 1;
        q = r.q = &paged;
    }
    int rc = 0;
    r.latest.k = offset + q->limit;
    if (!(r.latest.heap = ff_malloc(r.latest.k * sizeof *r.latest.heap))) rc = -ENOMEM;
    /* the newest events: the parts with the latest first, until the rest are all older */
    r.latest.bound = INT64_MIN;
    const int64_t *bound = q->kind == FF_Q_EVENTS ? &r.latest.bound : NULL;
    if (!rc) rc = ff_query_scan(s, q, &r.ctx, &r.event_field, visit, &r, &r.rc, bound);
    if (rc == FF_ETOOBIG) snprintf(err, errlen, "the query needs more than its memory budget: narrow it or shorten the range");
    if (!rc) rc = ff_query_open_answer(q, q->kind == FF_Q_LIVE ? "live" : "events", out);
    if (!rc && q->kind == FF_Q_LIVE) {
        rc = ff_buf_printf(out, ",\"now\":\"");
        char now[32];
        ff_time_format_iso(q->now_us, now);
        if (!rc) rc = ff_buf_printf(out, "%s\",\"active_persons\":%zu,\"per_second\":[", now, r.persons_here);
        for (int i = 0; !rc && i < LIVE_SECONDS; i++) rc = ff_buf_printf(out, "%s%llu", i ? "," : "", (unsigned long long)r.per_second[i]);
        if (!rc) rc = ff_buf_append_str(out, "],\"per_minute\":[");
        for (int i = 0; !rc && i < LIVE_MINUTES; i++) rc = ff_buf_printf(out, "%s%llu", i ? "," : "", (unsigned long long)r.per_minute[i]);
        if (!rc) rc = ff_buf_append_str(out, "],\"latest\":");
        if (!rc) rc = write_newest(&r.latest, 0, out);
    } else if (!rc && q->kind == FF_Q_EVENTS) {
        rc = ff_buf_printf(out, ",\"offset\":%zu,\"events\":", offset);
        if (!rc) rc = write_newest(&r.latest, offset, out);
        /* a full page: where the next one starts, for "before" (no offset limit that way) */
        if (!rc && r.latest.n == r.latest.k && r.latest.n > offset) {
            const struct kept *last = &r.latest.heap[r.latest.n - 1];
            rc = ff_buf_printf(out, ",\"next\":\"%lld:%llu\"", (long long)last->t, (unsigned long long)last->seq);
        }
    }
    if (!rc) rc = ff_buf_putc(out, '}');
    newest_free(&r.latest);
    ff_qtable_free(&r.here);
    ff_field_ctx_free(r.ctx);
    return rc;
}
