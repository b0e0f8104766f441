/* routes.c - which handler answers which request, and the ingest endpoints:
 *
 *   POST /api/track                  the requirements document's {"event", "data"}
 *   POST /v1/{track,page,screen,identify,group,alias,batch}   Segment HTTP Tracking API
 *   GET  /p.gif, /v1/pixel/{type}    tracking pixel
 *   POST /api/import                 NDJSON back-fill
 *   POST /api/import-log?format=combined|common|json&line=N&file=NAME   access-log lines (import-log,
 *                                    tail-log)
 *   GET  /t.js                       the browser tracker (web/assets.h)
 *
 * The read endpoints (events, quarantine, stats, metrics, health) are in api.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/errors.h"
#include "core/json.h"
#include "core/metrics.h"
#include "core/textcodec.h"
#include "net/access.h"
#include "net/api.h"
#include "net/server.h"
#include "web/assets.h"

enum route {
    R_NONE, R_SEED, R_SEGMENT, R_SEGMENT_BATCH, R_PIXEL, R_IMPORT, R_LOG,
};

/* A 1×1 transparent GIF. */
static const unsigned char gif[] = {
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff,
    0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
    0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
};

static void respond_gif(struct ff_conn *c, int status)
{
    /* a 503 (the log could not be written) says when to retry, as the JSON routes' do */
    ff_respond(c, status, "image/gif", (const char *)gif, sizeof gif,
               status == 503 ? "Cache-Control: no-cache, no-store, must-revalidate\r\nRetry-After: 1\r\n"
                             : "Cache-Control: no-cache, no-store, must-revalidate\r\n");
}

/* "1" (DNT) or "1" (Sec-GPC): the person asks not to be tracked. */
static int header_is_1(struct ff_conn *c, enum ff_hdr h)
{
    size_t n = 0;
    const char *v = ff_req_header(c, h, &n);
    return v && n == 1 && v[0] == '1';
}

/* The line number of the body's first line (line=N; 1 when absent or not a number). */
static int64_t log_first_line(const char *query, size_t qlen)
{
    struct ff_buf v;
    ff_buf_init(&v, 64);
    long long n = 1;
    if (ff_query_get(query, qlen, "line", &v) && v.len && v.len < 19) {
        char buf[20];
        memcpy(buf, v.data, v.len);
        buf[v.len] = '\0';
        char *end;
        n = strtoll(buf, &end, 10);
        if (*end || n < 1) n = 1;
    }
    ff_buf_free(&v);
    return n;
}

/* `source` (R_LOG): the file= the quarantined lines' reasons are to name, or empty. */
static void ingest(struct ff_conn *c, int route, int format, int type, const char *query, size_t qlen,
                   struct ff_str source)
{
    struct ff_buf authbuf;
    ff_buf_init(&authbuf, 4096);
    struct ff_ingest_ctx ctx = {
        .received_at_us = c->req.received_at_us,
        /* the write key as Segment's SDKs send it: "Authorization: Basic base64(key:)" */
        .write_key = ff_basic_auth_user(c, &authbuf),
        .parser = c->loop->json,
        .enrich = c->loop->srv->enrich,
        .projects = ff_loop_projects(c->loop, c->req.received_at_us),
        .do_not_track = header_is_1(c, FF_HDR_DNT) || header_is_1(c, FF_HDR_SEC_GPC),
        .visitor_salt = ff_loop_visitor_salt(c->loop, c->req.received_at_us),
        .source = source,
    };
    if (ctx.projects) ctx.project = ff_projects_by_write_key(ctx.projects, ctx.write_key.p, ctx.write_key.len,
                                                             ctx.received_at_us);
    size_t olen = 0;
    const char *origin = ff_req_header(c, FF_HDR_ORIGIN, &olen);
    if (origin) ctx.origin = (struct ff_str){origin, (uint32_t)olen};
    size_t ualen = 0;
    const char *ua = ff_req_header(c, FF_HDR_USER_AGENT, &ualen);
    if (ua) ctx.user_agent = (struct ff_str){ua, (uint32_t)ualen};
    ctx.peer_ip = (struct ff_str){c->peer_ip, (uint32_t)strlen(c->peer_ip)};
    ff_batch_reset(&c->batch, format);
    c->route = route;
    int rc;
    if (route == R_PIXEL) {
        rc = ff_ingest_pixel(&ctx, type, query, qlen, &c->batch);
    } else {
        size_t elen = 0;
        const char *enc = ff_req_header(c, FF_HDR_CONTENT_ENCODING, &elen);
        const char *body;
        size_t blen;
        /* Decoded, a body may be 8x its wire limit; an import, up to the import limit. */
        const struct ff_http_limits *l = &c->loop->srv->opts.limits;
        c->decoded.max = (route == R_IMPORT || route == R_LOG) && l->max_import_bytes > l->max_body_bytes * 8 ? l->max_import_bytes
                                                                                         : l->max_body_bytes * 8;
        size_t raw_len;
        const char *raw = ff_req_body(c, &raw_len);
        rc = ff_body_decode(enc ? enc : "", elen, raw, raw_len, &c->decoded, &body, &blen);
        if (rc == FF_EINVAL) {
            rc = ff_ingest_reject(&ctx, &c->batch, "body could not be decoded for its Content-Encoding",
                                  "Content-Encoding", raw, raw_len);
        } else if (!rc) {
            switch (route) {
            case R_SEED: rc = ff_ingest_seed(&ctx, body, blen, &c->batch); break;
            case R_SEGMENT: rc = ff_ingest_segment(&ctx, type, body, blen, &c->batch); break;
            case R_SEGMENT_BATCH: rc = ff_ingest_segment(&ctx, 0, body, blen, &c->batch); break;
            case R_LOG: rc = ff_ingest_access_log(&ctx, type, log_first_line(query, qlen), body, blen, &c->batch); break;
            default: rc = ff_ingest_import(&ctx, body, blen, &c->batch); break;
            }
        }
    }
    /* The batch now holds copies of everything it needs (the write key included). */
    ff_buf_free(&authbuf);
    if (rc == FF_ETOOBIG) {
        char msg[128];
        snprintf(msg, sizeof msg, "decoded body is larger than the limit of %zu bytes", c->decoded.max);
        ff_respond_error(c, 413, msg, "body", NULL);
        return;
    }
    if (rc) {
        ff_respond_error(c, 503, "out of memory while decoding the request", "", "Retry-After: 1\r\n");
        return;
    }
    c->cors_denied = c->batch.refused_status == 403;
    /* Over a limit, nothing of the request is kept: the client retries it whole. */
    if (c->batch.accepted && ff_rate_check(c, c->batch.project, c->batch.accepted)) return;
    if (c->batch.nitems == 0) {
        c->wal_req.status = 0;
        c->wal_req.stored = c->wal_req.duplicates = c->wal_req.quarantined = 0;
        ff_route_wal_done(c);
        return;
    }
    ff_loop_submit(c);
}

