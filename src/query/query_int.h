/* query_int.h - what the query modules share (see query.h). */
#ifndef FF_QUERY_INT_H
#define FF_QUERY_INT_H

#include "core/alloc.h"
#include "core/strmap.h"
#include "query/query.h"

/* A query's memory budget: cells or (cell, id) pairs of a table, and distinct values of a
 * field. Past either, FF_ETOOBIG. */
#define FF_QUERY_MAX_ENTRIES ((size_t)1 << 25)
#define FF_QUERY_MAX_VALUES ((size_t)1 << 20)
/* A scan stopped at the query's deadline (q->deadline_ns). */
#define FF_QUERY_TIMEOUT (-20001)

/* An open-addressing table of 128-bit keys (a, b) with a count each (table.c). Counts are
 * (cell, 0); distinct ids are (cell, id hash) pairs, counted once each. */
struct ff_qslot {
    uint64_t a, b, v; /* together: a look-up touches one cache line */
};
struct ff_qtable {
    struct ff_qslot *s;
    size_t n, cap;
};
#define FF_QTABLE_EMPTY UINT64_MAX /* a free slot's a */
/* Adds `by` to the count of (a, b): 1 when the key is new, 0 when it was there, or an error. */
int ff_qtable_add(struct ff_qtable *t, uint64_t a, uint64_t b, uint64_t by);
uint64_t ff_qtable_get(const struct ff_qtable *t, uint64_t a, uint64_t b);
/* The count of (a, b) to read and write: a new key starts at `init` (*created set). NULL on
 * error (*err set). Valid until the next add. */
uint64_t *ff_qtable_at(struct ff_qtable *t, uint64_t a, uint64_t b, uint64_t init, int *created, int *err);
/* Counts one in `cell` of cells the first time id_hash is seen there (in `seen`). Small sets;
 * millions of pairs go through struct ff_qdistinct. */
int ff_qtable_count(struct ff_qtable *cells, struct ff_qtable *seen, uint64_t cell, uint64_t id_hash);
/* Distinct (cell, id) pairs counted per cell, for millions of them: pairs are appended to
 * partitions by hash, and each partition is then made distinct on its own, in a set small
 * enough for the caches, rather than each pair looked up in one set too big for them. */
#define FF_QDISTINCT_PARTS 256
#define FF_QRECENT 1024 /* pairs an ff_qdistinct remembers having met lately */
/* A partition's pairs, in chunks (ff_chunk_take: kept between queries, so their pages are
 * not faulted in afresh, and two threads' partitions join without a copy). */
#define FF_QCHUNK_PAIRS ((FF_CHUNK_BYTES - 16) / 16)
struct ff_qchunk {
    struct ff_qchunk *next;
    size_t n;
    uint64_t v[FF_QCHUNK_PAIRS][2];
};
struct ff_qpairs {
    struct ff_qchunk *head, *tail; /* appends go to tail */
    size_t n;
    size_t fill; /* pairs in tail: its own n is set when a reader needs it (one cache line less per append) */
};
struct ff_qdistinct {
    struct ff_qpairs part[FF_QDISTINCT_PARTS];
    struct ff_qslot *recent; /* pairs met lately (a person's rows come together): not appended again */
    size_t n;                /* pairs held: FF_ETOOBIG past FF_QUERY_MAX_ENTRIES */
};
int ff_qdistinct_add(struct ff_qdistinct *d, uint64_t cell, uint64_t id);
/* Moves from's pairs into `into` (another thread's). */
int ff_qdistinct_merge(struct ff_qdistinct *into, struct ff_qdistinct *from);
/* Leaves each partition holding its distinct pairs only, and adds 1 to (cell, 0) of cells
 * for each. */
int ff_qdistinct_count(struct ff_qdistinct *d, struct ff_qtable *cells);
void ff_qdistinct_free(struct ff_qdistinct *d);
/* For each cell 0..63, how many distinct ids have it, from sets of cells that come a run of
 * an id's rows at a time (a top list's first values, a person's rows): one entry per set
 * rather than one per (cell, id) pair, united per id at the end, partition by partition as
 * ff_qdistinct does. */
