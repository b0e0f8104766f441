/* parse.c - a query request's JSON into struct ff_query (see query.h). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/errors.h"
#include "core/json.h"
#include "core/timeutil.h"
#include "core/tz.h"
#include "query/query.h"

#define DEFAULT_RANGE_US (7LL * 86400 * 1000000) /* without from: the last 7 days */
#define DEFAULT_BREAKDOWN_LIMIT 10

struct parser {
    const struct ff_json_doc *doc;
    struct ff_query *q;
    struct ff_buf *text;    /* where filter values go: the query's text, or its segment's */
    char *err;
    size_t errlen;
    const char **field;
};

static int bad(struct parser *p, const char *field, const char *fmt, const char *arg)
{
    snprintf(p->err, p->errlen, fmt, arg);
    *p->field = field;
    return FF_EINVAL;
}

/* A string member: 1 and *s when there, 0 when absent, FF_EINVAL when not a string. */
static int get_str(struct parser *p, const char *key, struct ff_str *s)
{
    uint32_t i = ff_json_get(p->doc, 0, key);
    if (i == FF_JSON_NONE) return 0;
    const char *v;
    uint32_t n;
    if (!ff_json_str(p->doc, i, &v, &n)) return bad(p, key, "%s must be a string", key);
    *s = (struct ff_str){v, n};
    return 1;
}

static int is(struct ff_str s, const char *w) { return s.len == strlen(w) && memcmp(s.p, w, s.len) == 0; }

/* A whole-number member from lo to hi into *out (untouched when absent); FF_EINVAL naming it
 * otherwise. */
static int get_count(struct parser *p, const char *key, size_t lo, size_t hi, size_t *out)
{
    uint32_t i = ff_json_get(p->doc, 0, key);
    if (i == FF_JSON_NONE) return 0;
    const struct ff_json_node *n = &p->doc->nodes[i];
    int whole = (n->type == FF_JSON_INT && n->v.i >= 0) || n->type == FF_JSON_UINT;
    if (!whole || n->v.u < lo || n->v.u > hi) {
        snprintf(p->err, p->errlen, "%s is a whole number from %zu to %zu", key, lo, hi);
        *p->field = key;
        return FF_EINVAL;
    }
    *out = (size_t)n->v.u;
    return 0;
}

/* A member naming one of `names` (its index into *out), or absent (*out untouched). */
static int get_choice(struct parser *p, const char *key, const char *const *names, int n, int *out, const char *msg)
{
    struct ff_str s;
    int rc = get_str(p, key, &s);
    if (rc <= 0) return rc;
    for (int i = 0; i < n; i++)
        if (is(s, names[i])) {
            *out = i;
            return 0;
        }
    return bad(p, key, "%s", msg);
}

/* Wall-clock time in `tz` (µs, as if it were UTC) to the instant it names. */
static int64_t local_to_utc(const struct ff_tz *tz, int64_t local)
{
    int64_t guess = ff_tz_offset(tz, local / 1000000);
    return local - (int64_t)ff_tz_offset(tz, local / 1000000 - guess) * 1000000;
}

static int64_t utc_to_local(const struct ff_tz *tz, int64_t t) { return t + (int64_t)ff_tz_offset(tz, t / 1000000) * 1000000; }

/* "now", "-30m", "-24h", "-7d", "-4w", "-3M" (calendar months), or what ff_time_parse_any
 * takes; a bare date is midnight in the query's zone (and as `to`, the midnight after it). */
static int parse_when(struct parser *p, const char *key, struct ff_str s, int64_t now, int is_to, int64_t *out)
{
    if (is(s, "now")) {
        *out = now;
        return 0;
    }
    if (s.len >= 3 && s.len < 24 && s.p[0] == '-') {
        char buf[24], *end;
        memcpy(buf, s.p + 1, s.len - 1);
        buf[s.len - 1] = '\0';
        long long n = strtoll(buf, &end, 10);
        static const struct {
            char unit;
            int64_t us;
        } units[] = {{'m', 60LL * 1000000}, {'h', 3600LL * 1000000}, {'d', 86400LL * 1000000},
                     {'w', 7 * 86400LL * 1000000}};
        if (end != buf && n >= 0 && n <= 100000 && end[1] == '\0') {
            for (size_t i = 0; i < sizeof units / sizeof *units; i++)
                if (*end == units[i].unit) {
                    *out = now - n * units[i].us;
                    return 0;
                }
            if (*end == 'M') { /* calendar months back, at the same time of day */
                int64_t day = now / (86400LL * 1000000), rem = now - day * 86400LL * 1000000, y;
                unsigned m, d;
                ff_civil_from_days(day, &y, &m, &d);
                int64_t months = y * 12 + (m - 1) - n;
                y = months / 12;
                m = (unsigned)(months % 12) + 1;
                *out = ff_days_from_civil(y, m, d > 28 ? 28 : d) * 86400LL * 1000000 + rem;
                return 0;
            }
        }
        return bad(p, key, "%s: a relative time is -N followed by m, h, d, w or M (such as -7d)", key);
    }
    int64_t t;
    if (ff_time_parse_any(s.p, s.len, &t))
        return bad(p, key, "%s must be an ISO 8601 date or date-time, epoch milliseconds, now, or relative (-7d)",
                   key);
    if (s.len == 10 && s.p[4] == '-') /* a bare date: local midnight */
        t = local_to_utc(p->q->tz, is_to ? t + 86400LL * 1000000 : t);
    *out = t;
    return 0;
}

