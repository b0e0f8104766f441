/* baskets.c - see baskets.h. Each thread notes (transaction, item) pairs in its own table;
 * merged, they are sorted by transaction into one array. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/baskets.h"
#include "core/alloc.h"
#include "query/colscan.h"

struct bstate {
    int by;
    struct ff_qtable pairs; /* (transaction key, item value) */
    uint64_t last_key, last_value;
};

static int consume(void *arg, const struct ff_qbatch *b)
{
    struct bstate *st = arg;
    for (uint32_t i = 0; i < b->n; i++) {
        uint64_t key = st->by == FF_BASKET_SESSIONS ? b->session[i] : b->person[i];
        if (!key || !b->value[i] || (key == st->last_key && b->value[i] == st->last_value)) continue;
        st->last_key = key, st->last_value = b->value[i];
        if (ff_qtable_add(&st->pairs, key, b->value[i], 1) < 0) return -ENOMEM;
    }
    return 0;
}

static int merge(void *into, void *from)
{
    struct bstate *a = into, *b = from;
    return ff_qtable_merge_with(&a->pairs, &b->pairs, FF_QMERGE_ADD);
}

static int by_pair(const void *x, const void *y)
{
    const uint64_t *a = x, *b = y;
    if (a[0] != b[0]) return a[0] < b[0] ? -1 : 1;
    return a[1] < b[1] ? -1 : a[1] > b[1];
}

static int by_name(const void *x, const void *y, void *arg)
{
    const struct ff_qvalues *v = arg;
    return ff_str_cmp(ff_qvalues_text(v, *(const uint32_t *)x), ff_qvalues_text(v, *(const uint32_t *)y));
}

static int by_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return a < b ? -1 : a > b;
}

int ff_baskets_build(struct ff_store *s, const struct ff_query *q, int by, const struct ff_field *item,
                     struct ff_txset *t, struct ff_qvalues *items, struct ff_str **names)
{
    memset(t, 0, sizeof *t);
    *names = NULL;
    struct bstate st[FF_QTHREADS_MAX];
    void *states[FF_QTHREADS_MAX];
    memset(st, 0, sizeof st);
    for (int i = 0; i < FF_QTHREADS_MAX; i++) st[i].by = by, states[i] = &st[i];
    struct ff_qplan p = {.q = q, .from_us = q->from_us, .keep_unmatched = 1, .value = item, .value_required = 1,
                         .person = by == FF_BASKET_PERSONS ? FF_QP_REQUIRED : FF_QP_NONE,
                         .session = by == FF_BASKET_SESSIONS ? FF_QP_REQUIRED : FF_QP_NONE,
                         .t_use = FF_QT_NONE, .values = items, .consume = consume, .merge = merge};
    int rc = ff_qplan_run(s, &p, states);
    size_t n = st[0].pairs.n;
    uint64_t *pairs = rc ? NULL : ff_malloc((n + 1) * 2 * sizeof *pairs);
    if (!rc && !pairs) rc = -ENOMEM;
    size_t m = 0;
    for (size_t i = 0; !rc && i < st[0].pairs.cap; i++)
        if (st[0].pairs.s[i].a != FF_QTABLE_EMPTY) pairs[2 * m] = st[0].pairs.s[i].a, pairs[2 * m + 1] = st[0].pairs.s[i].b, m++;
    if (!rc) qsort(pairs, m, 2 * sizeof *pairs, by_pair);
    size_t ntx = 0;
    for (size_t i = 0; !rc && i < m; i++) ntx += !i || pairs[2 * i] != pairs[2 * i - 2];
    t->off = rc ? NULL : ff_malloc((ntx + 1) * sizeof *t->off);
    t->items = rc ? NULL : ff_malloc((m + 1) * sizeof *t->items);
    if (!rc && (!t->off || !t->items)) rc = -ENOMEM;
    /* item ids in the order of their names: the threads meet values in no fixed order, and
     * equal rules are listed by their items */
    uint32_t *order = rc ? NULL : ff_malloc((items->n + 1) * sizeof *order), *id = NULL;
    if (!rc && order) id = ff_malloc((items->n + 1) * sizeof *id);
    if (!rc && order) *names = ff_malloc((items->n + 1) * sizeof **names);
    if (!rc && (!order || !id || !*names)) rc = -ENOMEM;
    if (!rc) {
        for (size_t v = 0; v < items->n; v++) order[v] = (uint32_t)v + 1;
        qsort_r(order, items->n, sizeof *order, by_name, items);
        for (size_t r = 0; r < items->n; r++) id[order[r] - 1] = (uint32_t)r, (*names)[r] = ff_qvalues_text(items, order[r]);
        size_t tx = 0;
        for (size_t i = 0; i < m; i++) {
            if (!i || pairs[2 * i] != pairs[2 * i - 2]) t->off[tx++] = i;
            t->items[i] = id[pairs[2 * i + 1] - 1];
        }
        t->off[ntx] = m;
        t->ntx = ntx;
        t->nitems = items->n;
        for (tx = 0; tx < ntx; tx++) qsort(t->items + t->off[tx], t->off[tx + 1] - t->off[tx], sizeof *t->items, by_u32);
    }
    ff_free(order);
    ff_free(id);
    if (rc) ff_free(*names), *names = NULL;
    ff_free(pairs);
    for (int i = 0; i < FF_QTHREADS_MAX; i++) ff_qtable_free(&st[i].pairs);
    if (rc) ff_baskets_free(t);
    return rc;
}

void ff_baskets_free(struct ff_txset *t)
{
    ff_free(t->off);
    ff_free(t->items);
    memset(t, 0, sizeof *t);
}
