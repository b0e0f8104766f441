/* activity.c - kinds "stickiness" and "lifecycle": what persons' activity (the event, or
 * any event) looks like interval by interval, in the query's zone.
 *
 * stickiness: for N = 1, 2, …: how many persons were active in exactly N of the range's
 * intervals. lifecycle, per interval of the range: new (their first activity ever falls in
 * it), returning (active in it and in the one before), resurrecting (active in it, not in
 * the one before, but earlier), and dormant (active in the one before, not in it: counted
 * negative, as PostHog draws it). Lifecycle reads the store from its first event, since
 * "new" means never active before. */
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
#include "store/store.h"

#define MAX_INTERVALS 10000

/* Buckets are stored shifted so that every one is positive (the table keeps u64s). */
#define SHIFT ((uint64_t)1 << 40)

/* One thread's (colscan.h); a[0] ends up with everyone's. */
struct activity {
    const struct ff_query *q;
    struct ff_qtable active; /* (person, bucket): active then (lifecycle, which looks them up) */
    struct ff_qdistinct pairs; /* (person, bucket) pairs (stickiness, which only counts them) */
    struct ff_qtable first;  /* (person, 0) → first active bucket + offset (lifecycle) */
    uint64_t last_person, last_bucket; /* counted last: a person's rows come together */
    uint64_t first_person, first_bucket; /* the first bucket noted last (lifecycle) */
    struct ff_qbucket_memo memo;
};

static int consume(void *arg, const struct ff_qbatch *b)
{
    struct activity *a = arg;
    int rc = 0;
    for (uint32_t i = 0; !rc && i < b->n; i++) {
        uint64_t person = b->person[i], k = (uint64_t)ff_query_bucket_memo(a->q, &a->memo, b->t[i]) + SHIFT;
        if (person == a->last_person && k == a->last_bucket) continue;
        a->last_person = person, a->last_bucket = k;
        if (a->q->kind == FF_Q_STICKINESS) rc = ff_qdistinct_add(&a->pairs, person, k);
        else rc = ff_qtable_add(&a->active, person, k, 1) < 0 ? -ENOMEM : 0;
        if (!rc && a->q->kind == FF_Q_LIFECYCLE && (person != a->first_person || k < a->first_bucket)) {
            a->first_person = person, a->first_bucket = k;
            int created;
            uint64_t *f = ff_qtable_at(&a->first, person, 0, k, &created, &rc);
            if (f && k < *f) *f = k;
        }
    }
    return rc;
}

static int merge(void *into, void *from)
{
    struct activity *a = into, *b = from;
    if (a->q->kind == FF_Q_STICKINESS) return ff_qdistinct_merge(&a->pairs, &b->pairs);
    int rc = ff_qtable_merge_with(&a->active, &b->active, FF_QMERGE_ADD);
    return rc ? rc : ff_qtable_merge_with(&a->first, &b->first, FF_QMERGE_MIN);
}

static int stickiness(struct activity *a, size_t n, struct ff_buf *out)
{
    /* intervals active per person (the scan is the range's: every interval is in it), then
     * persons per count */
    struct ff_qtable per = {0};
    int rc = ff_qdistinct_count(&a->pairs, &per);
    uint64_t *hist = rc ? NULL : ff_calloc(n + 1, sizeof *hist);
    if (!rc && !hist) rc = -ENOMEM;
    for (size_t i = 0; !rc && i < per.cap; i++)
        if (per.s[i].a != FF_QTABLE_EMPTY) hist[per.s[i].v]++;
    if (!rc) rc = ff_buf_printf(out, ",\"intervals\":%zu,\"data\":[", n);
    for (size_t k = 1; !rc && k <= n; k++)
        rc = ff_buf_printf(out, "%s{\"intervals\":%zu,\"persons\":%llu}", k > 1 ? "," : "", k, (unsigned long long)hist[k]);
    if (!rc) rc = ff_buf_putc(out, ']');
    ff_free(hist);
    ff_qtable_free(&per);
    return rc;
}

