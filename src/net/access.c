/* access.c - projects per event loop, read keys and rate limits (see access.h). */
#include "net/access.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <xxhash.h>

#include "cli/cli.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "store/schema.h"
#include "core/textcodec.h"
#include "net/ratelimit.h"
#include "net/server.h"
#include "project/catalog.h"

int ff_access_bootstrap(const char *data_dir)
{
    struct ff_catalog *c;
    char err[1024];
    int rc = ff_catalog_open(data_dir, 1, &c, err, sizeof err);
    if (rc) {
        ff_error("cannot open the project catalog: %s", err);
        return rc;
    }
    int n = ff_catalog_count(c);
    if (n == 0) {
        char w[FF_KEY_MAX + 1], r[FF_KEY_MAX + 1];
        rc = ff_catalog_create(c, FF_DEFAULT_PROJECT, "Default project", NULL, 0, w, r, err, sizeof err);
        if (rc) ff_error("cannot create the default project: %s", err);
        else {
            printf("created ");
            ff_print_new_project(stdout, FF_DEFAULT_PROJECT, w, r);
            ff_info("created project %s (its keys are on stdout; `footfall project list` shows the write key)",
                    FF_DEFAULT_PROJECT);
        }
    } else if (n < 0) {
        ff_error("cannot read the project catalog in %s/projects.db", data_dir);
        rc = -EIO;
    }
    ff_catalog_close(c);
    return rc;
}

static int reload(struct ff_loop *loop)
{
    struct ff_projects p;
    char err[1024];
    int rc = ff_catalog_load(loop->catalog, &p, err, sizeof err);
    if (rc) {
        ff_error("loop %d: cannot reload the project catalog (keeping the last one): %s", loop->index, err);
        return rc;
    }
    if (loop->has_projects) ff_projects_free(&loop->projects);
    loop->projects = p;
    loop->has_projects = 1;
    return 0;
}

const uint8_t *ff_loop_visitor_salt(struct ff_loop *loop, int64_t now_us)
{
    if (!loop->catalog) return NULL;
    int32_t day = ff_day_of(now_us);
    if (day != loop->visitor_salt_day) {
        if (ff_catalog_visitor_salt(loop->catalog, day, loop->visitor_salt)) {
            ff_error("loop %d: cannot read or make today's visitor salt in projects.db", loop->index);
            loop->visitor_salt_day = INT32_MIN;
            return NULL;
        }
        loop->visitor_salt_day = day;
    }
    return loop->visitor_salt;
}

static void on_salt_timer(uv_timer_t *t)
{
    struct ff_loop *loop = t->data;
    loop->visitor_salt_day = INT32_MIN; /* ask the catalog again: that also deletes old salts */
    ff_loop_visitor_salt(loop, ff_now_us());
}

int ff_access_open(struct ff_loop *loop)
{
    char err[1024];
    loop->visitor_salt_day = INT32_MIN;
    int rc = ff_catalog_open(loop->srv->opts.data_dir, 0, &loop->catalog, err, sizeof err);
    if (rc) {
        ff_error("cannot open the project catalog: %s", err);
        return rc;
    }
    if ((rc = reload(loop))) return rc;
    if (loop->index == 0) {
        ff_loop_visitor_salt(loop, ff_now_us());
        uv_timer_init(&loop->uv, &loop->salt_timer);
        loop->salt_timer.data = loop;
        uv_timer_start(&loop->salt_timer, on_salt_timer, 60000, 60000);
        uv_unref((uv_handle_t *)&loop->salt_timer); /* never what keeps the loop running */
    }
    return 0;
}

void ff_access_stop(struct ff_loop *loop)
{
    if (loop->index == 0 && loop->catalog) uv_close((uv_handle_t *)&loop->salt_timer, NULL);
}

void ff_access_close(struct ff_loop *loop)
{
    if (loop->has_projects) ff_projects_free(&loop->projects);
    loop->has_projects = 0;
    ff_catalog_close(loop->catalog);
    loop->catalog = NULL;
}

