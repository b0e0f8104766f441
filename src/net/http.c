/* http.c - HTTP/1.1 connections over libuv with llhttp (see http.h). */
#include "net/http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/errors.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "net/server.h"

static const char *const hdr_names[FF_HDR_COUNT] = {
    "content-type", "content-encoding", "authorization", "origin", "access-control-request-headers", "expect",
    "user-agent", "dnt", "sec-gpc", "accept-encoding", "if-none-match",
};

static struct ff_conn *conn_of(llhttp_t *p) { return (struct ff_conn *)p->data; }

static const struct ff_http_limits *limits(const struct ff_conn *c) { return &c->loop->srv->opts.limits; }

static int count_header_bytes(struct ff_conn *c, size_t n)
{
    c->req.header_bytes += n;
    if (c->req.header_bytes > limits(c)->max_header_bytes) {
        c->reject_status = 431;
        return -1;
    }
    return 0;
}

static int on_message_begin(llhttp_t *p)
{
    struct ff_conn *c = conn_of(p);
    struct ff_http_request *r = &c->req;
    ff_buf_reset(&r->url);
    ff_buf_reset(&r->hdrs);
    ff_buf_reset(&r->field);
    ff_buf_reset(&r->body);
    r->body_at = NULL;
    r->body_at_len = 0;
    memset(r->hdr_seen, 0, sizeof r->hdr_seen);
    r->cur_hdr = -1;
    r->header_bytes = 0;
    r->received_at_us = ff_now_us();
    r->start_ns = ff_mono_ns();
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
    struct ff_conn *c = conn_of(p);
    if (count_header_bytes(c, n)) return -1;
    return ff_buf_append(&c->req.url, at, n) ? -1 : 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    struct ff_conn *c = conn_of(p);
    if (count_header_bytes(c, n)) return -1;
    return ff_buf_append(&c->req.field, at, n) ? -1 : 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    struct ff_conn *c = conn_of(p);
    struct ff_http_request *r = &c->req;
    r->cur_hdr = -1;
    for (int h = 0; h < FF_HDR_COUNT; h++) {
        if (strlen(hdr_names[h]) == r->field.len && strncasecmp(hdr_names[h], r->field.data, r->field.len) == 0) {
            r->cur_hdr = h;
            /* A repeated header: the last one wins, as for most servers. */
            r->hdr_seen[h] = 1;
            r->hdr_off[h] = (uint32_t)r->hdrs.len;
            r->hdr_len[h] = 0;
        }
    }
    ff_buf_reset(&r->field);
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    struct ff_conn *c = conn_of(p);
    if (count_header_bytes(c, n)) return -1;
    struct ff_http_request *r = &c->req;
    if (r->cur_hdr < 0) return 0;
    if (ff_buf_append(&r->hdrs, at, n)) return -1;
    r->hdr_len[r->cur_hdr] += (uint32_t)n;
    return 0;
}

static size_t body_limit(const struct ff_conn *c)
{
    const char *u = c->req.url.data;
    size_t ulen = c->req.url.len;
    if (u && ulen >= 11 && memcmp(u, "/api/import", 11) == 0 && (ulen == 11 || u[11] == '?'))
        return limits(c)->max_import_bytes;
    return limits(c)->max_body_bytes;
}

/* Every buffer is capped per connection; this caps them all together: past the budget, new
 * request bytes are refused with 503 (and Retry-After) rather than risk running out. */
static int over_memory_budget(struct ff_conn *c, size_t more)
{
    uint64_t budget = limits(c)->max_memory_bytes;
    if (!budget || ff_mem_in_use() + more <= budget) return 0;
    c->reject_status = 503;
    return 1;
}

