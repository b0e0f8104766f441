/* alerts.c - see alerts.h. A check asks the forecast engine (analysis.h, "forecast") about
 * the rule's series with a horizon of 1, and looks at the last complete interval: whether it
 * is among the anomalies (anomaly), or how it compares with the threshold. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "analysis/alerts.h"
#include "analysis/analysis.h"
#include "net/httpclient.h"
#include "core/alloc.h"
#include "core/errors.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "project/alert_events.h"
#include "project/catalog.h"
#include "project/projects.h"
#include "project/segments.h"

#define WEBHOOK_ATTEMPTS 5
#define WEBHOOK_TIMEOUT_MS 10000

enum { C_ANOMALY, C_ABOVE, C_BELOW };

struct rule {
    struct ff_buf query; /* the forecast request: the rule's query with horizon 1 and its level */
    size_t series;
    int condition;
    double threshold;
    int level;
    char webhook[512];
};

/* Reads a rule; 0, or -1 with err. */
static int rule_parse(const char *json, size_t len, struct rule *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    ff_buf_init(&r->query, (size_t)1 << 20);
    r->level = 95;
    struct ff_json_parser *jp = ff_json_parser_new();
    struct ff_buf scratch;
    ff_buf_init(&scratch, (size_t)1 << 22);
    struct ff_json_doc doc;
    int rc = -1;
    const char *s;
    uint32_t n;
    if (!jp) {
        snprintf(err, errlen, "out of memory");
    } else if (ff_json_parse_copy(jp, &scratch, json, len, &doc) || doc.nodes[0].type != FF_JSON_OBJECT) {
        snprintf(err, errlen, "an alert is a JSON object {\"query\", \"condition\", ...}");
    } else {
        uint32_t q = ff_json_get(&doc, 0, "query"), se = ff_json_get(&doc, 0, "series"), c = ff_json_get(&doc, 0, "condition");
        uint32_t th = ff_json_get(&doc, 0, "threshold"), lv = ff_json_get(&doc, 0, "level"), wh = ff_json_get(&doc, 0, "webhook");
        const struct ff_json_node *nd;
        rc = 0;
        if (q == FF_JSON_NONE || doc.nodes[q].type != FF_JSON_OBJECT)
            rc = -1, snprintf(err, errlen, "query: an alert needs the trends query of its series (an object)");
        if (!rc && se != FF_JSON_NONE) {
            nd = &doc.nodes[se];
            if ((nd->type != FF_JSON_INT && nd->type != FF_JSON_UINT) || nd->v.i < 0 || nd->v.i > 7)
                rc = -1, snprintf(err, errlen, "series: the index of one of the query's series, 0 to 7");
            else r->series = (size_t)nd->v.i;
        }
        if (!rc) {
            if (!ff_json_str(&doc, c, &s, &n)) n = 0;
            r->condition = n == 7 && !memcmp(s, "anomaly", 7) ? C_ANOMALY : n == 5 && !memcmp(s, "above", 5) ? C_ABOVE
                         : n == 5 && !memcmp(s, "below", 5) ? C_BELOW : -1;
            if (r->condition < 0) rc = -1, snprintf(err, errlen, "condition: anomaly, above or below");
        }
        if (!rc && r->condition != C_ANOMALY) {
            nd = th == FF_JSON_NONE ? NULL : &doc.nodes[th];
            if (!nd || (nd->type != FF_JSON_INT && nd->type != FF_JSON_UINT && nd->type != FF_JSON_DOUBLE))
                rc = -1, snprintf(err, errlen, "threshold: a number, for the conditions above and below");
            else r->threshold = nd->type == FF_JSON_DOUBLE ? nd->v.d : nd->type == FF_JSON_INT ? (double)nd->v.i : (double)nd->v.u;
        }
        if (!rc && lv != FF_JSON_NONE) {
            nd = &doc.nodes[lv];
            r->level = nd->type == FF_JSON_INT || nd->type == FF_JSON_UINT ? (int)nd->v.i : 0;
            if (r->level != 80 && r->level != 95 && r->level != 99)
                rc = -1, snprintf(err, errlen, "level: the forecast interval, 80, 95 or 99");
        }
        if (!rc && wh != FF_JSON_NONE) {
            if (!ff_json_str(&doc, wh, &s, &n) || n < 8 || n >= sizeof r->webhook || memcmp(s, "http://", 7))
                rc = -1, snprintf(err, errlen, "webhook: an http://host:port/path URL");
            else memcpy(r->webhook, s, n), r->webhook[n] = '\0';
        }
        /* the forecast request: the query, its last interval forecast one step ahead */
        if (!rc && (ff_json_write_node(&r->query, &doc, q) || !r->query.len)) rc = -1, snprintf(err, errlen, "out of memory");
        if (!rc) {
            r->query.len--; /* its closing brace */
            int empty = r->query.len && r->query.data[r->query.len - 1] == '{';
            if (ff_buf_printf(&r->query, "%s\"horizon\":1,\"level\":%d}", empty ? "" : ",", r->level))
                rc = -1, snprintf(err, errlen, "out of memory");
        }
    }
    ff_json_parser_free(jp);
    ff_buf_free(&scratch);
    if (rc) ff_buf_free(&r->query);
    return rc;
}