#define FF_QUNION_CELLS 64
struct ff_qunion {
    struct ff_qpairs part[FF_QDISTINCT_PARTS]; /* (id, set): bit c for cell c */
    size_t n;                                  /* sets held: FF_ETOOBIG past FF_QUERY_MAX_ENTRIES */
};
int ff_qunion_add(struct ff_qunion *u, uint64_t id, uint64_t cells);
int ff_qunion_merge(struct ff_qunion *into, struct ff_qunion *from);
/* Adds to counts[c] the ids whose union has cell c. The sets stay as they were. */
int ff_qunion_count(struct ff_qunion *u, uint64_t counts[FF_QUNION_CELLS]);
void ff_qunion_free(struct ff_qunion *u);

void ff_qtable_free(struct ff_qtable *t);

/* The events a kind keeps to walk in order per person or session: each kind's row starts
 * with this, so one comparator and one growing array serve them all (table.c). */
struct ff_qrow {
    uint64_t key;  /* the person's or session's id, hashed */
    int64_t t;
    uint64_t seq;  /* arrival order: ties in time go by it */
};
/* qsort order of rows that start with struct ff_qrow: by key, time, arrival. */
int ff_qrow_cmp(const void *a, const void *b);
/* Sorts the n rows of `elem` bytes at v that start with struct ff_qrow as ff_qrow_cmp does,
 * in place, faster than qsort on millions of them: by the key's top bits, then the next
 * ones, then insertion sorts. scratch has room for n rows (NULL will do below
 * FF_QROWS_SORT_SCRATCH_MIN, which qsort sorts). 0 or -ENOMEM. */
#define FF_QROWS_SORT_SCRATCH_MIN 4096
int ff_qrows_sort(void *v, size_t n, size_t elem, void *scratch);
/* An array that grows a large chunk at a time (ff_large_chunk_take): never moved, and its
 * memory is the same chunks query after query however the threads share out the rows. */
struct ff_qchunks {
    char **chunk;
    size_t nchunks, chunks_cap;
    size_t n;     /* elements */
    uint32_t per; /* elements a chunk holds */
};
static inline void *ff_qchunks_at(const struct ff_qchunks *c, size_t i, size_t elem)
{
    return c->chunk[i / c->per] + (i % c->per) * elem;
}
/* Adds a chunk: 0, FF_ETOOBIG past the budget of rows, or -ENOMEM. */
int ff_qchunks_grow(struct ff_qchunks *c, size_t elem);
void ff_qchunks_free(struct ff_qchunks *c);

/* Rows gathered by one thread of a scan (colscan.h), noted as runs as they come: rows of
 * one key already in ff_qrow_cmp order, as a part gives one person's (or session's) rows.
 * Sorting a million runs rather than millions of rows was most of a funnel's time. */
#define FF_QROWVEC_MAX 8 /* vectors ff_qrowvec_each_key walks at once */
struct ff_qrun {
    struct ff_qrow first; /* the run's first row's key, time, arrival */
    uint32_t at;          /* where it starts in its vector */
    uint32_t n : 28;      /* rows: fewer than FF_QUERY_MAX_ENTRIES / 4 */
    uint32_t vec : 4;     /* which vector (ff_qrowvec_each_key) */
};
struct ff_qrowvec {
    struct ff_qchunks rows, runs;
    char *tail;          /* where the next row goes */
    size_t room;         /* rows that still fit in tail's chunk */
    struct ff_qrun *run; /* the last row's run (NULL: the next row starts one) */
};
int ff_qrowvec_next_chunk(struct ff_qrowvec *r, size_t elem);
int ff_qrowvec_new_run(struct ff_qrowvec *r, const struct ff_qrow *row);
/* Appends a row of `elem` bytes that starts with struct ff_qrow (the same elem every time):
 * it extends the last run or starts one. 0, FF_ETOOBIG or -ENOMEM. */
static inline int ff_qrowvec_push(struct ff_qrowvec *r, const void *row, size_t elem)
{
    int rc = r->room ? 0 : ff_qrowvec_next_chunk(r, elem);
    if (rc) return rc;
    const struct ff_qrow *x = row, *prev = r->run ? (const struct ff_qrow *)(r->tail - elem) : NULL;
    memcpy(r->tail, row, elem);
    r->tail += elem, r->room--, r->rows.n++;
    if (prev && prev->key == x->key && (prev->t < x->t || (prev->t == x->t && prev->seq <= x->seq))) {
        r->run->n++;
        return 0;
    }
    return ff_qrowvec_new_run(r, x);
}
/* Calls fn with each key's rows in ff_qrow_cmp order, key by key, over the runs of nv
 * vectors (the threads' own, never merged into one): a key's rows are passed where they lie
 * when one run has them, else gathered into a scratch buffer. With nargs > 1 (at most 2
 * are used) the keys are shared out between two threads, each calling fn with its own arg,
 * keys in ascending order on each. fn's non-zero return stops the walk and is returned;
 * FF_ETOOBIG when the vectors hold more rows than a query may. */
