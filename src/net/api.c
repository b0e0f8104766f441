/* api.c - the read endpoints (see api.h). Reads of the log run on libuv's thread pool so a
 * long scan never stalls ingest on the event loop. */
#include "net/api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/errors.h"
#include "core/metrics.h"
#include "core/textcodec.h"
#include "core/timeutil.h"
#include "enrich/enrich.h"
#include "event/event.h"
#include "net/access.h"
#include "net/server.h"
#include "ingest/ingest.h"
#include "project/segments.h"
#include "analysis/alerts.h"
#include "analysis/analysis.h"
#include "query/query.h"
#include "store/export.h"
#include "store/store.h"

#define DEFAULT_LIMIT 100
#define MAX_LIMIT 100000

/* Events stored since the start, every format. */
static uint64_t stored_total(void)
{
    uint64_t s = 0;
    for (int f = 0; f < FF_METRIC_FORMATS; f++) s += ff_counter_get(ff_metrics.stored[f]);
    return s;
}

int ff_api_write_stats(struct ff_buf *o, struct ff_store *store)
{
    uint64_t s = stored_total(), d = 0, q = 0;
    for (int f = 0; f < FF_METRIC_FORMATS; f++) {
        d += ff_counter_get(ff_metrics.deduplicated[f]);
        q += ff_counter_get(ff_metrics.quarantined[f]);
    }
    struct ff_store_counts held = {0};
    if (store) ff_store_counts(store, &held);
    int rc = ff_buf_printf(o,
                           "{\"stored\":%llu,\"deduplicated\":%llu,\"quarantined\":%llu,\"held\":%llu,"
                           "\"quarantine_held\":%llu,\"by_format\":{",
                           (unsigned long long)s, (unsigned long long)d, (unsigned long long)q,
                           (unsigned long long)held.held, (unsigned long long)held.quarantine_held);
    for (int f = 0; !rc && f < FF_METRIC_FORMATS; f++)
        rc = ff_buf_printf(o, "%s\"%s\":{\"stored\":%llu,\"deduplicated\":%llu,\"quarantined\":%llu}", f ? "," : "",
                           ff_format_name(f), (unsigned long long)ff_counter_get(ff_metrics.stored[f]),
                           (unsigned long long)ff_counter_get(ff_metrics.deduplicated[f]),
                           (unsigned long long)ff_counter_get(ff_metrics.quarantined[f]));
    if (!rc) rc = ff_buf_append_str(o, "}}");
    return rc;
}

static int write_hist(struct ff_buf *o, const char *name, const char *help, struct ff_histogram *h)
{
    int rc = ff_buf_printf(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int i = 0; !rc && i <= FF_HIST_BUCKETS; i++) {
        cum += ff_counter_get(h->buckets[i]);
        if (i < FF_HIST_BUCKETS) rc = ff_buf_printf(o, "%s_bucket{le=\"%g\"} %llu\n", name, ff_hist_bounds_s[i], (unsigned long long)cum);
        else rc = ff_buf_printf(o, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
    }
    if (!rc) rc = ff_buf_printf(o, "%s_sum %.9f\n%s_count %llu\n", name, (double)ff_counter_get(h->sum_ns) / 1e9, name,
                                (unsigned long long)cum);
    return rc;
}

static int write_per_format(struct ff_buf *o, const char *name, const char *help, atomic_uint_least64_t *v)
{
    int rc = ff_buf_printf(o, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    for (int f = 0; !rc && f < FF_METRIC_FORMATS; f++)
        rc = ff_buf_printf(o, "%s{format=\"%s\"} %llu\n", name, ff_format_name(f), (unsigned long long)ff_counter_get(v[f]));
    return rc;
}

static uint64_t resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%llu %llu", &pages, &rss) != 2) rss = 0;
        fclose(f);
    }
    return rss * 4096ull;
}

