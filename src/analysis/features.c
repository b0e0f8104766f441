/* features.c - see features.h. Three scans of the range through the query engine's column
 * reader (query/colscan.h), each thread into its own state, merged at the end:
 *
 *   1. every event: its person (as an index into one shared list of ids), time, session and
 *      name: counts by name, day of week and hour, days active, first and last times, and
 *      each session's first and last times;
 *   2. the revenue field, read as a number (rows without one are left out): frequency and
 *      monetary;
 *   3. and 4. device type and channel: counts per (person, value), for each one's mode. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/features.h"
#include "core/alloc.h"
#include "core/errors.h"
#include "core/json.h"
#include "core/tz.h"
#include "query/colscan.h"

enum {
    C_EVENTS, C_PAGEVIEWS, C_SESSIONS, C_AVG_SESSION, C_PAGES_PER_SESSION, C_DAYS_ACTIVE, C_RECENCY, C_FREQUENCY,
    C_MONETARY, C_FIXED
};
static const char *const fixed_names[C_FIXED] = {"events", "pageviews", "sessions", "avg_session_s",
                                                 "pages_per_session", "days_active", "recency_days",
                                                 "frequency", "monetary"};
static const char *const dow_names[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

/* One person's counts on one thread (scan 1). */
struct prow {
    uint32_t dow[7], hour[24];
    uint32_t events, pages;
    int64_t first, last;
};

/* A thread's state for every scan; st[0] ends up with everyone's. */
struct fstate {
    const struct ff_query *q;
    int scan; /* 1 … 4 */
    struct prow *rows;   /* by person index (scan 1) */
    double *money;       /* by person index: revenue sum (scan 2), compensated (Neumaier): */
    double *money_c;     /* the low-order part, so that the order rows come in changes no digit */
    uint32_t *orders;    /* and count */
    size_t cap;          /* of rows, money, orders */
    struct ff_qtable named;    /* (person, event name index) → events (scan 1); (person, value) → events (3, 4) */
    struct ff_qtable days;     /* (person, local day + SHIFT) */
    struct ff_qtable s_first;  /* (session, 0) → first time + SHIFT */
    struct ff_qtable s_last;   /* (session, 0) → SHIFT - last time (MIN keeps the latest) */
    struct ff_qtable s_person; /* (session, 0) → person index */
    uint32_t last_who;
    int64_t last_day;
    int64_t off_hour;    /* the UTC hour the cached offset is of */
    int32_t offset;
};

#define SHIFT ((uint64_t)1 << 62)

static int grow(struct fstate *st, uint32_t who)
{
    if (who < st->cap) return 0;
    size_t nc = st->cap ? st->cap : 1024;
    while (nc <= who) nc *= 2;
    if (st->scan == 1) {
        struct prow *nr = ff_realloc(st->rows, nc * sizeof *nr);
        if (!nr) return -ENOMEM;
        memset(nr + st->cap, 0, (nc - st->cap) * sizeof *nr);
        st->rows = nr;
    } else {
        double *nm = ff_realloc(st->money, nc * sizeof *nm);
        if (nm) st->money = nm;
        double *nc2 = nm ? ff_realloc(st->money_c, nc * sizeof *nc2) : NULL;
        if (nc2) st->money_c = nc2;
        uint32_t *no = nc2 ? ff_realloc(st->orders, nc * sizeof *no) : NULL;
        if (!no) return -ENOMEM;
        st->orders = no;
        memset(nm + st->cap, 0, (nc - st->cap) * sizeof *nm);
        memset(nc2 + st->cap, 0, (nc - st->cap) * sizeof *nc2);
        memset(no + st->cap, 0, (nc - st->cap) * sizeof *no);
    }
    st->cap = nc;
    return 0;
}

static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

