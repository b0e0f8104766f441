/* colscan.h - the rows a query kind counts, read from the store on every core.
 *
 * A kind says what it wants of each event (struct ff_qplan): which of its matchers the event
 * passes (a series or a funnel step: an event name and filters), the index of a value (a
 * breakdown, a top list's dimension, a path's item), the hashes of its person and session.
 * ff_qplan_run hands it those as batches of rows (struct ff_qbatch), never as events: each
 * thread feeds its own state of the kind, and the kind merges them at the end.
 *
 * Parts are read as column vectors: only the columns the query needs, dictionary columns as
 * codes. What a filter, matcher or value makes of a dictionary entry is worked out once per
 * part rather than per row, and a person is resolved once per run of rows with the same ids
 * (a part's rows are sorted by person), a resolution the store keeps between queries
 * (store/person_runs.h). A block is first narrowed to the rows its range, bots, project and
 * event names let through (a selection vector), and rows a weighted kind cannot tell apart
 * go out as one row with their count. A query naming a field that is not a column
 * (properties.KEY, person.KEY, personId) reads parts as events instead, and what is in
 * memory is always read as events; both ways make the same rows, which the tests check by
 * running queries both ways (FOOTFALL_QUERY_EVENTS=1 forces the event reader). */
#ifndef FF_COLSCAN_H
#define FF_COLSCAN_H

#include <stddef.h>
#include <stdint.h>

#include "query/query_int.h"

#define FF_QBATCH 4096
#define FF_QPLAN_MATCH 16
#define FF_QTHREADS_MAX 4

/* One batch of rows, in no particular order. */
struct ff_qbatch {
    uint32_t n;
    int64_t t[FF_QBATCH];        /* event time, µs */
    uint64_t seq[FF_QBATCH];     /* arrival order (when plan->seq) */
    uint64_t person[FF_QBATCH];  /* XXH3 of the person's id (ff_query_person); 0: none */
    uint64_t session[FF_QBATCH]; /* XXH3 of the session id; 0: none */
    uint32_t match[FF_QBATCH];   /* bit m: the event passes matcher m */
    uint32_t value[FF_QBATCH];   /* the value's index in plan->values (0: none) */
    uint32_t who[FF_QBATCH];     /* the person's index in plan->persons (when plan->who) */
    uint32_t weight[FF_QBATCH];  /* how many events the row stands for: 1, unless plan->weighted */
    double num[FF_QBATCH];       /* plan->number's value */
    uint64_t values[FF_QBATCH];  /* plan->value_sets: 0, or bit v for each value index v the
                                  * person has (the row's value and weight 0) */
};

enum { FF_QP_NONE, FF_QP_HASH, FF_QP_REQUIRED }; /* REQUIRED: rows without one are left out */
/* What a kind makes of a row's time: all of it; only its interval (ff_query_bucket), so a
 * block inside the range and inside one interval needs no times read (its rows get the
 * block's first); or nothing. */
enum { FF_QT_EXACT, FF_QT_BUCKET, FF_QT_NONE };

struct ff_qplan {
    const struct ff_query *q;    /* range, project, filters, bots, deadline */
    int64_t from_us;             /* where the range starts (lifecycle reads from the first event) */
    int64_t to_us;               /* where it ends: 0 = the query's `to` (sessions read on past it) */
    size_t nmatch;
    const char *match_event[FF_QPLAN_MATCH];            /* "" = any event */
    const struct ff_filter *match_filters[FF_QPLAN_MATCH];
    size_t match_nfilters[FF_QPLAN_MATCH];
    int keep_unmatched;          /* 0: rows that pass no matcher are left out */
    uint32_t filter_bit;         /* 0: rows that fail the query's filters are left out; else kept,
                                  * with this bit of match set on those that pass */
    const struct ff_field *value;                     /* NULL: no value */
    const struct ff_field *value_page, *value_screen; /* when set: what pages and screens read instead */
    uint32_t value_mask;         /* only rows passing one of these matchers get a value (0: all) */
    int value_required;          /* rows without a value are left out */
    int person, session;         /* FF_QP_* */
    int who, seq;                /* fill who[] (needs plan->persons), seq[] */
    int t_use;                   /* FF_QT_* */
    int weighted;                /* the kind reads weight[] (or only whether a row is there): rows that
                                  * differ in nothing the kind reads (a person's events in one
                                  * interval) are then handed over as one row with their count */
    int value_sets;              /* the kind takes a run of a person's rows as one row with the set
                                  * of their values below 64 (values[]), and the counts as rows
                                  * without a person: a weighted kind that counts distinct
                                  * persons per value (a top list) */
    const struct ff_field *number; /* NULL, or a field read as a number into num[]: rows whose
                                    * value is not one are left out */
    struct ff_qvalues *values, *persons; /* shared by the threads (colscan locks them) */
    int (*consume)(void *state, const struct ff_qbatch *b);
    int (*merge)(void *into, void *from); /* folds `from` into `into`; NULL: the kind reads them all */
    int (*finish)(void *state);  /* optional: run by each thread on its own state when its rows
                                  * are in (a sort), before the merges */
};

static inline int64_t ff_qplan_to(const struct ff_qplan *p) { return p->to_us ? p->to_us : p->q->to_us; }

/* The persons of q's segment (q->segment.set): (person hash, 0) → how many of the
 * segment's events they did, in *members; a person is in when that is at least
 * *min_count. ff_qplan_run applies it by itself; other readers ask ff_segment_has. */
int ff_segment_members(struct ff_store *s, const struct ff_query *q, struct ff_qtable *members, size_t *min_count);
static inline int ff_segment_has(const struct ff_qtable *members, size_t min_count, uint64_t person)
{
    return person && ff_qtable_get(members, person, 0) >= min_count;
}

/* How many threads (states) a plan runs on: one per core, at most FF_QTHREADS_MAX. */
int ff_qplan_threads(void);
/* Runs the plan: state[0 .. ff_qplan_threads()-1] are the kind's states, all merged into
 * state[0] at the end. FF_QUERY_TIMEOUT past the query's deadline; the consumer's errors
 * are returned as they are. */
int ff_qplan_run(struct ff_store *s, const struct ff_qplan *p, void *const *state);

#endif
