/* generate_cmd.c - `footfall generate`: realistic history (src/gen/generator.h) sent to a
 * running server through the Segment batch API, as an app's backend would send it: every
 * event goes through the same enrichment, identity, sessions and store as live ones, so each
 * page of the dashboard has something to show. */
#include <errno.h>
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

struct sender {
    struct ff_http_client http;
    struct ff_buf body, resp;
    int64_t now_us;
    size_t in_batch;
    uint64_t sent;
    int failed;
};

static int flush_batch(struct sender *s)
{
    if (!s->in_batch || s->failed) return s->failed;
    char why[256];
    int status = 0;
    s->body.len--; /* the last comma */
    int rc = ff_buf_append_str(&s->body, "]}");
    if (!rc) rc = ff_http_post(&s->http, "/v1/batch", s->body.data, s->body.len, &status, &s->resp, why, sizeof why);
    if (rc) {
        fprintf(stderr, "footfall generate: cannot send to %s:%s: %s\n", s->http.host, s->http.port, why);
        s->failed = 1;
    } else if (status != 200) {
        fprintf(stderr, "footfall generate: the server answered %d: %.*s\n", status, (int)(s->resp.len < 500 ? s->resp.len : 500),
                s->resp.data ? s->resp.data : "");
        s->failed = 1;
    } else {
        s->sent += s->in_batch;
    }
    s->in_batch = 0;
    ff_buf_reset(&s->body);
    return s->failed;
}

/* One event as Segment's batch API takes it. */
static void add_event(void *arg, const struct ff_event *ev, uint64_t visit)
{
    struct sender *s = arg;
    (void)visit;
    if (s->failed) return;
    if (ev->timestamp_us > s->now_us) return; /* today's later hours have not happened yet */
    /* As the API gives events back, less what the server works out itself: when it received
     * them (now; a sentAt would be corrected for as clock skew) and the key (the request's). */
    struct ff_event e = *ev;
    e.original_timestamp_us = e.sent_at_us = e.received_at_us = FF_TIME_NONE;
    e.write_key = (struct ff_str){"", 0};
    struct ff_buf *b = &s->body;
    int rc = s->in_batch ? 0 : ff_buf_append_str(b, "{\"batch\":[");
    if (!rc) rc = ff_event_write_json(b, &e);
    if (!rc) rc = ff_buf_putc(b, ',');
    if (rc) {
        fprintf(stderr, "footfall generate: out of memory\n");
        s->failed = 1;
        return;
    }
    if (++s->in_batch == BATCH_EVENTS) flush_batch(s);
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
    struct sender s;
    memset(&s, 0, sizeof s);
    if (ff_http_client_init(&s.http, url, key)) return 2;
    ff_buf_init(&s.body, (size_t)1 << 24);
    ff_buf_init(&s.resp, (size_t)1 << 20);
    s.now_us = ff_now_us();
    /* The last --days × 24 hours, ending now: calendar days ending today made `--days 1` at
     * 01:00 UTC an hour of history, its other 23 hours generated and dropped as not yet
     * happened. */
    int64_t day_us = 86400LL * 1000000;
    struct ff_gen_opts o = {.seed = seed, .start_us = s.now_us - (int64_t)days * day_us, .days = (int)days,
                            .people = events / 40 > 1000 ? events / 40 : 1000, .public_ips = 1};
    struct ff_gen *g;
    if (ff_gen_new(&g, &o)) {
        fprintf(stderr, "footfall generate: cannot start the generator\n");
        return 1;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!s.failed && s.sent + s.in_batch < events) ff_gen_session(g, add_event, &s);
    flush_batch(&s);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (!s.failed)
        printf("generated %llu events in %llu sessions over %llu days into %s:%s (%.1f s, %.0f events/s)\n",
               (unsigned long long)s.sent, (unsigned long long)ff_gen_sessions(g), (unsigned long long)days, s.http.host,
               s.http.port, secs, secs > 0 ? (double)s.sent / secs : 0.0);
    ff_gen_free(g);
    ff_http_client_close(&s.http);
    ff_buf_free(&s.body);
    ff_buf_free(&s.resp);
    return s.failed ? 1 : 0;
}
