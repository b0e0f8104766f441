/* query.c - running a parsed query, and one request text to its answer (see query.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/errors.h"
#include "core/json.h"
#include "core/timeutil.h"
#include "core/tz.h"
#include <xxhash.h>
#include "store/schema.h"
#include "store/store.h"
#include "query/colscan.h"

int ff_query_open_answer(const struct ff_query *q, const char *kind, struct ff_buf *o)
{
    char from[32], to[32];
    ff_time_format_iso(q->from_us, from);
    ff_time_format_iso(q->to_us, to);
    int rc = ff_buf_printf(o, "{\"kind\":\"%s\",\"timezone\":", kind);
    if (!rc) rc = ff_json_write_str(o, q->tz_name, strlen(q->tz_name));
    return rc ? rc : ff_buf_printf(o, ",\"from\":\"%s\",\"to\":\"%s\"", from, to);
}

int ff_query_too_long(const struct ff_query *q, size_t max, char *err, size_t errlen)
{
    static const char *const names[] = {"minute", "hour", "day", "week", "month"};
    char from[32], to[32];
    ff_time_format_iso(q->from_us, from);
    ff_time_format_iso(q->to_us, to);
    snprintf(err, errlen, "from %s to %s is more than %zu %ss: choose a longer interval or a shorter range", from, to,
             max, names[q->interval]);
    return FF_EINVAL;
}

int ff_query_wants(struct ff_field_ctx *c, const struct ff_query *q, const struct ff_event *ev)
{
    if (ev->bot && !q->bots) return 0;
    ff_field_ctx_reset(c);
    return ff_filters_pass(c, ev, q->filters, q->nfilters);
}

struct ff_str ff_query_person(const struct ff_event *ev)
{
    return ev->person_id.len ? ev->person_id : ev->user_id.len ? ev->user_id : ev->anonymous_id;
}

int ff_query_event_is(struct ff_field_ctx *c, const struct ff_field *event_field, const struct ff_event *ev,
                      const char *event)
{
    if (!event[0]) return 1;
    struct ff_str name;
    return ff_field_value(c, ev, event_field, &name) && name.len == strlen(event) && memcmp(name.p, event, name.len) == 0;
}

void ff_query_scan_filter(const struct ff_query *q, struct ff_scan_filter *f)
{
    *f = (struct ff_scan_filter){.from_us = q->from_us, .to_us = q->to_us, .project = q->project[0] ? q->project : NULL};
}

static int filters_use_traits(const struct ff_filter *fs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ff_field_is_trait(&fs[i].field)) return 1;
    return 0;
}

int ff_query_uses_traits(const struct ff_query *q)
{
    for (size_t i = 0; i < q->nsteps; i++)
        if (filters_use_traits(q->steps[i].filters, q->steps[i].nfilters)) return 1;
    return filters_use_traits(q->filters, q->nfilters) || (q->has_breakdown && ff_field_is_trait(&q->breakdown)) ||
           (q->kind == FF_Q_TOP && ff_field_is_trait(&q->dimension)) ||
           (FF_M_NUMERIC(q->measure) && ff_field_is_trait(&q->measure_field));
}

static void filters_columns(const struct ff_filter *fs, size_t n, uint8_t *cols)
{
    for (size_t i = 0; i < n; i++) ff_field_columns(&fs[i].field, cols);
}

void ff_query_columns(const struct ff_query *q, uint8_t *cols)
{
    memset(cols, 0, FF_NCOLS);
    static const int base[] = {FF_C_TIME, FF_C_SEQ, FF_C_PROJECT, FF_C_TYPE, FF_C_EVENT, FF_C_BOT};
    for (size_t i = 0; i < sizeof base / sizeof *base; i++) cols[base[i]] = 1;
    filters_columns(q->filters, q->nfilters, cols);
    for (size_t i = 0; i < q->nsteps; i++) filters_columns(q->steps[i].filters, q->steps[i].nfilters, cols);
    if (q->has_breakdown) ff_field_columns(&q->breakdown, cols);
    if (q->kind == FF_Q_TOP) ff_field_columns(&q->dimension, cols);
    /* persons, sessions and the kinds' own fields: colscan.c adds what its plan reads */
}

/* Every event of a scan passes here first: past the query's deadline, the scan stops. */
struct timed {
    const struct ff_query *q;
    int (*visit)(void *arg, const struct ff_event *ev);
    void *arg;
    uint32_t n;
    const struct ff_qtable *members; /* the query's segment's persons, or NULL */
    size_t min_count;
};

static int timed_visit(void *arg, const struct ff_event *ev)
{
    struct timed *t = arg;
    if ((++t->n & 255) == 0 && (int64_t)ff_mono_ns() > t->q->deadline_ns) return FF_QUERY_TIMEOUT;
    if (t->members) {
        struct ff_str who = ff_query_person(ev);
        if (!ff_segment_has(t->members, t->min_count, who.len ? XXH3_64bits(who.p, who.len) : 0)) return 0;
    }
    return t->visit(t->arg, ev);
}