int ff_qrowvec_each_key(const struct ff_qrowvec *v, size_t nv, size_t elem,
                        int (*fn)(void *arg, const void *rows, size_t n), void *const *args, size_t nargs);
/* The runs of nv vectors: at least as many as their distinct keys. */
size_t ff_qrowvec_runs(const struct ff_qrowvec *v, size_t nv);
/* Gives the chunks back (kept for the next query). */
void ff_qrowvec_release(struct ff_qrowvec *r);
/* Folds a table made on another thread into `into`: where both have a key, its value
 * becomes the sum (FF_QMERGE_ADD), the lesser (FF_QMERGE_MIN) or the bitwise or
 * (FF_QMERGE_OR) of the two. */
enum { FF_QMERGE_ADD, FF_QMERGE_MIN, FF_QMERGE_OR };
int ff_qtable_merge_with(struct ff_qtable *into, const struct ff_qtable *from, int op);
/* Room for one more row of `elem` bytes in *v (n used, *cap allocated): 0, FF_ETOOBIG past
 * the budget of rows, or -ENOMEM. */
int ff_qrows_reserve(void **v, size_t n, size_t *cap, size_t elem);

/* Person traits (traits.c): what identify calls said of each person, for person.KEY. */
struct ff_traits;
int ff_traits_load(struct ff_store *s, const struct ff_query *q, struct ff_traits **out);
void ff_traits_free(struct ff_traits *tr);
/* Calls fn with each traits object the person was identified with, newest first, until fn
 * returns non-zero (which is returned). */
int ff_traits_each(const struct ff_traits *tr, struct ff_str person, int (*fn)(void *arg, struct ff_str traits),
                   void *arg);
/* 1 when the query names a person trait anywhere (filters, steps, breakdown, dimension). */
int ff_query_uses_traits(const struct ff_query *q);

/* The distinct values of a field, numbered from 1 (0: the event has none). */
struct ff_qvalues {
    struct ff_strmap map;
    struct ff_str *v;
    size_t n, cap;
};
void ff_qvalues_init(struct ff_qvalues *d);
int ff_qvalues_index(struct ff_qvalues *d, struct ff_str v, uint32_t *out);
struct ff_str ff_qvalues_text(const struct ff_qvalues *d, uint32_t idx);
void ff_qvalues_free(struct ff_qvalues *d);

/* ---- fields read as column vectors (colscan.c) ---- */
/* How a field's value is read from a part's columns without building the event:
 * FF_FV_PROP: properties.KEY, from the part's typed column p.KEY and the rest of the
 * properties; FF_FV_TRAIT: person.KEY, once per run of rows of one person; FF_FV_NONE: it
 * cannot be (the resolved person id). */
enum { FF_FV_NONE, FF_FV_EVENT, FF_FV_TYPE, FF_FV_PROJECT, FF_FV_BOT, FF_FV_COLUMN, FF_FV_PATH, FF_FV_PAGE, FF_FV_PROP,
       FF_FV_TRAIT };
/* The FF_FV_ form of a field; *col: its column (FF_FV_COLUMN). */
int ff_field_vector(const struct ff_field *f, int *col);
/* A field's text as a number, as filters read it (all of it a decimal or float): 1, or 0. */
int ff_field_number(struct ff_str s, double *d);
/* Where the nearest-rank q-quantile is among n sorted values (0-based; 0 when n is 0). */
static inline size_t ff_nearest_rank(double q, size_t n)
{
    size_t rank = (size_t)__builtin_ceil(q * (double)n); /* 1-based */
    return rank ? rank - 1 : 0;
}
/* A property's floating-point value as the field reads it: 100 rather than 100.0, else the
 * shortest text that reads back as d. */
int ff_field_double_text(struct ff_buf *o, double d);
/* The name "event" gives an event of this type: a track call's name, "$pageview", … */
struct ff_str ff_event_query_name(int type, struct ff_str event);
/* 1 when a value (has: whether the event has one) passes filter f. match_data: a
 * pcre2_match_data of the caller's thread. */
