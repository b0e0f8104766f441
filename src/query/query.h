/* query.h - the insight engine's query: one JSON object in, one JSON answer out, shared by
 * POST /api/query, `footfall query` and (later) the dashboard.
 *
 *   parse.c   the request: kind, range, time zone, filters, and each kind's own fields
 *   fields.c  named fields of an event (columns, enrichment, page and campaign fields,
 *             properties.KEY) and the filters over them
 *   trends.c  kind "trends": a series per interval of a measure, per event, by breakdown
 *   funnel.c  kind "funnel": persons at each of ordered steps within a conversion window
 *   retention.c kind "retention": cohorts by first start event, who returns each period after
 *   paths.c   kind "paths": the most frequent next (or previous) pages and events, as a graph
 *   activity.c kinds "stickiness" (on how many intervals persons were active) and "lifecycle"
 *             (new, returning, resurrecting and dormant persons per interval)
 *   rows.c    kinds "live" (who is here now, events per second, the latest events), "events"
 *             and "persons" (the rows behind any of the above)
 *   visits.c  kinds "sessions" (count, duration, pages, bounce, entry and exit pages) and
 *             "top" (Plausible's top lists: visitors and views per value of a field)
 *   table.c   the counting tables they share
 *   query.c   running a parsed query against the store
 *
 * Common fields: project (the read key's, by default), from and to (ISO 8601 date or
 * date-time, epoch ms, "now", or relative "-30m", "-24h", "-7d", "-4w", "-3M"), timezone
 * (IANA; the project's by default: where days, weeks and months begin), compare (true: the
 * same query over the range just before, as "previous"; or {from, to}), filters (a list of
 * {field, op, value}; op eq, neq, in, contains, regex, gt, lt, exists), bots (false: bots'
 * events are left out, as from every insight), segment (the persons a query counts: a saved
 * segment's name, or a definition, see struct ff_segment). */
#ifndef FF_QUERY_H
#define FF_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct ff_store;
struct ff_tz;

enum ff_query_kind {
    FF_Q_TRENDS, FF_Q_SESSIONS, FF_Q_TOP, FF_Q_FUNNEL, FF_Q_RETENTION, FF_Q_PATHS, FF_Q_STICKINESS, FF_Q_LIFECYCLE,
    FF_Q_LIVE, FF_Q_EVENTS, FF_Q_PERSONS
};
enum ff_funnel_order { FF_ORDER_LOOSE, FF_ORDER_STRICT };
/* top lists of where visits began and ended, from sessions rather than events */
enum ff_top_visit { FF_TOP_EVENTS, FF_TOP_ENTRY, FF_TOP_EXIT };
enum ff_interval { FF_IV_MINUTE, FF_IV_HOUR, FF_IV_DAY, FF_IV_WEEK, FF_IV_MONTH };
enum ff_measure {
    FF_M_COUNT, FF_M_PERSONS, FF_M_SESSIONS,
    FF_M_SUM, FF_M_AVG, FF_M_MIN, FF_M_MAX, FF_M_P50, FF_M_P90, FF_M_P99, /* of a numeric field */
    FF_M_PER_PERSON,                                                      /* events per person */
};
#define FF_M_NUMERIC(m) ((m) >= FF_M_SUM && (m) <= FF_M_P99)

#define FF_QUERY_MAX_FILTERS 16
#define FF_QUERY_MAX_SERIES 8
#define FF_QUERY_MAX_STEPS 16
#define FF_QUERY_MAX_STEP_FILTERS 8
#define FF_QUERY_NAME_MAX 256

#define FF_FORMULA_MAX 64

/* A formula over the series (A is the first): numbers, A-Z, + - * / and parentheses, kept
 * in postfix order. */
struct ff_formula {
    char text[FF_QUERY_NAME_MAX];
    uint8_t n;
    struct {
        char op;       /* 'n' number, 's' series, or + - * / */
        uint8_t series;
        double number;
    } t[FF_FORMULA_MAX];
};

/* A field an event is asked about, compiled from its name (fields.c). */
struct ff_field {
    int id;                              /* enum in fields.c */
    size_t off;                          /* a string member's offset in struct ff_event */
    int col;                             /* its part column (store/schema.h) */
    char prop[FF_QUERY_NAME_MAX];        /* the key path of properties.KEY (dots between levels) */
    char name[FF_QUERY_NAME_MAX];        /* as the request named it */
};