int ff_api_write_metrics(struct ff_buf *o, struct ff_store *store, const struct ff_enricher *enrich)
{
    int rc = write_per_format(o, "footfall_events_stored_total", "Events durably stored, by wire format.", ff_metrics.stored);
    struct ff_store_counts held = {0};
    if (store) ff_store_counts(store, &held);
    if (!rc)
        rc = ff_buf_printf(o,
                           "# HELP footfall_events_held Events in the store now (stored, less erased and expired).\n"
                           "# TYPE footfall_events_held gauge\nfootfall_events_held %llu\n"
                           "# HELP footfall_quarantine_held Quarantined items in the store now.\n"
                           "# TYPE footfall_quarantine_held gauge\nfootfall_quarantine_held %llu\n",
                           (unsigned long long)held.held, (unsigned long long)held.quarantine_held);
    uint64_t hits, misses;
    ff_enricher_ua_counts(enrich, &hits, &misses);
    if (!rc)
        rc = ff_buf_printf(o,
                           "# HELP footfall_useragent_lookups_total User agents enriched, from the cache (hit) or by "
                           "matching uap-core's regexes (miss).\n"
                           "# TYPE footfall_useragent_lookups_total counter\n"
                           "footfall_useragent_lookups_total{result=\"hit\"} %llu\n"
                           "footfall_useragent_lookups_total{result=\"miss\"} %llu\n",
                           (unsigned long long)hits, (unsigned long long)misses);
    if (!rc) rc = write_per_format(o, "footfall_events_deduplicated_total",
                                   "Events acknowledged but not stored again: messageId seen in the last 24 hours.",
                                   ff_metrics.deduplicated);
    if (!rc) rc = write_per_format(o, "footfall_events_quarantined_total", "Invalid items kept in quarantine.",
                                   ff_metrics.quarantined);
    static const char *const classes[] = {"1xx", "1xx", "2xx", "3xx", "4xx", "5xx"};
    if (!rc) rc = ff_buf_append_str(o, "# HELP footfall_http_responses_total HTTP responses by status class.\n"
                                       "# TYPE footfall_http_responses_total counter\n");
    for (int i = 1; !rc && i < 6; i++)
        rc = ff_buf_printf(o, "footfall_http_responses_total{code=\"%s\"} %llu\n", classes[i],
                           (unsigned long long)ff_counter_get(ff_metrics.http_responses[i]));
    if (!rc)
        rc = ff_buf_printf(o,
                           "# HELP footfall_part_build_rows_total Events written into parts by flushes (and "
                           "erasures' rewrites).\n"
                           "# TYPE footfall_part_build_rows_total counter\nfootfall_part_build_rows_total %llu\n"
                           "# HELP footfall_part_build_cpu_seconds_total CPU time of building those parts, by stage: "
                           "sorting rows, interning strings, deriving page, campaign and channel fields, splitting "
                           "properties into columns, encoding and writing the files.\n"
                           "# TYPE footfall_part_build_cpu_seconds_total counter\n",
                           (unsigned long long)ff_counter_get(ff_metrics.part_build_rows));
    for (int i = 0; !rc && i < FF_BUILD_STAGES; i++)
        rc = ff_buf_printf(o, "footfall_part_build_cpu_seconds_total{stage=\"%s\"} %.6f\n", ff_build_stage_names[i],
                           (double)ff_counter_get(ff_metrics.part_build_cpu_ns[i]) / 1e9);
    if (!rc)
        rc = ff_buf_printf(o,
                           "# HELP footfall_flush_wait_seconds_total Time ingest waited for flushes to make room in "
                           "memory (flushes behind ingest: acknowledgements waited this long).\n"
                           "# TYPE footfall_flush_wait_seconds_total counter\nfootfall_flush_wait_seconds_total %.6f\n",
                           (double)ff_counter_get(ff_metrics.flush_wait_ns) / 1e9);
    if (!rc) rc = write_hist(o, "footfall_http_request_duration_seconds",
                             "Time from a request's first byte to its response being written.", &ff_metrics.request_duration);
    if (!rc) rc = write_hist(o, "footfall_wal_fsync_duration_seconds", "Duration of each WAL group commit's durable write (the write and the disk flush).",
                             &ff_metrics.wal_fsync_duration);
    if (!rc) rc = ff_buf_printf(o,
                                "# HELP footfall_wal_bytes_written_total Bytes written to the write-ahead log.\n"
                                "# TYPE footfall_wal_bytes_written_total counter\nfootfall_wal_bytes_written_total %llu\n"
                                "# HELP footfall_wal_write_errors_total Failed WAL writes (answered 503).\n"
                                "# TYPE footfall_wal_write_errors_total counter\nfootfall_wal_write_errors_total %llu\n"
                                "# HELP footfall_connections_open Open client connections.\n"
                                "# TYPE footfall_connections_open gauge\nfootfall_connections_open %llu\n"
                                "# HELP footfall_connections_rejected_total Connections refused over the limit.\n"
                                "# TYPE footfall_connections_rejected_total counter\nfootfall_connections_rejected_total %llu\n"
                                "# HELP footfall_query_person_runs_bytes Memory of the persons kept per part block for queries.\n"
                                "# TYPE footfall_query_person_runs_bytes gauge\nfootfall_query_person_runs_bytes %llu\n"
                                "# HELP footfall_dedup_window_seconds How far back message ids are remembered (less than 24 h once the set reached --dedup-max-bytes).\n"
                                "# TYPE footfall_dedup_window_seconds gauge\nfootfall_dedup_window_seconds %llu\n"
                                "# HELP footfall_dedup_evictions_total Times the message id set let its oldest ids go for room.\n"
                                "# TYPE footfall_dedup_evictions_total counter\nfootfall_dedup_evictions_total %llu\n"
                                "# HELP footfall_memory_bytes Bytes allocated by footfall's own allocator.\n"
                                "# TYPE footfall_memory_bytes gauge\nfootfall_memory_bytes %llu\n"
                                "# HELP footfall_resident_memory_bytes Resident set size of the process.\n"
                                "# TYPE footfall_resident_memory_bytes gauge\nfootfall_resident_memory_bytes %llu\n",
                                (unsigned long long)ff_counter_get(ff_metrics.wal_bytes_written),
                                (unsigned long long)ff_counter_get(ff_metrics.wal_write_errors),
                                (unsigned long long)ff_counter_get(ff_metrics.connections_open),
                                (unsigned long long)ff_counter_get(ff_metrics.connections_rejected),
                                (unsigned long long)ff_counter_get(ff_metrics.person_runs_bytes),
                                (unsigned long long)ff_counter_get(ff_metrics.dedup_window_s),
                                (unsigned long long)ff_counter_get(ff_metrics.dedup_evictions),
                                (unsigned long long)ff_mem_in_use(), (unsigned long long)resident_bytes());
    return rc;
}

/* Runs `work` on libuv's thread pool (inline in a harness without sockets), then `done`,
 * which answers. -1 when it could not be queued: the caller frees `job` and answers. */
static int queue_job(struct ff_conn *c, void *job, uv_work_cb work, uv_after_work_cb done)
{
    c->work_data = job;
    c->work.data = c;
    if (c->loop->fake_io) {
        work(&c->work);
        done(&c->work, 0);
        return 0;
    }
    if (uv_queue_work(&c->loop->uv, &c->work, work, done)) {
        c->work_data = NULL;
        return -1;
    }
    return 0;
}