int ff_alert_check(const char *json, size_t len, char *err, size_t errlen)
{
    struct rule r;
    if (rule_parse(json, len, &r, err, errlen)) return -1;
    /* the query must be one the forecast engine takes */
    const char *field;
    int rc = ff_analysis_check("forecast", r.query.data, r.query.len, err, errlen, &field);
    if (rc) {
        char inner[900];
        snprintf(inner, sizeof inner, "%s", err);
        snprintf(err, errlen, "query: %s", inner);
    }
    ff_buf_free(&r.query);
    return rc ? -1 : 0;
}

/* ---- delivering ---- */

/* POSTs the payload to the webhook until a 2xx or WEBHOOK_ATTEMPTS tries, waiting 1, 2, 4, 8 s
 * between them (stop, when set, cuts the waits short). Returns the attempts made; *ok. */
static int deliver(const char *url, const char *payload, size_t len, const atomic_int *stop, int *ok, char *outcome,
                   size_t olen)
{
    struct ff_http_client http;
    *ok = 0;
    if (ff_http_client_init(&http, url, NULL)) {
        snprintf(outcome, olen, "bad webhook URL");
        return 0;
    }
    snprintf(http.content_type, sizeof http.content_type, "application/json");
    http.timeout_ms = WEBHOOK_TIMEOUT_MS;
    const char *path = strchr(url + 7, '/');
    int attempt;
    for (attempt = 1; attempt <= WEBHOOK_ATTEMPTS; attempt++) {
        int status = 0;
        struct ff_buf resp;
        ff_buf_init(&resp, 1 << 20);
        char why[256] = "";
        int rc = ff_http_post(&http, path ? path : "/", payload, len, &status, &resp, why, sizeof why);
        ff_buf_free(&resp);
        ff_http_client_close(&http); /* a fresh connection each time: receivers come and go */
        if (!rc && status >= 200 && status < 300) {
            *ok = 1;
            snprintf(outcome, olen, "HTTP %d", status);
            break;
        }
        if (rc) snprintf(outcome, olen, "%s", why);
        else snprintf(outcome, olen, "HTTP %d", status);
        if (attempt == WEBHOOK_ATTEMPTS) break;
        for (int w = 0; w < (1 << (attempt - 1)) * 10 && !(stop && atomic_load(stop)); w++)
            nanosleep(&(struct timespec){0, 100000000}, NULL);
        if (stop && atomic_load(stop)) break;
    }
    return attempt > WEBHOOK_ATTEMPTS ? WEBHOOK_ATTEMPTS : attempt;
}

/* ---- checking ---- */

struct check {
    struct ff_store *store;
    const char *data_dir;
    int64_t now_us;
    struct ff_catalog *cat;
    struct ff_projects projects;
    const atomic_int *stop;
    int fired;
};

