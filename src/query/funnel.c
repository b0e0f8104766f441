/* funnel.c - kind "funnel": how many persons did step 1, then step 2, … in order, each
 * within `window` of their step 1, and how long each step took them.
 *
 * The scan keeps, of every person, the events that match a step (a bit per step, as one
 * event may match several) and, for a strict funnel, every other event too, since any event
 * between two steps breaks a strict one. Then per person, in time order: every step-1 event
 * starts an attempt that takes the next steps greedily (the first event after the last step
 * that matches the next one; strict: only the very next event may), until the window
 * closes. The person counts at the deepest step any attempt reached; the times between steps
 * are those of the first attempt that reached it (ClickHouse's windowFunnel and PostHog
 * count the same way). A breakdown splits persons by the value of that attempt's step-1
 * event. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "core/errors.h"
#include "core/json.h"
#include "core/select.h"
#include "event/event.h"
#include "query/colscan.h"
#include "store/store.h"

struct hit {
    struct ff_qrow r; /* key: XXH3 of the person id */
    uint32_t steps;   /* bit s: matches step s; 0: another event (strict funnels) */
    uint32_t value;   /* breakdown value (ff_qvalues index) */
    uint32_t who;     /* the person's id (in `persons`) when persons are listed */
};

struct funnel {
    const struct ff_query *q;
    struct ff_qrowvec h[FF_QTHREADS_MAX]; /* hits, per thread (colscan.h); h[0]: all once merged */
    struct ff_qvalues values, persons;
};

static int consume(void *arg, const struct ff_qbatch *b)
{
    struct ff_qrowvec *h = arg;
    for (uint32_t i = 0; i < b->n; i++) {
        struct hit x = {{b->person[i], b->t[i], b->seq[i]}, b->match[i], b->value[i], b->who[i]};
        int rc = ff_qrowvec_push(h, &x, sizeof x);
        if (rc) return rc;
    }
    return 0;
}

/* The deepest step one person reached (1-based; 0: never step 1), the times of that
 * attempt's steps in when[], and its step-1 event's breakdown value. */
static size_t walk(const struct ff_query *q, const struct hit *h, size_t n, int64_t *when, uint32_t *value)
{
    size_t best = 0;
    int64_t at[FF_QUERY_MAX_STEPS];
    for (size_t start = 0; start < n && best < q->nsteps; start++) {
        if (!(h[start].steps & 1)) continue;
        size_t level = 1;
        at[0] = h[start].r.t;
        for (size_t i = start + 1; i < n && level < q->nsteps && h[i].r.t - at[0] <= q->window_us; i++) {
            if (h[i].steps & (1u << level)) at[level++] = h[i].r.t;
            else if (q->order == FF_ORDER_STRICT) break; /* something else came between */
        }
        if (level > best) {
            best = level;
            memcpy(when, at, level * sizeof *at);
            *value = h[start].value;
        }
    }
    return best;
}

/* The q-quantile of v[n] (nearest rank), in seconds; v is reordered. Larger q after smaller.
 * A quickselect: sorting a million persons' gaps for two of them was a tenth of a funnel's time. */
static double quantile(int64_t *v, size_t n, double q) { return (double)ff_select_i64(v, n, ff_nearest_rank(q, n)) / 1e6; }

/* One funnel (of one breakdown value, or of everyone): its steps as JSON. */
static int write_steps(const struct ff_query *q, const uint64_t *reached, int64_t *const *gaps, struct ff_buf *o)
{
    int rc = ff_buf_append_str(o, "\"steps\":[");
    for (size_t s = 0; !rc && s < q->nsteps; s++) {
        rc = ff_buf_append_str(o, s ? ",{\"event\":" : "{\"event\":");
        if (!rc) rc = ff_json_write_str(o, q->steps[s].event, strlen(q->steps[s].event));
        double conv = reached[0] ? (double)reached[s] / (double)reached[0] : 0;
        double step = s && reached[s - 1] ? (double)reached[s] / (double)reached[s - 1] : s ? 0 : conv;
        if (!rc)
            rc = ff_buf_printf(o, ",\"persons\":%llu,\"conversion_rate\":%.4f,\"step_conversion_rate\":%.4f",
                               (unsigned long long)reached[s], conv, step);
        if (!rc && s && reached[s]) {
            rc = ff_buf_printf(o, ",\"median_seconds\":%.3f,\"p90_seconds\":%.3f", quantile(gaps[s], reached[s], 0.5),
                               quantile(gaps[s], reached[s], 0.9));
        }
        if (!rc) rc = ff_buf_putc(o, '}');
    }
    return rc ? rc : ff_buf_putc(o, ']');
}