int ff_query_scan(struct ff_store *s, const struct ff_query *q, struct ff_field_ctx **ctx, struct ff_field *event_field,
                  int (*visit)(void *arg, const struct ff_event *ev), void *arg, const int *visit_rc,
                  const int64_t *newest_bound)
{
    char err[256];
    if (!(*ctx = ff_field_ctx_new())) return -ENOMEM;
    if (ff_field_compile("event", 5, event_field, err, sizeof err)) return FF_EINVAL;
    struct ff_scan_filter f;
    ff_query_scan_filter(q, &f);
    f.newest_bound = newest_bound;
    uint8_t cols[FF_NCOLS];
    ff_query_columns(q, cols);
    cols[FF_C_PERSON_ID] = cols[FF_C_SESSION_ID] = 1; /* the rows' persons and sessions */
    /* events and live answer whole events: they read every column */
    if (q->kind != FF_Q_EVENTS && q->kind != FF_Q_LIVE) f.columns = cols;
    struct timed t = {q, visit, arg, 0, NULL, 0};
    struct ff_traits *traits = NULL;
    struct ff_qtable members = {0};
    int rc = q->segment.set ? ff_segment_members(s, q, &members, &t.min_count) : 0;
    if (q->segment.set) t.members = &members;
    if (!rc) rc = ff_query_uses_traits(q) ? ff_traits_load(s, q, &traits) : 0;
    ff_field_ctx_set_traits(*ctx, traits);
    if (!rc) rc = ff_store_scan(s, &f, timed_visit, &t);
    ff_traits_free(traits);
    ff_qtable_free(&members);
    return *visit_rc ? *visit_rc : rc;
}

static int run_kind(struct ff_store *s, const struct ff_query *q, struct ff_buf *out, char *err, size_t errlen)
{
    switch (q->kind) {
    case FF_Q_TRENDS: return ff_query_trends(s, q, out, err, errlen);
    case FF_Q_SESSIONS: return ff_query_sessions(s, q, out, err, errlen);
    case FF_Q_TOP: return ff_query_top(s, q, out, err, errlen);
    case FF_Q_FUNNEL: return ff_query_funnel(s, q, out, err, errlen);
    case FF_Q_RETENTION: return ff_query_retention(s, q, out, err, errlen);
    case FF_Q_PATHS: return ff_query_paths(s, q, out, err, errlen);
    case FF_Q_STICKINESS:
    case FF_Q_LIFECYCLE: return ff_query_activity(s, q, out, err, errlen);
    case FF_Q_LIVE:
    case FF_Q_EVENTS:
    case FF_Q_PERSONS: return ff_query_rows(s, q, out, err, errlen);
    default: snprintf(err, errlen, "unknown kind"); return FF_EINVAL;
    }
}

int ff_query_run(struct ff_store *s, const struct ff_query *q, struct ff_buf *out, char *err, size_t errlen)
{
    size_t start = out->len;
    int rc = run_kind(s, q, out, err, errlen);
    if (rc || !q->compare) return rc;
    /* the same question over the compared range, inside the answer as "previous" */
    struct ff_query prev = *q;
    prev.compare = 0;
    prev.from_us = q->compare_from_us;
    prev.to_us = q->compare_to_us;
    out->len--; /* the answer's closing brace */
    rc = ff_buf_append_str(out, ",\"previous\":");
    if (!rc) rc = run_kind(s, &prev, out, err, errlen);
    if (!rc) rc = ff_buf_putc(out, '}');
    if (rc) out->len = start;
    return rc;
}

/* {"error": msg, "field": field} into out; `status`, or 500 when even that cannot be written. */
static int error_answer(struct ff_buf *out, int status, const char *msg, const char *field)
{
    ff_buf_reset(out);
    int rc = ff_buf_append_str(out, "{\"error\":");
    if (!rc) rc = ff_json_write_str(out, msg, strlen(msg));
    if (!rc) rc = ff_buf_append_str(out, ",\"field\":");
    if (!rc) rc = ff_json_write_str(out, field, strlen(field));
    if (!rc) rc = ff_buf_append_str(out, "}");
    return rc ? 500 : status;
}

/* Loads a saved segment the query names. 0, or the HTTP status of an error answer in out. */
static int load_segment(struct ff_query *q, const char *project, const struct ff_segment_source *segments,
                        struct ff_buf *out, const char **field)
{
    char err[1024];
    const char *proj = project && project[0] ? project : FF_DEFAULT_PROJECT;
    struct ff_buf def;
    ff_buf_init(&def, (size_t)1 << 26); /* a list of persons can be long */
    int rc = segments && segments->get ? segments->get(segments->arg, proj, q->segment.name, &def) : -ENOENT;
    int status = 0;
    if (rc == -ENOENT) {
        snprintf(err, sizeof err, "segment: no segment '%s' is saved in project %s (PUT /api/segments/NAME saves one)",
                 q->segment.name, proj);
        status = error_answer(out, 400, err, "segment");
    } else if (rc) {
        snprintf(err, sizeof err, "segment: could not read saved segments: %s", ff_strerror(rc));
        status = error_answer(out, 500, err, "");
    } else if ((rc = ff_query_set_segment(q, def.data, def.len, err, sizeof err, field))) {
        status = error_answer(out, rc == FF_EINVAL ? 400 : 500, rc == FF_EINVAL ? err : ff_strerror(rc), "segment");
    }
    ff_buf_free(&def);
    return status;
}

