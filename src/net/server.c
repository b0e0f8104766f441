/* server.c - event loops, listening sockets, WAL completion hand-off and graceful stop.
 *
 *   loop 0 (main thread) ─┐                      ┌─> WAL writer thread: group commit,
 *   loop 1 (thread)      ─┼─ ff_wal_submit ──────┤   fdatasync, then done() per request
 *   …                    ─┘                      └─> done() pushes the request to its
 *                                                    loop's list and wakes it (an eventfd)
 *
 * Each loop owns its own SO_REUSEPORT socket bound to the same port, so the kernel spreads
 * connections over the loops and no lock is shared on the request path except the WAL
 * queue's. */
#include "net/server.h"
#include "analysis/alerts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "enrich/enrich.h"
#include "net/access.h"
#include "net/ratelimit.h"
#include "project/session_rules.h"
#include "store/datadir.h"
#include "store/dedup.h"


static void on_wake(uv_poll_t *h, int status, int events);

/* Wakes a loop from another thread. Not uv_async_send: in libuv 1.44 the woken loop spins
 * and calls sched_yield until the sender's call has returned, and with eight busy threads
 * on two cores a sender preempted inside it kept a loop waiting 56-98 ms (perf sched). The
 * eventfd stays open until the loop is freed, after the WAL writer has stopped, so a write
 * after the loop closed its handle is harmless. */
static void wake_loop(struct ff_loop *loop)
{
    uint64_t one = 1;
    ssize_t n = write(loop->wake_fd, &one, sizeof one);
    (void)n; /* EAGAIN: the counter is full, so the loop is awake anyway */
}

static void close_wake(struct ff_loop *loop)
{
    pthread_mutex_lock(&loop->mu);
    loop->wake_closed = 1;
    pthread_mutex_unlock(&loop->mu);
    uv_poll_stop(&loop->wake);
    uv_close((uv_handle_t *)&loop->wake, NULL);
}

void ff_loop_conn_gone(struct ff_loop *loop, struct ff_conn *c)
{
    if (c->prev) c->prev->next = c->next;
    else if (loop->conns == c) loop->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    loop->nconns--;
    atomic_fetch_sub(&ff_metrics.connections_open, 1);
    ff_free(c);
    if (loop->stopping && loop->nconns == 0 && !loop->fake_io && !loop->wake_closed) close_wake(loop);
}

/* Runs on the WAL writer thread: only queue and wake. */
static void wal_done(struct ff_wal_req *r)
{
    struct ff_conn *c = r->udata;
    struct ff_loop *loop = c->loop;
    pthread_mutex_lock(&loop->mu);
    r->next = NULL;
    if (loop->done_tail) loop->done_tail->next = r;
    else loop->done_head = r;
    loop->done_tail = r;
    /* one wake-up for however many requests arrive before the loop takes them */
    int wake = !loop->wake_pending && !loop->wake_closed;
    if (wake) loop->wake_pending = 1;
    pthread_mutex_unlock(&loop->mu);
    if (wake) wake_loop(loop);
}

void ff_loop_submit(struct ff_conn *c)
{
    struct ff_wal_req *r = &c->wal_req;
    r->batch = &c->batch;
    r->udata = c;
    r->done = wal_done;
    struct ff_server *srv = c->loop->srv;
    if (srv->wal) {
        ff_wal_submit(srv->wal, r);
        return;
    }
    /* A harness without a WAL: everything is "stored" at once. */
    r->status = 0;
    r->stored = c->batch.accepted;
    r->quarantined = c->batch.failed;
    r->duplicates = 0;
    ff_route_wal_done(c);
}

static void stop_loop(struct ff_loop *loop)
{
    if (loop->stopping) return;
    loop->stopping = 1;
    uv_close((uv_handle_t *)&loop->listener, NULL);
    if (loop->index == 0) {
        uv_close((uv_handle_t *)&loop->sigterm, NULL);
        uv_close((uv_handle_t *)&loop->sigint, NULL);
    }
    ff_access_stop(loop);
    /* Idle connections go now; ones with a request in flight (being answered, or still
     * arriving: its timeouts bound how long) close after answering it. */
    for (struct ff_conn *c = loop->conns, *next; c; c = next) {
        next = c->next;
        c->keep_alive = 0;
        if (c->streaming) ff_stream_end(c); /* a stream has no end of its own to wait for */
        else if (!c->busy && !c->in_request) ff_conn_close(c);
    }
    if (loop->nconns == 0) close_wake(loop);
}

