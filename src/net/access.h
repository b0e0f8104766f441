/* access.h - who may do what: the project catalog as each event loop sees it, the read key
 * every read endpoint asks for, and the rate limits a project sets.
 *
 * Each loop has its own SQLite connection and its own loaded copy of the catalog, checked
 * for changes at most once a second (`footfall project ...` edits it from another process),
 * so looking a key up is lock-free on the ingest path. */
#ifndef FF_ACCESS_H
#define FF_ACCESS_H

#include <stdint.h>

#include "project/projects.h"

struct ff_loop;
struct ff_conn;

/* Creates DATA/projects.db on first start, with a project "default" whose keys it prints to
 * stdout: a fresh install is usable at once. */
int ff_access_bootstrap(const char *data_dir);
/* A loop's connection to the catalog, loaded; ff_access_close releases it. */
int ff_access_open(struct ff_loop *loop);
void ff_access_close(struct ff_loop *loop);
/* Closes the loop's handles (the salt timer) when the loop stops, before it is freed. */
void ff_access_stop(struct ff_loop *loop);

/* The catalog as of at most a second ago; NULL in harnesses without one. */
const struct ff_projects *ff_loop_projects(struct ff_loop *loop, int64_t now_us);

/* Today's salt of cookieless visitor ids (UTC days), NULL when the catalog cannot give one
 * (the events then need ids of their own). Renewed at the first request of a day, and by a
 * timer on loop 0 that ff_access_open starts, so old salts go even while nobody visits. */
const uint8_t *ff_loop_visitor_salt(struct ff_loop *loop, int64_t now_us);

/* The project the request's read key opens (Authorization: Bearer KEY, or Basic with the key
 * as user). When it opens none, answers 401 and returns NULL. In a harness without a catalog,
 * returns a project with an empty id, which reads everything. */
const struct ff_project *ff_require_read_key(struct ff_conn *c);

/* The user of "Authorization: Basic base64(user:password)", decoded into tmp; empty when absent. */
#include "core/buf.h"
struct ff_str ff_basic_auth_user(struct ff_conn *c, struct ff_buf *tmp);

/* Applies the project's per-key and per-IP limits to `events` events from this request. 0 when
 * within them; else answers 429 with Retry-After and returns -1. */
int ff_rate_check(struct ff_conn *c, const struct ff_project *p, uint32_t events);

#endif
