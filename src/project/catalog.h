/* catalog.h - the project catalog in SQLite (DATA/projects.db): creating projects, rotating
 * keys, changing settings, and loading it all into a struct ff_projects.
 *
 *   project(id PRIMARY KEY, name, created_us, timezone, cors_origins, accept_keyless,
 *           honor_dnt, scrub_pii, pii_keep, key_rate, ip_rate, cookieless, session_timeout)
 *   api_key(lookup PRIMARY KEY, project, kind 'write'|'read', shown, created_us, expires_us)
 *
 * Write keys are public and kept as they are (lookup = the key); read keys are secrets and
 * kept only as their digest (lookup = ff_key_digest), so they are shown once, when made.
 * `shown` is what `project list` prints: the whole write key, a read key's first characters.
 * Each connection is for one thread. */
#ifndef FF_CATALOG_H
#define FF_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "project/projects.h"

struct ff_catalog;

enum ff_key_kind { FF_KEY_WRITE, FF_KEY_READ };

/* Opens (creating when `create`) DATA/projects.db. On failure returns an error and says why
 * in err. */
int ff_catalog_open(const char *data_dir, int create, struct ff_catalog **out, char *err, size_t errlen);
void ff_catalog_close(struct ff_catalog *c);

/* Creates a project with a write key and a read key, copied to the out buffers
 * (FF_KEY_MAX + 1 bytes each). The write keys are `given` (n of them; moving SDKs over from
 * another tool), or a new random one when n is 0 (write_key gets the first). FF_EINVAL with a
 * message for a bad or taken id or key. */
int ff_catalog_create(struct ff_catalog *c, const char *id, const char *name, const char *const *given, size_t n,
                      char *write_key, char *read_key, char *err, size_t errlen);
/* Makes a new key of `kind` for the project; the old ones of that kind stop working after
 * `grace_s` seconds (0: at once). */
int ff_catalog_rotate_key(struct ff_catalog *c, const char *id, int kind, int64_t grace_s, char *new_key,
                          char *err, size_t errlen);
/* Adds a key of `kind` beside the project's others: a new random one, or (write keys only)
 * `given`, a key SDKs already send (moving from another tool). */
int ff_catalog_add_key(struct ff_catalog *c, const char *id, int kind, const char *given, char *new_key, char *err,
                       size_t errlen);
/* Changes one setting ("timezone", "cors-origins", "accept-keyless", "dnt", "scrub-pii",
 * "pii-keep", "key-rate", "ip-rate", "cookieless", "session-timeout", "name") after checking
 * the value. */
int ff_catalog_set(struct ff_catalog *c, const char *id, const char *setting, const char *value, char *err,
                   size_t errlen);
/* The name of the i-th setting ff_catalog_set knows, NULL past the last (for help texts). */
const char *ff_catalog_setting(size_t i);

/* The salt of cookieless visitor ids for `day` (days since 1970-01-01, UTC): made at random
 * by the first to ask, the same for every caller that day; salts of days before yesterday
 * are deleted on the way, so no one can link a visitor across days. 0 or -EIO. */
int ff_catalog_visitor_salt(struct ff_catalog *c, int32_t day, uint8_t salt[32]);

/* Reads every project and live key. */
int ff_catalog_load(struct ff_catalog *c, struct ff_projects *out, char *err, size_t errlen);
/* Number of projects (for "create a default one on first start"); -1 on error. */
int ff_catalog_count(struct ff_catalog *c);
/* The SQLite connection, for the catalog's other tables (segments.c). */
struct sqlite3;
struct sqlite3 *ff_catalog_db(struct ff_catalog *c);

/* 1 when another connection changed the file since the last call (PRAGMA data_version). */
int ff_catalog_changed(struct ff_catalog *c);

/* The live keys of a project, oldest first, as `project list` shows them. */
struct ff_key_info {
    int kind;              /* enum ff_key_kind */
    const char *shown;     /* a write key whole, a read key's first characters */
    int64_t created_us, expires_us;
};
typedef int (*ff_catalog_key_fn)(const struct ff_key_info *k, void *arg);
int ff_catalog_keys(struct ff_catalog *c, const char *id, ff_catalog_key_fn fn, void *arg);

/* Appends the catalog as JSON: {"projects":[{id, name, settings…, keys:[{kind, shown,
 * created, expires}]}]} (buf.h). */
struct ff_buf;
int ff_catalog_list_json(struct ff_catalog *c, struct ff_buf *out, char *err, size_t errlen);

#endif