/* ---- GET /api/events and /api/quarantine on the thread pool ---- */

/* The project a job reads, copied: the loop may reload its catalog while the job runs. NULL
 * (a harness without a catalog) reads every project. */
static const char *job_project(char dst[FF_PROJECT_ID_MAX + 1], const struct ff_project *p)
{
    memcpy(dst, p->id, FF_PROJECT_ID_MAX + 1);
    return dst[0] ? dst : NULL;
}

static void bad_param(struct ff_conn *c, const char *bad)
{
    char msg[160];
    snprintf(msg, sizeof msg, "invalid %s: %s", bad,
             strcmp(bad, "limit") == 0   ? "must be a whole number from 0 to 100000"
             : strcmp(bad, "event") == 0 || strcmp(bad, "person") == 0 ? "too long"
             : strcmp(bad, "bots") == 0  ? "must be include or exclude"
                                         : "must be an ISO 8601 date-time or epoch milliseconds");
    ff_respond_error(c, 400, msg, bad, NULL);
}

enum read_kind { READ_EVENTS, READ_QUARANTINE, READ_SESSIONS };

struct read_job {
    struct ff_store *store;
    char project[FF_PROJECT_ID_MAX + 1];
    char event[1024];
    struct ff_buf person;
    int kind;                              /* enum read_kind */
    struct ff_read_filter filter;          /* events and quarantine */
    struct ff_session_filter sessions;     /* sessions */
    struct ff_buf out;
    int rc;
};

static struct read_job *read_job_new(struct ff_conn *c, const struct ff_project *p, int kind)
{
    struct read_job *j = ff_calloc(1, sizeof *j);
    if (!j) {
        ff_respond_error(c, 503, "out of memory", "", "Retry-After: 1\r\n");
        return NULL;
    }
    j->store = c->loop->srv->store;
    j->kind = kind;
    j->filter.project = j->sessions.project = job_project(j->project, p);
    j->filter.kind = kind == READ_QUARANTINE ? FF_REC_QUARANTINE : FF_REC_EVENT;
    j->filter.from_us = j->filter.to_us = j->sessions.from_us = j->sessions.to_us = FF_TIME_NONE;
    j->filter.limit = j->sessions.limit = DEFAULT_LIMIT;
    ff_buf_init(&j->out, (size_t)1 << 31);
    ff_buf_init(&j->person, 4096);
    return j;
}

static void read_job_free(struct read_job *j)
{
    ff_buf_free(&j->out);
    ff_buf_free(&j->person);
    ff_free(j);
}

static void read_work(uv_work_t *w)
{
    struct ff_conn *c = w->data;
    struct read_job *j = c->work_data;
    size_t count = 0;
    static const char *const open[] = {"{\"events\":[", "{\"items\":[", "{\"sessions\":["};
    int rc = ff_buf_append_str(&j->out, open[j->kind]);
    /* A harness without a store has nothing stored. */
    if (!rc && j->store)
        rc = j->kind == READ_SESSIONS ? ff_store_sessions_json(j->store, &j->sessions, ",", &j->out, &count)
                                      : ff_store_read_json(j->store, &j->filter, ",", &j->out, &count);
    if (!rc) rc = ff_buf_append_str(&j->out, "]}");
    j->rc = rc;
}

static void read_done(uv_work_t *w, int status)
{
    struct ff_conn *c = w->data;
    struct read_job *j = c->work_data;
    c->work_data = NULL;
    if (!status && j->rc == FF_ETOOBIG)
        ff_respond_error(c, 400, "more sessions in that range than one answer sums: ask for a shorter one", "from", NULL);
    else if (status || j->rc) ff_respond_error(c, 500, "could not read the store", "", NULL);
    else ff_respond(c, 200, "application/json", j->out.data, j->out.len, NULL);
    read_job_free(j);
}

/* Runs the read, or answers 400 naming the parameter `bad` when there is one. */
static void queue_read(struct ff_conn *c, struct read_job *j, const char *bad)
{
    if (bad) {
        bad_param(c, bad);
        read_job_free(j);
    } else if (queue_job(c, j, read_work, read_done)) {
        read_job_free(j);
        ff_respond_error(c, 503, "busy", "", "Retry-After: 1\r\n");
    }
}

/* limit, from and to of a read's query string into *limit, *from, *to (left as they are when
 * absent); NULL, or the name of the one that is invalid. */
static const char *range_params(const char *query, size_t qlen, size_t *limit, int64_t *from, int64_t *to,
                                struct ff_buf *v)
{
    const char *bad = NULL;
    ff_buf_reset(v);
    if (ff_query_get(query, qlen, "limit", v)) {
        char *end;
        ff_buf_putc(v, '\0');
        long long n = strtoll(v->data, &end, 10);
        if (*end || n < 0 || n > MAX_LIMIT) bad = "limit";
        else *limit = (size_t)n;
    }
    ff_buf_reset(v);
    if (!bad && ff_query_get(query, qlen, "from", v) && ff_time_parse_any(v->data ? v->data : "", v->len, from))
        bad = "from";
    ff_buf_reset(v);
    if (!bad && ff_query_get(query, qlen, "to", v) && ff_time_parse_any(v->data ? v->data : "", v->len, to)) bad = "to";
    ff_buf_reset(v);
    return bad;
}

