/* catalog.c - the project catalog in SQLite (see catalog.h). */
#include "project/catalog.h"

#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/errors.h"
#include "core/json.h"
#include "core/timeutil.h"

struct ff_catalog {
    sqlite3 *db;
    long long data_version;
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS project("
    " id TEXT PRIMARY KEY, name TEXT NOT NULL, created_us INTEGER NOT NULL,"
    " timezone TEXT NOT NULL DEFAULT 'UTC', cors_origins TEXT NOT NULL DEFAULT '',"
    " accept_keyless INTEGER NOT NULL DEFAULT 0, honor_dnt INTEGER NOT NULL DEFAULT 0,"
    " scrub_pii INTEGER NOT NULL DEFAULT 1, pii_keep TEXT NOT NULL DEFAULT '',"
    " key_rate INTEGER NOT NULL DEFAULT 0, ip_rate INTEGER NOT NULL DEFAULT 0,"
    " cookieless INTEGER NOT NULL DEFAULT 1, session_timeout INTEGER NOT NULL DEFAULT 30);"
    "CREATE TABLE IF NOT EXISTS api_key("
    " lookup TEXT PRIMARY KEY, project TEXT NOT NULL REFERENCES project(id),"
    " kind TEXT NOT NULL CHECK (kind IN ('write', 'read')), shown TEXT NOT NULL,"
    " created_us INTEGER NOT NULL, expires_us INTEGER NOT NULL DEFAULT 0);"
    /* the daily salts of cookieless visitor ids: today's and yesterday's, no older */
    "CREATE TABLE IF NOT EXISTS visitor_salt(day INTEGER PRIMARY KEY, salt BLOB NOT NULL);"
    /* saved segments (segments.c): a table of its own, so catalogs without it need no migration */
    "CREATE TABLE IF NOT EXISTS segment(project TEXT NOT NULL, name TEXT NOT NULL, definition TEXT NOT NULL,"
    " created_us INTEGER NOT NULL, PRIMARY KEY (project, name));"
    /* the dashboard's boards (segments.c), likewise */
    "CREATE TABLE IF NOT EXISTS board(project TEXT NOT NULL, name TEXT NOT NULL, definition TEXT NOT NULL,"
    " created_us INTEGER NOT NULL, PRIMARY KEY (project, name));"
    /* alert rules and k-means models (segments.c) and alert firings (alert_events.c), likewise */
    "CREATE TABLE IF NOT EXISTS alert(project TEXT NOT NULL, name TEXT NOT NULL, definition TEXT NOT NULL,"
    " created_us INTEGER NOT NULL, PRIMARY KEY (project, name));"
    "CREATE TABLE IF NOT EXISTS segment_model(project TEXT NOT NULL, name TEXT NOT NULL, definition TEXT NOT NULL,"
    " created_us INTEGER NOT NULL, PRIMARY KEY (project, name));"
    "CREATE TABLE IF NOT EXISTS alert_event(project TEXT NOT NULL, name TEXT NOT NULL, bucket TEXT NOT NULL,"
    " fired_us INTEGER NOT NULL, payload TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
    " delivered INTEGER NOT NULL DEFAULT 0, outcome TEXT NOT NULL DEFAULT '', PRIMARY KEY (project, name, bucket));";

/* The catalog layout this version writes (PRAGMA user_version). A binary refuses a catalog
 * of a later layout rather than misread it; later versions migrate earlier ones. */
#define CATALOG_VERSION 2
#define FF_STR_(x) #x
#define FF_XSTR(x) FF_STR_(x)

static int fail(char *err, size_t errlen, int rc, const char *fmt, const char *a, const char *b)
{
    snprintf(err, errlen, fmt, a, b);
    return rc;
}

static int db_fail(struct ff_catalog *c, char *err, size_t errlen, const char *what)
{
    return fail(err, errlen, -EIO, "projects.db: %s: %s", what, sqlite3_errmsg(c->db));
}

/* Stamps a new catalog with CATALOG_VERSION; refuses one a later footfall wrote. */
static int user_version(struct ff_catalog *c, const char *path, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int v = -1;
    if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) return -1;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (v == 0) return sqlite3_exec(c->db, "PRAGMA user_version = " FF_XSTR(CATALOG_VERSION), NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
    /* 1 → 2: projects got their session timeout */
    if (v == 1 && sqlite3_exec(c->db,
                               "BEGIN IMMEDIATE; ALTER TABLE project ADD COLUMN session_timeout INTEGER NOT NULL DEFAULT 30;"
                               " PRAGMA user_version = 2; COMMIT;",
                               NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        snprintf(err, errlen, "%s: cannot add session timeouts to the catalog: %s", path, sqlite3_errmsg(c->db));
        return -1;
    }
    if (v == 1) v = 2;
    if (v > CATALOG_VERSION) {
        snprintf(err, errlen, "%s: written by a later footfall (catalog version %d; this one knows %d)", path, v,
                 CATALOG_VERSION);
        return -1;
    }
    return v == CATALOG_VERSION ? 0 : -1;
}

int ff_catalog_open(const char *data_dir, int create, struct ff_catalog **out, char *err, size_t errlen)
{
    *out = NULL;
    if (errlen) err[0] = '\0';
    if (sodium_init() < 0) return fail(err, errlen, -EIO, "%s%s", "libsodium could not start", "");
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/projects.db", data_dir) >= sizeof path)
        return fail(err, errlen, FF_EINVAL, "%s%s: path too long", data_dir, "");
    struct ff_catalog *c = ff_calloc(1, sizeof *c);
    if (!c) return -ENOMEM;
    int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK) {
        int rc = fail(err, errlen, -ENOENT, "%s: %s", path, c->db ? sqlite3_errmsg(c->db) : "cannot open");
        if (!create) snprintf(err, errlen, "%s: no project catalog here (start `footfall serve --data %s` once)", path,
                              data_dir);
        sqlite3_close(c->db);
        ff_free(c);
        return rc;
    }
    /* WAL: the server's readers never block the CLI's writer; a writer waits up to 5 s.
     * secure_delete: a visitor-id salt deleted after 48 hours (and a rotated key) is
     * overwritten, not left readable in a free page; Debian's SQLite does it by default, an
     * SQLite built otherwise would not. */
    sqlite3_busy_timeout(c->db, 5000);
    char *msg = NULL;
    if (sqlite3_exec(c->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; "
                            "PRAGMA secure_delete=ON;",
                     NULL, NULL, &msg) != SQLITE_OK ||
        user_version(c, path, err, errlen) || sqlite3_exec(c->db, schema_sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = msg || !*err ? fail(err, errlen, -EIO, "%s: %s", path, msg ? msg : sqlite3_errmsg(c->db)) : -EIO;
        sqlite3_free(msg);
        sqlite3_close(c->db);
        ff_free(c);
        return rc;
    }
    c->data_version = -1;
    ff_catalog_changed(c);
    *out = c;
    return 0;
}

struct sqlite3 *ff_catalog_db(struct ff_catalog *c) { return c->db; }

void ff_catalog_close(struct ff_catalog *c)
{
    if (!c) return;
    sqlite3_close(c->db);
    ff_free(c);
}

int ff_catalog_changed(struct ff_catalog *c)
{
    sqlite3_stmt *st;
    long long v = c->data_version;
    if (sqlite3_prepare_v2(c->db, "PRAGMA data_version", -1, &st, NULL) != SQLITE_OK) return 0;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    int changed = v != c->data_version;
    c->data_version = v;
    return changed;
}

int ff_catalog_count(struct ff_catalog *c)
{
    sqlite3_stmt *st;
    int n = -1;
    if (sqlite3_prepare_v2(c->db, "SELECT count(*) FROM project", -1, &st, NULL) != SQLITE_OK) return -1;
    if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* ---- keys ---- */

/* 1 to `max` characters: lower-case letters and digits, '-' and '_' after the first; with
 * `key`, upper-case letters and '.' too, anywhere. Project ids are the first kind; write keys
 * brought from elsewhere (an SDK already deployed with one) the second. */
static int valid_name(const char *s, size_t max, int key)
{
    size_t n = strlen(s);
    if (n == 0 || n > max) return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ((i > 0 || key) && (ch == '-' || ch == '_')) ||
                 (key && ((ch >= 'A' && ch <= 'Z') || ch == '.'));
        if (!ok) return 0;
    }
    return 1;
}

static int valid_given_key(const char *k) { return valid_name(k, FF_KEY_MAX, 1); }

/* "ffw_" or "ffr_" and base62 characters from the kernel's randomness: 131 bits for a write
 * key, 190 for a read key. */
static void make_key(int kind, char *out)
{
    static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    int n = kind == FF_KEY_WRITE ? 22 : 32;
    memcpy(out, kind == FF_KEY_WRITE ? "ffw_" : "ffr_", 4);
    for (int i = 0; i < n; i++) out[4 + i] = alphabet[randombytes_uniform(62)];
    out[4 + n] = '\0';
}

void ff_key_digest(const char *key, size_t len, char out[65])
{
    unsigned char h[32];
    crypto_generichash(h, sizeof h, (const unsigned char *)key, len, NULL, 0);
    sodium_bin2hex(out, 65, h, sizeof h);
}

/* Inserts `given` (a write key only) or a new random key of `kind`; copies it to key_out. */
static int insert_key(struct ff_catalog *c, const char *project, int kind, const char *given, char *key_out,
                      char *err, size_t errlen)
{
    char key[FF_KEY_MAX + 1], digest[65], shown[FF_KEY_MAX + 8];
    if (given) snprintf(key, sizeof key, "%s", given);
    else make_key(kind, key);
    const char *lookup = key;
    if (kind == FF_KEY_READ) {
        ff_key_digest(key, strlen(key), digest);
        lookup = digest;
        snprintf(shown, sizeof shown, "%.10s…", key);
    } else {
        snprintf(shown, sizeof shown, "%s", key);
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db,
                           "INSERT INTO api_key(lookup, project, kind, shown, created_us) VALUES (?1, ?2, ?3, ?4, ?5)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(c, err, errlen, "insert key");
    sqlite3_bind_text(st, 1, lookup, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, project, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, kind == FF_KEY_WRITE ? "write" : "read", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, shown, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 5, ff_now_us());
    int s = sqlite3_step(st);
    int rc = s == SQLITE_DONE ? 0
             : s == SQLITE_CONSTRAINT ? fail(err, errlen, FF_EINVAL, "the key %s%s is in use already", key, "")
                                      : db_fail(c, err, errlen, "insert key");
    sqlite3_finalize(st);
    if (!rc) strcpy(key_out, key);
    return rc;
}

static int valid_id(const char *id) { return valid_name(id, FF_PROJECT_ID_MAX, 0); }

static int exec(struct ff_catalog *c, const char *sql)
{
    return sqlite3_exec(c->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
}

/* Ends the write transaction: commits when rc is 0, else rolls back and returns rc. */
static int in_transaction(struct ff_catalog *c, int rc, char *err, size_t errlen)
{
    if (rc) {
        exec(c, "ROLLBACK");
        return rc;
    }
    return exec(c, "COMMIT") ? db_fail(c, err, errlen, "commit") : 0;
}


static int project_exists(struct ff_catalog *c, const char *id)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db, "SELECT 1 FROM project WHERE id = ?1", -1, &st, NULL) != SQLITE_OK) return -EIO;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -EIO;
}

/* Starts a write transaction (BEGIN IMMEDIATE: the lock is taken up front) on an existing
 * project; on an error there is no transaction left open. */
static int begin_on_project(struct ff_catalog *c, const char *id, char *err, size_t errlen)
{
    if (exec(c, "BEGIN IMMEDIATE")) return db_fail(c, err, errlen, "begin");
    int rc = project_exists(c, id);
    if (rc == 1) return 0;
    if (rc == 0) rc = fail(err, errlen, FF_EINVAL, "no project '%s' (see `footfall project list`)%s", id, "");
    else rc = db_fail(c, err, errlen, "read");
    exec(c, "ROLLBACK");
    return rc;
}

int ff_catalog_create(struct ff_catalog *c, const char *id, const char *name, const char *const *given, size_t n,
                      char *write_key, char *read_key, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++)
        if (!valid_given_key(given[i]))
            return fail(err, errlen, FF_EINVAL, "invalid write key '%s': 1 to 64 of A-Z a-z 0-9 . _ -%s", given[i], "");
    if (!valid_id(id))
        return fail(err, errlen, FF_EINVAL,
                    "invalid project id '%s': 1 to 64 characters, lower-case letters, digits, '-' and '_', "
                    "starting with a letter or digit%s", id, "");
    if (strlen(name) > 200) return fail(err, errlen, FF_EINVAL, "project name is longer than 200 bytes%s%s", "", "");
    if (exec(c, "BEGIN IMMEDIATE")) return db_fail(c, err, errlen, "begin");
    int rc = project_exists(c, id);
    if (rc == 1) rc = fail(err, errlen, FF_EINVAL, "project '%s' exists already%s", id, "");
    else if (rc < 0) rc = db_fail(c, err, errlen, "read");
    if (!rc) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(c->db, "INSERT INTO project(id, name, created_us) VALUES (?1, ?2, ?3)", -1, &st, NULL) !=
            SQLITE_OK) {
            rc = db_fail(c, err, errlen, "insert project");
        } else {
            sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(st, 3, ff_now_us());
            rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(c, err, errlen, "insert project");
            sqlite3_finalize(st);
        }
    }
    char scratch[FF_KEY_MAX + 1];
    for (size_t i = 0; !rc && i < n; i++) rc = insert_key(c, id, FF_KEY_WRITE, given[i], i ? scratch : write_key, err, errlen);
    if (!rc && !n) rc = insert_key(c, id, FF_KEY_WRITE, NULL, write_key, err, errlen);
    if (!rc) rc = insert_key(c, id, FF_KEY_READ, NULL, read_key, err, errlen);
    return in_transaction(c, rc, err, errlen);
}