void ff_route_wal_done(struct ff_conn *c)
{
    struct ff_wal_req *r = &c->wal_req;
    struct ff_batch *b = &c->batch;
    if (r->status) {
        const char *why = r->status == -ENOSPC ? "storage is full" : "storage write failed";
        char msg[160];
        snprintf(msg, sizeof msg, "%s (%s): nothing of this request was stored; retry later", why,
                 ff_strerror(r->status));
        if (c->route == R_PIXEL) respond_gif(c, 503);
        else ff_respond_error(c, 503, msg, "", "Retry-After: 1\r\n");
        return;
    }
    ff_counter_add(ff_metrics.stored[b->format], r->stored);
    ff_counter_add(ff_metrics.deduplicated[b->format], r->duplicates);
    ff_counter_add(ff_metrics.quarantined[b->format], r->quarantined);

    int all_failed = (b->failed > 0 || b->refused > 0) && b->accepted == 0 && b->not_tracked == 0;
    /* Refused for its key or origin and nothing else wrong: 401 or 403, not 400. */
    int status = !all_failed ? 200 : b->failed ? 400 : b->refused_status;
    if (c->route == R_PIXEL) {
        respond_gif(c, status);
        return;
    }
    struct ff_buf o;
    ff_buf_init(&o, b->failures.max + 4096);
    int rc = 0;
    int listed = c->route == R_SEGMENT_BATCH || c->route == R_IMPORT || c->route == R_LOG;
    if (all_failed) {
        rc = ff_buf_append_str(&o, c->route == R_SEED ? "{\"status\":\"error\",\"error\":" : "{\"success\":false,\"error\":");
        const char *error = b->error ? b->error : "invalid";
        if (!rc) rc = ff_json_write_str(&o, error, strlen(error));
        if (!rc) rc = ff_buf_append_str(&o, ",\"field\":");
        if (!rc) rc = ff_json_write_str(&o, b->field, strlen(b->field));
        if (!rc) rc = ff_buf_append_str(&o, b->failed ? ",\"quarantined\":true" : ",\"quarantined\":false");
    } else if (c->route == R_SEED) {
        rc = ff_buf_append_str(&o, "{\"status\":\"success\"");
    } else {
        rc = ff_buf_append_str(&o, "{\"success\":true");
    }
    if (!rc && listed) {
        rc = ff_buf_printf(&o, ",\"accepted\":%u,\"duplicates\":%u,\"failed\":[", b->accepted, r->duplicates);
        if (!rc) rc = ff_buf_append(&o, b->failures.data, b->failures.len);
        if (!rc) rc = ff_buf_putc(&o, ']');
    }
    if (!rc) rc = ff_buf_putc(&o, '}');
    if (rc) ff_respond_error(c, 503, "out of memory while answering", "", "Retry-After: 1\r\n");
    else ff_respond(c, status, "application/json", o.data, o.len, NULL);
    ff_buf_free(&o);
}