static int consume_events(struct fstate *st, const struct ff_qbatch *b)
{
    int rc = 0;
    for (uint32_t i = 0; !rc && i < b->n; i++) {
        uint32_t who = b->who[i];
        if ((rc = grow(st, who))) break;
        int64_t t = b->t[i], hour = floor_div(t, 3600000000LL);
        if (hour != st->off_hour) st->off_hour = hour, st->offset = ff_tz_offset(st->q->tz, hour * 3600);
        int64_t local = floor_div(t, 1000000) + st->offset, day = floor_div(local, 86400);
        struct prow *r = &st->rows[who];
        r->dow[((day + 3) % 7 + 7) % 7]++; /* 1970-01-01 was a Thursday */
        r->hour[(local - day * 86400) / 3600]++;
        if (!r->events || t < r->first) r->first = t;
        if (!r->events || t > r->last) r->last = t;
        r->events++;
        r->pages += b->match[i] & 1;
        if (ff_qtable_add(&st->named, who, b->value[i], 1) < 0) rc = -ENOMEM;
        if (!rc && (who != st->last_who || day != st->last_day)) {
            st->last_who = who, st->last_day = day;
            if (ff_qtable_add(&st->days, who, (uint64_t)day + SHIFT, 1) < 0) rc = -ENOMEM;
        }
        if (rc || !b->session[i]) continue;
        int created;
        uint64_t *v = ff_qtable_at(&st->s_first, b->session[i], 0, (uint64_t)t + SHIFT, &created, &rc);
        if (v && (uint64_t)t + SHIFT < *v) *v = (uint64_t)t + SHIFT;
        if (!rc) v = ff_qtable_at(&st->s_last, b->session[i], 0, SHIFT - (uint64_t)t, &created, &rc);
        if (!rc && SHIFT - (uint64_t)t < *v) *v = SHIFT - (uint64_t)t;
        if (!rc && created) rc = ff_qtable_add(&st->s_person, b->session[i], 0, who) < 0 ? -ENOMEM : 0;
    }
    return rc;
}

/* Neumaier's compensated sum: *s + *c holds the sum of everything added, nearly exactly */
static void add_exact(double *s, double *c, double v)
{
    double t = *s + v;
    *c += fabs(*s) >= fabs(v) ? (*s - t) + v : (v - t) + *s;
    *s = t;
}

static int consume(void *arg, const struct ff_qbatch *b)
{
    struct fstate *st = arg;
    if (st->scan == 1) return consume_events(st, b);
    int rc = 0;
    for (uint32_t i = 0; !rc && i < b->n; i++) {
        if (st->scan == 2) {
            if (!(rc = grow(st, b->who[i]))) {
                add_exact(&st->money[b->who[i]], &st->money_c[b->who[i]], b->num[i]);
                st->orders[b->who[i]]++;
            }
        } else if (b->value[i] && ff_qtable_add(&st->named, b->who[i], b->value[i], 1) < 0) {
            rc = -ENOMEM;
        }
    }
    return rc;
}

static int merge(void *into, void *from)
{
    struct fstate *a = into, *b = from;
    if (b->cap && a->scan <= 2 && b->cap > a->cap && grow(a, (uint32_t)(b->cap - 1))) return -ENOMEM;
    for (size_t w = 0; w < b->cap; w++) {
        if (a->scan == 2) {
            add_exact(&a->money[w], &a->money_c[w], b->money[w]);
            add_exact(&a->money[w], &a->money_c[w], b->money_c[w]);
            a->orders[w] += b->orders[w];
            continue;
        }
        struct prow *x = &a->rows[w], *y = &b->rows[w];
        if (!y->events) continue;
        for (int j = 0; j < 7; j++) x->dow[j] += y->dow[j];
        for (int j = 0; j < 24; j++) x->hour[j] += y->hour[j];
        if (!x->events || y->first < x->first) x->first = y->first;
        if (!x->events || y->last > x->last) x->last = y->last;
        x->events += y->events, x->pages += y->pages;
    }
    int rc = ff_qtable_merge_with(&a->named, &b->named, FF_QMERGE_ADD);
    if (!rc) rc = ff_qtable_merge_with(&a->days, &b->days, FF_QMERGE_ADD);
    if (!rc) rc = ff_qtable_merge_with(&a->s_first, &b->s_first, FF_QMERGE_MIN);
    if (!rc) rc = ff_qtable_merge_with(&a->s_last, &b->s_last, FF_QMERGE_MIN);
    if (!rc) rc = ff_qtable_merge_with(&a->s_person, &b->s_person, FF_QMERGE_MIN);
    return rc;
}

