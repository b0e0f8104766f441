/* traits.c - person traits for person.KEY fields (see query_int.h): what identify calls said
 * about each person, the latest value of a trait winning.
 *
 * Built per query that names a trait, from the identify calls stored before the range's end,
 * each under the person it belongs to now (so traits set on an anonymous device follow it
 * into the user it merged with). A lookup walks the person's identify calls newest first
 * and answers from the first whose traits have the key. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/errors.h"
#include "core/timeutil.h"
#include "event/event.h"
#include "query/query_int.h"
#include "store/schema.h"
#include "store/store.h"

struct trait_row {
    uint32_t person; /* ff_qvalues index */
    int64_t t;
    uint64_t seq;
    uint64_t off;    /* the traits' text in `text` */
    uint32_t len;
};

struct ff_traits {
    struct ff_qvalues persons;
    struct trait_row *rows;   /* by person, newest first */
    size_t n, cap;
    uint32_t *first;          /* person index → its first row + 1 (0: none) */
    struct ff_buf text;
    int rc;
};

static int collect(void *arg, const struct ff_event *ev)
{
    struct ff_traits *tr = arg;
    if (ev->type != FF_EV_IDENTIFY || ev->traits.len <= 2) return 0;
    struct ff_str who = ff_query_person(ev);
    uint32_t idx;
    int rc = who.len ? ff_qvalues_index(&tr->persons, who, &idx) : 0;
    if (!rc && who.len) rc = ff_qrows_reserve((void **)&tr->rows, tr->n, &tr->cap, sizeof *tr->rows);
    if (!rc && who.len) rc = ff_buf_append(&tr->text, ev->traits.p, ev->traits.len);
    if (!rc && who.len)
        tr->rows[tr->n++] = (struct trait_row){idx, ev->timestamp_us, ev->seq, tr->text.len - ev->traits.len, ev->traits.len};
    return rc ? (tr->rc = rc) : 0;
}

static int by_person_newest(const void *a, const void *b)
{
    const struct trait_row *x = a, *y = b;
    if (x->person != y->person) return x->person < y->person ? -1 : 1;
    if (x->t != y->t) return x->t > y->t ? -1 : 1;
    return x->seq > y->seq ? -1 : x->seq < y->seq;
}

int ff_traits_load(struct ff_store *s, const struct ff_query *q, struct ff_traits **out)
{
    struct ff_traits *tr = ff_calloc(1, sizeof *tr);
    if (!tr) return -ENOMEM;
    ff_qvalues_init(&tr->persons);
    ff_buf_init(&tr->text, (size_t)1 << 34);
    uint8_t cols[FF_NCOLS] = {0};
    cols[FF_C_TYPE] = cols[FF_C_TRAITS] = cols[FF_C_PERSON_ID] = 1;
    /* identify calls only: the others are not looked at, nor their persons resolved */
    struct ff_scan_filter f = {.from_us = FF_TIME_NONE, .to_us = q->to_us, .project = q->project[0] ? q->project : NULL,
                               .columns = cols, .type = FF_EV_IDENTIFY};
    int rc = ff_store_scan(s, &f, collect, tr);
    if (tr->rc) rc = tr->rc;
    if (!rc && tr->n) qsort(tr->rows, tr->n, sizeof *tr->rows, by_person_newest);
    if (!rc && !(tr->first = ff_calloc(tr->persons.n + 1, sizeof *tr->first))) rc = -ENOMEM;
    for (size_t i = tr->n; !rc && i-- > 0;) tr->first[tr->rows[i].person] = (uint32_t)i + 1;
    if (rc) {
        ff_traits_free(tr);
        return rc;
    }
    *out = tr;
    return 0;
}

void ff_traits_free(struct ff_traits *tr)
{
    if (!tr) return;
    ff_qvalues_free(&tr->persons);
    ff_free(tr->rows);
    ff_free(tr->first);
    ff_buf_free(&tr->text);
    ff_free(tr);
}

int ff_traits_each(const struct ff_traits *tr, struct ff_str person, int (*fn)(void *arg, struct ff_str traits),
                   void *arg)
{
    const uint32_t *idx = person.len ? ff_strmap_get(&tr->persons.map, person.p, person.len) : NULL;
    if (!idx || !tr->first[*idx]) return 0;
    for (size_t i = tr->first[*idx] - 1; i < tr->n && tr->rows[i].person == *idx; i++) {
        int r = fn(arg, (struct ff_str){tr->text.data + tr->rows[i].off, tr->rows[i].len});
        if (r) return r;
    }
    return 0;
}