static int parse_filter(struct parser *p, uint32_t node, struct ff_filter *f)
{
    const struct ff_json_doc *d = p->doc;
    if (d->nodes[node].type != FF_JSON_OBJECT) return bad(p, "filters", "%s", "each filter is an object {field, op, value}");
    const char *s;
    uint32_t n;
    if (!ff_json_str(d, ff_json_get(d, node, "field"), &s, &n)) return bad(p, "filters", "%s", "a filter needs a field");
    if (ff_field_compile(s, n, &f->field, p->err, p->errlen)) {
        *p->field = "filters";
        return FF_EINVAL;
    }
    static const char *const ops[] = {"eq", "neq", "in", "contains", "regex", "gt", "lt", "exists"};
    f->op = -1;
    if (ff_json_str(d, ff_json_get(d, node, "op"), &s, &n))
        for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
            if (strlen(ops[i]) == n && memcmp(ops[i], s, n) == 0) f->op = (int)i;
    if (f->op < 0) return bad(p, "filters", "%s", "a filter's op is eq, neq, in, contains, regex, gt, lt or exists");
    if (f->op == FF_OP_EXISTS) return 0;
    uint32_t v = ff_json_get(d, node, "value");
    if (v == FF_JSON_NONE) return bad(p, "filters", "filter on %s: value is missing", f->field.name);
    const struct ff_json_node *vn = &d->nodes[v];
    if (f->op == FF_OP_GT || f->op == FF_OP_LT) {
        if (vn->type == FF_JSON_INT) f->number = (double)vn->v.i;
        else if (vn->type == FF_JSON_UINT) f->number = (double)vn->v.u;
        else if (vn->type == FF_JSON_DOUBLE) f->number = vn->v.d;
        else return bad(p, "filters", "filter on %s: gt and lt take a number", f->field.name);
        return 0;
    }
    /* the values as text: a list for in (and any op), else one */
    uint32_t first = v, end = vn->end;
    size_t count = 1;
    if (vn->type == FF_JSON_ARRAY) {
        first = v + 1;
        count = vn->len;
    } else if (f->op == FF_OP_IN) {
        return bad(p, "filters", "filter on %s: in takes a list", f->field.name);
    }
    if (!count || count > 1000) return bad(p, "filters", "filter on %s: 1 to 1000 values", f->field.name);
    if (!(f->values = ff_calloc(count, sizeof *f->values))) return -ENOMEM;
    for (uint32_t i = first; i < end && f->nvalues < count; i = d->nodes[i].end) {
        const struct ff_json_node *e = &d->nodes[i];
        size_t at = p->text->len;
        int rc = e->type == FF_JSON_STRING ? ff_buf_append(p->text, e->v.s, e->len) : ff_json_write_node(p->text, d, i);
        if (rc) return rc;
        /* offsets now, pointers once all text is in (the buffer moves while it grows) */
        f->values[f->nvalues++] = (struct ff_str){(const char *)(uintptr_t)at, (uint32_t)(p->text->len - at)};
    }
    if (f->op == FF_OP_REGEX) {
        if (f->nvalues != 1) return bad(p, "filters", "filter on %s: regex takes one pattern", f->field.name);
        int code;
        PCRE2_SIZE at;
        const char *pat = p->text->data + (uintptr_t)f->values[0].p;
        if (!(f->re = pcre2_compile((PCRE2_SPTR)pat, f->values[0].len, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code, &at,
                                    NULL))) {
            char msg[160];
            pcre2_get_error_message(code, (PCRE2_UCHAR *)msg, sizeof msg);
            snprintf(p->err, p->errlen, "filter on %s: bad regex at offset %zu: %s", f->field.name, (size_t)at, msg);
            *p->field = "filters";
            return FF_EINVAL;
        }
    }
    return 0;
}

static int parse_breakdown(struct parser *p);

/* The "filters" member of object `node`, at most `max`, into fs[*n]; errors name `field` and
 * say what the filters are of (`what`). */