static void fstates_free(struct fstate *st, int n)
{
    for (int i = 0; i < n; i++) {
        ff_free(st[i].rows);
        ff_free(st[i].money);
        ff_free(st[i].money_c);
        ff_free(st[i].orders);
        ff_qtable_free(&st[i].named);
        ff_qtable_free(&st[i].days);
        ff_qtable_free(&st[i].s_first);
        ff_qtable_free(&st[i].s_last);
        ff_qtable_free(&st[i].s_person);
    }
    memset(st, 0, sizeof *st * (size_t)n);
}

/* Runs one scan into st[0]. */
static int scan(struct ff_store *s, struct ff_qplan *p, struct fstate *st, int which)
{
    void *states[FF_QTHREADS_MAX];
    for (int i = 0; i < FF_QTHREADS_MAX; i++) {
        memset(&st[i], 0, sizeof st[i]);
        st[i].q = p->q, st[i].scan = which, st[i].off_hour = INT64_MIN, st[i].last_who = UINT32_MAX;
        states[i] = &st[i];
    }
    p->consume = consume, p->merge = merge;
    return ff_qplan_run(s, p, states);
}

/* Each person's most frequent value (ties: the first in text order) of a (person, value)
 * count table, as text. */
static void modes(const struct ff_qtable *named, const struct ff_qvalues *values, size_t n, struct ff_str *out)
{
    uint64_t *best = ff_calloc(n + 1, sizeof *best);
    for (size_t i = 0; i < n; i++) out[i] = (struct ff_str){"", 0};
    if (!best) return;
    for (size_t i = 0; i < named->cap; i++) {
        const struct ff_qslot *sl = &named->s[i];
        if (sl->a == FF_QTABLE_EMPTY || !sl->a || sl->a > n) continue;
        struct ff_str v = ff_qvalues_text(values, (uint32_t)sl->b), *cur = &out[sl->a - 1];
        int cmp = cur->len ? ff_str_cmp(v, *cur) : -1;
        if (sl->v > best[sl->a] || (sl->v == best[sl->a] && cmp < 0)) best[sl->a] = sl->v, *cur = v;
    }
    ff_free(best);
}

static int add_name(struct ff_ftable *t, size_t *offs, const char *prefix, const char *name, size_t len)
{
    offs[t->d++] = t->text.len;
    int rc = ff_buf_append_str(&t->text, prefix);
    if (!rc) rc = ff_buf_append(&t->text, name, len);
    return rc ? rc : ff_buf_putc(&t->text, '\0');
}

static int by_person(const void *a, const void *b, void *arg)
{
    const struct ff_str *p = arg;
    return ff_str_cmp(p[*(const size_t *)a], p[*(const size_t *)b]);
}

/* Rows by person id: the scan's threads meet persons in no fixed order, and the same
 * request must give the same table (and the same segments for a seed). */
static int sort_rows(struct ff_ftable *t)
{
    size_t n = t->n, d = t->d;
    size_t *order = ff_malloc((n + 1) * sizeof *order);
    double *x = ff_malloc((n * d + 1) * sizeof *x);
    struct ff_str *s = ff_malloc((3 * n + 1) * sizeof *s);
    if (!order || !x || !s) {
        ff_free(order), ff_free(x), ff_free(s);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) order[i] = i;
    qsort_r(order, n, sizeof *order, by_person, t->person);
    for (size_t i = 0; i < n; i++) {
        memcpy(x + i * d, t->x + order[i] * d, d * sizeof *x);
        s[i] = t->person[order[i]], s[n + i] = t->device[order[i]], s[2 * n + i] = t->channel[order[i]];
    }
    for (size_t i = 0; i < n; i++) t->person[i] = s[i], t->device[i] = s[n + i], t->channel[i] = s[2 * n + i];
    ff_free(t->x);
    t->x = x;
    ff_free(order);
    ff_free(s);
    return 0;
}