static int path_is(const char *p, size_t n, const char *want)
{
    size_t w = strlen(want);
    /* A trailing slash is tolerated: some SDKs add one. */
    return (n == w || (n == w + 1 && p[w] == '/')) && memcmp(p, want, w) == 0;
}

static void method_not_allowed(struct ff_conn *c, const char *allow)
{
    char hdr[64];
    snprintf(hdr, sizeof hdr, "Allow: %s, OPTIONS\r\n", allow);
    ff_respond_error(c, 405, "method not allowed", "method", hdr);
}

static void preflight(struct ff_conn *c)
{
    size_t n = 0;
    const char *h = ff_req_header(c, FF_HDR_ACR_HEADERS, &n);
    if (!h || !n || n > 512) h = "Content-Type, Authorization, Content-Encoding", n = strlen(h);
    char extra[1024];
    snprintf(extra, sizeof extra,
             "Access-Control-Allow-Methods: GET, POST, PUT, DELETE, OPTIONS\r\nAccess-Control-Max-Age: 86400\r\n"
             "Access-Control-Allow-Headers: %.*s\r\n",
             (int)n, h);
    ff_respond(c, 204, NULL, "", 0, extra);
}

/* 1 when the header's comma-separated list has `token` (case-insensitive), ignoring
 * parameters such as ";q=0.5" (a q of 0 refuses, which no browser sends for gzip). */
static int header_has_token(struct ff_conn *c, enum ff_hdr h, const char *token)
{
    size_t n = 0, tl = strlen(token);
    const char *v = ff_req_header(c, h, &n);
    for (size_t i = 0; v && i < n;) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
        size_t j = i;
        while (j < n && v[j] != ',' && v[j] != ';' && v[j] != ' ') j++;
        if (j - i == tl && strncasecmp(v + i, token, tl) == 0) return 1;
        while (j < n && v[j] != ',') j++;
        i = j;
    }
    return 0;
}

/* An embedded file: 304 when the client's copy is current, else the file, gzipped when the
 * client takes it. Each encoding has its own validator ("…" and "…-gz"), as a cache may
 * keep both. */
static void serve_asset(struct ff_conn *c, const struct ff_asset *a)
{
    int gz = header_has_token(c, FF_HDR_ACCEPT_ENCODING, "gzip");
    char etag[40], extra[768];
    snprintf(etag, sizeof etag, "\"%s%s\"", a->etag, gz ? "-gz" : "");
    snprintf(extra, sizeof extra, "ETag: %s\r\nCache-Control: %s\r\nVary: Accept-Encoding\r\n%s", etag,
             a->cache_control, a->headers);
    size_t n = 0, elen = strlen(extra);
    const char *inm = ff_req_header(c, FF_HDR_IF_NONE_MATCH, &n);
    if (inm && (memmem(inm, n, etag, strlen(etag)) || (n == 1 && inm[0] == '*'))) {
        ff_respond(c, 304, NULL, "", 0, extra);
        return;
    }
    if (gz) {
        snprintf(extra + elen, sizeof extra - elen, "Content-Encoding: gzip\r\n");
        ff_respond(c, 200, a->content_type, (const char *)a->gz, a->gz_len, extra);
    } else {
        ff_respond(c, 200, a->content_type, (const char *)a->data, a->len, extra);
    }
}

/* The demo shop, any path under /demo (it is a single-page app), with the default
 * project's write key in its tracker tag. */
static void serve_demo(struct ff_conn *c)
{
    static const char mark[] = "{{WRITE_KEY}}";
    const struct ff_asset *a = ff_asset_find("/demo", 5);
    const struct ff_projects *ps = ff_loop_projects(c->loop, c->req.received_at_us);
    struct ff_str key = ps ? ff_projects_write_key(ps, FF_DEFAULT_PROJECT, c->req.received_at_us) : (struct ff_str){NULL, 0};
    const char *at = a ? memmem(a->data, a->len, mark, sizeof mark - 1) : NULL;
    if (!at || !key.len) {
        ff_respond_error(c, 503, "the demo shop needs the default project and a write key of it", "", NULL);
        return;
    }
    struct ff_buf b;
    ff_buf_init(&b, (size_t)1 << 20);
    size_t head = (size_t)(at - (const char *)a->data);
    if (ff_buf_append(&b, a->data, head) || ff_buf_append(&b, key.p, key.len) ||
        ff_buf_append(&b, at + sizeof mark - 1, a->len - head - (sizeof mark - 1)))
        ff_respond_error(c, 503, "out of memory", "", "Retry-After: 1\r\n");
    else
        ff_respond(c, 200, a->content_type, b.data, b.len, "Cache-Control: no-cache\r\n");
    ff_buf_free(&b);
}