struct group {
    uint32_t value;
    struct ff_str text;                /* the value's */
    uint64_t reached[FF_QUERY_MAX_STEPS];
    int64_t *gaps[FF_QUERY_MAX_STEPS]; /* step s: the time from step s-1, per person that reached s */
    size_t gaps_cap[FF_QUERY_MAX_STEPS];
};

/* Room in *v (cap elements of elem bytes) for n: grown as persons come, since their number
 * is known only once they are walked (rows and runs overcount them many times). */
static int room_for(void **v, size_t *cap, size_t n, size_t elem)
{
    int rc = 0;
    while (!rc && n > *cap) rc = ff_qrows_reserve(v, *cap, cap, elem);
    return rc;
}

static int by_first_step(const void *a, const void *b)
{
    const struct group *x = a, *y = b;
    if (x->reached[0] != y->reached[0]) return x->reached[0] > y->reached[0] ? -1 : 1;
    return x->value && y->value ? ff_str_cmp(x->text, y->text) : x->value < y->value ? -1 : x->value > y->value;
}

/* Each person's deepest step and times, into their group (and the list of persons). */
struct tally {
    const struct ff_query *q;
    const struct funnel *f;
    struct group *g;
    struct ff_str *listed;
    size_t nlisted, listed_cap;
};

static int tally_person(void *arg, const void *rows, size_t n)
{
    struct tally *t = arg;
    const struct ff_query *q = t->q;
    const struct hit *h = rows;
    int64_t when[FF_QUERY_MAX_STEPS];
    uint32_t value = 0;
    size_t level = walk(q, h, n, when, &value);
    int rc = 0;
    if (q->list_step && level >= q->list_step) {
        if ((rc = room_for((void **)&t->listed, &t->listed_cap, t->nlisted + 1, sizeof *t->listed))) return rc;
        t->listed[t->nlisted++] = ff_qvalues_text(&t->f->persons, h[0].who);
    }
    struct group *grp = &t->g[q->has_breakdown ? value : 0];
    for (size_t st = 0; st < level; st++) {
        if (st) {
            if ((rc = room_for((void **)&grp->gaps[st], &grp->gaps_cap[st], grp->reached[st] + 1, sizeof *grp->gaps[st])))
                return rc;
            grp->gaps[st][grp->reached[st]] = when[st] - when[st - 1];
        }
        grp->reached[st]++;
    }
    return 0;
}