static int by_count_desc(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    return x[0] < y[0] ? 1 : x[0] > y[0] ? -1 : x[1] < y[1] ? -1 : x[1] > y[1];
}

int ff_features_build(struct ff_store *s, const struct ff_query *q, const struct ff_features_opts *o,
                      struct ff_ftable *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    ff_buf_init(&t->text, (size_t)1 << 34);
    struct fstate *st = ff_calloc(FF_QTHREADS_MAX, sizeof *st);
    struct ff_qvalues names, persons, devices, channels;
    ff_qvalues_init(&names), ff_qvalues_init(&persons), ff_qvalues_init(&devices), ff_qvalues_init(&channels);
    struct ff_field f_event, f_revenue, f_device, f_channel;
    const char *rev = o->revenue[0] ? o->revenue : "properties.revenue";
    char ferr[256];
    int rc = st ? 0 : -ENOMEM;
    if (!rc && (ff_field_compile("event", 5, &f_event, ferr, sizeof ferr) ||
                ff_field_compile("deviceType", 10, &f_device, ferr, sizeof ferr) ||
                ff_field_compile("channel", 7, &f_channel, ferr, sizeof ferr)))
        rc = -EINVAL;
    if (!rc && ff_field_compile(rev, strlen(rev), &f_revenue, ferr, sizeof ferr)) {
        snprintf(err, errlen, "revenue: %s", ferr);
        rc = FF_EINVAL;
    }
    /* 1: events */
    struct ff_qplan p = {.q = q, .from_us = q->from_us, .nmatch = 1, .match_event = {"$pageview"}, .keep_unmatched = 1,
                         .value = &f_event, .person = FF_QP_REQUIRED, .session = FF_QP_HASH, .who = 1,
                         .t_use = FF_QT_EXACT, .values = &names, .persons = &persons};
    if (!rc) rc = scan(s, &p, st, 1);
    struct fstate ev = st[0];
    for (int i = 1; i < FF_QTHREADS_MAX; i++) fstates_free(&st[i], 1);
    size_t n = persons.n;
    /* the event-count columns: asked for, or the most frequent names */
    uint32_t evidx[FF_FEATURES_MAX_EVENTS];
    size_t nev = 0;
    uint64_t *totals = rc ? NULL : ff_calloc(names.n + 1, 2 * sizeof *totals);
    if (!rc && !totals) rc = -ENOMEM;
    if (!rc) {
        for (size_t i = 0; i <= names.n; i++) totals[2 * i + 1] = i;
        for (size_t i = 0; i < ev.named.cap; i++)
            if (ev.named.s[i].a != FF_QTABLE_EMPTY && ev.named.s[i].b <= names.n) totals[2 * ev.named.s[i].b] += ev.named.s[i].v;
        if (o->nevents) {
            for (size_t k = 0; k < o->nevents; k++) {
                uint32_t idx = 0;
                struct ff_str want = {o->events[k], strlen(o->events[k])};
                for (uint32_t v = 1; v <= names.n && !idx; v++) {
                    struct ff_str have = ff_qvalues_text(&names, v);
                    if (have.len == want.len && memcmp(have.p, want.p, want.len) == 0) idx = v;
                }
                evidx[nev++] = idx; /* 0: never happened, a column of zeros */
            }
        } else {
            size_t top = o->top_events ? o->top_events : 8;
            if (top > FF_FEATURES_MAX_EVENTS) top = FF_FEATURES_MAX_EVENTS;
            qsort(totals + 2, names.n, 2 * sizeof *totals, by_count_desc);
            for (size_t i = 0; i < names.n && nev < top; i++)
                if (totals[2 * (i + 1)]) evidx[nev++] = (uint32_t)totals[2 * (i + 1) + 1];
        }
    }
    ff_free(totals);
    /* 2: revenue */
    struct fstate money = {0};
    if (!rc) {
        struct ff_qplan p2 = {.q = q, .from_us = q->from_us, .keep_unmatched = 1, .person = FF_QP_REQUIRED,
                              .who = 1, .t_use = FF_QT_NONE, .number = &f_revenue, .persons = &persons};
        rc = scan(s, &p2, st, 2);
        money = st[0];
        for (int i = 1; i < FF_QTHREADS_MAX; i++) fstates_free(&st[i], 1);
    }
    /* 3, 4: device type, channel */
    struct ff_qtable dev = {0}, chan = {0};
    for (int k = 0; !rc && k < 2; k++) {
        struct ff_qplan p3 = {.q = q, .from_us = q->from_us, .keep_unmatched = 1, .person = FF_QP_REQUIRED, .who = 1,
                              .t_use = FF_QT_NONE, .value = k ? &f_channel : &f_device,
                              .values = k ? &channels : &devices, .persons = &persons};
        rc = scan(s, &p3, st, 3 + k);
        if (!rc) {
            *(k ? &chan : &dev) = st[0].named;
            memset(&st[0].named, 0, sizeof st[0].named);
        }
        fstates_free(st, FF_QTHREADS_MAX);
    }
    if (!rc && persons.n > n) n = persons.n; /* persons with revenue only in rows scan 1 did not see */
    /* the table */
    size_t offs[C_FIXED + FF_FEATURES_MAX_EVENTS + 31];
    for (int c = 0; !rc && c < C_FIXED; c++) rc = add_name(t, offs, "", fixed_names[c], strlen(fixed_names[c]));
    for (size_t k = 0; !rc && k < nev; k++) {
        struct ff_str nm = evidx[k] ? ff_qvalues_text(&names, evidx[k]) : (struct ff_str){o->events[k], strlen(o->events[k])};
        rc = add_name(t, offs, "count:", nm.p, nm.len);
    }
    for (int j = 0; !rc && j < 7; j++) rc = add_name(t, offs, "dow:", dow_names[j], 3);
    for (int j = 0; !rc && j < 24; j++) {
        char h[3] = {(char)('0' + j / 10), (char)('0' + j % 10), 0};
        rc = add_name(t, offs, "hour:", h, 2);
    }
    size_t d = t->d;
    size_t person_off = t->text.len;
    for (uint32_t w = 1; !rc && w <= n; w++) {
        struct ff_str id = ff_qvalues_text(&persons, w);
        rc = ff_buf_append(&t->text, id.p, id.len);
        if (!rc) rc = ff_buf_putc(&t->text, '\0');
    }
    t->n = n;
    t->cols = rc ? NULL : ff_malloc((d ? d : 1) * sizeof *t->cols);
    t->x = rc ? NULL : ff_calloc(n * d + 1, sizeof *t->x);
    t->person = rc ? NULL : ff_calloc(n + 1, sizeof *t->person);
    t->device = rc ? NULL : ff_calloc(n + 1, sizeof *t->device);
    t->channel = rc ? NULL : ff_calloc(n + 1, sizeof *t->channel);
    if (!rc && (!t->cols || !t->x || !t->person || !t->device || !t->channel)) rc = -ENOMEM;
    if (!rc) {
        const char *p = t->text.data + person_off; /* for the lengths: pointers are set at the end */
        for (size_t i = 0; i < n; i++) {
            size_t len = strlen(p);
            t->person[i] = (struct ff_str){p, len};
            p += len + 1;
        }
        /* sessions: each one's length, to its person */
        int64_t *slen = ff_calloc(n + 1, sizeof *slen); /* µs: a sum in any order is the same */
        uint32_t *scount = ff_calloc(n + 1, sizeof *scount);
        if (!slen || !scount) rc = -ENOMEM;
        for (size_t i = 0; !rc && i < ev.s_person.cap; i++) {
            const struct ff_qslot *sl = &ev.s_person.s[i];
            if (sl->a == FF_QTABLE_EMPTY || sl->v > n) continue;
            uint64_t first = ff_qtable_get(&ev.s_first, sl->a, 0), last = SHIFT - ff_qtable_get(&ev.s_last, sl->a, 0);
            slen[sl->v] += (int64_t)(last - (first - SHIFT));
            scount[sl->v]++;
        }
        uint32_t *days = rc ? NULL : ff_calloc(n + 1, sizeof *days);
        if (!rc && !days) rc = -ENOMEM;
        for (size_t i = 0; !rc && i < ev.days.cap; i++)
            if (ev.days.s[i].a != FF_QTABLE_EMPTY && ev.days.s[i].a <= n) days[ev.days.s[i].a]++;
        int64_t end = q->to_us < q->now_us ? q->to_us : q->now_us;
        for (size_t i = 0; !rc && i < n; i++) {
            uint32_t w = (uint32_t)i + 1;
            double *x = t->x + i * d;
            const struct prow *r = w < ev.cap ? &ev.rows[w] : NULL;
            if (r && r->events) {
                x[C_EVENTS] = r->events;
                x[C_PAGEVIEWS] = r->pages;
                x[C_RECENCY] = (double)(end - r->last) / 86400e6;
                if (x[C_RECENCY] < 0) x[C_RECENCY] = 0;
                for (int j = 0; j < 7; j++) x[C_FIXED + nev + (size_t)j] = r->dow[j];
                for (int j = 0; j < 24; j++) x[C_FIXED + nev + 7 + (size_t)j] = r->hour[j];
            }
            x[C_SESSIONS] = scount[w];
            x[C_AVG_SESSION] = scount[w] ? (double)slen[w] / 1e6 / scount[w] : 0;
            x[C_PAGES_PER_SESSION] = scount[w] ? x[C_PAGEVIEWS] / scount[w] : 0;
            x[C_DAYS_ACTIVE] = days[w];
            if (w < money.cap) x[C_FREQUENCY] = money.orders[w], x[C_MONETARY] = money.money[w] + money.money_c[w];
            for (size_t k = 0; k < nev; k++)
                x[C_FIXED + k] = evidx[k] ? (double)ff_qtable_get(&ev.named, w, evidx[k]) : 0;
        }
        ff_free(slen);
        ff_free(scount);
        ff_free(days);
        /* modes index persons from 1: out[w - 1] */
        if (!rc) modes(&dev, &devices, n, t->device), modes(&chan, &channels, n, t->channel);
    }
    if (rc == FF_ETOOBIG && err[0] == '\0')
        snprintf(err, errlen, "the feature table needs more than a query's memory budget: narrow the range or filter");
    fstates_free(&ev, 1);
    fstates_free(&money, 1);
    ff_qtable_free(&dev);
    ff_qtable_free(&chan);
    ff_free(st);
    /* device and channel strings point into the value lists: copy them before those go */
    for (size_t i = 0; !rc && i < n; i++) {
        struct ff_str *v[2] = {&t->device[i], &t->channel[i]};
        for (int k = 0; k < 2 && !rc; k++) {
            size_t at = t->text.len;
            rc = ff_buf_append(&t->text, v[k]->p, v[k]->len);
            if (!rc) rc = ff_buf_putc(&t->text, '\0');
            if (!rc) v[k]->p = (const char *)(uintptr_t)at; /* an offset until the text stops moving */
        }
    }
    if (!rc) {
        /* the text buffer is final: offsets become pointers again */
        size_t poff = person_off;
        for (size_t c = 0; c < d; c++) t->cols[c] = t->text.data + offs[c];
        for (size_t i = 0; i < n; i++) {
            t->person[i].p = t->text.data + poff;
            poff += t->person[i].len + 1;
            t->device[i].p = t->text.data + (uintptr_t)t->device[i].p;
            t->channel[i].p = t->text.data + (uintptr_t)t->channel[i].p;
        }
    }
    if (!rc) rc = sort_rows(t);
    ff_qvalues_free(&names), ff_qvalues_free(&persons), ff_qvalues_free(&devices), ff_qvalues_free(&channels);
    if (rc) ff_ftable_free(t);
    return rc;
}