static int on_headers_complete(llhttp_t *p)
{
    struct ff_conn *c = conn_of(p);
    size_t cap = body_limit(c);
    c->req.body.max = cap;
    if (!(p->flags & F_CHUNKED) && p->content_length > cap) {
        c->reject_status = 413;
        return -1;
    }
    if (over_memory_budget(c, (size_t)p->content_length)) return -1;
    size_t elen;
    const char *expect = ff_req_header(c, FF_HDR_EXPECT, &elen);
    if (expect && elen == 12 && strncasecmp(expect, "100-continue", 12) == 0 && !c->loop->fake_io) {
        /* curl waits a second for this before sending a body over 1 KiB. */
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        uv_buf_t b = uv_buf_init((char *)cont, sizeof cont - 1);
        (void)uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    }
    /* Reserve now so an empty body is still a padded, non-NULL buffer. */
    if (ff_buf_reserve(&c->req.body, 0)) return -1;
    return 0;
}

/* Appends body bytes to the request's buffer; a failure sets the status to answer (413 past
 * the body limit, 503 out of memory). */
static int append_body(struct ff_conn *c, const char *at, size_t n)
{
    int rc = ff_buf_append(&c->req.body, at, n);
    if (rc == FF_ETOOBIG) c->reject_status = 413;
    else if (rc) c->reject_status = 503;
    return rc;
}