static double number(const struct ff_json_node *x)
{
    return x->type == FF_JSON_INT ? (double)x->v.i : x->type == FF_JSON_UINT ? (double)x->v.u
         : x->type == FF_JSON_DOUBLE ? x->v.d : NAN;
}

static int check_rule(void *arg, const char *project, const char *name, const char *def, size_t len)
{
    struct check *ck = arg;
    if (ck->stop && atomic_load(ck->stop)) return 1;
    struct rule r;
    char err[1024];
    if (rule_parse(def, len, &r, err, sizeof err)) {
        ff_warn("alert %s/%s: %s", project, name, err);
        return 0;
    }
    const struct ff_project *p = ff_projects_find(&ck->projects, project);
    struct ff_segment_source segs = {ff_segment_lookup_dir, (void *)ck->data_dir};
    struct ff_buf out;
    ff_buf_init(&out, (size_t)1 << 30);
    const char *ctype, *field;
    int status = ff_analysis_answer(ck->store, "forecast", r.query.data, r.query.len, ck->now_us, project,
                                    p && p->timezone ? p->timezone : "UTC", &segs, NULL, &out, &ctype, &field);
    struct ff_json_parser *jp = ff_json_parser_new();
    struct ff_buf scratch, payload;
    ff_buf_init(&scratch, (size_t)1 << 30);
    ff_buf_init(&payload, (size_t)1 << 20);
    struct ff_json_doc doc;
    if (status != 200) {
        ff_warn("alert %s/%s: its query fails: %.*s", project, name, (int)(out.len < 300 ? out.len : 300), out.data);
    } else if (jp && !ff_json_parse_copy(jp, &scratch, out.data, out.len, &doc)) {
        uint32_t buckets = ff_json_get(&doc, 0, "buckets"), series = ff_json_get(&doc, 0, "series"), s = FF_JSON_NONE;
        int open = ff_json_get(&doc, 0, "open") != FF_JSON_NONE && doc.nodes[ff_json_get(&doc, 0, "open")].type == FF_JSON_TRUE;
        size_t k = 0;
        for (uint32_t e = series + 1; series != FF_JSON_NONE && e < doc.nodes[series].end; e = doc.nodes[e].end, k++)
            if (k == r.series) s = e;
        uint32_t data = s == FF_JSON_NONE ? FF_JSON_NONE : ff_json_get(&doc, s, "data");
        size_t n = data == FF_JSON_NONE ? 0 : doc.nodes[data].len;
        if (n > (size_t)open && buckets != FF_JSON_NONE && doc.nodes[buckets].len == n) {
            size_t last = n - 1 - (size_t)open, i = 0;
            uint32_t v = data + 1, b = buckets + 1;
            for (; i < last; i++) v = doc.nodes[v].end, b = doc.nodes[b].end;
            const char *label;
            uint32_t ll;
            double value = number(&doc.nodes[v]);
            int fire = 0;
            double expected = NAN, lower = NAN, upper = NAN;
            if (ff_json_str(&doc, b, &label, &ll)) {
                if (r.condition == C_ABOVE) fire = value > r.threshold;
                else if (r.condition == C_BELOW) fire = value < r.threshold;
                uint32_t an = ff_json_get(&doc, s, "anomalies");
                for (uint32_t a = an + 1; an != FF_JSON_NONE && a < doc.nodes[an].end; a = doc.nodes[a].end) {
                    const char *ab;
                    uint32_t abl;
                    if (!ff_json_str(&doc, ff_json_get(&doc, a, "bucket"), &ab, &abl) || abl != ll || memcmp(ab, label, ll)) continue;
                    expected = number(&doc.nodes[ff_json_get(&doc, a, "expected")]);
                    lower = number(&doc.nodes[ff_json_get(&doc, a, "lower")]);
                    upper = number(&doc.nodes[ff_json_get(&doc, a, "upper")]);
                    if (r.condition == C_ANOMALY) fire = 1;
                }
            }
            if (fire) {
                static const char *const conds[] = {"anomaly", "above", "below"};
                char bucket[128], fired[40];
                snprintf(bucket, sizeof bucket, "%.*s", (int)ll, label);
                ff_time_format_iso(ck->now_us, fired);
                int rc = ff_buf_append_str(&payload, "{\"alert\":");
                if (!rc) rc = ff_json_write_str(&payload, name, strlen(name));
                if (!rc) rc = ff_buf_append_str(&payload, ",\"project\":");
                if (!rc) rc = ff_json_write_str(&payload, project, strlen(project));
                if (!rc) rc = ff_buf_printf(&payload, ",\"condition\":\"%s\",\"bucket\":", conds[r.condition]);
                if (!rc) rc = ff_json_write_str(&payload, bucket, strlen(bucket));
                uint32_t ev = ff_json_get(&doc, s, "event");
                if (!rc) rc = ff_buf_append_str(&payload, ",\"event\":");
                if (!rc) rc = ev == FF_JSON_NONE ? ff_buf_append_str(&payload, "null") : ff_json_write_node(&payload, &doc, ev);
                if (!rc) rc = ff_buf_append_str(&payload, ",\"value\":");
                if (!rc) rc = ff_json_write_double(&payload, value);
                const struct { const char *k; double v; } extra[] = {{"expected", expected}, {"lower", lower}, {"upper", upper},
                                                                    {"threshold", r.condition == C_ANOMALY ? NAN : r.threshold}};
                for (size_t x = 0; !rc && x < 4; x++)
                    if (isfinite(extra[x].v)) rc = ff_buf_printf(&payload, ",\"%s\":", extra[x].k) || ff_json_write_double(&payload, extra[x].v);
                if (!rc && r.condition == C_ANOMALY) rc = ff_buf_printf(&payload, ",\"level\":%d", r.level);
                if (!rc) rc = ff_buf_printf(&payload, ",\"fired_at\":\"%s\"}", fired);
                int added = rc ? -1 : ff_alert_event_add(ck->cat, project, name, bucket, ck->now_us, payload.data, payload.len);
                if (added == 1) {
                    ck->fired++;
                    ff_info("alert %s/%s fired for %s: %.*s", project, name, bucket, (int)payload.len, payload.data);
                    if (r.webhook[0]) {
                        int ok;
                        char outcome[300];
                        int attempts = deliver(r.webhook, payload.data, payload.len, ck->stop, &ok, outcome, sizeof outcome);
                        ff_alert_event_outcome(ck->cat, project, name, bucket, attempts, ok, outcome);
                        if (!ok) ff_warn("alert %s/%s: webhook %s not delivered after %d attempt(s): %s", project, name,
                                         r.webhook, attempts, outcome);
                    }
                }
            }
        }
    }
    ff_json_parser_free(jp);
    ff_buf_free(&scratch);
    ff_buf_free(&payload);
    ff_buf_free(&out);
    ff_buf_free(&r.query);
    return 0;
}