enum ff_filter_op { FF_OP_EQ, FF_OP_NEQ, FF_OP_IN, FF_OP_CONTAINS, FF_OP_REGEX, FF_OP_GT, FF_OP_LT, FF_OP_EXISTS };

struct ff_filter {
    struct ff_field field;
    int op;
    struct ff_str *values; /* eq, neq, in, contains, regex: as text (numbers as written) */
    size_t nvalues;
    double number;         /* gt, lt */
    void *re;              /* regex: pcre2_code */
};

struct ff_series {
    char event[FF_QUERY_NAME_MAX]; /* a track call's name, "$pageview", "$screen", or "" for any event */
};

/* A funnel step: an event (as a series names it) and filters of its own. */
struct ff_step {
    char event[FF_QUERY_NAME_MAX];
    struct ff_filter filters[FF_QUERY_MAX_STEP_FILTERS];
    size_t nfilters;
};

/* A segment (a cohort): the persons who did `event` (any event when "") passing `filters`
 * at least min_count times in [from, to) (the query's range by default); or the persons a
 * list names (user, anonymous or person ids). A query with a segment counts only the events
 * of its persons. Saved segments are definitions kept per project (project/catalog.h). */
#define FF_SEGMENT_MAX_PERSONS 1000000
struct ff_segment {
    int set;                       /* the query has a segment (its definition is in here) */
    char name[FF_QUERY_NAME_MAX];  /* a saved segment's name; set = 0 until it is loaded */
    char event[FF_QUERY_NAME_MAX];
    struct ff_filter filters[FF_QUERY_MAX_STEP_FILTERS];
    size_t nfilters;
    int64_t from_us, to_us;
    size_t min_count;
    struct ff_str *persons;        /* owned array; the ids point into text */
    size_t npersons;
    struct ff_buf text;            /* what its filters and persons point to */
};

struct ff_query {
    int kind;
    char project[65];          /* "" = every project (a harness without projects) */
    int64_t from_us, to_us;    /* [from, to) */
    int64_t now_us;            /* when it was asked (live) */
    int64_t deadline_ns;       /* ff_mono_ns() past which the query stops (timeout_ms, 30 s) */
    int compare;               /* answer the compared range too, as "previous" */
    int64_t compare_from_us, compare_to_us;
    struct ff_tz *tz;          /* owned; NULL = UTC */
    char tz_name[65];
    struct ff_filter filters[FF_QUERY_MAX_FILTERS];
    size_t nfilters;
    int bots;
    /* trends */
    int interval;
    int measure;
    struct ff_field measure_field; /* the numeric field of sum … p99 */
    int has_formula;
    struct ff_formula formula;
    struct ff_series series[FF_QUERY_MAX_SERIES];
    size_t nseries;
    int has_breakdown;
    struct ff_field breakdown;
    size_t breakdown_limit;    /* top N values; the rest are "other" */
    /* sessions, top */
    size_t limit;              /* rows of a top list */
    size_t offset;             /* events, persons: rows skipped (paging) */
    int has_before;            /* events: only those older than (before_t, before_seq), the */
    int64_t before_t;          /* "next" cursor of the page before: paging with no depth limit */
    uint64_t before_seq;
    int top_visit;             /* enum ff_top_visit */
    struct ff_field dimension; /* top: the field listed (FF_TOP_EVENTS) */
    /* funnel (breakdown and breakdown_limit as for trends: by the first step's event) */
    struct ff_step *steps;     /* owned */
    size_t nsteps;
    int64_t window_us;         /* the time from the first step the others must happen in */
    int order;                 /* enum ff_funnel_order */
    size_t list_step;          /* 1-based: list the persons who reached it (up to `limit`); 0: none */
    /* retention (its period is `interval`) */
    char start_event[FF_QUERY_NAME_MAX], return_event[FF_QUERY_NAME_MAX]; /* "" = any event */
    size_t periods;            /* periods after the cohort's own */
    /* paths */
    char path_start[FF_QUERY_NAME_MAX]; /* the item paths start from ("" = a session's first) */
    int path_back;             /* 1: the items before the start, nearest first */
    size_t depth;              /* items per path, the start's included */
    struct ff_segment segment;
    struct ff_buf text;        /* the strings filters point to */
};

/* Parses a request. `now_us` anchors relative times; `default_tz` (may be NULL or "") is the
 * project's zone. On a bad request: FF_EINVAL, err says what, *field names the field. */