int ff_catalog_rotate_key(struct ff_catalog *c, const char *id, int kind, int64_t grace_s, char *new_key, char *err,
                          size_t errlen)
{
    int rc = begin_on_project(c, id, err, errlen);
    if (rc) return rc;
    if (!rc) {
        sqlite3_stmt *st;
        int64_t now = ff_now_us(), until = now + (grace_s > 0 ? grace_s * 1000000 : 0);
        /* Keys already on their way out keep their earlier end. */
        if (sqlite3_prepare_v2(c->db,
                               "UPDATE api_key SET expires_us = ?1 WHERE project = ?2 AND kind = ?3 AND "
                               "(expires_us = 0 OR expires_us > ?1)",
                               -1, &st, NULL) != SQLITE_OK) {
            rc = db_fail(c, err, errlen, "rotate");
        } else {
            sqlite3_bind_int64(st, 1, until > now ? until : now);
            sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 3, kind == FF_KEY_WRITE ? "write" : "read", -1, SQLITE_STATIC);
            rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(c, err, errlen, "rotate");
            sqlite3_finalize(st);
        }
    }
    if (!rc) rc = insert_key(c, id, kind, NULL, new_key, err, errlen);
    return in_transaction(c, rc, err, errlen);
}

int ff_catalog_add_key(struct ff_catalog *c, const char *id, int kind, const char *given, char *new_key, char *err,
                       size_t errlen)
{
    if (given && kind != FF_KEY_WRITE)
        return fail(err, errlen, FF_EINVAL, "a read key cannot be chosen: footfall makes it (random, %s%s)", "190 bits", "");
    if (given && !valid_given_key(given))
        return fail(err, errlen, FF_EINVAL, "invalid write key '%s': 1 to 64 of A-Z a-z 0-9 . _ -%s", given, "");
    int rc = begin_on_project(c, id, err, errlen);
    if (rc) return rc;
    rc = insert_key(c, id, kind, given, new_key, err, errlen);
    return in_transaction(c, rc, err, errlen);
}