static int lifecycle(struct activity *a, uint64_t lo, size_t n, struct ff_buf *out)
{
    enum { NEW, RETURNING, RESURRECTING, DORMANT };
    int64_t *c = ff_calloc(4 * n, sizeof *c);
    if (!c) return -ENOMEM;
    for (size_t i = 0; i < a->active.cap; i++) {
        uint64_t person = a->active.s[i].a, b = a->active.s[i].b;
        if (person == FF_QTABLE_EMPTY) continue;
        if (b >= lo && b < lo + n) {
            size_t k = b - lo;
            if (ff_qtable_get(&a->first, person, 0) == b) c[NEW * n + k]++;
            else if (ff_qtable_get(&a->active, person, b - 1)) c[RETURNING * n + k]++;
            else c[RESURRECTING * n + k]++;
        }
        if (b + 1 >= lo && b + 1 < lo + n && !ff_qtable_get(&a->active, person, b + 1)) c[DORMANT * n + (b + 1 - lo)]--;
    }
    static const char *const names[] = {"new", "returning", "resurrecting", "dormant"};
    int rc = ff_buf_append_str(out, ",\"series\":{");
    for (int s = 0; !rc && s < 4; s++) {
        rc = ff_buf_printf(out, "%s\"%s\":[", s ? "," : "", names[s]);
        for (size_t k = 0; !rc && k < n; k++) rc = ff_buf_printf(out, "%s%lld", k ? "," : "", (long long)c[s * n + k]);
        if (!rc) rc = ff_buf_putc(out, ']');
    }
    if (!rc) rc = ff_buf_putc(out, '}');
    ff_free(c);
    return rc;
}

int ff_query_activity(struct ff_store *s, const struct ff_query *q, struct ff_buf *out, char *err, size_t errlen)
{
    struct activity st[FF_QTHREADS_MAX], *a = &st[0];
    memset(st, 0, sizeof st);
    int64_t first = ff_query_bucket(q, q->from_us), last = ff_query_bucket(q, q->to_us - 1);
    if (last - first + 1 > MAX_INTERVALS) {
        return ff_query_too_long(q, MAX_INTERVALS, err, errlen);
    }
    size_t n = (size_t)(last - first + 1);
    /* lifecycle: from the first event stored, for "new"; the interval before the range, for
     * "dormant" and "returning" in its first interval, comes with it */
    int lc = q->kind == FF_Q_LIFECYCLE;
    struct ff_qplan p = {.q = q, .from_us = lc ? FF_TIME_NONE : q->from_us, .nmatch = 1,
                         .match_event = {q->series[0].event}, .person = FF_QP_REQUIRED, .t_use = FF_QT_BUCKET, .weighted = 1,
                         .consume = consume, .merge = merge};
    void *states[FF_QTHREADS_MAX];
    for (int i = 0; i < FF_QTHREADS_MAX; i++) st[i].q = q, states[i] = &st[i];
    int rc = ff_qplan_run(s, &p, states);
    if (rc == FF_ETOOBIG) snprintf(err, errlen, "the query needs more than its memory budget: narrow it or shorten the range");
    if (!rc) rc = ff_query_open_answer(q, lc ? "lifecycle" : "stickiness", out);
    static const char *const intervals[] = {"minute", "hour", "day", "week", "month"};
    if (!rc) rc = ff_buf_printf(out, ",\"interval\":\"%s\",\"event\":", intervals[q->interval]);
    if (!rc) rc = q->series[0].event[0] ? ff_json_write_str(out, q->series[0].event, strlen(q->series[0].event))
                                        : ff_buf_append_str(out, "null");
    if (!rc && lc) {
        rc = ff_buf_append_str(out, ",\"buckets\":[");
        for (size_t k = 0; !rc && k < n; k++) {
            char label[64];
            ff_query_bucket_label(q, first + (int64_t)k, label);
            rc = ff_buf_printf(out, "%s\"%s\"", k ? "," : "", label);
        }
        if (!rc) rc = ff_buf_putc(out, ']');
    }
    uint64_t lo = (uint64_t)first + SHIFT;
    if (!rc) rc = lc ? lifecycle(a, lo, n, out) : stickiness(a, n, out);
    if (!rc) rc = ff_buf_putc(out, '}');
    for (int i = 0; i < FF_QTHREADS_MAX; i++) {
        ff_qtable_free(&st[i].active);
        ff_qtable_free(&st[i].first);
        ff_qdistinct_free(&st[i].pairs);
    }
    return rc;
}