static int parse_filters(struct parser *p, uint32_t node, struct ff_filter *fs, size_t *n, size_t max,
                         const char *field, const char *what)
{
    const struct ff_json_doc *d = p->doc;
    uint32_t fl = ff_json_get(d, node, "filters");
    if (fl == FF_JSON_NONE) return 0;
    if (d->nodes[fl].type != FF_JSON_ARRAY || d->nodes[fl].len > max) {
        snprintf(p->err, p->errlen, "%s filters are a list of at most %zu {field, op, value}", what, max);
        *p->field = field;
        return FF_EINVAL;
    }
    for (uint32_t k = fl + 1; k < d->nodes[fl].end; k = d->nodes[k].end) {
        int rc = parse_filter(p, k, &fs[(*n)++]);
        if (rc) {
            if (rc == FF_EINVAL) *p->field = field;
            return rc;
        }
    }
    return 0;
}

/* Shunting-yard over "A/B", "(A + B) * 100 / C", …: letters name series, in order. */
static int parse_formula(struct parser *p, struct ff_str s)
{
    struct ff_formula *f = &p->q->formula;
    static const char *const what = "formula is an expression over the series (A is the first event, B the second, "
                                    "…) with numbers, + - * / and parentheses, such as A/B";
    if (s.len >= sizeof f->text) return bad(p, "formula", "%s", what);
    memcpy(f->text, s.p, s.len);
    f->text[s.len] = '\0';
    char stack[FF_FORMULA_MAX];
    int depth = 0, operand = 1; /* an operand comes next */
    f->n = 0;
    for (size_t i = 0; i < s.len;) {
        char c = s.p[i];
        if (c == ' ') {
            i++;
            continue;
        }
        if (f->n >= FF_FORMULA_MAX - 1 || depth >= FF_FORMULA_MAX - 1) return bad(p, "formula", "%s", what);
        if (operand && c >= 'A' && c <= 'Z') {
            if ((size_t)(c - 'A') >= p->q->nseries)
                return bad(p, "formula", "formula names series %s, which the query does not have", (char[2]){c, 0});
            f->t[f->n].op = 's', f->t[f->n++].series = (uint8_t)(c - 'A');
            operand = 0, i++;
        } else if (operand && ((c >= '0' && c <= '9') || c == '.')) {
            char buf[32], *end;
            size_t n = 0;
            while (i < s.len && n < sizeof buf - 1 && ((s.p[i] >= '0' && s.p[i] <= '9') || s.p[i] == '.')) buf[n++] = s.p[i++];
            buf[n] = '\0';
            double d = strtod(buf, &end);
            if (*end) return bad(p, "formula", "%s", what);
            f->t[f->n].op = 'n', f->t[f->n++].number = d;
            operand = 0;
        } else if (operand && c == '(') {
            stack[depth++] = c, i++;
        } else if (!operand && c == ')') {
            while (depth && stack[depth - 1] != '(') f->t[f->n++].op = stack[--depth];
            if (!depth) return bad(p, "formula", "%s", what);
            depth--, i++;
        } else if (!operand && strchr("+-*/", c)) {
            int prec = c == '*' || c == '/';
            while (depth && stack[depth - 1] != '(' && (stack[depth - 1] == '*' || stack[depth - 1] == '/') >= prec)
                f->t[f->n++].op = stack[--depth];
            stack[depth++] = c;
            operand = 1, i++;
        } else {
            return bad(p, "formula", "%s", what);
        }
    }
    if (operand) return bad(p, "formula", "%s", what);
    while (depth) {
        if (stack[depth - 1] == '(' || f->n >= FF_FORMULA_MAX) return bad(p, "formula", "%s", what);
        f->t[f->n++].op = stack[--depth];
    }
    p->q->has_formula = 1;
    return 0;
}

static int parse_trends(struct parser *p)
{
    const struct ff_json_doc *d = p->doc;
    struct ff_query *q = p->q;
    struct ff_str s;
    int rc;
    q->interval = FF_IV_DAY;
    static const char *const intervals[] = {"minute", "hour", "day", "week", "month"};
    static const char *const measures[] = {"count", "unique_persons", "unique_sessions", "sum", "avg", "min", "max",
                                           "p50", "p90", "p99", "per_person_avg"};
    if ((rc = get_choice(p, "interval", intervals, 5, &q->interval, "interval is minute, hour, day, week or month")) ||
        (rc = get_choice(p, "measure", measures, 11, &q->measure,
                         "measure is count, unique_persons, unique_sessions, per_person_avg, or sum, avg, min, max, "
                         "p50, p90 or p99 of a property")))
        return rc;
    if ((rc = get_str(p, "property", &s)) < 0) return rc;
    if (FF_M_NUMERIC(q->measure) && !rc)
        return bad(p, "property", "%s", "measure sum, avg, min, max, p50, p90 and p99 need property: the numeric field "
                                        "(such as properties.price)");
    if (rc && ff_field_compile(s.p, s.len, &q->measure_field, p->err, p->errlen)) {
        *p->field = "property";
        return FF_EINVAL;
    }
    /* one event, or several (a series each); none: every event */
    uint32_t ev = ff_json_get(d, 0, "events");
    if (ev != FF_JSON_NONE) {
        if (d->nodes[ev].type != FF_JSON_ARRAY || !d->nodes[ev].len || d->nodes[ev].len > FF_QUERY_MAX_SERIES)
            return bad(p, "events", "%s", "events is a list of 1 to 8 event names");
        for (uint32_t i = ev + 1; i < d->nodes[ev].end; i = d->nodes[i].end) {
            const char *v;
            uint32_t n;
            if (!ff_json_str(d, i, &v, &n) || n >= FF_QUERY_NAME_MAX)
                return bad(p, "events", "%s", "each event is a name (a string of at most 255 bytes)");
            memcpy(q->series[q->nseries++].event, v, n);
        }
    } else if ((rc = get_str(p, "event", &s)) != 0) {
        if (rc < 0) return rc;
        if (s.len >= FF_QUERY_NAME_MAX) return bad(p, "event", "%s", "event is at most 255 bytes");
        memcpy(q->series[q->nseries++].event, s.p, s.len);
    } else {
        q->nseries = 1; /* every event */
    }
    if ((rc = get_str(p, "formula", &s)) < 0) return rc;
    if (rc && (rc = parse_formula(p, s))) return rc;
    return parse_breakdown(p);
}