/* ---- settings ---- */

enum setting_type { S_TEXT, S_BOOL, S_RATE, S_TIMEZONE, S_ORIGINS, S_MINUTES };
static const struct setting {
    const char *name, *column;
    int type;
} settings[] = {
    {"name", "name", S_TEXT},
    {"timezone", "timezone", S_TIMEZONE},
    {"cors-origins", "cors_origins", S_ORIGINS},
    {"accept-keyless", "accept_keyless", S_BOOL},
    {"dnt", "honor_dnt", S_BOOL},
    {"scrub-pii", "scrub_pii", S_BOOL},
    {"pii-keep", "pii_keep", S_TEXT},
    {"key-rate", "key_rate", S_RATE},
    {"ip-rate", "ip_rate", S_RATE},
    {"cookieless", "cookieless", S_BOOL},
    {"session-timeout", "session_timeout", S_MINUTES},
};
const char *ff_catalog_setting(size_t i) { return i < sizeof settings / sizeof *settings ? settings[i].name : NULL; }

/* "name, timezone, …": the settings there are, for messages. */
static void setting_names(char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof settings / sizeof *settings && o < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? ", " : "", settings[i].name);
}

/* An IANA zone is a TZif file under the system's zoneinfo (Debian package tzdata). */
static int valid_timezone(const char *tz)
{
    if (strcmp(tz, "UTC") == 0) return 1;
    if (!*tz || tz[0] == '/' || strstr(tz, "..") || strlen(tz) > 64) return 0;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", tz);
    FILE *f = fopen(path, "rb");
    char magic[4] = {0};
    int ok = f && fread(magic, 1, 4, f) == 4 && memcmp(magic, "TZif", 4) == 0;
    if (f) fclose(f);
    return ok;
}

