/* accesslog.c - web-server access logs: each line a page event (server-side capture, for
 * sites without JavaScript and for APIs).
 *
 *   common    host ident user [time] "request" status bytes
 *   combined  the same, then "referer" "user-agent" (fields after these are ignored, as nginx
 *             adds some)
 *   json      one object per line, nginx's `escape=json` names (remote_addr, time_iso8601 or
 *             time_local, request or request_method + request_uri, status, body_bytes_sent,
 *             http_referer, http_user_agent, remote_user) or Caddy's (ts, request.remote_ip,
 *             request.method, request.uri, request.headers, status, size)
 *
 * The event: type page, name = the path; userId = the authenticated user (else a cookieless
 * visitor id from the address and user agent, with a salt for the line's own day);
 * properties path, url, search, method, status, bytes, protocol, referrer; context ip,
 * userAgent, page {path, url, search, referrer}, log {line}. Its messageId is a hash of the
 * line and its number, so importing a file twice stores it once. A line that does not parse
 * is quarantined with its number and what was wrong. */
#include "ingest_int.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/errors.h"
#include "core/timeutil.h"
#include "project/projects.h"
#include "store/schema.h"

int ff_log_format_parse(const char *s, size_t len)
{
    static const char *const names[] = {"combined", "common", "json"};
    for (int i = 0; i < 3; i++)
        if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0) return i;
    return -1;
}

/* The fields of one line, pointing into it (or into a JSON parse). */
struct log_line {
    struct ff_str host, user, time, request, method, target, protocol, referrer, user_agent;
    int64_t ts;
    int status;
    int64_t bytes;
};

/* ---- text formats ---- */

struct cursor {
    const char *p, *end;
};

static int take_token(struct cursor *c, struct ff_str *out)
{
    const char *s = c->p;
    while (c->p < c->end && *c->p != ' ') c->p++;
    if (c->p == s) return -1;
    *out = (struct ff_str){s, (uint32_t)(c->p - s)};
    return 0;
}

static int space(struct cursor *c)
{
    if (c->p >= c->end || *c->p != ' ') return -1;
    while (c->p < c->end && *c->p == ' ') c->p++;
    return 0;
}

/* "…" with \" escaped inside (Apache writes \", nginx \x22): the bytes between the quotes. */
static int take_quoted(struct cursor *c, struct ff_str *out)
{
    if (c->p >= c->end || *c->p != '"') return -1;
    const char *s = ++c->p;
    while (c->p < c->end && *c->p != '"') c->p += *c->p == '\\' && c->p + 1 < c->end ? 2 : 1;
    if (c->p >= c->end) return -1;
    *out = (struct ff_str){s, (uint32_t)(c->p - s)};
    c->p++;
    return 0;
}

static int take_bracketed(struct cursor *c, struct ff_str *out)
{
    if (c->p >= c->end || *c->p != '[') return -1;
    const char *s = ++c->p;
    while (c->p < c->end && *c->p != ']') c->p++;
    if (c->p >= c->end) return -1;
    *out = (struct ff_str){s, (uint32_t)(c->p - s)};
    c->p++;
    return 0;
}