/* A k-means model saved with "live": true is brought up to date with the persons active since
 * its last update (analysis.h: segments, "update"). */
static int update_model(void *arg, const char *project, const char *name, const char *def, size_t len)
{
    struct check *ck = arg;
    if (ck->stop && atomic_load(ck->stop)) return 1;
    static const char live[] = ",\"live\":true}"; /* how footfall writes the end of a live model */
    if (len < sizeof live - 1 || memcmp(def + len - (sizeof live - 1), live, sizeof live - 1)) return 0;
    const struct ff_project *p = ff_projects_find(&ck->projects, project);
    struct ff_segment_source segs = {ff_segment_lookup_dir, (void *)ck->data_dir};
    struct ff_segment_saver saver = {ff_segment_save_dir, ff_model_save_dir, ff_model_lookup_dir, (void *)ck->data_dir};
    struct ff_buf req, out;
    ff_buf_init(&req, 1 << 16);
    ff_buf_init(&out, (size_t)1 << 30);
    const char *ctype, *field;
    int rc = ff_buf_append_str(&req, "{\"update\":");
    if (!rc) rc = ff_json_write_str(&req, name, strlen(name));
    if (!rc) rc = ff_buf_putc(&req, '}');
    int status = rc ? 503
                    : ff_analysis_answer(ck->store, "segments", req.data, req.len, ck->now_us, project,
                                         p && p->timezone ? p->timezone : "UTC", &segs, &saver, &out, &ctype, &field);
    if (status != 200) ff_warn("segments %s/%s: the live update failed: %.*s", project, name, (int)(out.len < 300 ? out.len : 300), out.data);
    ff_buf_free(&req);
    ff_buf_free(&out);
    return 0;
}