/* Each origin is scheme://host[:port], as browsers send it. */
static int valid_origins(const char *v)
{
    for (const char *p = v; *p;) {
        while (*p == ' ') p++;
        if (!*p) break;
        const char *e = strchr(p, ' ');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        const char *sep = memmem(p, n, "://", 3);
        if (!sep || sep == p || (size_t)(sep - p) + 3 >= n || memchr(sep + 3, '/', n - (size_t)(sep - p) - 3))
            return 0;
        p += n;
    }
    return 1;
}

int ff_catalog_set(struct ff_catalog *c, const char *id, const char *name, const char *value, char *err,
                   size_t errlen)
{
    const struct setting *s = NULL;
    for (size_t i = 0; i < sizeof settings / sizeof *settings; i++)
        if (strcmp(settings[i].name, name) == 0) s = &settings[i];
    if (!s) {
        char names[256];
        setting_names(names, sizeof names);
        return fail(err, errlen, FF_EINVAL, "unknown setting '%s' (%s)", name, names);
    }
    long long n = 0;
    int is_int = s->type == S_BOOL || s->type == S_RATE || s->type == S_MINUTES;
    if (s->type == S_BOOL) {
        if (strcmp(value, "on") == 0) n = 1;
        else if (strcmp(value, "off") != 0) return fail(err, errlen, FF_EINVAL, "%s must be on or off, not '%s'", name, value);
    } else if (s->type == S_RATE) {
        char *end;
        n = strtoll(value, &end, 10);
        if (!*value || *end || n < 0 || n > 100000000)
            return fail(err, errlen, FF_EINVAL, "%s must be events per second from 0 (no limit) to 100000000, not '%s'",
                        name, value);
    } else if (s->type == S_MINUTES) {
        char *end;
        n = strtoll(value, &end, 10);
        if (!*value || *end || n < 1 || n > 1440)
            return fail(err, errlen, FF_EINVAL, "%s must be minutes of inactivity from 1 to 1440 (a day), not '%s'", name,
                        value);
    } else if (s->type == S_TIMEZONE && !valid_timezone(value)) {
        return fail(err, errlen, FF_EINVAL, "%s: '%s' is not a time zone of the tz database (e.g. Europe/Berlin)", name,
                    value);
    } else if (s->type == S_ORIGINS && !valid_origins(value)) {
        return fail(err, errlen, FF_EINVAL,
                    "%s: '%s' is not a space-separated list of origins such as https://shop.example:8443", name, value);
    } else if (strlen(value) > 4096) {
        return fail(err, errlen, FF_EINVAL, "%s is longer than 4096 bytes%s", name, "");
    }
    int rc = begin_on_project(c, id, err, errlen);
    if (rc) return rc;
    /* Only one project can take keyless events. */
    if (!rc && s->type == S_BOOL && strcmp(s->column, "accept_keyless") == 0 && n == 1 &&
        exec(c, "UPDATE project SET accept_keyless = 0"))
        rc = db_fail(c, err, errlen, "update");
    if (!rc) {
        char sql[128];
        snprintf(sql, sizeof sql, "UPDATE project SET %s = ?1 WHERE id = ?2", s->column);
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
            rc = db_fail(c, err, errlen, "update");
        } else {
            if (is_int) sqlite3_bind_int64(st, 1, n);
            else sqlite3_bind_text(st, 1, value, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
            rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(c, err, errlen, "update");
            sqlite3_finalize(st);
        }
    }
    return in_transaction(c, rc, err, errlen);
}