static void read_log(struct ff_conn *c, const struct ff_project *p, int quarantine, const char *query, size_t qlen)
{
    struct read_job *j = read_job_new(c, p, quarantine ? READ_QUARANTINE : READ_EVENTS);
    if (!j) return;
    struct ff_buf v;
    ff_buf_init(&v, 4096);
    const char *bad = range_params(query, qlen, &j->filter.limit, &j->filter.from_us, &j->filter.to_us, &v);
    if (!bad && ff_query_get(query, qlen, "event", &v) && v.len) {
        if (v.len >= sizeof j->event) bad = "event";
        else {
            memcpy(j->event, v.data, v.len);
            j->filter.event = j->event;
            j->filter.event_len = v.len;
        }
    }
    ff_buf_free(&v);
    queue_read(c, j, bad);
}

static int is_path(const char *p, size_t n, const char *want)
{
    return strlen(want) == n && memcmp(p, want, n) == 0;
}

/* ---- GET /api/sessions on the thread pool ---- */

#define SESSIONS_DEFAULT_RANGE_US (24LL * 3600 * 1000000) /* without from or to: the last day */

static void read_sessions(struct ff_conn *c, const struct ff_project *p, const char *query, size_t qlen)
{
    struct read_job *j = read_job_new(c, p, READ_SESSIONS);
    if (!j) return;
    struct ff_session_filter *f = &j->sessions;
    struct ff_buf v;
    ff_buf_init(&v, 4096);
    const char *bad = range_params(query, qlen, &f->limit, &f->from_us, &f->to_us, &v);
    if (!bad && f->from_us == FF_TIME_NONE && f->to_us == FF_TIME_NONE) f->from_us = ff_now_us() - SESSIONS_DEFAULT_RANGE_US;
    if (!bad && ff_query_get(query, qlen, "person", &j->person) < 0) bad = "person";
    f->person = j->person.len ? j->person.data : NULL;
    f->person_len = j->person.len;
    if (!bad && ff_query_get(query, qlen, "bots", &v)) {
        if (v.len == 7 && memcmp(v.data, "include", 7) == 0) f->bots = 1;
        else if (!(v.len == 7 && memcmp(v.data, "exclude", 7) == 0)) bad = "bots";
    }
    ff_buf_free(&v);
    queue_read(c, j, bad);
}

/* ---- POST /api/query on the thread pool ---- */

struct query_job {
    struct ff_store *store;
    const char *data_dir; /* where saved segments are (the catalog) */
    char project[FF_PROJECT_ID_MAX + 1];
    char tz[65];
    struct ff_buf body, out;
    int64_t now;
    int status;
    const char *field;
    char what[16];            /* "": a query; else the analysis asked for (analysis/analysis.h) */
    const char *content_type; /* of the answer */
};

static struct query_job *query_job_new(struct ff_conn *c, const char *project, const char *tz)
{
    struct query_job *j = ff_calloc(1, sizeof *j);
    if (!j) return NULL;
    j->store = c->loop->srv->store;
    j->data_dir = c->loop->srv->opts.data_dir;
    snprintf(j->project, sizeof j->project, "%s", project);
    snprintf(j->tz, sizeof j->tz, "%s", tz);
    j->now = ff_now_us();
    ff_buf_init(&j->body, (size_t)1 << 20);
    ff_buf_init(&j->out, (size_t)1 << 31);
    return j;
}

static void query_work(uv_work_t *w)
{
    struct ff_conn *c = w->data;
    struct query_job *j = c->work_data;
    if (!j->store) { /* a harness without a store: nothing to ask */
        j->status = 503;
        ff_buf_append_str(&j->out, "{\"error\":\"no store\",\"field\":\"\"}");
        return;
    }
    struct ff_segment_source segments = {ff_segment_lookup_dir, (void *)j->data_dir};
    struct ff_segment_saver saver = {ff_segment_save_dir, ff_model_save_dir, ff_model_lookup_dir, (void *)j->data_dir};
    j->content_type = "application/json";
    if (j->what[0])
        j->status = ff_analysis_answer(j->store, j->what, j->body.data, j->body.len, j->now,
                                       j->project[0] ? j->project : NULL, j->tz, &segments, &saver, &j->out,
                                       &j->content_type, &j->field);
    else
        j->status = ff_query_answer(j->store, j->body.data, j->body.len, j->now, j->project[0] ? j->project : NULL,
                                    j->tz, &segments, &j->out, &j->field);
}

static void query_job_free(struct query_job *j)
{
    ff_buf_free(&j->body);
    ff_buf_free(&j->out);
    ff_free(j);
}

static void query_done(uv_work_t *w, int status)
{
    struct ff_conn *c = w->data;
    struct query_job *j = c->work_data;
    c->work_data = NULL;
    if (status) ff_respond_error(c, 500, "the query was not run", "", NULL);
    else ff_respond(c, j->status, j->content_type ? j->content_type : "application/json", j->out.data, j->out.len, NULL);
    query_job_free(j);
}

/* GET /api/recommend?person=ID&…: the request POST /api/analysis/recommend takes, from the
 * query string (numbers as numbers, the rest as strings). NULL, or the parameter that is bad. */
static const char *recommend_body(const char *query, size_t qlen, struct ff_buf *body)
{
    static const char *const keys[] = {"person", "from", "to", "timezone", "transactions", "items", "min_support",
                                       "min_confidence", "max_size", "limit", "algorithm"};
    struct ff_buf v;
    ff_buf_init(&v, 4096);
    int rc = ff_buf_putc(body, '{'), n = 0;
    for (size_t i = 0; !rc && i < sizeof keys / sizeof *keys; i++) {
        ff_buf_reset(&v);
        if (ff_query_get(query, qlen, keys[i], &v) <= 0) continue;
        rc = ff_buf_printf(body, "%s\"%s\":", n++ ? "," : "", keys[i]);
        char num[64], *end;
        int numeric = i >= 6 && v.len && v.len < sizeof num;
        if (numeric) {
            memcpy(num, v.data, v.len);
            num[v.len] = '\0';
            strtod(num, &end);
            numeric = *end == '\0';
        }
        if (!rc) rc = numeric ? ff_buf_append(body, v.data, v.len) : ff_json_write_str(body, v.data ? v.data : "", v.len);
    }
    if (!rc) rc = ff_buf_putc(body, '}');
    ff_buf_free(&v);
    return rc ? "query" : NULL;
}

