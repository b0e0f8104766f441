/* projects.h - projects, their keys and settings.
 *
 * A project is one site or app: its events are kept apart from other projects' and read only
 * with one of its keys. Each has a public write key (ingest only; it sits in web pages) and
 * secret read keys (queries, export, erasure). The catalog of projects lives in SQLite at
 * DATA/projects.db (catalog.c), where `footfall project ...` edits it, even while the server
 * runs; the server reads it into an immutable snapshot per event loop (struct ff_projects) and
 * reloads that when the file changes, so a lookup on the ingest path is a hash probe with no
 * lock and no I/O. */
#ifndef FF_PROJECTS_H
#define FF_PROJECTS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/strmap.h"

#define FF_PROJECT_ID_MAX 64
#define FF_KEY_MAX 64

struct ff_project {
    char id[FF_PROJECT_ID_MAX + 1]; /* [a-z0-9][a-z0-9_-]*: stored with each of its events */
    char *name;
    char *timezone;        /* IANA name: where the project's day ends (sessions, daily salts) */
    char *cors_origins;    /* space-separated origins allowed to send events; "" = any */
    int accept_keyless;    /* ingest without a write key goes to this project (single-site) */
    int honor_dnt;         /* drop events whose browser sends DNT: 1 or Sec-GPC: 1 */
    int scrub_pii;         /* mask e-mail addresses, phone and card numbers before storage */
    char *pii_keep;        /* space-separated fields left unmasked ("properties.email", …) */
    uint32_t key_rate;     /* events per second accepted for its write key; 0 = no limit */
    uint32_t ip_rate;      /* events per second accepted from one client IP; 0 = no limit */
    int cookieless;        /* a browser's events without ids get a visitor id from a daily salt */
    int session_timeout_min; /* minutes of inactivity that end a session (store/sessions.h) */
    int64_t created_us;
};

/* A loaded catalog: every project and the keys that open it. */
struct ff_key_entry {
    uint32_t project;      /* index into projects */
    int64_t expires_us;    /* 0: until rotated */
};
struct ff_projects {
    struct ff_project *v;
    size_t n;
    int keyless;                /* index of the project that takes keyless ingest, or -1 */
    struct ff_strmap write_keys; /* key text → index into keys */
    struct ff_strmap read_keys;  /* hex digest of the key → index into keys */
    struct ff_key_entry *keys;
    size_t nkeys;
    char *key_text;             /* the strings the maps point to */
};

void ff_projects_free(struct ff_projects *p);

/* The project a write key opens at `now_us`, NULL when it opens none. An empty key gives the
 * keyless project, if there is one. */
const struct ff_project *ff_projects_by_write_key(const struct ff_projects *p, const char *key, size_t len,
                                                  int64_t now_us);
/* The project a read key opens, NULL when none. */
const struct ff_project *ff_projects_by_read_key(const struct ff_projects *p, const char *key, size_t len,
                                                 int64_t now_us);
const struct ff_project *ff_projects_find(const struct ff_projects *p, const char *id);
/* A write key of project `id` live at `now_us` (the newest when it has several; they point
 * into p), or {NULL, 0}. */
struct ff_str ff_projects_write_key(const struct ff_projects *p, const char *id, int64_t now_us);

/* 1 when a request from `origin` may send events to the project. */
int ff_project_origin_allowed(const struct ff_project *pr, const char *origin, size_t len);

/* The digest under which a read key is stored: hex BLAKE2b-256 (libsodium), 65 bytes. */
void ff_key_digest(const char *key, size_t len, char out[65]);

#endif