/* ---- the daily salt of cookieless visitor ids ---- */

int ff_catalog_visitor_salt(struct ff_catalog *c, int32_t day, uint8_t salt[32])
{
    unsigned char fresh[32];
    randombytes_buf(fresh, sizeof fresh);
    if (exec(c, "BEGIN IMMEDIATE")) return -EIO;
    sqlite3_stmt *st = NULL;
    int rc = 0;
    /* yesterday's stays for visits that span midnight; anything older goes */
    if (sqlite3_prepare_v2(c->db, "DELETE FROM visitor_salt WHERE day < ?1 - 1 OR day > ?1 + 1", -1, &st, NULL) !=
        SQLITE_OK)
        rc = -EIO;
    int deleted = 0;
    if (!rc) {
        sqlite3_bind_int(st, 1, day);
        if (sqlite3_step(st) != SQLITE_DONE) rc = -EIO;
        else deleted = sqlite3_changes(c->db) > 0;
    }
    sqlite3_finalize(st);
    if (!rc && sqlite3_prepare_v2(c->db, "INSERT OR IGNORE INTO visitor_salt(day, salt) VALUES (?1, ?2)", -1, &st,
                                  NULL) != SQLITE_OK)
        rc = -EIO;
    if (!rc) {
        sqlite3_bind_int(st, 1, day);
        sqlite3_bind_blob(st, 2, fresh, sizeof fresh, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) rc = -EIO;
        sqlite3_finalize(st);
    }
    /* another process or loop may have made today's first: theirs is the one */
    if (!rc && sqlite3_prepare_v2(c->db, "SELECT salt FROM visitor_salt WHERE day = ?1", -1, &st, NULL) != SQLITE_OK)
        rc = -EIO;
    if (!rc) {
        sqlite3_bind_int(st, 1, day);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32) memcpy(salt, sqlite3_column_blob(st, 0), 32);
        else rc = -EIO;
        sqlite3_finalize(st);
    }
    sodium_memzero(fresh, sizeof fresh);
    if (rc) {
        exec(c, "ROLLBACK");
        return rc;
    }
    if ((rc = exec(c, "COMMIT"))) return rc;
    /* A deleted salt must be gone from the disk, not only from the table: secure_delete
     * zeroed it in the pages this transaction wrote to the write-ahead log, but the database
     * file keeps the old pages (and the log the frames that inserted it) until a checkpoint.
     * Salts go once a day, so the checkpoint costs nothing; a reader still open can hold it
     * back (SQLITE_BUSY), and the next day's tries again. */
    if (deleted) (void)sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    return 0;
}