static int month_of(const char *m)
{
    static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    for (int i = 0; i < 12; i++)
        if (memcmp(names + 3 * i, m, 3) == 0) return i + 1;
    return 0;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* "10/Oct/2000:13:55:36 -0700" → µs since the epoch, UTC. */
static int parse_clf_time(struct ff_str t, int64_t *us)
{
    const char *s = t.p;
    int d, y, h, mi, se, oh, om, mo;
    if (t.len != 26 || s[2] != '/' || s[6] != '/' || s[11] != ':' || s[14] != ':' || s[17] != ':' || s[20] != ' ' ||
        (s[21] != '+' && s[21] != '-') || digits(s, 2, &d) || !(mo = month_of(s + 3)) || digits(s + 7, 4, &y) ||
        digits(s + 12, 2, &h) || digits(s + 15, 2, &mi) || digits(s + 18, 2, &se) || digits(s + 22, 2, &oh) ||
        digits(s + 24, 2, &om) || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60 || oh > 23 || om > 59)
        return -1;
    int64_t days = ff_days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + se - (s[21] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    *us = secs * 1000000;
    return 0;
}

/* "GET /path?q HTTP/1.1" into method, target, protocol; "-" (no request) leaves them empty. */
static void split_request(struct log_line *l)
{
    struct cursor c = {l->request.p, l->request.p + l->request.len};
    if (l->request.len == 1 && l->request.p[0] == '-') return;
    if (take_token(&c, &l->method) || space(&c) || take_token(&c, &l->target)) {
        l->method = l->target = (struct ff_str){"", 0};
        return;
    }
    if (!space(&c)) take_token(&c, &l->protocol);
}

static const char *parse_text(const char *p, size_t n, int combined, struct log_line *l, const char **field)
{
    struct cursor c = {p, p + n};
    struct ff_str ident, status, bytes;
    *field = "host";
    if (take_token(&c, &l->host) || space(&c)) return "expected the client address, then a space";
    *field = "ident";
    if (take_token(&c, &ident) || space(&c)) return "expected the ident field (often -)";
    *field = "user";
    if (take_token(&c, &l->user) || space(&c)) return "expected the user field (often -)";
    *field = "time";
    if (take_bracketed(&c, &l->time)) return "expected [time]";
    if (parse_clf_time(l->time, &l->ts)) return "time is not dd/Mon/yyyy:hh:mm:ss +zzzz";
    *field = "request";
    if (space(&c) || take_quoted(&c, &l->request)) return "expected the \"request\" in quotes";
    *field = "status";
    if (space(&c) || take_token(&c, &status) || status.len != 3 || digits(status.p, 3, &l->status))
        return "expected a three-digit status";
    *field = "bytes";
    if (space(&c) || take_token(&c, &bytes)) return "expected the response size (or -)";
    l->bytes = 0;
    if (!(bytes.len == 1 && bytes.p[0] == '-')) {
        for (uint32_t i = 0; i < bytes.len; i++) {
            if (bytes.p[i] < '0' || bytes.p[i] > '9' || i > 15) return "the response size is not a number";
            l->bytes = l->bytes * 10 + (bytes.p[i] - '0');
        }
    }
    if (combined) {
        *field = "referer";
        if (space(&c) || take_quoted(&c, &l->referrer)) return "expected the \"referer\" in quotes (combined format)";
        *field = "user-agent";
        if (space(&c) || take_quoted(&c, &l->user_agent)) return "expected the \"user-agent\" in quotes (combined format)";
    } else if (c.p != c.end) {
        *field = "";
        return "more fields than the common format has (is it --format combined?)";
    }
    split_request(l);
    return NULL;
}

/* ---- JSON lines ---- */

static struct ff_str jstr(const struct ff_json_doc *d, uint32_t obj, const char *const *names)
{
    for (int i = 0; names[i]; i++) {
        const char *s;
        uint32_t n;
        if (ff_json_str(d, ff_json_get(d, obj, names[i]), &s, &n)) return (struct ff_str){s, n};
    }
    return (struct ff_str){"", 0};
}

static int jnum(const struct ff_json_doc *d, uint32_t obj, const char *const *names, double *out)
{
    for (int i = 0; names[i]; i++) {
        uint32_t k = ff_json_get(d, obj, names[i]);
        if (k == FF_JSON_NONE) continue;
        const struct ff_json_node *nd = &d->nodes[k];
        if (nd->type == FF_JSON_INT) *out = (double)nd->v.i;
        else if (nd->type == FF_JSON_UINT) *out = (double)nd->v.u;
        else if (nd->type == FF_JSON_DOUBLE) *out = nd->v.d;
        else if (nd->type == FF_JSON_STRING) {
            char buf[32];
            if (nd->len == 0 || nd->len >= sizeof buf) continue;
            memcpy(buf, nd->v.s, nd->len);
            buf[nd->len] = '\0';
            char *end;
            *out = strtod(buf, &end);
            if (*end) continue;
        } else {
            continue;
        }
        return 0;
    }
    return -1;
}

/* The first value of a Caddy header ({"User-Agent": ["…"]}), or a plain string. */
static struct ff_str header(const struct ff_json_doc *d, uint32_t headers, const char *name)
{
    uint32_t k = ff_json_get(d, headers, name);
    if (k != FF_JSON_NONE && d->nodes[k].type == FF_JSON_ARRAY && d->nodes[k].end > k + 1) k = k + 1;
    const char *s;
    uint32_t n;
    return ff_json_str(d, k, &s, &n) ? (struct ff_str){s, n} : (struct ff_str){"", 0};
}

/* What parse_json says when the parser had no memory: the line is not at fault. */
static const char no_memory[] = "out of memory";

static const char *parse_json(const struct ff_ingest_ctx *ctx, const char *p, size_t n, struct ff_json_doc *d,
                              struct log_line *l, const char **field)
{
    const char *err = NULL;
    *field = "";
    int rc = ff_json_parse(ctx->parser, p, n, d, &err);
    if (rc == -ENOMEM) return no_memory;
    if (rc) return "line is not valid JSON";
    if (d->nodes[0].type != FF_JSON_OBJECT) return "line must be a JSON object";
    uint32_t req = ff_json_get(d, 0, "request"), hdrs = FF_JSON_NONE;
    if (req != FF_JSON_NONE && d->nodes[req].type == FF_JSON_OBJECT) { /* Caddy */
        static const char *const ip[] = {"client_ip", "remote_ip", "remote_addr", NULL}, *const m[] = {"method", NULL},
                                  *const uri[] = {"uri", NULL}, *const proto[] = {"proto", NULL};
        l->host = jstr(d, req, ip);
        l->method = jstr(d, req, m);
        l->target = jstr(d, req, uri);
        l->protocol = jstr(d, req, proto);
        hdrs = ff_json_get(d, req, "headers");
        if (hdrs != FF_JSON_NONE && d->nodes[hdrs].type == FF_JSON_OBJECT) {
            l->user_agent = header(d, hdrs, "User-Agent");
            l->referrer = header(d, hdrs, "Referer");
        }
    } else {
        static const char *const ip[] = {"remote_addr", "client_ip", "remote_ip", "ip", "host", NULL},
                                 *const rq[] = {"request", NULL}, *const m[] = {"request_method", "method", NULL},
                                 *const uri[] = {"request_uri", "uri", "path", NULL},
                                 *const proto[] = {"server_protocol", "protocol", NULL},
                                 *const ref[] = {"http_referer", "referer", "referrer", NULL},
                                 *const ua[] = {"http_user_agent", "user_agent", "userAgent", NULL};
        l->host = jstr(d, 0, ip);
        l->request = jstr(d, 0, rq);
        l->method = jstr(d, 0, m);
        l->target = jstr(d, 0, uri);
        l->protocol = jstr(d, 0, proto);
        l->referrer = jstr(d, 0, ref);
        l->user_agent = jstr(d, 0, ua);
        if (!l->target.len && l->request.len) split_request(l);
    }
    static const char *const user[] = {"remote_user", "user", "user_id", NULL};
    l->user = jstr(d, 0, user);
    /* time: ISO 8601, the common log format's, or epoch seconds (Caddy's ts) */
    static const char *const tnames[] = {"time_iso8601", "time", "timestamp", "@timestamp", "time_local", NULL},
                             *const tsnum[] = {"ts", "msec", "timestamp", "time", NULL};
    struct ff_str t = jstr(d, 0, tnames);
    double secs;
    *field = "time";
    if (t.len) {
        if (ff_time_parse_iso(t.p, t.len, &l->ts) && parse_clf_time(t, &l->ts))
            return "time is neither ISO 8601 nor dd/Mon/yyyy:hh:mm:ss +zzzz";
    } else if (!jnum(d, 0, tsnum, &secs) && secs > 0 && secs < 1e11) {
        l->ts = (int64_t)(secs * 1e6);
    } else {
        return "no time (time_iso8601, time_local, timestamp or ts)";
    }
    static const char *const st[] = {"status", "status_code", NULL}, *const by[] = {"body_bytes_sent", "bytes_sent", "size", "bytes", NULL};
    double v;
    *field = "status";
    if (jnum(d, 0, st, &v) || v < 100 || v > 999) return "no status (status) from 100 to 999";
    l->status = (int)v;
    l->bytes = jnum(d, 0, by, &v) || v < 0 ? 0 : (int64_t)v;
    *field = "";
    return NULL;
}

/* ---- the event ---- */

static int put_member(struct ff_buf *o, const char *name, struct ff_str v, int *first)
{
    if (!v.len) return 0;
    int rc = ff_buf_printf(o, "%s\"%s\":", *first ? "" : ",", name);
    *first = 0;
    return rc ? rc : ff_json_write_str(o, v.p, v.len);
}

/* A salt for the line's own day, made from today's: a visitor is one within a day and
 * cannot be followed across days, old lines included. */
struct day_salt {
    int32_t day;
    uint8_t salt[32];
};

static const uint8_t *salt_for(const struct ff_ingest_ctx *ctx, int64_t ts, struct day_salt *cache)
{
    if (!ctx->visitor_salt) return NULL;
    int32_t day = ff_day_of(ts);
    if (day == ff_day_of(ctx->received_at_us)) return ctx->visitor_salt;
    if (cache->day != day) {
        unsigned char msg[4] = {(unsigned char)day, (unsigned char)(day >> 8), (unsigned char)(day >> 16),
                                (unsigned char)(day >> 24)};
        crypto_generichash(cache->salt, 32, msg, sizeof msg, ctx->visitor_salt, 32);
        cache->day = day;
    }
    return cache->salt;
}

static int add_line(const struct ff_ingest_ctx *ctx, struct ff_batch *b, const struct ff_project *pr, int64_t line,
                    const char *raw, size_t raw_len, struct log_line *l, struct day_salt *salts, struct failure *f)
{
    struct ff_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = FF_EV_PAGE;
    ev.format = FF_FMT_LOG;
    ev.received_at_us = ctx->received_at_us;
    ev.timestamp_us = ev.original_timestamp_us = l->ts;
    ev.sent_at_us = FF_TIME_NONE;
    ev.write_key = ctx->write_key;
    if (pr) ev.project = (struct ff_str){pr->id, (uint32_t)strlen(pr->id)};
    if (l->user.len && !(l->user.len == 1 && l->user.p[0] == '-')) ev.user_id = l->user;
    if (l->host.len == 1 && l->host.p[0] == '-') l->host.len = 0;
    if (l->referrer.len == 1 && l->referrer.p[0] == '-') l->referrer.len = 0;
    if (l->user_agent.len == 1 && l->user_agent.p[0] == '-') l->user_agent.len = 0;
    const char *q = memchr(l->target.p ? l->target.p : "", '?', l->target.len);
    struct ff_str path = {l->target.p, q ? (uint32_t)(q - l->target.p) : l->target.len};
    struct ff_str search = {q ? q : "", q ? (uint32_t)(l->target.p + l->target.len - q) : 0};
    ev.name = path;
    char mid[48];
    snprintf(mid, sizeof mid, "log-%016llx-%lld", (unsigned long long)XXH3_64bits(raw, raw_len), (long long)line);
    ev.message_id = (struct ff_str){mid, (uint32_t)strlen(mid)};

    size_t s0 = b->scratch.len;
    struct ff_buf *o = &b->scratch;
    int first = 1, rc = ff_buf_putc(o, '{');
    if (!rc) rc = put_member(o, "path", path, &first);
    if (!rc) rc = put_member(o, "url", l->target, &first);
    if (!rc) rc = put_member(o, "search", search, &first);
    if (!rc) rc = put_member(o, "method", l->method, &first);
    if (!rc) rc = ff_buf_printf(o, "%s\"status\":%d,\"bytes\":%lld", first ? "" : ",", l->status, (long long)l->bytes);
    first = 0;
    if (!rc) rc = put_member(o, "protocol", l->protocol, &first);
    if (!rc) rc = put_member(o, "referrer", l->referrer, &first);
    if (!rc) rc = ff_buf_putc(o, '}');
    size_t props_end = o->len;
    first = 1;
    if (!rc) rc = ff_buf_putc(o, '{');
    if (!rc) rc = put_member(o, "ip", l->host, &first);
    if (!rc) rc = put_member(o, "userAgent", l->user_agent, &first);
    if (!rc) rc = ff_buf_printf(o, "%s\"page\":{", first ? "" : ",");
    int pfirst = 1;
    if (!rc) rc = put_member(o, "path", path, &pfirst);
    if (!rc) rc = put_member(o, "url", l->target, &pfirst);
    if (!rc) rc = put_member(o, "search", search, &pfirst);
    if (!rc) rc = put_member(o, "referrer", l->referrer, &pfirst);
    if (!rc) rc = ff_buf_printf(o, "},\"log\":{\"line\":%lld}}", (long long)line);
    if (rc) {
        b->scratch.len = s0;
        return rc;
    }
    ev.properties = (struct ff_str){o->data + s0, (uint32_t)(props_end - s0)};
    ev.context = (struct ff_str){o->data + props_end, (uint32_t)(o->len - props_end)};
    const uint8_t *salt = pr && pr->cookieless && !ev.user_id.len ? salt_for(ctx, l->ts, salts) : NULL;
    rc = finish_event(ctx, b, pr, &ev, salt, 0, f);
    b->scratch.len = s0;
    return rc;
}

int ff_ingest_access_log(const struct ff_ingest_ctx *ctx, int log_format, int64_t first_line, const char *body,
                         size_t len, struct ff_batch *b)
{
    /* Log lines carry no key: the request's opens the project (or the keyless one), unless
     * the caller chose it (import-log into a data directory). */
    const struct ff_project *pr = ctx->project;
    struct failure f = {.field = ""};
    if (!pr && resolve_project(ctx, ctx->write_key, &pr, &f))
        return batch_add_failure(b, ctx, -1, "line", f, "", 0); /* refused as a whole */
    struct day_salt salts = {INT32_MIN, {0}};
    int64_t line = first_line - 1;
    size_t pos = 0;
    int rc = 0;
    while (pos < len && !rc) {
        line++;
        const char *nl = memchr(body + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - body) : len, l = end - pos;
        const char *p = body + pos;
        pos = nl ? end + 1 : len;
        if (l && p[l - 1] == '\r') l--;
        if (l == 0) continue;
        struct log_line ll;
        memset(&ll, 0, sizeof ll);
        struct ff_json_doc doc;
        const char *field = "", *why = log_format == FF_LOG_JSON ? parse_json(ctx, p, l, &doc, &ll, &field)
                                                                  : parse_text(p, l, log_format == FF_LOG_COMBINED, &ll, &field);
        if (why == no_memory) return -ENOMEM;
        f = (struct failure){.error = why, .field = field, .project = pr};
        if (!why) rc = add_line(ctx, b, pr, line, p, l, &ll, &salts, &f);
        if (why || rc == FF_EINVAL) rc = batch_add_failure(b, ctx, line > INT32_MAX ? INT32_MAX : (int32_t)line, "line", f, p, l);
    }
    return rc;
}