int ff_query_parse(const char *json, size_t len, int64_t now_us, const char *default_tz, struct ff_query *q,
                   char *err, size_t errlen, const char **field);
void ff_query_free(struct ff_query *q);
/* Parses only the fields every kind has (project, range, timezone, filters, bots, segment,
 * compare, timeout_ms) of another engine's request (analysis/analysis.h); kind is not read. */
int ff_query_parse_common(const char *json, size_t len, int64_t now_us, const char *default_tz, struct ff_query *q,
                          char *err, size_t errlen, const char **field);

/* Runs a parsed query over the store and appends its answer (JSON) to out. A query that
 * would need more than its memory budget stops with FF_ETOOBIG (err says what). */
int ff_query_run(struct ff_store *s, const struct ff_query *q, struct ff_buf *out, char *err, size_t errlen);

/* The answer to one request text: parse, run, and either the answer or an error object.
 * Returns the HTTP status to give it (200, 400, 413 or 500); *field names a bad field. */
/* Where saved segments come from: get appends the definition (JSON) of `project`'s segment
 * `name` to *out; 0, -ENOENT when there is none, or another error. */
struct ff_segment_source {
    int (*get)(void *arg, const char *project, const char *name, struct ff_buf *out);
    void *arg;
};
/* Loads a segment definition (JSON text) into q->segment, relative times against q->now_us.
 * FF_EINVAL with err and *field ("segment") when it is not a definition. */
int ff_query_set_segment(struct ff_query *q, const char *json, size_t len, char *err, size_t errlen,
                         const char **field);
/* 0 when `json` is a segment definition, else FF_EINVAL and err saying what is wrong. */
int ff_segment_check(const char *json, size_t len, char *err, size_t errlen);

int ff_query_answer(struct ff_store *s, const char *json, size_t len, int64_t now_us, const char *project,
                    const char *default_tz, const struct ff_segment_source *segments, struct ff_buf *out,
                    const char **field);
/* Another engine answering on a query's common fields (ff_query_parse_common): run gets
 * the parsed query, with its saved segment loaded, and the request text for its own fields.
 * It returns 0, or FF_EINVAL with err and *field naming its bad field, FF_ETOOBIG (err),
 * FF_QUERY_TIMEOUT (-20001) or another error; ff_query_answer_with turns those into the
 * status and error answer ff_query_answer gives. */
struct ff_query_runner {
    int (*run)(void *arg, struct ff_store *s, const struct ff_query *q, const char *json, size_t len,
               struct ff_buf *out, char *err, size_t errlen, const char **field);
    void *arg;
};
int ff_query_answer_with(struct ff_store *s, const char *json, size_t len, int64_t now_us, const char *project,
                         const char *default_tz, const struct ff_segment_source *segments,
                         const struct ff_query_runner *runner, struct ff_buf *out, const char **field);

/* ---- fields (fields.c) ---- */
/* 0, or -1 when `name` is not a field events have (err says which are). */
int ff_field_compile(const char *name, size_t len, struct ff_field *f, char *err, size_t errlen);
/* Marks in cols[FF_NCOLS] the part columns the field's value is read from. */
void ff_field_columns(const struct ff_field *f, uint8_t *cols);
/* 1 for person.KEY: its value needs the traits of ff_field_ctx_set_traits. */
int ff_field_is_trait(const struct ff_field *f);


struct ff_event;
struct ff_field_ctx;
struct ff_field_ctx *ff_field_ctx_new(void);
void ff_field_ctx_free(struct ff_field_ctx *c);
/* Gives person.KEY fields the traits to read (query_int.h); NULL: none. */
struct ff_traits;
void ff_field_ctx_set_traits(struct ff_field_ctx *c, const struct ff_traits *tr);
/* Starts a new event: what was derived or parsed for the last one is forgotten. */
void ff_field_ctx_reset(struct ff_field_ctx *c);
/* The value of field f of ev as text (numbers as written, booleans true/false): 1 when the
 * event has it, 0 when not. The text is valid until the next call for another event. */
int ff_field_value(struct ff_field_ctx *c, const struct ff_event *ev, const struct ff_field *f, struct ff_str *out);
/* 1 when ev passes every filter. */
int ff_filters_pass(struct ff_field_ctx *c, const struct ff_event *ev, const struct ff_filter *fs, size_t n);

#endif
