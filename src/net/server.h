/* server.h - the collector's HTTP server: one libuv event loop per core, each with its own
 * SO_REUSEPORT listening socket so the kernel spreads connections, all sharing one WAL. */
#ifndef FF_SERVER_H
#define FF_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <uv.h>

#include "net/http.h"
#include "project/projects.h"
#include "store/store.h"
#include "store/wal.h"

struct ff_server_opts {
    char host[256];
    int port;                  /* 0 picks a free port */
    const char *data_dir;
    int threads;               /* event loops; 0 = one per core */
    struct ff_http_limits limits;
    size_t flush_bytes;        /* store: memtable size that starts a flush (0 = default) */
    int64_t flush_interval_us; /* store: longest an event stays only in memory (0 = default) */
    int retention_days;        /* store: keep this many days of events (0 = all) */
    size_t wal_segment_bytes;  /* start a new WAL segment past this size (0 = 64 MiB) */
    uint64_t dedup_max_bytes;  /* memory of the messageId set at most (0: no bound) */
    const char *ua_regexes;    /* uap-core regexes.yaml; NULL: the Debian package's, if installed */
    const char *geoip;         /* a .mmdb file; NULL: the npm country database, if installed */
    int ip_mode;               /* enum ff_ip_mode: what is stored of an event's IP address */
    int demo;                  /* serve the demo shop at /demo (web/demo) */
    int alert_check_ms;        /* how often alert rules are checked (0 = 60000; < 0: never) */
};

struct ff_loop {
    uv_loop_t uv;
    uv_tcp_t listener;
    uv_poll_t wake;            /* WAL completions and stop requests: readable when wake_fd is */
    int wake_fd;               /* an eventfd other threads write to (server.c, wake_loop) */
    int wake_pending;          /* under mu: a wake-up was written and not yet taken */
    uv_signal_t sigterm, sigint; /* loop 0 only */
    pthread_mutex_t mu;
    struct ff_wal_req *done_head, *done_tail;
    struct ff_server *srv;
    struct ff_conn *conns;     /* all open connections */
    size_t nconns;
    int index;
    int stopping;
    int wake_closed;           /* under mu: `wake` may no longer be signalled */
    int fake_io;               /* fuzz/unit harness: no sockets, responses are discarded */
    uv_thread_t thread;
    struct ff_json_parser *json;
    struct ff_catalog *catalog; /* access.h: this loop's connection to the project catalog */
    struct ff_projects projects; /* and what it last loaded (when has_projects) */
    int has_projects;
    int64_t projects_checked_us;
    uint8_t visitor_salt[32];   /* today's salt of cookieless visitor ids (access.h) */
    int32_t visitor_salt_day;   /* the day it is for; INT32_MIN before the first */
    uv_timer_t salt_timer;      /* loop 0: renews the salt (and deletes old ones) when idle */
    char readbuf[65536];
};

struct ff_server {
    struct ff_server_opts opts;
    struct ff_wal *wal;        /* NULL in harnesses: requests complete at once */
    struct ff_store *store;    /* NULL in harnesses */
    struct ff_enricher *enrich; /* NULL in harnesses: events are stored as they came */
    struct ff_ratelimit *rates; /* net/ratelimit.h; NULL in harnesses */
    struct ff_loop *loops;
    int nloops;
    int port;                  /* the bound port */
    atomic_int stopping;
    int64_t started_us;
};

/* Opens the WAL under opts->data_dir (recovering it), binds, and serves until SIGTERM or
 * SIGINT; then stops accepting, answers requests in flight, flushes and returns 0. */
int ff_server_run(const struct ff_server_opts *opts);

/* Called by http.c when a connection's handles are all closed. */
void ff_loop_conn_gone(struct ff_loop *loop, struct ff_conn *c);

/* routes.c: dispatches a complete request on `c`. */
void ff_route(struct ff_conn *c);
/* routes.c: answers a request whose WAL submission completed (on the loop's thread). */
void ff_route_wal_done(struct ff_conn *c);
/* Hands a batch to the WAL, or completes it at once in a harness without one. */
void ff_loop_submit(struct ff_conn *c);

#endif