static void on_wake(uv_poll_t *h, int status, int events)
{
    (void)status, (void)events;
    struct ff_loop *loop = h->data;
    uint64_t count;
    ssize_t n = read(loop->wake_fd, &count, sizeof count); /* resets it; EAGAIN: already */
    (void)n;
    pthread_mutex_lock(&loop->mu);
    struct ff_wal_req *r = loop->done_head;
    loop->done_head = loop->done_tail = NULL;
    loop->wake_pending = 0;
    pthread_mutex_unlock(&loop->mu);
    while (r) {
        struct ff_wal_req *next = r->next;
        ff_route_wal_done(r->udata);
        r = next;
    }
    if (atomic_load(&loop->srv->stopping)) stop_loop(loop);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct ff_loop *loop = s->data;
    struct ff_server *srv = loop->srv;
    if (atomic_exchange(&srv->stopping, 1)) return;
    ff_info("received %s: stopping (answering requests in flight, then flushing)",
            signum == SIGTERM ? "SIGTERM" : "SIGINT");
    for (int i = 0; i < srv->nloops; i++) wake_loop(&srv->loops[i]);
}

static void free_handle(uv_handle_t *h) { ff_free(h); }

/* Over the connection limit: accept and close at once, so the client gets a clear refusal
 * instead of waiting in the backlog. */
static void refuse(struct ff_loop *loop, uv_stream_t *server)
{
    static const char body[] = "{\"error\":\"too many connections\",\"field\":\"\"}";
    char msg[256];
    int n = snprintf(msg, sizeof msg,
                     "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Access-Control-Allow-Origin: *\r\nRetry-After: 1\r\nConnection: close\r\n\r\n%s",
                     sizeof body - 1, body);
    uv_tcp_t *t = ff_malloc(sizeof *t);
    if (!t) return;
    uv_tcp_init(&loop->uv, t);
    if (uv_accept(server, (uv_stream_t *)t) == 0) {
        uv_buf_t b = uv_buf_init(msg, (unsigned)n);
        (void)uv_try_write((uv_stream_t *)t, &b, 1);
    }
    ff_counter_add(ff_metrics.connections_rejected, 1);
    uv_close((uv_handle_t *)t, free_handle);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct ff_loop *loop = server->data;
    if (status < 0 || loop->stopping) return;
    if (ff_counter_get(ff_metrics.connections_open) >= loop->srv->opts.limits.max_connections) {
        refuse(loop, server);
        return;
    }
    struct ff_conn *c = ff_malloc(sizeof *c);
    if (!c) {
        refuse(loop, server);
        return;
    }
    ff_conn_init(c, loop);
    uv_tcp_init(&loop->uv, &c->tcp);
    uv_timer_init(&loop->uv, &c->timer);
    c->handles = 2;
    c->next = loop->conns;
    if (loop->conns) loop->conns->prev = c;
    loop->conns = c;
    loop->nconns++;
    atomic_fetch_add(&ff_metrics.connections_open, 1);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) || ff_conn_start(c)) {
        ff_conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    struct sockaddr_storage peer;
    int plen = sizeof peer;
    c->peer_ip[0] = 0;
    if (!uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&peer, &plen)) {
        if (peer.ss_family == AF_INET) uv_ip4_name((struct sockaddr_in *)&peer, c->peer_ip, sizeof c->peer_ip);
        else if (peer.ss_family == AF_INET6) uv_ip6_name((struct sockaddr_in6 *)&peer, c->peer_ip, sizeof c->peer_ip);
    }
}

/* A TCP socket bound to host:port: with SO_REUSEPORT and listening for the loops (each has
 * its own), or plain for check_port_free. */
static int bind_socket(const char *host, int port, int reuseport, int *bound_port, int *fd_out)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    int rc = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &res);
    if (rc) {
        ff_error("cannot resolve listen address %s: %s", host, gai_strerror(rc));
        return FF_EINVAL;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuseport) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) || (reuseport && listen(fd, 1024))) {
        rc = -errno;
        close(fd);
        goto out;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *bound_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                  : ((struct sockaddr_in *)&ss)->sin_port);
    *fd_out = fd;
    rc = 0;
out:
    freeaddrinfo(res);
    return rc;
}

/* SO_REUSEPORT would let a second server share a port with a running one and split its
 * traffic: refuse instead, by binding a plain socket first. */
static int check_port_free(const char *host, int port)
{
    int fd, bound;
    if (port == 0) return 0;
    int rc = bind_socket(host, port, 0, &bound, &fd);
    if (!rc) close(fd);
    return rc;
}

/* One server per data directory: two writers would interleave their logs. The lock lives
 * as long as the process (the kernel drops it on exit, kill -9 included). */

