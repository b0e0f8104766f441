/* retention.c - kind "retention": persons in cohorts by the period (day, week or month, in
 * the query's zone) of their first start event in the range, and how many of each cohort did
 * the return event in each of the periods after it.
 *
 * The scan notes each person's first start period (the least seen: the scan is not in time
 * order) and each (person, period) they returned in; then each person adds to their cohort's
 * row. A cohort's row stops at the range's last period (later periods are not known yet). The
 * average curve weighs each cohort by its size, over the cohorts that reached that period, as
 * PostHog's does. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "core/errors.h"
#include "event/event.h"
#include "query/colscan.h"
#include "store/store.h"

/* One thread's (colscan.h); state 0 ends up with everyone's. */
struct rstate {
    const struct retention *r;
    struct ff_qtable first;    /* (person, 0) → first start period + 1 */
    struct ff_qtable returned; /* (person, period): did the return event then; or (person, 0) → a bit
                                * per period, when there are at most 64 (mask) */
    uint64_t last_person, last_period; /* the return counted last: a person's rows come together */
    uint64_t start_person, start_period; /* the start noted last: a later one of theirs changes nothing */
    struct ff_qbucket_memo memo;
};

struct retention {
    const struct ff_query *q;
    int64_t base;              /* the range's first period */
    int mask;                  /* returns kept as a bit mask per person */
    struct rstate st[FF_QTHREADS_MAX];
};

/* Matcher 0: the start event; 1: the return event. */
static int consume(void *arg, const struct ff_qbatch *b)
{
    struct rstate *st = arg;
    const struct ff_query *q = st->r->q;
    int rc = 0;
    for (uint32_t i = 0; !rc && i < b->n; i++) {
        uint64_t period = (uint64_t)(ff_query_bucket_memo(q, &st->memo, b->t[i]) - st->r->base) + 1;
        if ((b->match[i] & 1) && (b->person[i] != st->start_person || period < st->start_period)) {
            st->start_person = b->person[i], st->start_period = period;
            int created;
            uint64_t *v = ff_qtable_at(&st->first, b->person[i], 0, period, &created, &rc);
            if (v && period < *v) *v = period;
        }
        if (!rc && (b->match[i] & 2) && (b->person[i] != st->last_person || period != st->last_period)) {
            st->last_person = b->person[i], st->last_period = period;
            if (st->r->mask) {
                int created;
                uint64_t *v = ff_qtable_at(&st->returned, b->person[i], 0, 0, &created, &rc);
                if (v) *v |= 1ULL << (period - 1);
            } else {
                rc = ff_qtable_add(&st->returned, b->person[i], period, 1) < 0 ? -ENOMEM : 0;
            }
        }
    }
    return rc;
}

static int merge(void *into, void *from)
{
    struct rstate *a = into, *b = from;
    int rc = ff_qtable_merge_with(&a->first, &b->first, FF_QMERGE_MIN);
    if (rc) return rc;
    return a->r->mask ? ff_qtable_merge_with(&a->returned, &b->returned, FF_QMERGE_OR)
                      : ff_qtable_merge_with(&a->returned, &b->returned, FF_QMERGE_ADD);
}

int ff_query_retention(struct ff_store *s, const struct ff_query *q, struct ff_buf *out, char *err, size_t errlen)
{
    struct retention r;
    memset(&r, 0, sizeof r);
    r.q = q;
    r.base = ff_query_bucket(q, q->from_us);
    size_t ncohorts = (size_t)(ff_query_bucket(q, q->to_us - 1) - r.base + 1);
    if (ncohorts > 1000) {
        return ff_query_too_long(q, 1000, err, errlen);
    }
    r.mask = ncohorts <= 64;
    struct ff_qplan p = {.q = q, .from_us = q->from_us, .nmatch = 2, .match_event = {q->start_event, q->return_event},
                         .person = FF_QP_REQUIRED, .t_use = FF_QT_BUCKET, .weighted = 1, .consume = consume, .merge = merge};
    void *states[FF_QTHREADS_MAX];
    for (int i = 0; i < FF_QTHREADS_MAX; i++) r.st[i].r = &r, states[i] = &r.st[i];
    int rc = ff_qplan_run(s, &p, states);
    if (rc == FF_ETOOBIG) snprintf(err, errlen, "the query needs more than its memory budget: narrow it or shorten the range");
    /* rows: cohort c, period k (0: the cohort itself) */
    size_t width = q->periods + 1;
    uint64_t *table = rc ? NULL : ff_calloc(ncohorts * width, sizeof *table);
    if (!rc && !table) rc = -ENOMEM;
    for (size_t i = 0; !rc && i < r.st[0].first.cap; i++) {
        if (r.st[0].first.s[i].a == FF_QTABLE_EMPTY) continue;
        uint64_t person = r.st[0].first.s[i].a, c = r.st[0].first.s[i].v - 1;
        uint64_t bits = r.mask ? ff_qtable_get(&r.st[0].returned, person, 0) : 0;
        table[c * width]++;
        for (size_t k = 1; k < width && c + k < ncohorts; k++)
            if (r.mask ? bits >> (c + k) & 1 : ff_qtable_get(&r.st[0].returned, person, c + k + 1) != 0)
                table[c * width + k]++;
    }
    if (!rc) rc = ff_query_open_answer(q, "retention", out);
    static const char *const periods[] = {"", "", "day", "week", "month"};
    if (!rc) rc = ff_buf_printf(out, ",\"period\":\"%s\",\"periods\":%zu,\"cohorts\":[", periods[q->interval], q->periods);
    for (size_t c = 0; !rc && c < ncohorts; c++) {
        char label[64];
        ff_query_bucket_label(q, r.base + (int64_t)c, label);
        rc = ff_buf_printf(out, "%s{\"cohort\":\"%s\",\"persons\":%llu,\"returned\":[", c ? "," : "", label,
                           (unsigned long long)table[c * width]);
        for (size_t k = 0; !rc && k < width && c + k < ncohorts; k++)
            rc = ff_buf_printf(out, "%s%llu", k ? "," : "", (unsigned long long)table[c * width + k]);
        if (!rc) rc = ff_buf_append_str(out, "]}");
    }
    if (!rc) rc = ff_buf_append_str(out, "],\"average\":[");
    for (size_t k = 0; !rc && k < width && k < ncohorts; k++) {
        uint64_t back = 0, size = 0;
        for (size_t c = 0; c + k < ncohorts; c++) back += table[c * width + k], size += table[c * width];
        rc = ff_buf_printf(out, "%s%.4f", k ? "," : "", size ? (double)back / (double)size : 0.0);
    }
    if (!rc) rc = ff_buf_append_str(out, "]}");
    ff_free(table);
    for (int i = 0; i < FF_QTHREADS_MAX; i++) {
        ff_qtable_free(&r.st[i].first);
        ff_qtable_free(&r.st[i].returned);
    }
    return rc;
}