/* POST /api/query, or /api/analysis/WHAT when `what` is not NULL. */
static void run_query(struct ff_conn *c, const struct ff_project *p, const char *what, const char *query, size_t qlen)
{
    char project[FF_PROJECT_ID_MAX + 1];
    struct query_job *j = query_job_new(c, job_project(project, p) ? project : "", p->timezone ? p->timezone : "UTC");
    if (!j) {
        ff_respond_error(c, 503, "out of memory", "", "Retry-After: 1\r\n");
        return;
    }
    if (what) snprintf(j->what, sizeof j->what, "%s", what);
    if (c->req.method == HTTP_GET) { /* GET /api/recommend: the request is in the query string */
        if (recommend_body(query, qlen, &j->body)) {
            ff_respond_error(c, 400, "the query string is too long", "query", NULL);
            query_job_free(j);
        } else if (queue_job(c, j, query_work, query_done)) {
            query_job_free(j);
            ff_respond_error(c, 503, "busy", "", "Retry-After: 1\r\n");
        }
        return;
    }
    size_t elen = 0;
    const char *enc = ff_req_header(c, FF_HDR_CONTENT_ENCODING, &elen);
    const char *body;
    size_t blen;
    c->decoded.max = (size_t)1 << 20;
    size_t raw_len;
    const char *raw = ff_req_body(c, &raw_len);
    if (ff_body_decode(enc ? enc : "", elen, raw, raw_len, &c->decoded, &body, &blen) ||
        ff_buf_append(&j->body, body, blen)) {
        ff_respond_error(c, 400, "the query body could not be decoded (at most 1 MiB of JSON)", "Content-Encoding", NULL);
        query_job_free(j);
        return;
    }
    if (queue_job(c, j, query_work, query_done)) {
        query_job_free(j);
        ff_respond_error(c, 503, "busy", "", "Retry-After: 1\r\n");
    }
}

/* ---- GET /api/live: the live query as server-sent events, every second ---- */

struct live_stream {
    char project[FF_PROJECT_ID_MAX + 1];
    char tz[65];
    char query[512]; /* {"kind":"live",…} */
    uint64_t stored;  /* stored_total() when the last answer was asked for */
    int64_t asked_us; /* and when */
};

/* The stream looks 5 times a second whether events were stored and answers at once when
 * they were (a page shows a new event within a fifth of a second and its query), and
 * once a second anyway: the per-second counts move on. */
#define LIVE_LOOK_MS 200
#define LIVE_EVERY_US 1000000

static void live_done(uv_work_t *w, int status)
{
    struct ff_conn *c = w->data;
    struct query_job *j = c->work_data;
    c->work_data = NULL;
    if (ff_stream_job_done(c) && !status) {
        struct ff_buf ev;
        ff_buf_init(&ev, (size_t)1 << 31);
        int rc = ff_buf_append_str(&ev, j->status == 200 ? "data: " : "event: error\ndata: ");
        if (!rc) rc = ff_buf_append(&ev, j->out.data, j->out.len);
        if (!rc) rc = ff_buf_append_str(&ev, "\n\n");
        if (!rc) ff_stream_write(c, ev.data, ev.len);
        ff_buf_free(&ev);
    }
    query_job_free(j);
}

static void live_tick(struct ff_conn *c)
{
    struct live_stream *ls = c->stream_arg;
    if (c->work_data) return; /* the last one is still running: this tick is skipped */
    uint64_t stored = stored_total();
    int64_t now = ff_now_us();
    if (stored == ls->stored && now - ls->asked_us < LIVE_EVERY_US) return;
    ls->stored = stored;
    ls->asked_us = now;
    struct query_job *j = query_job_new(c, ls->project, ls->tz);
    if (!j) return;
    if (ff_buf_append_str(&j->body, ls->query) || queue_job(c, j, query_work, live_done)) query_job_free(j);
}

static void open_live(struct ff_conn *c, const struct ff_project *p, const char *query, size_t qlen)
{
    struct live_stream *ls = ff_calloc(1, sizeof *ls);
    if (!ls) {
        ff_respond_error(c, 503, "out of memory", "", "Retry-After: 1\r\n");
        return;
    }
    job_project(ls->project, p);
    snprintf(ls->tz, sizeof ls->tz, "%s", p->timezone ? p->timezone : "UTC");
    /* ?event=NAME narrows it, as the query's event does */
    struct ff_buf v, q;
    ff_buf_init(&v, 300);
    ff_buf_init(&q, sizeof ls->query - 1);
    int rc = ff_buf_append_str(&q, "{\"kind\":\"live\"");
    if (!rc && ff_query_get(query, qlen, "event", &v) && v.len) {
        rc = ff_buf_append_str(&q, ",\"event\":");
        if (!rc) rc = ff_json_write_str(&q, v.data, v.len);
    }
    if (!rc) rc = ff_buf_putc(&q, '}');
    if (!rc) memcpy(ls->query, q.data, q.len);
    ff_buf_free(&v);
    ff_buf_free(&q);
    if (rc) {
        ff_free(ls);
        ff_respond_error(c, 400, "event is too long", "event", NULL);
        return;
    }
    if (c->req.method == HTTP_HEAD) {
        ff_free(ls);
        ff_respond(c, 200, "text/event-stream", "", 0, NULL);
        return;
    }
    ls->asked_us = INT64_MIN / 2; /* the first tick answers */
    ff_stream_open(c, "text/event-stream", LIVE_LOOK_MS, live_tick, ls);
}