static int loop_init(struct ff_server *srv, struct ff_loop *loop, int index)
{
    memset(loop, 0, sizeof *loop);
    loop->wake_fd = -1;
    loop->srv = srv;
    loop->index = index;
    int rc = uv_loop_init(&loop->uv);
    if (rc) return rc;
    pthread_mutex_init(&loop->mu, NULL);
    loop->json = ff_json_parser_new();
    if (!loop->json) return -ENOMEM;
    if ((rc = ff_access_open(loop))) return rc;
    loop->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->wake_fd < 0) return -errno;
    if ((rc = uv_poll_init(&loop->uv, &loop->wake, loop->wake_fd))) {
        close(loop->wake_fd);
        loop->wake_fd = -1;
        return rc;
    }
    loop->wake.data = loop;
    if ((rc = uv_poll_start(&loop->wake, UV_READABLE, on_wake))) return rc;
    int fd = -1, port = 0;
    if ((rc = bind_socket(srv->opts.host, index == 0 ? srv->opts.port : srv->port, 1, &port, &fd))) return rc;
    if (index == 0) srv->port = port;
    uv_tcp_init(&loop->uv, &loop->listener);
    loop->listener.data = loop;
    if ((rc = uv_tcp_open(&loop->listener, fd)) || (rc = uv_listen((uv_stream_t *)&loop->listener, 1024, on_connection)))
        return rc;
    if (index == 0) {
        uv_signal_init(&loop->uv, &loop->sigterm);
        uv_signal_init(&loop->uv, &loop->sigint);
        loop->sigterm.data = loop->sigint.data = loop;
        uv_signal_start(&loop->sigterm, on_signal, SIGTERM);
        uv_signal_start(&loop->sigint, on_signal, SIGINT);
    }
    return 0;
}

static void loop_thread(void *arg)
{
    struct ff_loop *loop = arg;
    pthread_setname_np(pthread_self(), "ff-loop");
    uv_run(&loop->uv, UV_RUN_DEFAULT);
}

static void loop_free(struct ff_loop *loop)
{
    uv_run(&loop->uv, UV_RUN_NOWAIT);
    if (uv_loop_close(&loop->uv)) ff_warn("event loop %d closed with handles open", loop->index);
    ff_json_parser_free(loop->json);
    ff_access_close(loop);
    if (loop->wake_fd >= 0) close(loop->wake_fd);
    pthread_mutex_destroy(&loop->mu);
}