int ff_query_funnel(struct ff_store *s, const struct ff_query *q, struct ff_buf *out, char *err, size_t errlen)
{
    struct funnel f;
    memset(&f, 0, sizeof f);
    f.q = q;
    ff_qvalues_init(&f.values);
    ff_qvalues_init(&f.persons);
    /* every step-matching event of a person; for a strict funnel every other event too,
     * since one between two steps breaks it; the breakdown is the step-1 event's */
    struct ff_qplan p = {.q = q, .from_us = q->from_us, .nmatch = q->nsteps, .keep_unmatched = q->order == FF_ORDER_STRICT,
                         .value = q->has_breakdown ? &q->breakdown : NULL, .value_mask = 1, .person = FF_QP_REQUIRED,
                         .who = q->list_step > 0, .seq = 1, .values = &f.values, .persons = &f.persons,
                         .consume = consume}; /* no merge: tally_person reads every thread's hits */
    for (size_t i = 0; i < q->nsteps; i++) {
        p.match_event[i] = q->steps[i].event;
        p.match_filters[i] = q->steps[i].filters;
        p.match_nfilters[i] = q->steps[i].nfilters;
    }
    void *states[FF_QTHREADS_MAX];
    for (int i = 0; i < FF_QTHREADS_MAX; i++) states[i] = &f.h[i];
    int rc = ff_qplan_run(s, &p, states);
    if (rc == FF_ETOOBIG)
        snprintf(err, errlen, "more than %zu matching events: narrow the funnel with filters or a shorter range",
                 FF_QUERY_MAX_ENTRIES / 4);
    /* a group per breakdown value (one without a breakdown); each person in one; a set of
     * groups per walking thread, the second's joined to the first's after the walk */
    size_t ngroups = q->has_breakdown ? f.values.n + 1 : 1;
    struct group *gs[2] = {NULL, NULL};
    for (int w = 0; w < 2 && !rc; w++) {
        struct group *g = gs[w] = ff_calloc(ngroups, sizeof *g);
        if (!g) rc = -ENOMEM;
        for (size_t i = 0; i < ngroups && g; i++) g[i].value = (uint32_t)i, g[i].text = ff_qvalues_text(&f.values, (uint32_t)i);
    }
    struct group *g = gs[0];
    /* a person's hits are walked at once, in time order */
    struct tally t[2] = {{q, &f, gs[0], NULL, 0, 0}, {q, &f, gs[1], NULL, 0, 0}};
    void *targs[2] = {&t[0], &t[1]};
    if (!rc) rc = ff_qrowvec_each_key(f.h, FF_QTHREADS_MAX, sizeof(struct hit), tally_person, targs, 2);
    for (size_t k = 0; !rc && k < ngroups; k++)
        for (size_t st = 0; !rc && st < q->nsteps; st++) {
            size_t a = g[k].reached[st], b = gs[1][k].reached[st];
            if (st && b && !(rc = room_for((void **)&g[k].gaps[st], &g[k].gaps_cap[st], a + b, sizeof *g[k].gaps[st])))
                memcpy(g[k].gaps[st] + a, gs[1][k].gaps[st], b * sizeof *g[k].gaps[st]);
            g[k].reached[st] += b;
        }
    if (!rc && t[1].nlisted && !(rc = room_for((void **)&t[0].listed, &t[0].listed_cap, t[0].nlisted + t[1].nlisted, sizeof *t[0].listed)))
        memcpy(t[0].listed + t[0].nlisted, t[1].listed, t[1].nlisted * sizeof *t[1].listed);
    struct ff_str *listed[2] = {t[0].listed, t[1].listed};
    size_t nlisted = t[0].nlisted + t[1].nlisted;
    if (!rc) rc = ff_query_open_answer(q, "funnel", out);
    if (!rc) {
        char window[32];
        snprintf(window, sizeof window, "%lld", (long long)(q->window_us / 1000000));
        rc = ff_buf_printf(out, ",\"order\":\"%s\",\"window_seconds\":%s,", q->order ? "strict" : "loose", window);
    }
    if (!rc && !q->has_breakdown) rc = write_steps(q, g[0].reached, g[0].gaps, out);
    if (!rc && q->has_breakdown) { /* the top values by persons at step 1 */
        qsort(g, ngroups, sizeof *g, by_first_step);
        rc = ff_buf_append_str(out, "\"breakdown\":[");
        for (size_t k = 0, shown = 0; !rc && k < ngroups && shown < q->breakdown_limit; k++) {
            if (!g[k].reached[0]) continue;
            struct ff_str v = ff_qvalues_text(&f.values, g[k].value);
            rc = ff_buf_append_str(out, shown++ ? ",{\"value\":" : "{\"value\":");
            if (!rc) rc = g[k].value ? ff_json_write_str(out, v.p, v.len) : ff_buf_append_str(out, "null");
            if (!rc) rc = ff_buf_putc(out, ',');
            if (!rc) rc = write_steps(q, g[k].reached, g[k].gaps, out);
            if (!rc) rc = ff_buf_putc(out, '}');
        }
        if (!rc) rc = ff_buf_putc(out, ']');
    }
    if (!rc && q->list_step) { /* who reached the step, by id */
        qsort(listed[0], nlisted, sizeof *listed[0], ff_str_cmp_qsort);
        rc = ff_buf_printf(out, ",\"persons_at_step\":%zu,\"persons\":[", q->list_step);
        for (size_t i = 0; !rc && i < nlisted && i < q->limit; i++) {
            if (i) rc = ff_buf_putc(out, ',');
            if (!rc) rc = ff_json_write_str(out, listed[0][i].p, listed[0][i].len);
        }
        if (!rc) rc = ff_buf_putc(out, ']');
    }
    if (!rc) rc = ff_buf_putc(out, '}');
    for (int w = 0; w < 2; w++) {
        ff_free(listed[w]);
        for (size_t k = 0; gs[w] && k < ngroups; k++)
            for (size_t st = 0; st < FF_QUERY_MAX_STEPS; st++) ff_free(gs[w][k].gaps[st]);
        ff_free(gs[w]);
    }
    for (int i = 0; i < FF_QTHREADS_MAX; i++) ff_qrowvec_release(&f.h[i]);
    ff_qvalues_free(&f.values);
    ff_qvalues_free(&f.persons);
    return rc;
}