/* ---- /api/persons/{id}/events (GET) and /api/persons/{id} (DELETE), on the thread pool ---- */

struct person_job {
    struct ff_store *store;
    char project[FF_PROJECT_ID_MAX + 1];
    struct ff_buf id;
    int erase;
    struct ff_buf out;
    int rc;
};

static void person_work(uv_work_t *w)
{
    struct ff_conn *c = w->data;
    struct person_job *j = c->work_data;
    size_t count = 0;
    if (!j->store) {
        j->rc = 0; /* a harness without a store has nothing stored */
    } else if (j->erase) {
        uint64_t removed = 0;
        j->rc = ff_store_erase(j->store, j->project[0] ? j->project : NULL, j->id.data, j->id.len, &removed);
        if (!j->rc) j->rc = ff_buf_printf(&j->out, "{\"erased\":%llu}", (unsigned long long)removed);
    } else {
        j->rc = ff_export_person(j->store, j->project[0] ? j->project : NULL, j->id.data, j->id.len,
                                 FF_EXPORT_NDJSON, &j->out, &count);
    }
}

static void person_done(uv_work_t *w, int status)
{
    struct ff_conn *c = w->data;
    struct person_job *j = c->work_data;
    c->work_data = NULL;
    if (status || j->rc) {
        char msg[160];
        snprintf(msg, sizeof msg, "could not %s the person's events: %s", j->erase ? "erase" : "read",
                 ff_strerror(status ? -EIO : j->rc));
        ff_respond_error(c, 500, msg, "", NULL);
    } else if (j->erase) {
        ff_respond(c, 200, "application/json", j->out.data, j->out.len, NULL);
    } else {
        ff_respond(c, 200, "application/x-ndjson", j->out.data ? j->out.data : "", j->out.len, NULL);
    }
    ff_buf_free(&j->out);
    ff_buf_free(&j->id);
    ff_free(j);
}

/* /api/persons/ID/events or /api/persons/ID (ID percent-encoded); 0 when the path is neither. */
static int person_route(struct ff_conn *c, const char *path, size_t plen)
{
    static const char prefix[] = "/api/persons/";
    const size_t np = sizeof prefix - 1;
    if (plen <= np || memcmp(path, prefix, np) != 0) return 0;
    const char *id = path + np, *end = path + plen;
    const char *slash = memchr(id, '/', (size_t)(end - id));
    int events = 0;
    if (slash) {
        if ((size_t)(end - slash) != 7 || memcmp(slash, "/events", 7) != 0) return 0;
        events = 1;
        end = slash;
    }
    int m = c->req.method;
    if (events && m != HTTP_GET && m != HTTP_HEAD) {
        ff_respond_error(c, 405, "method not allowed", "method", "Allow: GET, OPTIONS\r\n");
        return 1;
    }
    if (!events && m != HTTP_DELETE) {
        ff_respond_error(c, 405, "method not allowed", "method", "Allow: DELETE, OPTIONS\r\n");
        return 1;
    }
    const struct ff_project *p = ff_require_read_key(c);
    if (!p) return 1;
    struct person_job *j = ff_calloc(1, sizeof *j);
    if (!j) {
        ff_respond_error(c, 503, "out of memory", "", "Retry-After: 1\r\n");
        return 1;
    }
    job_project(j->project, p);
    ff_buf_init(&j->id, 4096);
    ff_buf_init(&j->out, (size_t)1 << 31);
    if (end == id || ff_url_decode(&j->id, id, (size_t)(end - id)) || j->id.len == 0) {
        ff_respond_error(c, 400, "the person id is empty or too long (at most 4096 bytes)", "id", NULL);
        ff_buf_free(&j->id);
        ff_free(j);
        return 1;
    }
    j->store = c->loop->srv->store;
    j->erase = !events;
    if (queue_job(c, j, person_work, person_done)) {
        ff_buf_free(&j->id);
        ff_buf_free(&j->out);
        ff_free(j);
        ff_respond_error(c, 503, "busy", "", "Retry-After: 1\r\n");
    }
    return 1;
}

/* ---- saved segments and boards: GET /api/segments, PUT and DELETE /api/segments/NAME;
 * the same under /api/boards ---- */

static const struct saved_api {
    const char *prefix, *noun, *field;
    int (*check)(const char *json, size_t len, char *err, size_t errlen);
} saved_apis[] = {
    [FF_SAVED_SEGMENT] = {"/api/segments", "segment", "segment", ff_segment_check},
    [FF_SAVED_BOARD] = {"/api/boards", "board", "board", ff_board_check},
    [FF_SAVED_ALERT] = {"/api/analysis/alerts", "alert", "alert", ff_alert_check},
};