/* breakdown (a field) and breakdown_limit, of trends and funnels */
static int parse_breakdown(struct parser *p)
{
    struct ff_query *q = p->q;
    struct ff_str s;
    int rc;
    if ((rc = get_str(p, "breakdown", &s)) < 0) return rc;
    if (rc) {
        if (ff_field_compile(s.p, s.len, &q->breakdown, p->err, p->errlen)) {
            *p->field = "breakdown";
            return FF_EINVAL;
        }
        q->has_breakdown = 1;
    }
    q->breakdown_limit = DEFAULT_BREAKDOWN_LIMIT;
    return get_count(p, "breakdown_limit", 1, 1000, &q->breakdown_limit);
}

/* limit: rows of a list, 1 to 1000 (q->limit keeps its default when absent) */
static int parse_limit(struct parser *p) { return get_count(p, "limit", 1, 1000, &p->q->limit); }

/* "30m", "2h", "1d", "2w": a duration of 1 minute to 1 year. */
static int parse_duration(struct parser *p, const char *key, struct ff_str s, int64_t *out)
{
    char buf[24], *end;
    if (s.len < 2 || s.len >= sizeof buf) return bad(p, key, "%s is a number and m, h, d or w (such as 1d)", key);
    memcpy(buf, s.p, s.len);
    buf[s.len] = '\0';
    long long n = strtoll(buf, &end, 10);
    static const char units[] = "mhdw";
    static const int64_t us[] = {60LL * 1000000, 3600LL * 1000000, 86400LL * 1000000, 7 * 86400LL * 1000000};
    const char *u = end != buf && end[0] && !end[1] ? strchr(units, end[0]) : NULL;
    if (!u || n < 1 || n * us[u - units] > 366 * 86400LL * 1000000)
        return bad(p, key, "%s is a number and m, h, d or w (such as 1d), at most a year", key);
    *out = n * us[u - units];
    return 0;
}

/* funnel: steps [{event, filters}], window, order, breakdown */
static int parse_funnel(struct parser *p)
{
    const struct ff_json_doc *d = p->doc;
    struct ff_query *q = p->q;
    uint32_t st = ff_json_get(d, 0, "steps");
    if (st == FF_JSON_NONE || d->nodes[st].type != FF_JSON_ARRAY || d->nodes[st].len < 2 ||
        d->nodes[st].len > FF_QUERY_MAX_STEPS)
        return bad(p, "steps", "%s", "steps is a list of 2 to 16 {\"event\": NAME, \"filters\": [...]}");
    if (!(q->steps = ff_calloc(d->nodes[st].len, sizeof *q->steps))) return -ENOMEM;
    for (uint32_t i = st + 1; i < d->nodes[st].end; i = d->nodes[i].end) {
        struct ff_step *step = &q->steps[q->nsteps++];
        const char *v;
        uint32_t n;
        if (d->nodes[i].type != FF_JSON_OBJECT || !ff_json_str(d, ff_json_get(d, i, "event"), &v, &n) || !n ||
            n >= FF_QUERY_NAME_MAX)
            return bad(p, "steps", "%s", "each step names its event: {\"event\": \"Signed Up\"} ($pageview for pages)");
        memcpy(step->event, v, n);
        int rc = parse_filters(p, i, step->filters, &step->nfilters, FF_QUERY_MAX_STEP_FILTERS, "steps", "a step's");
        if (rc) return rc;
    }
    struct ff_str s;
    int rc;
    q->window_us = 14 * 86400LL * 1000000;
    if ((rc = get_str(p, "window", &s)) > 0) rc = parse_duration(p, "window", s, &q->window_us);
    if (rc) return rc;
    static const char *const orders[] = {"loose", "strict"};
    if ((rc = get_choice(p, "order", orders, 2, &q->order, "order is loose (other events may come between steps) or strict")))
        return rc;
    if ((rc = get_count(p, "persons_at_step", 1, q->nsteps, &q->list_step))) return rc;
    q->limit = 100;
    if (q->list_step && (rc = parse_limit(p))) return rc;
    return parse_breakdown(p);
}

