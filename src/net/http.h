/* http.h - HTTP/1.1 connections: llhttp parsing, limits, keep-alive, pipelining, CORS and
 * responses. One struct ff_conn per TCP connection, owned by one event loop.
 *
 * A connection handles one request at a time: when a request is complete the parser pauses
 * until the response has been written, and bytes that arrive meanwhile wait in `pending`,
 * so pipelined requests are answered in order and a slow (durable) answer never blocks
 * another connection. */
#ifndef FF_HTTP_H
#define FF_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "event/event.h"
#include "ingest/ingest.h"
#include "llhttp.h"
#include "store/wal.h"

struct ff_loop;

struct ff_http_limits {
    size_t max_header_bytes;   /* request line + headers; 431 past it */
    size_t max_body_bytes;     /* 413 past it (decoded size may be 8× this) */
    size_t max_import_bytes;   /* the same for /api/import */
    uint64_t idle_timeout_ms;  /* keep-alive connection with no request */
    uint64_t request_timeout_ms; /* from a request's first byte to its last */
    uint64_t max_connections;
    uint64_t max_memory_bytes; /* all of footfall's allocations; 503 for new request bytes past it; 0 = none */
};

/* Headers the server acts on; values point into the request's header buffer. */
enum ff_hdr {
    FF_HDR_CONTENT_TYPE, FF_HDR_CONTENT_ENCODING, FF_HDR_AUTHORIZATION, FF_HDR_ORIGIN,
    FF_HDR_ACR_HEADERS, FF_HDR_EXPECT, FF_HDR_USER_AGENT, FF_HDR_DNT, FF_HDR_SEC_GPC, FF_HDR_ACCEPT_ENCODING,
    FF_HDR_IF_NONE_MATCH, FF_HDR_COUNT
};

struct ff_http_request {
    uint8_t method;            /* llhttp_method_t */
    struct ff_buf url;
    struct ff_buf hdrs;        /* values of the headers in enum ff_hdr */
    uint32_t hdr_off[FF_HDR_COUNT], hdr_len[FF_HDR_COUNT];
    int hdr_seen[FF_HDR_COUNT];
    struct ff_buf field;       /* header name being parsed */
    int cur_hdr;               /* enum ff_hdr of the value being parsed, or -1 */
    size_t header_bytes;
    struct ff_buf body;
    /* The body where it lies in the input, not copied, when it came whole in one read with
     * the JSON parser's padding after it (NULL otherwise: it is in `body`). Valid while the
     * request is dispatched, so readers take it through ff_req_body, synchronously. */
    const char *body_at;
    size_t body_at_len;
    int64_t received_at_us;
    uint64_t start_ns;
};

struct ff_conn {
    uv_tcp_t tcp;              /* first: the handle's address is the connection's */
    uv_timer_t timer;
    uv_write_t write_req;
    uv_shutdown_t shutdown_req;
    struct ff_loop *loop;
    char peer_ip[46];          /* the client's address as text ("" when unknown), for GeoIP */
    llhttp_t parser;
    struct ff_http_request req;
    struct ff_buf out;         /* the response being written */
    char *pending;             /* bytes read past a paused request */
    const char *input_end;     /* the end of readable memory after the input being parsed */
    size_t pending_len;
    int busy;                  /* a request is being answered */
    int in_request;            /* some bytes of a request have arrived */
    uint64_t request_deadline_ns; /* monotonic time by which the request must be whole */
    int keep_alive;
    int closing;
    int dispatching;           /* inside ff_route called from the parse loop */
    int reject_status;         /* limit hit while parsing: answer this and close */
    int lingering;             /* answered and shut down; draining what the client still sends */
    int read_paused;           /* reading stopped: too many pipelined bytes */
    int peer_eof;              /* the client sent EOF while a request was being answered */
    int writing;               /* an answer is in uv_write (the socket did not take it at once) */
    int cors_denied;           /* the request's origin may not send to its project: not echoed */
    /* Ingest state, reused across the connection's requests. */
    struct ff_batch batch;
    struct ff_buf decoded;
    struct ff_wal_req wal_req;
    int route;                 /* what the pending request is (routes.c) */
    uv_work_t work;
    void *work_data;
    int handles;               /* open libuv handles; freed when 0 */
    /* A stream (ff_stream_open): the connection answers nothing else until it ends. */
    int streaming;
    int stream_gone;           /* ending: closes once the job in flight (work_data) is done */
    uint64_t stream_tick_ms;
    void (*stream_tick)(struct ff_conn *c);
    void *stream_arg;          /* the stream's own state (ff_free'd with the connection) */
    struct ff_conn *prev, *next;
};

/* Sets up a connection object (not yet reading); the loop owns it. */
void ff_conn_init(struct ff_conn *c, struct ff_loop *loop);
/* Starts reading on an accepted connection. */
int ff_conn_start(struct ff_conn *c);
/* Feeds bytes as if read from the socket (the read path and the fuzz harness use it). */
void ff_conn_feed(struct ff_conn *c, const char *data, size_t len);
void ff_conn_close(struct ff_conn *c);
/* Frees a connection's memory; for harnesses without sockets (the loop frees real ones). */
void ff_conn_destroy(struct ff_conn *c);

/* Header value of the current request, or NULL. */
const char *ff_req_header(const struct ff_conn *c, enum ff_hdr h, size_t *len);
/* The request's body (followed by FF_BUF_PAD readable bytes), valid until the handler
 * returns: a handler that answers later copies what it needs. */
static inline const char *ff_req_body(const struct ff_conn *c, size_t *len)
{
    if (c->req.body_at) {
        *len = c->req.body_at_len;
        return c->req.body_at;
    }
    *len = c->req.body.len;
    return c->req.body.data;
}

/* Sends a complete response with CORS headers; `extra_headers` is NULL or CRLF-terminated
 * header lines. After it is written the connection reads the next request (or closes). */
void ff_respond(struct ff_conn *c, int status, const char *content_type, const char *body, size_t len,
                const char *extra_headers);
void ff_respond_json(struct ff_conn *c, int status, const char *json);

/* Server-sent events and other endless answers: 200 with `content_type` and no length, after
 * which the connection belongs to the stream until the client goes, the server stops or
 * ff_stream_end. tick(c) runs on the loop every `tick_ms`; ff_stream_write sends bytes, or
 * drops them while earlier ones are still being written (a slow reader misses ticks instead
 * of growing memory). `arg` is the stream's state, freed with the connection. */
void ff_stream_open(struct ff_conn *c, const char *content_type, uint64_t tick_ms, void (*tick)(struct ff_conn *c),
                    void *arg);
void ff_stream_write(struct ff_conn *c, const char *data, size_t len);
/* Ends a stream: the connection closes now, or when the thread-pool job in flight returns
 * (whose completion must call ff_stream_job_done). */
void ff_stream_end(struct ff_conn *c);
/* A stream's job came back: 1 when the stream goes on, 0 when it ended meanwhile (closed). */
int ff_stream_job_done(struct ff_conn *c);
/* {"error": msg, "field": field}: the shape every 4xx/5xx body has. */
void ff_respond_error(struct ff_conn *c, int status, const char *msg, const char *field, const char *extra_headers);

#endif