const struct ff_projects *ff_loop_projects(struct ff_loop *loop, int64_t now_us)
{
    if (!loop->catalog) return NULL;
    if (now_us - loop->projects_checked_us >= 1000000) {
        loop->projects_checked_us = now_us;
        if (ff_catalog_changed(loop->catalog)) reload(loop);
    }
    return &loop->projects;
}

/* The key of "Authorization: Bearer KEY" or "Authorization: Basic base64(KEY:)". */
static struct ff_str auth_key(struct ff_conn *c, struct ff_buf *tmp)
{
    size_t len;
    const char *a = ff_req_header(c, FF_HDR_AUTHORIZATION, &len);
    if (!a) return (struct ff_str){"", 0};
    if (len > 7 && strncasecmp(a, "Bearer ", 7) == 0) {
        a += 7, len -= 7;
        while (len && *a == ' ') a++, len--;
        return (struct ff_str){a, (uint32_t)len};
    }
    return ff_basic_auth_user(c, tmp);
}

struct ff_str ff_basic_auth_user(struct ff_conn *c, struct ff_buf *tmp)
{
    size_t len;
    const char *a = ff_req_header(c, FF_HDR_AUTHORIZATION, &len);
    if (!a || len < 6 || strncasecmp(a, "Basic ", 6) != 0) return (struct ff_str){"", 0};
    a += 6, len -= 6;
    while (len && *a == ' ') a++, len--;
    ff_buf_reset(tmp);
    if (ff_base64_decode(tmp, a, len) || !tmp->data) return (struct ff_str){"", 0};
    const char *colon = memchr(tmp->data, ':', tmp->len);
    return (struct ff_str){tmp->data, (uint32_t)(colon ? (size_t)(colon - tmp->data) : tmp->len)};
}

const struct ff_project *ff_require_read_key(struct ff_conn *c)
{
    static const struct ff_project everything; /* a harness without a catalog reads it all */
    const struct ff_projects *ps = ff_loop_projects(c->loop, c->req.received_at_us);
    if (!ps) return &everything;
    struct ff_buf tmp;
    ff_buf_init(&tmp, 4096);
    struct ff_str key = auth_key(c, &tmp);
    const struct ff_project *p = ff_projects_by_read_key(ps, key.p, key.len, c->req.received_at_us);
    ff_buf_free(&tmp);
    if (!p)
        ff_respond_error(c, 401,
                         key.len ? "unknown read key: it opens no project (or it was rotated away)"
                                 : "a read key is required: send \"Authorization: Bearer <read key>\"",
                         "Authorization", "WWW-Authenticate: Bearer realm=\"footfall\"\r\n");
    return p;
}

int ff_rate_check(struct ff_conn *c, const struct ff_project *p, uint32_t events)
{
    if (!p || (!p->key_rate && !p->ip_rate) || !c->loop->srv->rates) return 0;
    int64_t now = c->req.received_at_us;
    uint64_t base = XXH3_64bits(p->id, strlen(p->id));
    uint32_t wait = ff_ratelimit_take(c->loop->srv->rates, base, p->key_rate, events, now);
    const char *what = "the project's write key";
    if (!wait && p->ip_rate) {
        wait = ff_ratelimit_take(c->loop->srv->rates, XXH3_64bits_withSeed(c->peer_ip, strlen(c->peer_ip), base),
                                 p->ip_rate, events, now);
        what = "this client address";
    }
    if (!wait) return 0;
    char msg[200], hdr[64];
    snprintf(msg, sizeof msg, "rate limit: %s may send %u events per second; nothing of this request was stored",
             what, what[4] == 'p' ? p->key_rate : p->ip_rate);
    snprintf(hdr, sizeof hdr, "Retry-After: %u\r\n", wait);
    ff_respond_error(c, 429, msg, "", hdr);
    return -1;
}