static int saved_route(struct ff_conn *c, const char *path, size_t plen, enum ff_saved what)
{
    const struct saved_api *sa = &saved_apis[what];
    const size_t np = strlen(sa->prefix);
    if (plen < np || memcmp(path, sa->prefix, np) != 0 || (plen > np && path[np] != '/')) return 0;
    const char *name = plen > np ? path + np + 1 : NULL;
    size_t nlen = name ? plen - np - 1 : 0;
    int m = c->req.method;
    char msg[160];
    if (!name && m != HTTP_GET && m != HTTP_HEAD) {
        snprintf(msg, sizeof msg, "method not allowed: GET the list, PUT or DELETE %s/NAME", sa->prefix);
        ff_respond_error(c, 405, msg, "method", "Allow: GET, OPTIONS\r\n");
        return 1;
    }
    if (name && m != HTTP_PUT && m != HTTP_DELETE && m != HTTP_GET && m != HTTP_HEAD) {
        ff_respond_error(c, 405, "method not allowed", "method", "Allow: GET, PUT, DELETE, OPTIONS\r\n");
        return 1;
    }
    const struct ff_project *p = ff_require_read_key(c);
    if (!p) return 1;
    struct ff_catalog *cat = c->loop->catalog;
    const char *project = p->id[0] ? p->id : FF_DEFAULT_PROJECT;
    if (!cat) {
        ff_respond_error(c, 503, "the project catalog is not open", "", NULL);
        return 1;
    }
    char nm[FF_SEGMENT_NAME_MAX + 1], err[1024];
    if (name) {
        if (!ff_segment_name_ok(name, nlen)) {
            snprintf(msg, sizeof msg, "a %s's name is 1 to 64 of A-Z a-z 0-9 _ . -", sa->noun);
            ff_respond_error(c, 400, msg, "name", NULL);
            return 1;
        }
        memcpy(nm, name, nlen);
        nm[nlen] = '\0';
    }
    struct ff_buf o;
    ff_buf_init(&o, (size_t)1 << 26);
    int rc = 0;
    if (!name) {
        snprintf(msg, sizeof msg, "cannot read the %ss", sa->noun);
        if ((rc = ff_saved_json(cat, what, project, &o))) ff_respond_error(c, 500, msg, "", NULL);
        else ff_respond(c, 200, "application/json", o.data, o.len, NULL);
    } else if (m == HTTP_GET || m == HTTP_HEAD) {
        rc = ff_buf_printf(&o, "{\"name\":\"%s\",\"definition\":", nm);
        if (!rc) rc = ff_saved_get(cat, what, project, nm, &o);
        snprintf(msg, sizeof msg, "no such %s", sa->noun);
        if (rc == -ENOENT) ff_respond_error(c, 404, msg, "name", NULL);
        else if (rc || ff_buf_putc(&o, '}')) ff_respond_error(c, 500, "cannot read it", "", NULL);
        else ff_respond(c, 200, "application/json", o.data, o.len, NULL);
    } else if (m == HTTP_DELETE) {
        rc = ff_saved_delete(cat, what, project, nm);
        snprintf(msg, sizeof msg, "no such %s", sa->noun);
        if (rc == -ENOENT) ff_respond_error(c, 404, msg, "name", NULL);
        else if (rc) ff_respond_error(c, 500, "cannot delete it", "", NULL);
        else ff_buf_printf(&o, "{\"deleted\":\"%s\"}", nm), ff_respond(c, 200, "application/json", o.data, o.len, NULL);
    } else {
        const char *enc, *body;
        size_t elen = 0, blen;
        enc = ff_req_header(c, FF_HDR_CONTENT_ENCODING, &elen);
        c->decoded.max = (size_t)1 << 20;
        size_t raw_len;
        const char *raw = ff_req_body(c, &raw_len);
        if (ff_body_decode(enc ? enc : "", elen, raw, raw_len, &c->decoded, &body, &blen)) {
            ff_respond_error(c, 400, "the definition could not be decoded (at most 1 MiB of JSON)", "Content-Encoding", NULL);
        } else if (sa->check(body, blen, err, sizeof err)) {
            ff_respond_error(c, 400, err, sa->field, NULL);
        } else if (ff_saved_save(cat, what, project, nm, body, blen, err, sizeof err)) {
            ff_respond_error(c, 500, err, "", NULL);
        } else {
            ff_buf_printf(&o, "{\"name\":\"%s\",\"definition\":", nm);
            ff_buf_append(&o, body, blen);
            ff_buf_putc(&o, '}');
            ff_respond(c, 200, "application/json", o.data, o.len, NULL);
        }
    }
    ff_buf_free(&o);
    return 1;
}

/* GET /api/project: the read key's project, with a write key for its pages' tracker tag (a
 * write key is public: it goes in every page) so the dashboard can show the snippet. */
static void write_project(struct ff_conn *c, const struct ff_project *p)
{
    const struct ff_projects *ps = ff_loop_projects(c->loop, c->req.received_at_us);
    struct ff_str wk = ps ? ff_projects_write_key(ps, p->id, c->req.received_at_us) : (struct ff_str){NULL, 0};
    struct ff_buf o;
    ff_buf_init(&o, 1 << 16);
    int rc = ff_buf_append_str(&o, "{\"id\":");
    if (!rc) rc = ff_json_write_str(&o, p->id, strlen(p->id));
    if (!rc) rc = ff_buf_append_str(&o, ",\"name\":");
    if (!rc) rc = ff_json_write_str(&o, p->name ? p->name : p->id, strlen(p->name ? p->name : p->id));
    if (!rc) rc = ff_buf_append_str(&o, ",\"timezone\":");
    if (!rc) rc = ff_json_write_str(&o, p->timezone ? p->timezone : "UTC", strlen(p->timezone ? p->timezone : "UTC"));
    if (!rc) rc = ff_buf_append_str(&o, ",\"write_key\":");
    if (!rc) rc = wk.len ? ff_json_write_str(&o, wk.p, wk.len) : ff_buf_append_str(&o, "null");
    if (!rc) rc = ff_buf_putc(&o, '}');
    if (rc) ff_respond_error(c, 503, "out of memory", "", NULL);
    else ff_respond(c, 200, "application/json", o.data, o.len, NULL);
    ff_buf_free(&o);
}