/* The body seen so far moves into its buffer: the input it lies in is about to be reused. */
static int keep_body(struct ff_conn *c)
{
    const char *at = c->req.body_at;
    if (!at) return 0;
    c->req.body_at = NULL;
    return append_body(c, at, c->req.body_at_len);
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    struct ff_conn *c = conn_of(p);
    if (over_memory_budget(c, n)) return -1;
    /* A body that came in one piece is read where it lies (batches of 50 KB were copied). */
    if (!c->req.body.len && !c->req.body_at && n <= c->req.body.max && c->input_end &&
        (size_t)(c->input_end - at) >= n + FF_BUF_PAD) {
        c->req.body_at = at;
        c->req.body_at_len = n;
        return 0;
    }
    return keep_body(c) || append_body(c, at, n) ? -1 : 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct ff_conn *c = conn_of(p);
    c->in_request = 0;
    c->busy = 1;
    /* Upgrades are not offered: answer, then close (llhttp would take what follows an
     * Upgrade request as another protocol). */
    c->keep_alive = llhttp_should_keep_alive(p) && !c->loop->stopping && !p->upgrade;
    c->req.method = (uint8_t)p->method;
    if (!c->loop->fake_io) uv_timer_stop(&c->timer);
    /* Stop here and dispatch from process(): the rest of the input waits until this request
     * has been answered. */
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

const char *ff_req_header(const struct ff_conn *c, enum ff_hdr h, size_t *len)
{
    if (!c->req.hdr_seen[h]) return NULL;
    *len = c->req.hdr_len[h];
    return c->req.hdrs.data ? c->req.hdrs.data + c->req.hdr_off[h] : "";
}

static void on_timeout(uv_timer_t *t);
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

/* The most a decoded request body may be: gzip bodies may inflate to 8× the wire limit. */
static size_t batch_limit(const struct ff_conn *c)
{
    const struct ff_http_limits *l = limits(c);
    return l->max_import_bytes > l->max_body_bytes * 8 ? l->max_import_bytes : l->max_body_bytes * 8;
}

void ff_conn_init(struct ff_conn *c, struct ff_loop *loop)
{
    memset(c, 0, sizeof *c);
    c->loop = loop;
    llhttp_init(&c->parser, HTTP_REQUEST, &settings);
    c->parser.data = c;
    const struct ff_http_limits *l = &loop->srv->opts.limits;
    ff_buf_init(&c->req.url, l->max_header_bytes);
    ff_buf_init(&c->req.hdrs, l->max_header_bytes);
    ff_buf_init(&c->req.field, l->max_header_bytes);
    ff_buf_init(&c->req.body, l->max_body_bytes);
    ff_buf_init(&c->out, (size_t)1 << 32);
    ff_batch_init(&c->batch, FF_FMT_SEED, batch_limit(c));
    ff_buf_init(&c->decoded, l->max_body_bytes * 8);
    c->keep_alive = 1;
}

void ff_conn_destroy(struct ff_conn *c)
{
    ff_buf_free(&c->req.url);
    ff_buf_free(&c->req.hdrs);
    ff_buf_free(&c->req.field);
    ff_buf_free(&c->req.body);
    ff_buf_free(&c->out);
    ff_buf_free(&c->decoded);
    ff_batch_free(&c->batch);
    ff_free(c->pending);
    ff_free(c->stream_arg);
    struct ff_loop *loop = c->loop;
    ff_loop_conn_gone(loop, c);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct ff_conn *c = h->data;
    if (--c->handles == 0) ff_conn_destroy(c);
}

static void close_conn(struct ff_conn *c, int reset)
{
    if (c->closing) return;
    c->closing = 1;
    if (c->loop->fake_io) return; /* the harness frees it with ff_conn_destroy */
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    /* A reset drops what the kernel still holds to send, which a plain close would go on
     * trickling to a client that does not read. */
    if (!reset || uv_tcp_close_reset(&c->tcp, on_handle_closed)) uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

void ff_conn_close(struct ff_conn *c) { close_conn(c, 0); }

static void arm_timer(struct ff_conn *c, uint64_t ms)
{
    if (!c->loop->fake_io) uv_timer_start(&c->timer, on_timeout, ms, 0);
}

static void on_timeout(uv_timer_t *t)
{
    struct ff_conn *c = t->data;
    if (c->streaming) {
        if (c->closing || c->stream_gone) return;
        c->stream_tick(c);
        if (!c->closing && !c->stream_gone) arm_timer(c, c->stream_tick_ms);
        return;
    }
    if (c->lingering || c->writing) {
        close_conn(c, c->writing); /* an answer not read in time: abort it */
        return;
    }
    if (c->busy) return;
    if (c->in_request) {
        /* A client that started a request and stalled: tell it, then hang up (after a
         * lingering close, like the other refusals). */
        c->busy = 1;
        c->keep_alive = 0;
        c->reject_status = 408;
        ff_respond_error(c, 408, "request not completed in time", "", NULL);
        return;
    }
    ff_conn_close(c);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct ff_conn *c = h->data;
    (void)suggested;
    /* One buffer per loop: a read is parsed before the next read happens on this thread. */
    *buf = uv_buf_init(c->loop->readbuf, sizeof c->loop->readbuf);
}

static void reject(struct ff_conn *c)
{
    int status = c->reject_status;
    c->busy = 1;
    c->keep_alive = 0;
    if (!c->loop->fake_io) uv_read_stop((uv_stream_t *)&c->tcp);
    if (status == 413) {
        char msg[128];
        snprintf(msg, sizeof msg, "request body is larger than the limit of %zu bytes", body_limit(c));
        ff_respond_error(c, 413, msg, "body", NULL);
    } else if (status == 431) {
        ff_respond_error(c, 431, "request headers are too large", "headers", NULL);
    } else if (status == 503) {
        ff_respond_error(c, 503, "the server is using its whole memory budget (--max-memory-bytes); retry later", "",
                         "Retry-After: 1\r\n");
    } else {
        const char *why = llhttp_get_error_reason(&c->parser);
        char msg[256];
        snprintf(msg, sizeof msg, "malformed HTTP request: %s", why ? why : "parse error");
        ff_respond_error(c, 400, msg, "", NULL);
    }
}

static int keep_pending(struct ff_conn *c, const char *data, size_t len)
{
    char *p = ff_realloc(c->pending, c->pending_len + len);
    if (!p) return -1;
    memcpy(p + c->pending_len, data, len);
    c->pending = p;
    c->pending_len += len;
    return 0;
}

/* Parses and dispatches requests in data[0..len) until the data runs out or a request has
 * to wait for its answer; the rest is kept for later. */
static void process(struct ff_conn *c, const char *data, size_t len)
{
    for (;;) {
        if (c->closing) return;
        if (c->busy) {
            if (len && keep_pending(c, data, len)) c->keep_alive = 0;
            /* Reading goes on while a request is answered (stopping and restarting it cost
             * two epoll_ctl calls per request); only a client that piles up pipelined
             * bytes is paused. */
            if (c->pending_len > limits(c)->max_body_bytes + limits(c)->max_header_bytes && !c->read_paused &&
                !c->loop->fake_io) {
                uv_read_stop((uv_stream_t *)&c->tcp);
                c->read_paused = 1;
            }
            return;
        }
        if (!len) return;
        if (!c->in_request) {
            c->in_request = 1;
            c->request_deadline_ns = ff_mono_ns() + limits(c)->request_timeout_ms * 1000000u;
        }
        /* A request in progress must keep arriving (idle timeout) and be whole by its
         * deadline (request timeout), so neither a stalled nor a trickling client holds a
         * connection for long. */
        uint64_t now = ff_mono_ns(), left_ms = 0;
        if (c->request_deadline_ns > now) left_ms = (c->request_deadline_ns - now) / 1000000u + 1;
        arm_timer(c, left_ms < limits(c)->idle_timeout_ms ? left_ms : limits(c)->idle_timeout_ms);
        /* What may be read past the input: the rest of the loop's read buffer, if it is there. */
        const char *rb = c->loop->readbuf;
        c->input_end = data >= rb && data < rb + sizeof c->loop->readbuf ? rb + sizeof c->loop->readbuf : data + len;
        llhttp_errno_t err = llhttp_execute(&c->parser, data, len);
        c->input_end = NULL;
        if (err == HPE_OK) {
            /* the request goes on in the next read: what it has of its body cannot stay here */
            if (keep_body(c)) reject(c);
            return;
        }
        if (err != HPE_PAUSED) {
            if (!c->reject_status) c->reject_status = 400;
            reject(c);
            return;
        }
        const char *pos = llhttp_get_error_pos(&c->parser);
        size_t used = pos ? (size_t)(pos - data) : len;
        data += used;
        len -= used;
        c->dispatching = 1;
        ff_route(c);
        c->dispatching = 0;
        if (c->busy) continue; /* answered later (WAL, thread pool) */
        llhttp_resume(&c->parser);
    }
}

void ff_conn_feed(struct ff_conn *c, const char *data, size_t len) { process(c, data, len); }

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct ff_conn *c = s->data;
    if (n < 0) {
        if (c->streaming) { /* the reader of a stream went away */
            uv_read_stop(s);
            ff_stream_end(c);
            return;
        }
        if (c->busy && !c->lingering) {
            /* The client is done sending (or gone) while a request is with the WAL or the
             * thread pool, which still hold this connection: answer it and whatever it
             * pipelined before, then close (a half-closed client still reads). */
            c->peer_eof = 1;
            uv_read_stop(s);
            return;
        }
        ff_conn_close(c);
        return;
    }
    if (c->lingering) return; /* drained and dropped */
    if (n > 0) ff_conn_feed(c, buf->base, (size_t)n);
}

int ff_conn_start(struct ff_conn *c)
{
    c->tcp.data = c;
    c->timer.data = c;
    arm_timer(c, limits(c)->idle_timeout_ms);
    return uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status;
}

/* A request refused before its body was read (413, 431, 400, 408): the client may still be
 * sending, and closing now would reset the connection before it reads the answer. So shut
 * down our side and drain its bytes for a moment (nginx's "lingering close"). */
#define LINGER_MS 2000
static void linger(struct ff_conn *c)
{
    c->lingering = 1;
    c->shutdown_req.data = c;
    uv_read_stop((uv_stream_t *)&c->tcp);
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) ||
        uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read)) {
        ff_conn_close(c);
        return;
    }
    arm_timer(c, LINGER_MS);
}