/* ---- loading ---- */

static const char project_cols[] =
    "SELECT id, name, timezone, cors_origins, accept_keyless, honor_dnt, scrub_pii, pii_keep, key_rate, ip_rate, "
    "created_us, cookieless, session_timeout FROM project ORDER BY created_us, id";

static char *text_col(sqlite3_stmt *st, int i)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    return ff_strdup(s ? s : "");
}

static int read_project(sqlite3_stmt *st, struct ff_project *p)
{
    memset(p, 0, sizeof *p);
    snprintf(p->id, sizeof p->id, "%s", (const char *)sqlite3_column_text(st, 0));
    p->name = text_col(st, 1);
    p->timezone = text_col(st, 2);
    p->cors_origins = text_col(st, 3);
    p->accept_keyless = sqlite3_column_int(st, 4);
    p->honor_dnt = sqlite3_column_int(st, 5);
    p->scrub_pii = sqlite3_column_int(st, 6);
    p->pii_keep = text_col(st, 7);
    p->key_rate = (uint32_t)sqlite3_column_int64(st, 8);
    p->ip_rate = (uint32_t)sqlite3_column_int64(st, 9);
    p->created_us = sqlite3_column_int64(st, 10);
    p->cookieless = sqlite3_column_int(st, 11);
    p->session_timeout_min = sqlite3_column_int(st, 12);
    return p->name && p->timezone && p->cors_origins && p->pii_keep ? 0 : -ENOMEM;
}