/* An event name member ("any" or absent: any event) into out[FF_QUERY_NAME_MAX]. */
static int get_event(struct parser *p, const char *key, char *out)
{
    struct ff_str s;
    int rc = get_str(p, key, &s);
    if (rc <= 0) return rc;
    if (is(s, "any")) return 0;
    if (!s.len || s.len >= FF_QUERY_NAME_MAX) return bad(p, key, "%s is an event name (at most 255 bytes) or any", key);
    memcpy(out, s.p, s.len);
    return 0;
}

/* retention: start_event, return_event, period (day, week, month), periods */
static int parse_retention(struct parser *p)
{
    struct ff_query *q = p->q;
    q->interval = FF_IV_WEEK;
    q->periods = 8;
    static const char *const periods[] = {"day", "week", "month"};
    int period = 1, rc;
    if ((rc = get_event(p, "start_event", q->start_event)) || (rc = get_event(p, "return_event", q->return_event)) ||
        (rc = get_choice(p, "period", periods, 3, &period, "period is day, week or month")))
        return rc;
    q->interval = FF_IV_DAY + period;
    if ((rc = get_count(p, "periods", 1, 366, &q->periods))) return rc;
    /* without from: enough periods back for a full row */
    if (ff_json_get(p->doc, 0, "from") == FF_JSON_NONE) {
        static const int64_t days[] = {1, 7, 31};
        q->from_us = q->to_us - (int64_t)(q->periods + 1) * days[period] * 86400LL * 1000000;
    }
    return 0;
}

/* stickiness, lifecycle: event (or any), interval */
static int parse_activity(struct parser *p)
{
    struct ff_query *q = p->q;
    static const char *const intervals[] = {"minute", "hour", "day", "week", "month"};
    q->interval = FF_IV_DAY;
    q->nseries = 1;
    int rc = get_event(p, "event", q->series[0].event);
    if (!rc) rc = get_choice(p, "interval", intervals, 5, &q->interval, "interval is minute, hour, day, week or month");
    return rc;
}

/* paths: start, direction (next, previous), depth, limit (edges) */
static int parse_paths(struct parser *p)
{
    struct ff_query *q = p->q;
    struct ff_str s;
    int rc = get_str(p, "start", &s);
    if (rc < 0) return rc;
    if (rc && (!s.len || s.len >= FF_QUERY_NAME_MAX))
        return bad(p, "start", "%s", "start is a page path or an event name (at most 255 bytes)");
    if (rc) memcpy(q->path_start, s.p, s.len);
    static const char *const directions[] = {"next", "previous"};
    if ((rc = get_choice(p, "direction", directions, 2, &q->path_back, "direction is next or previous"))) return rc;
    if (q->path_back && !q->path_start[0]) return bad(p, "start", "%s", "direction previous needs a start");
    q->depth = 4;
    q->limit = 50;
    if ((rc = get_count(p, "depth", 2, 20, &q->depth))) return rc;
    return parse_limit(p);
}

/* sessions: limit (entry and exit pages listed); top: dimension, limit */
static int parse_visits(struct parser *p)
{
    struct ff_query *q = p->q;
    q->limit = DEFAULT_BREAKDOWN_LIMIT;
    int rc = parse_limit(p);
    if (rc || q->kind != FF_Q_TOP) return rc;
    struct ff_str s;
    rc = get_str(p, "dimension", &s);
    if (rc <= 0) return rc ? rc : bad(p, "dimension", "%s", "dimension is missing: a field, entry_page or exit_page");
    if (is(s, "entry_page") || is(s, "exit_page")) {
        q->top_visit = s.p[1] == 'n' ? FF_TOP_ENTRY : FF_TOP_EXIT;
        return 0;
    }
    if (ff_field_compile(s.p, s.len, &q->dimension, p->err, p->errlen)) {
        *p->field = "dimension";
        return FF_EINVAL;
    }
    return 0;
}

static void fix_values(const struct ff_buf *text, struct ff_filter *fs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < fs[i].nvalues; k++) fs[i].values[k].p = text->data + (uintptr_t)fs[i].values[k].p;
}

/* ---- segments ---- */

#define SEGMENT_HELP "segment is a saved segment's name, or a definition: {\"event\", \"filters\", \"from\", \"to\", " \
                     "\"min_count\"} or {\"persons\": [ids]}"