/* After a response: shrink what a large request grew, then go on with the next request. */
static void request_finished(struct ff_conn *c)
{
    c->busy = 0;
    ff_hist_observe(&ff_metrics.request_duration, ff_mono_ns() - c->req.start_ns);
    if (c->closing) return; /* e.g. a write cancelled by the write timeout's close */
    if (c->reject_status && !c->loop->fake_io) {
        linger(c);
        return;
    }
    if (!c->keep_alive || c->loop->stopping) {
        ff_conn_close(c);
        return;
    }
    if (c->req.body.cap > (1u << 20)) ff_buf_free(&c->req.body);
    if (c->decoded.cap > (1u << 20)) ff_buf_free(&c->decoded);
    if (c->batch.records.cap > (4u << 20)) {
        int fmt = c->batch.format;
        ff_batch_free(&c->batch);
        ff_batch_init(&c->batch, fmt, batch_limit(c));
    }
    if (c->out.cap > (1u << 20)) ff_buf_free(&c->out);
    arm_timer(c, limits(c)->idle_timeout_ms);
    /* Answered from inside process(): it resumes parsing itself. */
    if (c->dispatching) return;
    llhttp_resume(&c->parser);
    if (c->pending) {
        char *p = c->pending;
        size_t n = c->pending_len;
        c->pending = NULL;
        c->pending_len = 0;
        process(c, p, n);
        ff_free(p);
        if (c->busy || c->closing) return;
    }
    if (c->peer_eof) {
        ff_conn_close(c);
        return;
    }
    if (c->read_paused && !c->loop->fake_io) {
        c->read_paused = 0;
        uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
    }
}