static void free_project(struct ff_project *p)
{
    ff_free(p->name);
    ff_free(p->timezone);
    ff_free(p->cors_origins);
    ff_free(p->pii_keep);
}

void ff_projects_free(struct ff_projects *p)
{
    for (size_t i = 0; i < p->n; i++) free_project(&p->v[i]);
    ff_free(p->v);
    ff_strmap_free(&p->write_keys);
    ff_strmap_free(&p->read_keys);
    ff_free(p->keys);
    ff_free(p->key_text);
    memset(p, 0, sizeof *p);
    p->keyless = -1;
}

int ff_catalog_load(struct ff_catalog *c, struct ff_projects *out, char *err, size_t errlen)
{
    struct ff_projects p;
    memset(&p, 0, sizeof p);
    p.keyless = -1;
    ff_strmap_init(&p.write_keys);
    ff_strmap_init(&p.read_keys);
    /* One read transaction: projects and keys from the same moment. */
    if (exec(c, "BEGIN")) return db_fail(c, err, errlen, "begin");
    sqlite3_stmt *st = NULL;
    int rc = 0;
    size_t cap = 0;
    if (sqlite3_prepare_v2(c->db, project_cols, -1, &st, NULL) != SQLITE_OK) rc = db_fail(c, err, errlen, "read projects");
    while (!rc) {
        int s = sqlite3_step(st);
        if (s == SQLITE_DONE) break;
        if (s != SQLITE_ROW) {
            rc = db_fail(c, err, errlen, "read projects");
            break;
        }
        if (p.n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            struct ff_project *v = ff_realloc(p.v, nc * sizeof *v);
            if (!v) {
                rc = -ENOMEM;
                break;
            }
            p.v = v, cap = nc;
        }
        rc = read_project(st, &p.v[p.n]);
        p.n++;
        if (!rc && p.v[p.n - 1].accept_keyless) p.keyless = (int)p.n - 1;
    }
    sqlite3_finalize(st);
    st = NULL;
    /* Keys: texts back to back in one block (the maps point into it), so count them first. */
    struct ff_buf text;
    ff_buf_init(&text, (size_t)1 << 30);
    size_t kcap = 0;
    if (!rc && sqlite3_prepare_v2(c->db, "SELECT lookup, project, kind, expires_us FROM api_key", -1, &st, NULL) !=
                   SQLITE_OK)
        rc = db_fail(c, err, errlen, "read keys");
    struct pending {
        size_t off, len;
        int read;
    } *pend = NULL;
    while (!rc) {
        int s = sqlite3_step(st);
        if (s == SQLITE_DONE) break;
        if (s != SQLITE_ROW) {
            rc = db_fail(c, err, errlen, "read keys");
            break;
        }
        const struct ff_project *pr = ff_projects_find(&p, (const char *)sqlite3_column_text(st, 1));
        if (!pr) continue;
        if (p.nkeys == kcap) {
            size_t nc = kcap ? kcap * 2 : 16;
            struct ff_key_entry *k = ff_realloc(p.keys, nc * sizeof *k);
            struct pending *pe = k ? ff_realloc(pend, nc * sizeof *pe) : NULL;
            if (k) p.keys = k;
            if (!pe) {
                rc = -ENOMEM;
                break;
            }
            pend = pe, kcap = nc;
        }
        const char *lookup = (const char *)sqlite3_column_text(st, 0);
        size_t len = (size_t)sqlite3_column_bytes(st, 0);
        pend[p.nkeys] = (struct pending){text.len, len, strcmp((const char *)sqlite3_column_text(st, 2), "read") == 0};
        p.keys[p.nkeys] = (struct ff_key_entry){(uint32_t)(pr - p.v), sqlite3_column_int64(st, 3)};
        rc = ff_buf_append(&text, lookup, len);
        p.nkeys++;
    }
    sqlite3_finalize(st);
    exec(c, "COMMIT");
    if (!rc) {
        p.key_text = text.data; /* owned by p from here */
        text.data = NULL;
        for (size_t i = 0; !rc && i < p.nkeys; i++) {
            int found;
            if (!ff_strmap_put(pend[i].read ? &p.read_keys : &p.write_keys, p.key_text + pend[i].off, pend[i].len,
                               (uint32_t)i, &found))
                rc = -ENOMEM;
        }
    }
    ff_free(pend);
    ff_buf_free(&text);
    if (rc) {
        if (rc == -ENOMEM) snprintf(err, errlen, "projects.db: out of memory");
        ff_projects_free(&p);
        return rc;
    }
    *out = p;
    return 0;
}

