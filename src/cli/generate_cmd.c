/* generate_cmd.c - `footfall generate`: realistic history (src/gen/generator.h) sent to a
 * running server through the Segment batch API, as an app's backend would send it: every
 * event goes through the same enrichment, identity, sessions and store as live ones, so each
 * page of the dashboard has something to show. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "net/httpclient.h"
#include "core/buf.h"
#include "core/timeutil.h"
#include "event/event.h"
#include "gen/generator.h"
#include "project/catalog.h"

#define BATCH_EVENTS 500 /* about 400 KB a request, under the server's 1 MiB body limit */
#define MAX_CONNECTIONS 64

/* A request body: filled by the generator, posted by a sender. */
struct batch {
    struct batch *next;
    struct ff_buf body;
    size_t events;
};

/* The generator (the calling thread) fills batches; `--connections` senders, each with a
 * connection of its own, post them, so that many requests are in flight as from a fleet of
 * app backends (one connection waits for each durable acknowledgement in turn). */
struct senders {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct batch *ready, *ready_tail; /* to send, oldest first */
    struct batch *free;
    int done;                         /* the generator has handed over its last batch */
    int failed;
    uint64_t sent;                    /* events acknowledged */
    const struct ff_http_client *proto; /* the URL and key parsed once; each sender connects a copy */
};

struct generating {
    struct senders *ss;
    struct batch *cur;
    int64_t now_us;
    uint64_t queued; /* events handed to the senders or in cur */
    int failed;
};

static void *sender_main(void *arg)
{
    struct senders *ss = arg;
    struct ff_http_client http = *ss->proto; /* not connected yet: its own connection */
    struct ff_buf resp;
    ff_buf_init(&resp, (size_t)1 << 20);
    pthread_mutex_lock(&ss->mu);
    for (;;) {
        while (!ss->ready && !ss->done && !ss->failed) pthread_cond_wait(&ss->cv, &ss->mu);
        struct batch *bt = ss->failed ? NULL : ss->ready;
        if (!bt) break;
        if (!(ss->ready = bt->next)) ss->ready_tail = NULL;
        pthread_mutex_unlock(&ss->mu);
        char why[256];
        int status = 0;
        int rc = ff_http_post(&http, "/v1/batch", bt->body.data, bt->body.len, &status, &resp, why, sizeof why);
        pthread_mutex_lock(&ss->mu);
        if (!rc && status == 200) {
            ss->sent += bt->events;
        } else if (!ss->failed) { /* the first failure speaks for all */
            ss->failed = 1;
            if (rc) fprintf(stderr, "footfall generate: cannot send to %s:%s: %s\n", http.host, http.port, why);
            else
                fprintf(stderr, "footfall generate: the server answered %d: %.*s\n", status,
                        (int)(resp.len < 500 ? resp.len : 500), resp.data ? resp.data : "");
        }
        bt->next = ss->free;
        ss->free = bt;
        pthread_cond_broadcast(&ss->cv);
    }
    pthread_cond_broadcast(&ss->cv);
    pthread_mutex_unlock(&ss->mu);
    ff_http_client_close(&http);
    ff_buf_free(&resp);
    return NULL;
}

/* Hands the batch being filled to the senders and takes an empty one (waiting while all are
 * in flight). 0, or -1 once a sender has failed. */
static int hand_over(struct generating *gs)
{
    struct senders *ss = gs->ss;
    struct batch *bt = gs->cur;
    pthread_mutex_lock(&ss->mu);
    if (bt && bt->events) {
        bt->body.len--; /* the last comma */
        if (ff_buf_append_str(&bt->body, "]}")) ss->failed = 1;
        bt->next = NULL;
        if (ss->ready_tail) ss->ready_tail->next = bt;
        else ss->ready = bt;
        ss->ready_tail = bt;
        pthread_cond_broadcast(&ss->cv);
        bt = NULL;
    }
    while (!bt && !ss->free && !ss->failed) pthread_cond_wait(&ss->cv, &ss->mu);
    if (!bt && ss->free) {
        bt = ss->free;
        ss->free = bt->next;
    }
    int failed = ss->failed;
    pthread_mutex_unlock(&ss->mu);
    if (bt) {
        ff_buf_reset(&bt->body);
        bt->events = 0;
    }
    gs->cur = bt;
    return failed ? -1 : 0;
}

/* One event as Segment's batch API takes it. */
static void add_event(void *arg, const struct ff_event *ev, uint64_t visit)
{
    struct generating *gs = arg;
    (void)visit;
    if (gs->failed) return;
    if (ev->timestamp_us > gs->now_us) return; /* today's later hours have not happened yet */
    /* As the API gives events back, less what the server works out itself: when it received
     * them (now; a sentAt would be corrected for as clock skew) and the key (the request's). */
    struct ff_event e = *ev;
    e.original_timestamp_us = e.sent_at_us = e.received_at_us = FF_TIME_NONE;
    e.write_key = (struct ff_str){"", 0};
    struct batch *bt = gs->cur;
    struct ff_buf *b = &bt->body;
    int rc = bt->events ? 0 : ff_buf_append_str(b, "{\"batch\":[");
    if (!rc) rc = ff_event_write_json(b, &e);
    if (!rc) rc = ff_buf_putc(b, ',');
    if (rc) {
        fprintf(stderr, "footfall generate: out of memory\n");
        gs->failed = 1;
        return;
    }
    gs->queued++;
    if (++bt->events == BATCH_EVENTS && hand_over(gs)) gs->failed = 1;
}

/* Project `id`'s newest write key in the catalog of `data_dir` (the one the server's demo
 * shop and /api/project give too), into key. */