int ff_query_answer_with(struct ff_store *s, const char *json, size_t len, int64_t now_us, const char *project,
                         const char *default_tz, const struct ff_segment_source *segments,
                         const struct ff_query_runner *runner, struct ff_buf *out, const char **field)
{
    struct ff_query q;
    char err[1024] = "";
    *field = "";
    int rc = runner ? ff_query_parse_common(json, len, now_us, default_tz, &q, err, sizeof err, field)
                    : ff_query_parse(json, len, now_us, default_tz, &q, err, sizeof err, field);
    if (rc == FF_EINVAL) return error_answer(out, 400, err, *field);
    if (rc == -ENOMEM) return error_answer(out, 503, "out of memory", "");
    if (rc) return error_answer(out, 500, ff_strerror(rc), "");
    /* the key's project: a request cannot read another's */
    snprintf(q.project, sizeof q.project, "%s", project ? project : "");
    if (q.segment.name[0] && !q.segment.set) {
        int status = load_segment(&q, project, segments, out, field);
        if (status) {
            ff_query_free(&q);
            return status;
        }
    }
    const char *own_field = "from";
    rc = runner ? runner->run(runner->arg, s, &q, json, len, out, err, sizeof err, &own_field)
                : ff_query_run(s, &q, out, err, sizeof err);
    ff_query_free(&q);
    if (rc == FF_EINVAL) return *field = own_field, error_answer(out, 400, err, own_field);
    if (rc == FF_ETOOBIG) return error_answer(out, 413, err, "");
    if (rc == FF_QUERY_TIMEOUT)
        return error_answer(out, 408, "the query ran past its time budget (timeout_ms, 30 s by default): narrow it "
                                      "with filters or a shorter range", "timeout_ms");
    if (rc) {
        snprintf(err, sizeof err, "could not run the query: %s", ff_strerror(rc));
        return error_answer(out, 500, err, "");
    }
    return 200;
}

int ff_query_answer(struct ff_store *s, const char *json, size_t len, int64_t now_us, const char *project,
                    const char *default_tz, const struct ff_segment_source *segments, struct ff_buf *out,
                    const char **field)
{
    return ff_query_answer_with(s, json, len, now_us, project, default_tz, segments, NULL, out, field);
}

/* ---- buckets in the query's zone ---- */

static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

/* The interval an instant falls in, as a whole number counting from the epoch: minutes,
 * hours, days, weeks (from Monday) or months of local time. */
int64_t ff_query_bucket(const struct ff_query *q, int64_t t_us)
{
    int64_t t = floor_div(t_us, 1000000);
    int64_t local = t + ff_tz_offset(q->tz, t);
    switch (q->interval) {
    case FF_IV_MINUTE: return floor_div(local, 60);
    case FF_IV_HOUR: return floor_div(local, 3600);
    case FF_IV_DAY: return floor_div(local, 86400);
    case FF_IV_WEEK: return floor_div(floor_div(local, 86400) + 3, 7); /* 1970-01-05 was a Monday */
    default: {
        int64_t y;
        unsigned m, d;
        ff_civil_from_days(floor_div(local, 86400), &y, &m, &d);
        return y * 12 + (m - 1);
    }
    }
}

/* The label of bucket b: 2026-11-20T10:05, 2026-11-20T10:00, 2026-11-20, the Monday of a
 * week, 2026-11. */
void ff_query_bucket_label(const struct ff_query *q, int64_t b, char out[64])
{
    int64_t y, day;
    unsigned m, d;
    if (q->interval == FF_IV_MONTH) {
        snprintf(out, 64, "%04lld-%02d", (long long)floor_div(b, 12), (int)(b - floor_div(b, 12) * 12 + 1));
        return;
    }
    int64_t secs = q->interval == FF_IV_MINUTE ? b * 60 : q->interval == FF_IV_HOUR ? b * 3600 : 0;
    day = q->interval == FF_IV_WEEK ? b * 7 - 3 : q->interval == FF_IV_DAY ? b : floor_div(secs, 86400);
    ff_civil_from_days(day, &y, &m, &d);
    if (q->interval >= FF_IV_DAY) {
        snprintf(out, 64, "%04lld-%02u-%02u", (long long)y, m, d);
        return;
    }
    int64_t rem = secs - day * 86400;
    snprintf(out, 64, "%04lld-%02u-%02uT%02d:%02d", (long long)y, m, d, (int)(rem / 3600), (int)(rem % 3600 / 60));
}