int ff_server_run(const struct ff_server_opts *opts)
{
    struct ff_server srv;
    memset(&srv, 0, sizeof srv);
    srv.opts = *opts;
    srv.started_us = ff_now_us();
    if (srv.opts.threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        srv.opts.threads = n > 0 ? (int)n : 1;
    }
    signal(SIGPIPE, SIG_IGN);

    int lock_fd = -1;
    int rc = ff_datadir_lock(opts->data_dir, &lock_fd);
    if (rc) return rc;
    if ((rc = check_port_free(opts->host, opts->port))) {
        ff_error("cannot listen on %s:%d: %s", opts->host, opts->port,
                 rc == -EADDRINUSE ? "the port is already in use" : ff_strerror(rc));
        close(lock_fd);
        return rc;
    }

    if ((rc = ff_access_bootstrap(opts->data_dir))) {
        close(lock_fd);
        return rc;
    }
    char err[1024];
    struct ff_enrich_opts eo = {.ua_regexes = opts->ua_regexes, .geoip = opts->geoip, .ip_mode = opts->ip_mode,
                                .optional = 1};
    int64_t te = ff_now_us();
    if ((rc = ff_enricher_open(&srv.enrich, &eo, err, sizeof err))) {
        ff_error("cannot start enrichment: %s", err);
        close(lock_fd);
        return rc;
    }
    static const char *const ip_modes[] = {"dropped", "truncated", "kept"};
    ff_info("enrichment: user agents %s, GeoIP %s, IP addresses %s after geo (%.3f s)",
            ff_enricher_has_ua(srv.enrich) ? "parsed" : "off", ff_enricher_has_geoip(srv.enrich) ? "on" : "off",
            ip_modes[opts->ip_mode], (double)(ff_now_us() - te) / 1e6);

    /* The store first: it replays the WAL's records that are not in its parts yet; then the
     * WAL recovers (cutting a torn tail) and hands it every durable frame from then on. */
    struct ff_store_opts so = {.dir = opts->data_dir, .flush_bytes = opts->flush_bytes,
                               .flush_interval_us = opts->flush_interval_us, .wal_keep_us = FF_DEDUP_WINDOW_US,
                               .retention_days = opts->retention_days};
    ff_session_policy_attach(&so, opts->data_dir, 1);
    int64_t t0 = ff_now_us();
    if ((rc = ff_store_open(&srv.store, &so, err, sizeof err))) {
        ff_error("cannot open the event store in %s: %s", opts->data_dir, err);
        ff_enricher_close(srv.enrich);
        close(lock_fd);
        return rc;
    }
    struct ff_wal_opts wo = {.dir = opts->data_dir, .dedup_window_us = FF_DEDUP_WINDOW_US,
                             .dedup_max_bytes = (size_t)opts->dedup_max_bytes,
                             .segment_bytes = opts->wal_segment_bytes ? opts->wal_segment_bytes : 64u << 20,
                             .on_durable = ff_store_on_durable, .on_durable_arg = srv.store,
                             .on_forget = ff_store_on_forget,
                             .min_next_seq = ff_store_next_seq(srv.store)};
    struct ff_wal_recovery rec;
    rc = ff_wal_open(&srv.wal, &wo, &rec);
    if (rc) {
        ff_error("cannot open the write-ahead log in %s: %s", opts->data_dir, ff_strerror(rc));
        ff_store_close(srv.store);
        ff_enricher_close(srv.enrich);
        close(lock_fd);
        return rc;
    }
    ff_store_attach_wal(srv.store, srv.wal);
    struct ff_store_counts counts;
    ff_store_counts(srv.store, &counts);
    uint64_t total = 0, quarantined = 0;
    for (int f = 0; f < FF_FMT_COUNT; f++) {
        ff_counter_add(ff_metrics.stored[f], counts.events[f]);
        ff_counter_add(ff_metrics.quarantined[f], counts.quarantined[f]);
        total += counts.events[f];
        quarantined += counts.quarantined[f];
    }
    ff_info("store holds %llu events and %llu quarantined items (opened in %.3f s; %llu WAL segment(s) in %s/wal)",
            (unsigned long long)total, (unsigned long long)quarantined, (double)(ff_now_us() - t0) / 1e6,
            (unsigned long long)rec.segments, opts->data_dir);
    if (rec.truncated_bytes) ff_warn("recovery truncated a torn tail of %llu bytes", (unsigned long long)rec.truncated_bytes);

    srv.nloops = srv.opts.threads;
    srv.loops = ff_calloc((size_t)srv.nloops, sizeof *srv.loops);
    if (!srv.loops || ff_ratelimit_new(&srv.rates)) {
        ff_free(srv.loops);
        ff_wal_close(srv.wal);
        ff_store_close(srv.store);
        ff_enricher_close(srv.enrich);
        close(lock_fd);
        return -ENOMEM;
    }
    int started = 0;
    for (int i = 0; i < srv.nloops; i++) {
        if ((rc = loop_init(&srv, &srv.loops[i], i))) {
            ff_error("cannot listen on %s:%d: %s", opts->host, srv.opts.port, rc < -9999 ? ff_strerror(rc) : uv_strerror(rc));
            break;
        }
        started++;
    }
    if (rc) {
        for (int i = 0; i < started; i++) {
            uv_close((uv_handle_t *)&srv.loops[i].listener, NULL);
            ff_access_stop(&srv.loops[i]);
            close_wake(&srv.loops[i]);
            if (i == 0) {
                uv_close((uv_handle_t *)&srv.loops[0].sigterm, NULL);
                uv_close((uv_handle_t *)&srv.loops[0].sigint, NULL);
            }
            loop_free(&srv.loops[i]);
        }
        ff_free(srv.loops);
        ff_ratelimit_free(srv.rates);
        ff_wal_close(srv.wal);
        ff_store_close(srv.store);
        ff_enricher_close(srv.enrich);
        close(lock_fd);
        return rc;
    }
    for (int i = 1; i < srv.nloops; i++) uv_thread_create(&srv.loops[i].thread, loop_thread, &srv.loops[i]);
    struct ff_alerts *alerts = NULL;
    if (opts->alert_check_ms >= 0 && ff_alerts_start(&alerts, srv.store, opts->data_dir, opts->alert_check_ms))
        ff_warn("alert rules will not be checked: their thread did not start");
    printf("listening on http://%s:%d\n", opts->host[0] ? opts->host : "0.0.0.0", srv.port);
    fflush(stdout);
    ff_info("serving with %d event loop(s), data in %s", srv.nloops, opts->data_dir);
    uv_run(&srv.loops[0].uv, UV_RUN_DEFAULT);
    for (int i = 1; i < srv.nloops; i++) uv_thread_join(&srv.loops[i].thread);
    ff_alerts_stop(alerts); /* it reads the store: it stops before the store closes */
    /* The writer goes first: nothing may call back into a loop being freed. The store then
     * writes what it holds in memory to parts, so the next start has nothing to replay. */
    ff_wal_close(srv.wal);
    ff_store_close(srv.store);
    for (int i = 0; i < srv.nloops; i++) loop_free(&srv.loops[i]);
    ff_free(srv.loops);
    ff_enricher_close(srv.enrich);
    ff_ratelimit_free(srv.rates);
    close(lock_fd);
    ff_info("stopped cleanly");
    return 0;
}