int ff_filter_match(const struct ff_filter *f, int has, struct ff_str v, void *match_data);

/* kind "trends" (trends.c), kinds "sessions" and "top" (visits.c) */
int ff_query_trends(struct ff_store *s, const struct ff_query *q, struct ff_buf *out, char *err, size_t errlen);
int ff_query_sessions(struct ff_store *s, const struct ff_query *q, struct ff_buf *out, char *err, size_t errlen);
int ff_query_top(struct ff_store *s, const struct ff_query *q, struct ff_buf *out, char *err, size_t errlen);
int ff_query_funnel(struct ff_store *s, const struct ff_query *q, struct ff_buf *out, char *err, size_t errlen);
int ff_query_retention(struct ff_store *s, const struct ff_query *q, struct ff_buf *out, char *err, size_t errlen);
int ff_query_paths(struct ff_store *s, const struct ff_query *q, struct ff_buf *out, char *err, size_t errlen);
int ff_query_activity(struct ff_store *s, const struct ff_query *q, struct ff_buf *out, char *err, size_t errlen);
int ff_query_rows(struct ff_store *s, const struct ff_query *q, struct ff_buf *out, char *err, size_t errlen);

/* 1 when the query counts the event: not a bot's (unless it asks for them), and it passes
 * the query's filters. Starts the context on the event. */
int ff_query_wants(struct ff_field_ctx *c, const struct ff_query *q, const struct ff_event *ev);
/* The id an event counts under as a person: its person id, else its userId or anonymousId. */
struct ff_str ff_query_person(const struct ff_event *ev);

/* 1 when an event is what a series or step names: a track call's name, "$pageview", "$screen"
 * (or any event when `event` is empty). `event_field` is the compiled field "event". */
int ff_query_event_is(struct ff_field_ctx *c, const struct ff_field *event_field, const struct ff_event *ev,
                      const char *event);

/* FF_EINVAL, with err saying that [from, to) holds more than `max` of the query's intervals
 * (days, weeks, …) and what to do about it. */
int ff_query_too_long(const struct ff_query *q, size_t max, char *err, size_t errlen);

/* The answer's opening: {"kind":K,"timezone":…,"from":…,"to":… (no closing brace). */
int ff_query_open_answer(const struct ff_query *q, const char *kind, struct ff_buf *o);
/* The interval of q->interval an instant falls in, counted from the epoch in local time
 * (minutes, hours, days, weeks from Monday, months), and its label: 2026-11-20T10:05,
 * 2026-11-20T10:00, 2026-11-20, the Monday of a week, 2026-11. */
int64_t ff_query_bucket(const struct ff_query *q, int64_t t_us);
void ff_query_bucket_label(const struct ff_query *q, int64_t b, char out[64]);
/* ff_query_bucket remembering the last instant: rows often share one (a block read without
 * its times gives all its rows the same). Zero-initialised. */
struct ff_qbucket_memo {
    int64_t t, b;
    int set;
};
static inline int64_t ff_query_bucket_memo(const struct ff_query *q, struct ff_qbucket_memo *m, int64_t t)
{
    if (!m->set || m->t != t) m->t = t, m->b = ff_query_bucket(q, t), m->set = 1;
    return m->b;
}

/* The part columns (FF_NCOLS flags) a query reads: a scan leaves the others on disk. */
void ff_query_columns(const struct ff_query *q, uint8_t *cols);
/* The store's scan filter for a query's range and project. */
struct ff_scan_filter;
void ff_query_scan_filter(const struct ff_query *q, struct ff_scan_filter *f);
/* A kind's scan: makes *ctx (freed by the caller) and compiles the field "event" into
 * *event_field, then calls visit(arg, ev) for every event of the range and project. Returns
 * the scan's error, else the visitor's own (*visit_rc, which it sets before it stops).
 * newest_bound: NULL, or the time before which the visitor wants no more events, which it
 * raises as it goes (ff_scan_filter's): the newest events are read first. */
int ff_query_scan(struct ff_store *s, const struct ff_query *q, struct ff_field_ctx **ctx, struct ff_field *event_field,
                  int (*visit)(void *arg, const struct ff_event *ev), void *arg, const int *visit_rc,
                  const int64_t *newest_bound);

#endif