void ff_route(struct ff_conn *c)
{
    const char *url = c->req.url.data ? c->req.url.data : "/";
    size_t ulen = c->req.url.len;
    const char *qmark = memchr(url, '?', ulen);
    size_t plen = qmark ? (size_t)(qmark - url) : ulen;
    const char *query = qmark ? qmark + 1 : "";
    size_t qlen = qmark ? ulen - plen - 1 : 0;
    int m = c->req.method, post = m == HTTP_POST, get = m == HTTP_GET || m == HTTP_HEAD;
    c->cors_denied = 0;

    if (m == HTTP_OPTIONS) {
        preflight(c);
        return;
    }
    if (path_is(url, plen, "/api/track")) {
        if (post) ingest(c, R_SEED, FF_FMT_SEED, FF_EV_TRACK, NULL, 0, (struct ff_str){0});
        else method_not_allowed(c, "POST");
        return;
    }
    if (plen > 4 && memcmp(url, "/v1/", 4) == 0 && memchr(url + 4, '/', plen - 4) == NULL) {
        int type = ff_event_type_parse(url + 4, plen - 4);
        int batch = plen - 4 == 5 && memcmp(url + 4, "batch", 5) == 0;
        if (type || batch) {
            if (post) ingest(c, batch ? R_SEGMENT_BATCH : R_SEGMENT, FF_FMT_SEGMENT, type, NULL, 0, (struct ff_str){0});
            else method_not_allowed(c, "POST");
            return;
        }
    }
    if (path_is(url, plen, "/p.gif") || (plen > 10 && memcmp(url, "/v1/pixel/", 10) == 0)) {
        int type = plen > 10 && url[1] == 'v' ? ff_event_type_parse(url + 10, plen - 10) : 0;
        if (url[1] == 'v' && !type) {
            ff_respond_error(c, 404, "unknown pixel type", "path", NULL);
        } else if (m == HTTP_HEAD) {
            respond_gif(c, 200); /* a HEAD (link checkers, prefetchers) is not an event */
        } else if (get) {
            ingest(c, R_PIXEL, FF_FMT_PIXEL, type, query, qlen, (struct ff_str){0});
        } else {
            method_not_allowed(c, "GET");
        }
        return;
    }
    if (path_is(url, plen, "/api/import-log")) {
        struct ff_buf v, file;
        ff_buf_init(&v, 64);
        int fmt = ff_query_get(query, qlen, "format", &v) ? ff_log_format_parse(v.data ? v.data : "", v.len) : -1;
        ff_buf_free(&v);
        ff_buf_init(&file, qlen + 1); /* decoded, no longer than the query: only memory stops it */
        ff_query_get(query, qlen, "file", &file);
        if (!post) {
            method_not_allowed(c, "POST");
        } else if (fmt < 0) {
            ff_respond_error(c, 400, "format must be combined, common or json", "format", NULL);
        } else if (file.len > FF_LOG_SOURCE_MAX) {
            char msg[96];
            snprintf(msg, sizeof msg, "file (the log's name) is %zu bytes, more than %d", file.len, FF_LOG_SOURCE_MAX);
            ff_respond_error(c, 400, msg, "file", NULL);
        } else {
            /* the batch takes copies: `file` may go when ingest returns */
            ingest(c, R_LOG, FF_FMT_LOG, fmt, query, qlen, (struct ff_str){file.data, (uint32_t)file.len});
        }
        ff_buf_free(&file);
        return;
    }
    if (path_is(url, plen, "/api/import")) {
        if (post) ingest(c, R_IMPORT, FF_FMT_IMPORT, 0, NULL, 0, (struct ff_str){0});
        else method_not_allowed(c, "POST");
        return;
    }
    if (ff_api_route(c, url, plen, query, qlen)) return;
    if (path_is(url, plen, "/demo") || (plen > 6 && memcmp(url, "/demo/", 6) == 0)) {
        if (!c->loop->srv->opts.demo) ff_respond_error(c, 404, "the demo shop is off (footfall serve --demo on)", "path", NULL);
        else if (get) serve_demo(c);
        else method_not_allowed(c, "GET, HEAD");
        return;
    }
    const struct ff_asset *a = ff_asset_find(url, plen);
    if (a) {
        if (get) serve_asset(c, a);
        else method_not_allowed(c, "GET, HEAD");
        return;
    }
    ff_respond_error(c, 404, "no such endpoint", "path", NULL);
}