/* The segment definition at `node` of p->doc into q->segment (its strings in its own text). */
static int segment_body(struct parser *p, uint32_t node)
{
    const struct ff_json_doc *d = p->doc;
    struct ff_query *q = p->q;
    struct ff_segment *sg = &q->segment;
    if (d->nodes[node].type != FF_JSON_OBJECT) return bad(p, "segment", "%s", SEGMENT_HELP);
    sg->from_us = q->from_us, sg->to_us = q->to_us, sg->min_count = 1;
    p->text = &sg->text;
    const char *v;
    uint32_t n;
    uint32_t ps = ff_json_get(d, node, "persons");
    if (ps != FF_JSON_NONE) {
        if (d->nodes[ps].type != FF_JSON_ARRAY || !d->nodes[ps].len || d->nodes[ps].len > FF_SEGMENT_MAX_PERSONS)
            return bad(p, "segment", "%s", "segment: persons is a list of 1 to 1000000 ids");
        if (ff_json_get(d, node, "event") != FF_JSON_NONE || ff_json_get(d, node, "filters") != FF_JSON_NONE)
            return bad(p, "segment", "%s", "segment: either persons, or event and filters");
        if (!(sg->persons = ff_calloc(d->nodes[ps].len, sizeof *sg->persons))) return -ENOMEM;
        for (uint32_t i = ps + 1; i < d->nodes[ps].end; i = d->nodes[i].end) {
            if (!ff_json_str(d, i, &v, &n) || !n || n >= FF_QUERY_NAME_MAX)
                return bad(p, "segment", "%s", "segment: each person is an id (a string of 1 to 255 bytes)");
            size_t at = sg->text.len;
            if (ff_buf_append(&sg->text, v, n)) return -ENOMEM;
            sg->persons[sg->npersons++] = (struct ff_str){(const char *)(uintptr_t)at, n};
        }
        for (size_t i = 0; i < sg->npersons; i++) sg->persons[i].p = sg->text.data + (uintptr_t)sg->persons[i].p;
        sg->set = 1;
        return 0;
    }
    uint32_t e = ff_json_get(d, node, "event");
    if (e != FF_JSON_NONE) {
        if (!ff_json_str(d, e, &v, &n) || !n || n >= FF_QUERY_NAME_MAX)
            return bad(p, "segment", "%s", "segment: event is an event name (at most 255 bytes) or any");
        if (!(n == 3 && memcmp(v, "any", 3) == 0)) memcpy(sg->event, v, n);
    }
    int rc = parse_filters(p, node, sg->filters, &sg->nfilters, FF_QUERY_MAX_STEP_FILTERS, "segment", "segment:");
    if (rc) return rc;
    fix_values(&sg->text, sg->filters, sg->nfilters);
    static const char *const ends[] = {"from", "to"};
    for (int k = 0; k < 2; k++) {
        uint32_t t = ff_json_get(d, node, ends[k]);
        if (t == FF_JSON_NONE) continue;
        if (!ff_json_str(d, t, &v, &n) ||
            parse_when(p, "segment", (struct ff_str){v, n}, q->now_us, k, k ? &sg->to_us : &sg->from_us))
            return bad(p, "segment", "%s", "segment: from and to are times as the query's are (ISO, now, -30d)");
    }
    if (sg->from_us >= sg->to_us) return bad(p, "segment", "%s", "segment: from must be before to");
    uint32_t mc = ff_json_get(d, node, "min_count");
    if (mc != FF_JSON_NONE) {
        const struct ff_json_node *m = &d->nodes[mc];
        int whole = (m->type == FF_JSON_INT && m->v.i >= 1) || (m->type == FF_JSON_UINT && m->v.u >= 1);
        if (!whole || m->v.u > 1000000) return bad(p, "segment", "%s", "segment: min_count is a whole number from 1 to 1000000");
        sg->min_count = (size_t)m->v.u;
    }
    sg->set = 1;
    return 0;
}

int ff_query_set_segment(struct ff_query *q, const char *json, size_t len, char *err, size_t errlen, const char **field)
{
    struct ff_json_parser *jp = ff_json_parser_new();
    struct ff_buf scratch;
    ff_buf_init(&scratch, (size_t)1 << 26);
    struct ff_json_doc doc;
    struct parser p = {&doc, q, &q->segment.text, err, errlen, field};
    int rc = jp ? 0 : -ENOMEM;
    if (!rc && ff_json_parse_copy(jp, &scratch, json, len, &doc)) rc = bad(&p, "segment", "%s", SEGMENT_HELP);
    if (!rc) rc = segment_body(&p, 0);
    ff_json_parser_free(jp);
    ff_buf_free(&scratch);
    return rc;
}

int ff_segment_check(const char *json, size_t len, char *err, size_t errlen)
{
    struct ff_query q;
    memset(&q, 0, sizeof q);
    ff_buf_init(&q.text, (size_t)1 << 20);
    ff_buf_init(&q.segment.text, (size_t)1 << 26);
    const char *field;
    q.now_us = ff_now_us();
    q.from_us = q.now_us - DEFAULT_RANGE_US;
    q.to_us = q.now_us;
    int rc = ff_query_set_segment(&q, json, len, err, errlen, &field);
    ff_query_free(&q);
    return rc;
}