static int check_all(struct ff_store *s, const char *data_dir, int64_t now_us, const atomic_int *stop)
{
    struct check ck = {.store = s, .data_dir = data_dir, .now_us = now_us, .stop = stop};
    char err[512], path[4096];
    snprintf(path, sizeof path, "%s/projects.db", data_dir);
    if (access(path, F_OK)) return 0; /* no catalog (a store without projects): no rules */
    if (ff_catalog_open(data_dir, 0, &ck.cat, err, sizeof err)) return -EIO;
    int rc = ff_catalog_load(ck.cat, &ck.projects, err, sizeof err) ? -EIO : 0;
    if (!rc) {
        rc = ff_saved_each(ck.cat, FF_SAVED_ALERT, check_rule, &ck);
        if (rc >= 0) rc = ff_saved_each(ck.cat, FF_SAVED_MODEL, update_model, &ck) < 0 ? -EIO : rc;
        ff_projects_free(&ck.projects);
    }
    ff_catalog_close(ck.cat);
    return rc < 0 ? rc : ck.fired;
}

/* ---- the thread ---- */

struct ff_alerts {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_int stop;
    struct ff_store *store;
    const char *data_dir;
    int interval_ms;
};

static void *alerts_main(void *arg)
{
    struct ff_alerts *a = arg;
    while (!atomic_load(&a->stop)) {
        int rc = check_all(a->store, a->data_dir, ff_now_us(), &a->stop);
        if (rc < 0) ff_warn("alerts: cannot read the rules in %s/projects.db", a->data_dir);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += a->interval_ms / 1000;
        until.tv_nsec += (long)(a->interval_ms % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) until.tv_sec++, until.tv_nsec -= 1000000000;
        pthread_mutex_lock(&a->mu);
        while (!atomic_load(&a->stop) && pthread_cond_timedwait(&a->cv, &a->mu, &until) == 0) {
        }
        pthread_mutex_unlock(&a->mu);
    }
    return NULL;
}

int ff_alerts_start(struct ff_alerts **out, struct ff_store *s, const char *data_dir, int interval_ms)
{
    struct ff_alerts *a = ff_calloc(1, sizeof *a);
    if (!a) return -ENOMEM;
    a->store = s, a->data_dir = data_dir, a->interval_ms = interval_ms > 0 ? interval_ms : 60000;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    if (pthread_create(&a->thread, NULL, alerts_main, a)) {
        pthread_mutex_destroy(&a->mu);
        pthread_cond_destroy(&a->cv);
        ff_free(a);
        return -EAGAIN;
    }
    *out = a;
    return 0;
}

void ff_alerts_stop(struct ff_alerts *a)
{
    if (!a) return;
    pthread_mutex_lock(&a->mu);
    atomic_store(&a->stop, 1);
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->thread, NULL);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    ff_free(a);
}

int ff_alert_events_json(const char *data_dir, const char *project, size_t limit, struct ff_buf *out)
{
    struct ff_catalog *c;
    char err[512];
    if (ff_catalog_open(data_dir, 0, &c, err, sizeof err)) return -EIO;
    int rc = ff_alert_events_list(c, project, limit, out);
    ff_catalog_close(c);
    return rc;
}