struct newest_write {
    char *key;
    size_t cap;
};
static int take_write_key(const struct ff_key_info *k, void *arg)
{
    struct newest_write *f = arg;
    if (k->kind == FF_KEY_WRITE) snprintf(f->key, f->cap, "%s", k->shown); /* oldest first: the last stays */
    return 0;
}

static int write_key_of(const char *data_dir, const char *project, char *key, size_t cap)
{
    struct ff_catalog *c;
    char err[512];
    key[0] = '\0';
    if (ff_catalog_open(data_dir, 0, &c, err, sizeof err)) {
        fprintf(stderr, "footfall generate: no --key, and %s\n", err);
        return -1;
    }
    struct newest_write f = {key, cap};
    int rc = ff_catalog_keys(c, project, take_write_key, &f);
    ff_catalog_close(c);
    if (rc || !key[0]) {
        fprintf(stderr, "footfall generate: no --key, and project '%s' of %s has no write key\n", project, data_dir);
        return -1;
    }
    return 0;
}

int ff_cmd_generate(int argc, char **argv)
{
    const char *url = "http://127.0.0.1:8080", *key = NULL, *data = "./footfall-data", *project = "default";
    uint64_t events = 200000, days = 30, seed = 42;
    int connections = 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int has = v != NULL;
        if (!strcmp(a, "--url") && has) url = v, i++;
        else if (!strcmp(a, "--key") && has) key = v, i++;
        else if (!strcmp(a, "--data") && has) data = v, i++;
        else if (!strcmp(a, "--project") && has) project = v, i++;
        else if (!strcmp(a, "--events") && has) {
            if (ff_cli_size("--events", v, &events)) return 2;
            i++;
        } else if (!strcmp(a, "--days") && has) {
            if (ff_cli_size("--days", v, &days) || !days || days > 3650) {
                fprintf(stderr, "footfall generate: --days must be 1 to 3650\n");
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--connections") && has) {
            uint64_t n;
            if (ff_cli_size("--connections", v, &n) || !n || n > MAX_CONNECTIONS) {
                fprintf(stderr, "footfall generate: --connections must be 1 to %d\n", MAX_CONNECTIONS);
                return 2;
            }
            connections = (int)n;
            i++;
        } else if (!strcmp(a, "--seed") && has) {
            if (ff_cli_size("--seed", v, &seed)) return 2;
            i++;
        } else {
            fprintf(stderr, "footfall generate: unknown option '%s' (or it needs a value); see footfall --help\n", a);
            return 2;
        }
    }
    char found[256];
    if (!key) {
        if (write_key_of(data, project, found, sizeof found)) return 2;
        key = found;
    }
    struct ff_http_client proto;
    if (ff_http_client_init(&proto, url, key)) return 2;
    int64_t now_us = ff_now_us();
    /* The last --days × 24 hours, ending now: calendar days ending today made `--days 1` at
     * 01:00 UTC an hour of history, its other 23 hours generated and dropped as not yet
     * happened. */
    int64_t day_us = 86400LL * 1000000;
    struct ff_gen_opts o = {.seed = seed, .start_us = now_us - (int64_t)days * day_us, .days = (int)days,
                            .people = events / 40 > 1000 ? events / 40 : 1000, .public_ips = 1};
    struct ff_gen *g;
    if (ff_gen_new(&g, &o)) {
        fprintf(stderr, "footfall generate: cannot start the generator\n");
        ff_http_client_close(&proto);
        return 1;
    }
    /* two bodies a connection: one in flight, one being filled or waiting */
    size_t nbatches = 2 * (size_t)connections;
    struct batch *batches = calloc(nbatches, sizeof *batches);
    if (!batches) {
        fprintf(stderr, "footfall generate: out of memory\n");
        ff_gen_free(g);
        ff_http_client_close(&proto);
        return 1;
    }
    struct senders ss = {.proto = &proto};
    pthread_mutex_init(&ss.mu, NULL);
    pthread_cond_init(&ss.cv, NULL);
    for (size_t i = 0; i < nbatches; i++) {
        ff_buf_init(&batches[i].body, (size_t)1 << 24);
        batches[i].next = ss.free;
        ss.free = &batches[i];
    }
    struct generating gs = {.ss = &ss, .now_us = now_us};
    pthread_t threads[MAX_CONNECTIONS];
    int started = 0;
    for (; started < connections; started++)
        if (pthread_create(&threads[started], NULL, sender_main, &ss)) break;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!started) {
        fprintf(stderr, "footfall generate: cannot start a sender thread\n");
        gs.failed = 1;
    } else if (hand_over(&gs)) { /* the first empty batch */
        gs.failed = 1;
    }
    while (!gs.failed && gs.queued < events) ff_gen_session(g, add_event, &gs);
    if (!gs.failed && hand_over(&gs)) gs.failed = 1; /* the last, partly filled batch */
    pthread_mutex_lock(&ss.mu);
    ss.done = 1;
    pthread_cond_broadcast(&ss.cv);
    pthread_mutex_unlock(&ss.mu);
    for (int i = 0; i < started; i++) pthread_join(threads[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int failed = gs.failed || ss.failed;
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (!failed)
        printf("generated %llu events in %llu sessions over %llu days into %s:%s (%.1f s, %.0f events/s)\n",
               (unsigned long long)ss.sent, (unsigned long long)ff_gen_sessions(g), (unsigned long long)days, proto.host,
               proto.port, secs, secs > 0 ? (double)ss.sent / secs : 0.0);
    ff_gen_free(g);
    for (size_t i = 0; i < nbatches; i++) ff_buf_free(&batches[i].body);
    free(batches);
    pthread_mutex_destroy(&ss.mu);
    pthread_cond_destroy(&ss.cv);
    ff_http_client_close(&proto);
    return failed ? 1 : 0;
}