static void on_written(uv_write_t *w, int status)
{
    struct ff_conn *c = w->data;
    c->writing = 0;
    if (status < 0) c->keep_alive = 0;
    request_finished(c);
}

static const char *status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

/* The status line and headers of an answer into c->out (reset first); `len` < 0: no
 * Content-Length (a stream). */
static int put_head(struct ff_conn *c, int status, const char *content_type, long long len, const char *extra_headers)
{
    struct ff_buf *o = &c->out;
    ff_buf_reset(o);
    if (status >= 100 && status < 600) ff_counter_add(ff_metrics.http_responses[status / 100], 1);
    size_t olen = 0;
    const char *origin = ff_req_header(c, FF_HDR_ORIGIN, &olen);
    /* Appends, not printf: this runs once per event on the single-event path. */
    int rc = ff_buf_append_str(o, "HTTP/1.1 ");
    if (!rc) rc = ff_buf_put_u64dec(o, (uint64_t)status);
    if (!rc) rc = ff_buf_putc(o, ' ');
    if (!rc) rc = ff_buf_append_str(o, status_text(status));
    if (!rc) rc = ff_buf_append_str(o, "\r\n");
    /* CORS: a page may send events (sendBeacon and fetch with credentials need the origin
     * echoed, not "*") unless its project lists the origins it takes and this is not one. */
    if (origin && olen && olen < 2048 && !c->cors_denied) {
        if (!rc) rc = ff_buf_append_str(o, "Access-Control-Allow-Origin: ");
        if (!rc) rc = ff_buf_append(o, origin, olen);
        if (!rc) rc = ff_buf_append_str(o, "\r\nAccess-Control-Allow-Credentials: true\r\nVary: Origin\r\n");
    } else if (!rc && !c->cors_denied) {
        rc = ff_buf_append_str(o, "Access-Control-Allow-Origin: *\r\n");
    }
    if (!rc && content_type) {
        rc = ff_buf_append_str(o, "Content-Type: ");
        if (!rc) rc = ff_buf_append_str(o, content_type);
        if (!rc) rc = ff_buf_append_str(o, "\r\n");
    }
    /* 204 and 304 have no body, and a 304 must not state a length other than its 200's */
    if (!rc && status != 204 && status != 304 && len >= 0) {
        rc = ff_buf_append_str(o, "Content-Length: ");
        if (!rc) rc = ff_buf_put_u64dec(o, (uint64_t)len);
        if (!rc) rc = ff_buf_append_str(o, "\r\n");
    }
    if (!rc && extra_headers) rc = ff_buf_append_str(o, extra_headers);
    if (!rc) rc = ff_buf_append_str(o, c->keep_alive ? "\r\n" : "Connection: close\r\n\r\n");
    return rc;
}