/* ---- listing ---- */

int ff_catalog_keys(struct ff_catalog *c, const char *id, ff_catalog_key_fn fn, void *arg)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT kind, shown, created_us, expires_us FROM api_key WHERE project = ?1 "
                           "AND (expires_us = 0 OR expires_us > ?2) ORDER BY created_us, kind",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, ff_now_us());
    int rc = 0, s;
    while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
        struct ff_key_info k = {
            .kind = strcmp((const char *)sqlite3_column_text(st, 0), "read") == 0 ? FF_KEY_READ : FF_KEY_WRITE,
            .shown = (const char *)sqlite3_column_text(st, 1),
            .created_us = sqlite3_column_int64(st, 2),
            .expires_us = sqlite3_column_int64(st, 3),
        };
        rc = fn(&k, arg);
    }
    if (!rc && s != SQLITE_DONE) rc = -EIO;
    sqlite3_finalize(st);
    return rc;
}

static int json_kv(struct ff_buf *o, const char *k, const char *v)
{
    int rc = ff_buf_printf(o, ",\"%s\":", k);
    return rc ? rc : ff_json_write_str(o, v, strlen(v));
}

struct key_json {
    struct ff_buf *o;
    int first;
};

static int key_json(const struct ff_key_info *k, void *arg)
{
    struct key_json *kj = arg;
    char t[40];
    ff_time_format_iso(k->created_us, t);
    int rc = ff_buf_printf(kj->o, "%s{\"kind\":\"%s\"", kj->first ? "" : ",", k->kind == FF_KEY_READ ? "read" : "write");
    if (!rc) rc = json_kv(kj->o, "key", k->shown);
    if (!rc) rc = json_kv(kj->o, "created", t);
    if (!rc && k->expires_us) {
        ff_time_format_iso(k->expires_us, t);
        rc = json_kv(kj->o, "expires", t);
    }
    kj->first = 0;
    return rc ? rc : ff_buf_putc(kj->o, '}');
}

int ff_catalog_list_json(struct ff_catalog *c, struct ff_buf *o, char *err, size_t errlen)
{
    struct ff_projects p;
    int rc = ff_catalog_load(c, &p, err, errlen);
    if (rc) return rc;
    rc = ff_buf_append_str(o, "{\"projects\":[");
    for (size_t i = 0; !rc && i < p.n; i++) {
        const struct ff_project *pr = &p.v[i];
        char t[40];
        ff_time_format_iso(pr->created_us, t);
        rc = ff_buf_printf(o, "%s{\"id\":\"%s\"", i ? "," : "", pr->id);
        if (!rc) rc = json_kv(o, "name", pr->name);
        if (!rc) rc = json_kv(o, "created", t);
        if (!rc) rc = json_kv(o, "timezone", pr->timezone);
        if (!rc) rc = json_kv(o, "cors_origins", pr->cors_origins);
        if (!rc) rc = ff_buf_printf(o, ",\"accept_keyless\":%s,\"dnt\":%s,\"scrub_pii\":%s", pr->accept_keyless ? "true" : "false",
                                    pr->honor_dnt ? "true" : "false", pr->scrub_pii ? "true" : "false");
        if (!rc) rc = json_kv(o, "pii_keep", pr->pii_keep);
        if (!rc) rc = ff_buf_printf(o, ",\"key_rate\":%u,\"ip_rate\":%u,\"cookieless\":%s,\"session_timeout\":%d,\"keys\":[",
                                    pr->key_rate, pr->ip_rate, pr->cookieless ? "true" : "false", pr->session_timeout_min);
        struct key_json kj = {o, 1};
        if (!rc) rc = ff_catalog_keys(c, pr->id, key_json, &kj);
        if (rc == -EIO) db_fail(c, err, errlen, "read keys");
        if (!rc) rc = ff_buf_append_str(o, "]}");
    }
    if (!rc) rc = ff_buf_append_str(o, "]}\n");
    ff_projects_free(&p);
    return rc;
}