/* GET /api/analysis/alert-events?limit=N: the project's alert firings, newest first. */
static void alert_events(struct ff_conn *c, const struct ff_project *p, const char *query, size_t qlen)
{
    struct ff_buf o, v;
    ff_buf_init(&o, (size_t)1 << 26);
    ff_buf_init(&v, 64);
    size_t limit = 100;
    int64_t none = 0;
    const char *bad = range_params(query, qlen, &limit, &none, &none, &v);
    if (bad) bad_param(c, bad);
    else if (ff_alert_events_json(c->loop->srv->opts.data_dir, p->id[0] ? p->id : FF_DEFAULT_PROJECT, limit, &o))
        ff_respond_error(c, 500, "cannot read the alert events", "", NULL);
    else ff_respond(c, 200, "application/json", o.data, o.len, NULL);
    ff_buf_free(&o);
    ff_buf_free(&v);
}

int ff_api_route(struct ff_conn *c, const char *path, size_t plen, const char *query, size_t qlen)
{
    if (person_route(c, path, plen)) return 1;
    if (saved_route(c, path, plen, FF_SAVED_SEGMENT) || saved_route(c, path, plen, FF_SAVED_BOARD) ||
        saved_route(c, path, plen, FF_SAVED_ALERT))
        return 1;
    if (is_path(path, plen, "/api/recommend")) {
        if (c->req.method != HTTP_GET) {
            ff_respond_error(c, 405, "method not allowed: GET /api/recommend?person=ID", "method", "Allow: GET, OPTIONS\r\n");
            return 1;
        }
        const struct ff_project *p = ff_require_read_key(c);
        if (p) run_query(c, p, "recommend", query, qlen);
        return 1;
    }
    if (is_path(path, plen, "/api/analysis/alert-events")) {
        if (c->req.method != HTTP_GET && c->req.method != HTTP_HEAD) {
            ff_respond_error(c, 405, "method not allowed", "method", "Allow: GET, OPTIONS\r\n");
            return 1;
        }
        const struct ff_project *p = ff_require_read_key(c);
        if (p) alert_events(c, p, query, qlen);
        return 1;
    }
    static const char analysis[] = "/api/analysis/";
    int is_analysis = plen > sizeof analysis - 1 && memcmp(path, analysis, sizeof analysis - 1) == 0;
    if (is_path(path, plen, "/api/query") || is_analysis) {
        const char *what = is_analysis ? path + sizeof analysis - 1 : NULL;
        size_t wlen = is_analysis ? plen - (sizeof analysis - 1) : 0;
        if (what && !ff_analysis_known(what, wlen)) {
            ff_respond_error(c, 404, "no such analysis: POST /api/analysis/features, segments, rules, recommend or forecast", "path",
                             NULL);
            return 1;
        }
        if (c->req.method != HTTP_POST) {
            ff_respond_error(c, 405, what ? "method not allowed: POST a JSON request" : "method not allowed: POST a JSON query",
                             "method", "Allow: POST, OPTIONS\r\n");
            return 1;
        }
        const struct ff_project *p = ff_require_read_key(c);
        char w[16] = "";
        if (what) memcpy(w, what, wlen < sizeof w ? wlen : sizeof w - 1);
        if (p) run_query(c, p, what ? w : NULL, NULL, 0);
        return 1;
    }
    int get = c->req.method == HTTP_GET || c->req.method == HTTP_HEAD;
    int known = is_path(path, plen, "/healthz") || is_path(path, plen, "/metrics") ||
                is_path(path, plen, "/api/stats") || is_path(path, plen, "/api/events") ||
                is_path(path, plen, "/api/quarantine") || is_path(path, plen, "/api/sessions") ||
                is_path(path, plen, "/api/live") || is_path(path, plen, "/api/project");
    if (!known) return 0;
    if (!get) {
        ff_respond_error(c, 405, "method not allowed", "method", "Allow: GET, OPTIONS\r\n");
        return 1;
    }
    /* Health and metrics are the operator's (no event data in them); the rest needs a read key. */
    const struct ff_project *p = NULL;
    if (path[1] == 'a' && !(p = ff_require_read_key(c))) return 1;
    if (is_path(path, plen, "/healthz")) {
        ff_respond_json(c, 200, "{\"status\":\"ok\"}");
    } else if (is_path(path, plen, "/metrics") || is_path(path, plen, "/api/stats")) {
        int metrics = path[1] == 'm';
        struct ff_buf o;
        ff_buf_init(&o, 1 << 20);
        struct ff_store *st = c->loop->srv->store;
        int rc = metrics ? ff_api_write_metrics(&o, st, c->loop->srv->enrich) : ff_api_write_stats(&o, st);
        if (rc) ff_respond_error(c, 503, "out of memory", "", NULL);
        else ff_respond(c, 200, metrics ? "text/plain; version=0.0.4" : "application/json", o.data, o.len, NULL);
        ff_buf_free(&o);
    } else if (is_path(path, plen, "/api/live")) {
        open_live(c, p, query, qlen);
    } else if (is_path(path, plen, "/api/project")) {
        write_project(c, p);

    } else if (is_path(path, plen, "/api/sessions")) {
        read_sessions(c, p, query, qlen);
    } else {
        read_log(c, p, path[5] == 'q', query, qlen);
    }
    return 1;
}