void ff_respond(struct ff_conn *c, int status, const char *content_type, const char *body, size_t len,
                const char *extra_headers)
{
    struct ff_buf *o = &c->out;
    int rc = put_head(c, status, content_type, (long long)len, extra_headers);
    /* HEAD gets the headers a GET would, and no body (a body would desync keep-alive). */
    if (!rc && len && status != 204 && c->req.method != HTTP_HEAD) rc = ff_buf_append(o, body, len);
    if (rc) {
        c->keep_alive = 0;
        ff_buf_reset(o);
        ff_buf_append_str(o, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }
    if (c->loop->fake_io) {
        request_finished(c);
        return;
    }
    /* Try the write at once: a response fits the socket buffer nearly always, and uv_write
     * would cost an epoll_ctl and a trip through the loop per request. */
    uv_buf_t b = uv_buf_init(o->data, (unsigned)o->len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == (int)o->len) {
        request_finished(c);
        return;
    }
    if (n > 0) b = uv_buf_init(o->data + n, (unsigned)(o->len - (size_t)n));
    else if (n != UV_EAGAIN) {
        c->keep_alive = 0;
        request_finished(c);
        return;
    }
    c->write_req.data = c;
    if (uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0) {
        c->keep_alive = 0;
        request_finished(c);
        return;
    }
    /* A client that does not read its answer must not hold the connection (and the answer's
     * memory, and a graceful stop) for ever. */
    c->writing = 1;
    arm_timer(c, limits(c)->idle_timeout_ms);
}

/* ---- streams ---- */

static void on_stream_written(uv_write_t *w, int status)
{
    struct ff_conn *c = w->data;
    c->writing = 0;
    if (status < 0) ff_stream_end(c);
}

/* Sends c->out: at once when the socket takes it, else through uv_write. */
static void stream_send(struct ff_conn *c)
{
    if (c->loop->fake_io) return;
    struct ff_buf *o = &c->out;
    uv_buf_t b = uv_buf_init(o->data, (unsigned)o->len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == (int)o->len) return;
    if (n < 0 && n != UV_EAGAIN) {
        ff_stream_end(c);
        return;
    }
    if (n > 0) b = uv_buf_init(o->data + n, (unsigned)(o->len - (size_t)n));
    c->write_req.data = c;
    if (uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, on_stream_written) < 0) ff_stream_end(c);
    else c->writing = 1;
}

void ff_stream_open(struct ff_conn *c, const char *content_type, uint64_t tick_ms, void (*tick)(struct ff_conn *c),
                    void *arg)
{
    c->keep_alive = 0; /* the stream ends with the connection */
    c->streaming = 1;
    c->stream_tick_ms = tick_ms;
    c->stream_tick = tick;
    c->stream_arg = arg;
    if (put_head(c, 200, content_type, -1, "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n")) {
        ff_stream_end(c);
        return;
    }
    stream_send(c);
    if (!c->closing && !c->stream_gone) {
        tick(c); /* the first one now, not a tick from now */
        arm_timer(c, tick_ms);
    }
}

void ff_stream_write(struct ff_conn *c, const char *data, size_t len)
{
    if (c->writing || c->closing || c->stream_gone) return;
    ff_buf_reset(&c->out);
    if (ff_buf_append(&c->out, data, len)) return;
    stream_send(c);
}

void ff_stream_end(struct ff_conn *c)
{
    if (c->stream_gone) return;
    c->stream_gone = 1;
    if (!c->work_data) ff_conn_close(c);
}

int ff_stream_job_done(struct ff_conn *c)
{
    if (!c->stream_gone) return 1;
    ff_conn_close(c);
    return 0;
}

void ff_respond_json(struct ff_conn *c, int status, const char *json)
{
    ff_respond(c, status, "application/json", json, strlen(json), NULL);
}

void ff_respond_error(struct ff_conn *c, int status, const char *msg, const char *field, const char *extra_headers)
{
    struct ff_buf b;
    ff_buf_init(&b, 1 << 20);
    int rc = ff_buf_append_str(&b, "{\"error\":");
    if (!rc) rc = ff_json_write_str(&b, msg, strlen(msg));
    if (!rc) rc = ff_buf_append_str(&b, ",\"field\":");
    if (!rc) rc = ff_json_write_str(&b, field, strlen(field));
    if (!rc) rc = ff_buf_putc(&b, '}');
    if (rc) ff_respond(c, status, "application/json", "{}", 2, extra_headers);
    else ff_respond(c, status, "application/json", b.data, b.len, extra_headers);
    ff_buf_free(&b);
}