/* common_only: the fields every kind has, for another engine's request (kind is not read) */
static int parse_query(const char *json, size_t len, int64_t now_us, const char *default_tz, struct ff_query *q,
                       char *err, size_t errlen, const char **field, int common_only)
{
    memset(q, 0, sizeof *q);
    ff_buf_init(&q->text, (size_t)1 << 24);
    *field = "";
    struct ff_json_parser *jp = ff_json_parser_new();
    struct ff_buf scratch;
    ff_buf_init(&scratch, (size_t)1 << 24);
    struct ff_json_doc doc;
    struct parser p = {&doc, q, &q->text, err, errlen, field};
    ff_buf_init(&q->segment.text, (size_t)1 << 26);
    int rc = jp ? 0 : -ENOMEM;
    if (!rc && (ff_json_parse_copy(jp, &scratch, json, len, &doc) || doc.nodes[0].type != FF_JSON_OBJECT))
        rc = bad(&p, "", "%s", "the query must be a JSON object");
    struct ff_str s;
    if (!rc && !common_only && (rc = get_str(&p, "kind", &s)) >= 0) {
        static const char *const kinds[] = {"trends", "sessions",  "top",  "funnel", "retention", "paths",
                                            "stickiness", "lifecycle", "live", "events", "persons"};
        int k = -1;
        for (int i = 0; i < (int)(sizeof kinds / sizeof *kinds); i++)
            if (rc && is(s, kinds[i])) k = i;
        if (k < 0)
            rc = bad(&p, "kind", "%s",
                     "kind is trends, funnel, retention, paths, sessions, top, stickiness, lifecycle, live, events or "
                     "persons");
        else q->kind = k, rc = 0;
    }
    /* the zone first: bare dates are local midnights */
    if (!rc && (rc = get_str(&p, "timezone", &s)) > 0) {
        if (s.len >= sizeof q->tz_name) rc = bad(&p, "timezone", "%s", "timezone is an IANA zone such as Europe/Berlin");
        else {
            memcpy(q->tz_name, s.p, s.len);
            rc = 0;
        }
    } else if (!rc && default_tz) {
        snprintf(q->tz_name, sizeof q->tz_name, "%s", default_tz);
    }
    if (!rc && !q->tz_name[0]) snprintf(q->tz_name, sizeof q->tz_name, "UTC");
    if (!rc && ff_tz_load(q->tz_name, &q->tz))
        rc = bad(&p, "timezone", "timezone: '%s' is not a zone of the tz database (such as Europe/Berlin)", q->tz_name);
    q->now_us = now_us;
    size_t timeout_ms = 30000;
    if (!rc) rc = get_count(&p, "timeout_ms", 1, 300000, &timeout_ms);
    q->deadline_ns = (int64_t)ff_mono_ns() + (int64_t)timeout_ms * 1000000;
    q->from_us = now_us - DEFAULT_RANGE_US;
    q->to_us = now_us;
    if (!rc && (rc = get_str(&p, "from", &s)) > 0) rc = parse_when(&p, "from", s, now_us, 0, &q->from_us);
    if (!rc && (rc = get_str(&p, "to", &s)) > 0) rc = parse_when(&p, "to", s, now_us, 1, &q->to_us);
    if (!rc && q->from_us >= q->to_us) rc = bad(&p, "from", "%s", "from must be before to");
    uint32_t cmp = rc ? FF_JSON_NONE : ff_json_get(&doc, 0, "compare");
    if (cmp != FF_JSON_NONE) { /* true: the period before, as long; or {from, to} */
        const struct ff_json_node *n = &doc.nodes[cmp];
        q->compare = n->type == FF_JSON_TRUE || n->type == FF_JSON_OBJECT;
        /* as long on the wall clock: a week before a week, across a DST change too */
        int64_t lf = utc_to_local(q->tz, q->from_us), lt = utc_to_local(q->tz, q->to_us);
        q->compare_to_us = q->from_us;
        q->compare_from_us = local_to_utc(q->tz, lf - (lt - lf));
        if (n->type == FF_JSON_OBJECT) {
            const char *v;
            uint32_t len;
            if (!ff_json_str(&doc, ff_json_get(&doc, cmp, "from"), &v, &len) ||
                parse_when(&p, "compare", (struct ff_str){v, len}, now_us, 0, &q->compare_from_us) ||
                !ff_json_str(&doc, ff_json_get(&doc, cmp, "to"), &v, &len) ||
                parse_when(&p, "compare", (struct ff_str){v, len}, now_us, 1, &q->compare_to_us) ||
                q->compare_from_us >= q->compare_to_us)
                rc = bad(&p, "compare", "%s", "compare is true (the period before) or {\"from\": …, \"to\": …}, from before to");
        } else if (n->type != FF_JSON_TRUE && n->type != FF_JSON_FALSE) {
            rc = bad(&p, "compare", "%s", "compare is true (the period before) or {\"from\": …, \"to\": …}");
        }
    }
    if (!rc) rc = parse_filters(&p, 0, q->filters, &q->nfilters, FF_QUERY_MAX_FILTERS, "filters", "the query's");
    uint32_t b = rc ? FF_JSON_NONE : ff_json_get(&doc, 0, "bots");
    if (b != FF_JSON_NONE) {
        if (doc.nodes[b].type != FF_JSON_TRUE && doc.nodes[b].type != FF_JSON_FALSE)
            rc = bad(&p, "bots", "%s", "bots is true (include bots' events) or false");
        q->bots = doc.nodes[b].type == FF_JSON_TRUE;
    }
    uint32_t sgn = rc ? FF_JSON_NONE : ff_json_get(&doc, 0, "segment");
    if (sgn != FF_JSON_NONE) { /* a saved one's name (ff_query_set_segment loads it), or a definition */
        const char *v;
        uint32_t n;
        if (ff_json_str(&doc, sgn, &v, &n)) {
            if (!n || n >= FF_QUERY_NAME_MAX) rc = bad(&p, "segment", "%s", "segment: a name is 1 to 255 bytes");
            else memcpy(q->segment.name, v, n);
        } else {
            rc = segment_body(&p, sgn);
            p.text = &q->text;
        }
    }
    if (common_only) q->kind = FF_Q_PERSONS; /* what the query engine reads of it is the common fields */
    else if (!rc && q->kind == FF_Q_TRENDS) rc = parse_trends(&p);
    if (!rc && !common_only && (q->kind == FF_Q_SESSIONS || q->kind == FF_Q_TOP)) rc = parse_visits(&p);
    if (!rc && !common_only && q->kind == FF_Q_FUNNEL) rc = parse_funnel(&p);
    if (!rc && !common_only && q->kind == FF_Q_RETENTION) rc = parse_retention(&p);
    if (!rc && !common_only && q->kind == FF_Q_PATHS) rc = parse_paths(&p);
    if (!rc && !common_only && (q->kind == FF_Q_STICKINESS || q->kind == FF_Q_LIFECYCLE)) rc = parse_activity(&p);
    if (!rc && !common_only && q->kind >= FF_Q_LIVE) { /* live, events, persons: an event (or any) and limit */
        q->nseries = 1;
        q->limit = q->kind == FF_Q_LIVE ? 10 : 100;
        rc = get_event(&p, "event", q->series[0].event);
        if (!rc) rc = parse_limit(&p);
        /* persons are all counted anyway; events keep offset + limit of them in memory */
        if (!rc) rc = get_count(&p, "offset", 0, q->kind == FF_Q_PERSONS ? 1000000 : 100000, &q->offset);
        if (!rc && q->kind == FF_Q_EVENTS && (rc = get_str(&p, "before", &s)) > 0) {
            char cur[64], *end;
            rc = 0;
            if (s.len >= sizeof cur) rc = bad(&p, "before", "%s", "before is the \"next\" of an events answer");
            if (!rc) {
                memcpy(cur, s.p, s.len);
                cur[s.len] = '\0';
                q->before_t = strtoll(cur, &end, 10);
                if (*end != ':' || end == cur) rc = bad(&p, "before", "%s", "before is the \"next\" of an events answer");
                else q->before_seq = strtoull(end + 1, &end, 10), q->has_before = 1;
                if (!rc && *end) rc = bad(&p, "before", "%s", "before is the \"next\" of an events answer");
            }
        }
    }
    /* filter values: offsets into q->text become pointers */
    if (!rc) fix_values(&q->text, q->filters, q->nfilters);
    for (size_t i = 0; !rc && i < q->nsteps; i++) fix_values(&q->text, q->steps[i].filters, q->steps[i].nfilters);
    ff_json_parser_free(jp);
    ff_buf_free(&scratch);
    if (rc) ff_query_free(q);
    return rc;
}

int ff_query_parse(const char *json, size_t len, int64_t now_us, const char *default_tz, struct ff_query *q,
                   char *err, size_t errlen, const char **field)
{
    return parse_query(json, len, now_us, default_tz, q, err, errlen, field, 0);
}

int ff_query_parse_common(const char *json, size_t len, int64_t now_us, const char *default_tz, struct ff_query *q,
                          char *err, size_t errlen, const char **field)
{
    return parse_query(json, len, now_us, default_tz, q, err, errlen, field, 1);
}

static void free_filters(struct ff_filter *fs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ff_free(fs[i].values);
        if (fs[i].re) pcre2_code_free(fs[i].re);
    }
}

void ff_query_free(struct ff_query *q)
{
    free_filters(q->filters, q->nfilters);
    for (size_t i = 0; i < q->nsteps; i++) free_filters(q->steps[i].filters, q->steps[i].nfilters);
    free_filters(q->segment.filters, q->segment.nfilters);
    ff_free(q->segment.persons);
    ff_buf_free(&q->segment.text);
    ff_free(q->steps);
    ff_tz_free(q->tz);
    ff_buf_free(&q->text);
    memset(q, 0, sizeof *q);
    ff_buf_init(&q->text, 0);
}