void ff_ftable_free(struct ff_ftable *t)
{
    ff_free(t->cols);
    ff_free(t->x);
    ff_free(t->person);
    ff_free(t->device);
    ff_free(t->channel);
    ff_buf_free(&t->text);
    memset(t, 0, sizeof *t);
}

int ff_ftable_column(const struct ff_ftable *t, const char *name, size_t len)
{
    for (size_t c = 0; c < t->d; c++)
        if (strlen(t->cols[c]) == len && memcmp(t->cols[c], name, len) == 0) return (int)c;
    return -1;
}

/* ---- CSV and NDJSON ---- */

static int csv_field(struct ff_buf *o, struct ff_str s)
{
    if (!memchr(s.p, ',', s.len) && !memchr(s.p, '"', s.len) && !memchr(s.p, '\n', s.len) && !memchr(s.p, '\r', s.len))
        return ff_buf_append(o, s.p, s.len);
    int rc = ff_buf_putc(o, '"');
    for (size_t i = 0; !rc && i < s.len; i++) rc = s.p[i] == '"' ? ff_buf_append(o, "\"\"", 2) : ff_buf_putc(o, s.p[i]);
    return rc ? rc : ff_buf_putc(o, '"');
}

int ff_ftable_write_csv(const struct ff_ftable *t, struct ff_buf *out)
{
    size_t nc = t->d;
    int rc = ff_buf_append_str(out, "person");
    for (size_t c = 0; !rc && c < nc; c++) {
        rc = ff_buf_putc(out, ',');
        const char *nm = t->cols[c];
        if (!rc) rc = csv_field(out, (struct ff_str){nm, strlen(nm)});
    }
    if (!rc) rc = ff_buf_append_str(out, ",device,channel\n");
    for (size_t i = 0; !rc && i < t->n; i++) {
        rc = csv_field(out, t->person[i]);
        for (size_t c = 0; !rc && c < nc; c++) {
            rc = ff_buf_putc(out, ',');
            if (!rc) rc = ff_field_double_text(out, t->x[i * t->d + c]);
        }
        if (!rc) rc = ff_buf_putc(out, ',');
        if (!rc) rc = csv_field(out, t->device[i]);
        if (!rc) rc = ff_buf_putc(out, ',');
        if (!rc) rc = csv_field(out, t->channel[i]);
        if (!rc) rc = ff_buf_putc(out, '\n');
    }
    return rc;
}

int ff_ftable_write_ndjson(const struct ff_ftable *t, struct ff_buf *out)
{
    size_t nc = t->d;
    int rc = 0;
    for (size_t i = 0; !rc && i < t->n; i++) {
        rc = ff_buf_append_str(out, "{\"person\":");
        if (!rc) rc = ff_json_write_str(out, t->person[i].p, t->person[i].len);
        for (size_t c = 0; !rc && c < nc; c++) {
            const char *nm = t->cols[c];
            rc = ff_buf_putc(out, ',');
            if (!rc) rc = ff_json_write_str(out, nm, strlen(nm));
            if (!rc) rc = ff_buf_putc(out, ':');
            if (!rc) rc = ff_field_double_text(out, t->x[i * t->d + c]);
        }
        if (!rc) rc = ff_buf_append_str(out, ",\"device\":");
        if (!rc) rc = ff_json_write_str(out, t->device[i].p, t->device[i].len);
        if (!rc) rc = ff_buf_append_str(out, ",\"channel\":");
        if (!rc) rc = ff_json_write_str(out, t->channel[i].p, t->channel[i].len);
        if (!rc) rc = ff_buf_append_str(out, "}\n");
    }
    return rc;
}
