/* log_cmds.c - `footfall import-log` and `footfall tail-log`: web-server access logs into
 * page events (ingest/accesslog.c decodes the lines, the same code the server runs for
 * POST /api/import-log).
 *
 *   import-log --data DIR   writes into a data directory with the server stopped: decoding and
 *                           the WAL's fsync overlap (two batches in flight), every line durable
 *                           before the command says it is done
 *   import-log --url URL    sends the lines to a running server, a few MB per request
 *   tail-log                follows a growing file (like tail -F, through rotation and
 *                           truncation) and sends new lines to a running server as they come
 *
 * Lines are numbered from the start of their file, so the quarantine names the file and the
 * line to look at ("FILE:LINE: why": the ingest context's source, here or in the server,
 * which gets the file as file=), and an event's messageId (a hash of the line and its number) is the
 * same whichever command read it: the server keeps one. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "net/httpclient.h"
#include "core/alloc.h"
#include "core/errors.h"
#include "core/json.h"
#include "core/timeutil.h"
#include "enrich/enrich.h"
#include "ingest/ingest.h"
#include "net/access.h"
#include "project/catalog.h"
#include "store/datadir.h"
#include "store/dedup.h"
#include "store/schema.h"
#include "project/session_rules.h"
#include "store/store.h"
#include "store/wal.h"

#define CHUNK_BYTES ((size_t)4 << 20) /* lines per batch or request: a few MB */

struct totals {
    uint64_t lines, stored, duplicates, quarantined;
};

/* ---- reading whole lines ---- */

struct line_reader {
    int fd;
    char *buf;
    size_t len, cap;       /* buf[0..len): read, not yet handed out */
    int64_t next_line;     /* number of the first line in buf */
    int eof;
};

static int reader_open(struct line_reader *r, const char *path)
{
    memset(r, 0, sizeof *r);
    r->next_line = 1;
    r->fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) return -errno;
    r->cap = CHUNK_BYTES + FF_JSON_PADDING + 65536;
    r->buf = ff_calloc(1, r->cap); /* zeroed: the parser may read the padding past the data */
    return r->buf ? 0 : -ENOMEM;
}

static void reader_close(struct line_reader *r)
{
    if (r->fd > 0) close(r->fd);
    ff_free(r->buf);
    r->buf = NULL;
}

/* Fills the buffer, then hands out its whole lines (*n bytes from *p, the first numbered
 * *first). At EOF a last line without '\n' counts when `take_partial`. 0 with *n = 0 when
 * nothing is there yet (or any more). */
static int reader_next(struct line_reader *r, int take_partial, const char **p, size_t *n, int64_t *first,
                       size_t *consumed)
{
    *consumed = 0;
    while (!r->eof && r->len < CHUNK_BYTES) {
        ssize_t k = read(r->fd, r->buf + r->len, CHUNK_BYTES - r->len);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -errno;
        if (k == 0) {
            r->eof = 1;
            break;
        }
        r->len += (size_t)k;
    }
    size_t end = r->len;
    while (end && r->buf[end - 1] != '\n') end--;
    if (end == 0 && r->len == CHUNK_BYTES) end = r->len; /* a line longer than a chunk: cut it */
    if (end == 0 && r->eof && take_partial) end = r->len;
    /* the JSON parser reads up to FF_JSON_PADDING bytes past a line: cap leaves room for them */
    *p = r->buf, *n = end, *first = r->next_line, *consumed = end;
    return 0;
}

/* Drops the `n` bytes just handed out (after they were sent), numbering the lines on;
 * returns how many lines they were. */
static uint64_t reader_advance(struct line_reader *r, size_t n)
{
    int64_t before = r->next_line;
    for (size_t i = 0; i < n; i++) r->next_line += r->buf[i] == '\n';
    if (n && r->buf[n - 1] != '\n') r->next_line++;
    memmove(r->buf, r->buf + n, r->len - n);
    r->len -= n;
    return (uint64_t)(r->next_line - before);
}

/* ---- into a data directory (the server stopped) ---- */

struct slot {
    struct ff_batch batch;
    struct ff_wal_req req;
    int busy;
};

struct offline {
    struct ff_catalog *cat;
    struct ff_projects projects;
    const struct ff_project *project;
    struct ff_enricher *enrich;
    struct ff_store *store;
    struct ff_wal *wal;
    struct ff_json_parser *parser;
    uint8_t salt[32];
    int has_salt;
    struct slot slots[2];
    int next;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int lock_fd;
    int status;            /* the first WAL failure */
};

static void slot_done(struct ff_wal_req *req)
{
    struct offline *o = req->udata;
    pthread_mutex_lock(&o->mu);
    for (int i = 0; i < 2; i++)
        if (&o->slots[i].req == req) o->slots[i].busy = 0;
    if (req->status && !o->status) o->status = req->status;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
}

static void slot_wait(struct offline *o, struct slot *s, struct totals *t)
{
    pthread_mutex_lock(&o->mu);
    while (s->busy) pthread_cond_wait(&o->cv, &o->mu);
    pthread_mutex_unlock(&o->mu);
    if (s->req.batch) {
        t->stored += s->req.stored;
        t->duplicates += s->req.duplicates;
        t->quarantined += s->req.quarantined;
        s->req.batch = NULL;
    }
}

static int offline_open(struct offline *o, const char *dir, const char *project, int ip_mode)
{
    memset(o, 0, sizeof *o);
    o->lock_fd = -1;
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->cv, NULL);
    struct stat sb;
    if (stat(dir, &sb) && mkdir(dir, 0755)) {
        fprintf(stderr, "footfall import-log: cannot create %s: %s\n", dir, strerror(errno));
        return -1;
    }
    if (ff_datadir_lock(dir, &o->lock_fd)) {
        fprintf(stderr, "footfall import-log: %s is in use (a server runs on it?): send to it with --url and --key\n",
                dir);
        return -1;
    }
    char err[1024];
    if (ff_access_bootstrap(dir) || ff_catalog_open(dir, 0, &o->cat, err, sizeof err) ||
        ff_catalog_load(o->cat, &o->projects, err, sizeof err)) {
        fprintf(stderr, "footfall import-log: cannot read the project catalog of %s\n", dir);
        return -1;
    }
    if (project) o->project = ff_projects_find(&o->projects, project);
    else if (o->projects.keyless >= 0) o->project = &o->projects.v[o->projects.keyless];
    else if (o->projects.n == 1) o->project = &o->projects.v[0];
    if (!o->project) {
        fprintf(stderr, "footfall import-log: %s: name the project with --project ID (see footfall project list)\n",
                project ? "no such project" : "more than one project");
        return -1;
    }
    o->has_salt = !ff_catalog_visitor_salt(o->cat, ff_day_of(ff_now_us()), o->salt);
    struct ff_enrich_opts eo = {.ip_mode = ip_mode, .optional = 1};
    if (ff_enricher_open(&o->enrich, &eo, err, sizeof err)) {
        fprintf(stderr, "footfall import-log: %s\n", err);
        return -1;
    }
    struct ff_store_opts so = {.dir = dir, .wal_keep_us = FF_DEDUP_WINDOW_US};
    ff_session_policy_attach(&so, dir, 0);
    if (ff_store_open(&o->store, &so, err, sizeof err)) {
        fprintf(stderr, "footfall import-log: cannot open the store in %s: %s\n", dir, err);
        return -1;
    }
    struct ff_wal_recovery rec;
    struct ff_wal_opts wo = {.dir = dir, .dedup_window_us = FF_DEDUP_WINDOW_US,
                             .dedup_max_bytes = FF_DEDUP_CLI_MAX_BYTES, .segment_bytes = 64u << 20,
                             .on_durable = ff_store_on_durable, .on_durable_arg = o->store,
                             .on_forget = ff_store_on_forget,
                             .min_next_seq = ff_store_next_seq(o->store)};
    int rc = ff_wal_open(&o->wal, &wo, &rec);
    if (rc) {
        fprintf(stderr, "footfall import-log: cannot open the WAL in %s: %s\n", dir, ff_strerror(rc));
        return -1;
    }
    ff_store_attach_wal(o->store, o->wal);
    if (!(o->parser = ff_json_parser_new())) return -1;
    for (int i = 0; i < 2; i++) {
        ff_batch_init(&o->slots[i].batch, FF_FMT_LOG, CHUNK_BYTES * 2);
        o->slots[i].req.done = slot_done;
        o->slots[i].req.udata = o;
    }
    return 0;
}

static void offline_close(struct offline *o, struct totals *t)
{
    for (int i = 0; i < 2; i++) slot_wait(o, &o->slots[i], t);
    if (o->wal) ff_wal_close(o->wal);
    if (o->store) ff_store_close(o->store); /* writes what is in memory to parts */
    for (int i = 0; i < 2; i++) ff_batch_free(&o->slots[i].batch);
    ff_json_parser_free(o->parser);
    ff_enricher_close(o->enrich);
    if (o->cat) {
        ff_projects_free(&o->projects);
        ff_catalog_close(o->cat);
    }
    if (o->lock_fd >= 0) close(o->lock_fd);
    pthread_mutex_destroy(&o->mu);
    pthread_cond_destroy(&o->cv);
}

/* The name a file's lines are quarantined under ("FILE:LINE: why"): "stdin" for "-". */
static const char *source_name(const char *file)
{
    return strcmp(file, "-") ? file : "stdin";
}

static int offline_send(struct offline *o, int format, const char *file, int64_t first, const char *p, size_t n,
                        struct totals *t)
{
    struct slot *s = &o->slots[o->next];
    o->next ^= 1;
    slot_wait(o, s, t); /* its previous batch is durable: the buffer is free */
    if (o->status) return o->status;
    const char *source = source_name(file);
    struct ff_ingest_ctx ctx = {.received_at_us = ff_now_us(), .parser = o->parser, .enrich = o->enrich,
                                .projects = &o->projects, .project = o->project,
                                .visitor_salt = o->has_salt ? o->salt : NULL,
                                .source = {source, (uint32_t)strlen(source)}};
    ff_batch_reset(&s->batch, FF_FMT_LOG);
    int rc = ff_ingest_access_log(&ctx, format, first, p, n, &s->batch);
    if (rc) return rc;
    if (!s->batch.nitems) return 0;
    s->busy = 1;
    s->req.batch = &s->batch;
    ff_wal_submit(o->wal, &s->req);
    return 0;
}

/* ---- to a running server ---- */

struct remote {
    struct ff_http_client http;
    struct ff_buf resp;
    struct ff_json_parser *parser;
};

static volatile sig_atomic_t stop_requested;
static void on_stop(int sig) { (void)sig, stop_requested = 1; }

/* Bytes of the percent-encoded file= value at most: ff_http_post's request head (the target,
 * host, key and headers) is 1 KiB. */
#define FILE_PARAM_BYTES 512

/* 1 for the bytes a query value carries as they are (unreserved characters, and '/'). */
static int url_plain(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c && strchr("-._~/", c));
}

/* Writes `name` percent-encoded (the others as %XX) into out[0..FILE_PARAM_BYTES],
 * NUL-terminated. A name too long for it keeps its end, which says the file, after "...". */
static void put_file_param(char out[FILE_PARAM_BYTES + 1], const char *name)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(name), from = len, cost = 0, all = 0;
    for (size_t i = 0; i < len; i++) all += url_plain((unsigned char)name[i]) ? 1 : 3;
    size_t room = all <= FILE_PARAM_BYTES ? FILE_PARAM_BYTES : FILE_PARAM_BYTES - 3;
    while (from > 0 && cost + (url_plain((unsigned char)name[from - 1]) ? 1 : 3) <= room)
        cost += url_plain((unsigned char)name[--from]) ? 1 : 3;
    size_t o = 0;
    if (from) memcpy(out, "...", 3), o = 3;
    for (size_t i = from; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (url_plain(c)) out[o++] = (char)c;
        else out[o++] = '%', out[o++] = hex[c >> 4], out[o++] = hex[c & 15];
    }
    out[o] = '\0';
}

/* Sends until the server has the lines: a server that is down, busy or over a rate limit is
 * waited for (the lines are never dropped); a refusal (401/403) or a bad request ends it.
 * The server puts `file` before the reasons of the lines it quarantines (its file=). */
static int remote_send(struct remote *r, int format, const char *file, int64_t first, const char *p, size_t n,
                       struct totals *t)
{
    static const char *const names[] = {"combined", "common", "json"};
    char name[FILE_PARAM_BYTES + 1], target[128 + FILE_PARAM_BYTES];
    put_file_param(name, source_name(file));
    snprintf(target, sizeof target, "/api/import-log?format=%s&line=%lld&file=%s", names[format], (long long)first,
             name);
    unsigned wait_ms = 250;
    for (;;) {
        int status = 0;
        char why[256];
        if (!ff_http_post(&r->http, target, p, n, &status, &r->resp, why, sizeof why)) {
            if (status == 200 || status == 400) break;
            if (status == 401 || status == 403 || status == 413) {
                fprintf(stderr, "footfall: the server refused the lines (%d): %.*s\n", status, (int)r->resp.len,
                        r->resp.data ? r->resp.data : "");
                return -EPERM;
            }
            snprintf(why, sizeof why, "the server answered %d", status);
        }
        if (stop_requested) return -EINTR;
        fprintf(stderr, "footfall: %s; retrying in %.1f s\n", why, wait_ms / 1000.0);
        struct timespec ts = {wait_ms / 1000, (long)(wait_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        if (wait_ms < 30000) wait_ms *= 2;
    }
    struct ff_json_doc d;
    const char *err;
    if (r->resp.len && !ff_buf_reserve(&r->resp, FF_JSON_PADDING) &&
        !ff_json_parse(r->parser, r->resp.data, r->resp.len, &d, &err)) {
        uint32_t k = ff_json_get(&d, 0, "accepted"), dup = ff_json_get(&d, 0, "duplicates"),
                 f = ff_json_get(&d, 0, "failed");
        uint64_t accepted = k != FF_JSON_NONE ? d.nodes[k].v.u : 0, dups = dup != FF_JSON_NONE ? d.nodes[dup].v.u : 0;
        t->stored += accepted - dups;
        t->duplicates += dups;
        if (f != FF_JSON_NONE) t->quarantined += d.nodes[f].len;
    }
    return 0;
}

/* ---- the commands ---- */

struct log_opts {
    int format;
    const char *data, *url, *key, *project;
    int ip_mode, from_start;
    const char *files[256];
    int nfiles;
};

static int parse_opts(const char *cmd, int argc, char **argv, struct log_opts *o)
{
    memset(o, 0, sizeof *o);
    o->format = -1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--from-start")) {
            o->from_start = 1;
            continue;
        }
        if (a[0] == '-' && a[1] == '-') {
            if (!v) {
                fprintf(stderr, "footfall %s: %s needs a value\n", cmd, a);
                return 2;
            }
            i++;
            if (!strcmp(a, "--format")) {
                if ((o->format = ff_log_format_parse(v, strlen(v))) < 0) {
                    fprintf(stderr, "footfall %s: --format is combined, common or json, not '%s'\n", cmd, v);
                    return 2;
                }
            } else if (!strcmp(a, "--data")) o->data = v;
            else if (!strcmp(a, "--url")) o->url = v;
            else if (!strcmp(a, "--key")) o->key = v;
            else if (!strcmp(a, "--project")) o->project = v;
            else if (!strcmp(a, "--ip")) {
                if ((o->ip_mode = ff_ip_mode_parse(v)) < 0) {
                    fprintf(stderr, "footfall %s: --ip is drop, truncate or keep, not '%s'\n", cmd, v);
                    return 2;
                }
            } else {
                fprintf(stderr, "footfall %s: unknown option %s (see footfall --help)\n", cmd, a);
                return 2;
            }
        } else if (o->nfiles < 256) {
            o->files[o->nfiles++] = a;
        }
    }
    if (o->format < 0) {
        fprintf(stderr, "footfall %s: --format combined|common|json is required\n", cmd);
        return 2;
    }
    if (!o->nfiles) {
        fprintf(stderr, "footfall %s: name the log file(s)\n", cmd);
        return 2;
    }
    return 0;
}

static void report(const char *cmd, const struct totals *t, int nfiles, double secs)
{
    fprintf(stderr,
            "footfall %s: %llu lines from %d file(s): %llu events stored, %llu duplicates, %llu quarantined, in %.2f s "
            "(%.0f lines/s)\n",
            cmd, (unsigned long long)t->lines, nfiles, (unsigned long long)t->stored,
            (unsigned long long)t->duplicates, (unsigned long long)t->quarantined, secs,
            secs > 0 ? (double)t->lines / secs : 0.0);
}

int ff_cmd_import_log(int argc, char **argv)
{
    struct log_opts o;
    int rc = parse_opts("import-log", argc, argv, &o);
    if (rc) return rc;
    if (!o.data == !o.url || (o.url && !o.key)) {
        fprintf(stderr, "footfall import-log: either --data DIR (the server stopped) or --url URL --key WRITE_KEY "
                        "(the server running)\n");
        return 2;
    }
    struct offline off;
    struct remote rem = {0};
    if (o.data) {
        if (offline_open(&off, o.data, o.project, o.ip_mode)) {
            struct totals none = {0};
            offline_close(&off, &none);
            return 1;
        }
    } else if (ff_http_client_init(&rem.http, o.url, o.key) || !(rem.parser = ff_json_parser_new())) {
        return 2;
    } else {
        ff_buf_init(&rem.resp, (size_t)64 << 20);
    }
    struct totals t = {0};
    uint64_t t0 = ff_mono_ns();
    for (int f = 0; f < o.nfiles && !rc; f++) {
        struct line_reader r;
        if ((rc = reader_open(&r, o.files[f]))) {
            fprintf(stderr, "footfall import-log: %s: %s\n", o.files[f], strerror(-rc));
            reader_close(&r);
            break;
        }
        for (;;) {
            const char *p;
            size_t n, used;
            int64_t first;
            if ((rc = reader_next(&r, 1, &p, &n, &first, &used))) {
                fprintf(stderr, "footfall import-log: %s: %s\n", o.files[f], strerror(-rc));
                break;
            }
            if (!n) break;
            rc = o.data ? offline_send(&off, o.format, o.files[f], first, p, n, &t)
                        : remote_send(&rem, o.format, o.files[f], first, p, n, &t);
            if (rc) {
                fprintf(stderr, "footfall import-log: %s: %s\n", o.files[f], ff_strerror(rc));
                break;
            }
            /* offline, the batch holds copies: the reader's buffer may be refilled at once */
            t.lines += reader_advance(&r, used);
        }
        reader_close(&r);
    }
    if (o.data) {
        offline_close(&off, &t);
        if (!rc && off.status) rc = off.status;
    } else {
        ff_http_client_close(&rem.http);
        ff_buf_free(&rem.resp);
        ff_json_parser_free(rem.parser);
    }
    report("import-log", &t, o.nfiles, (double)(ff_mono_ns() - t0) / 1e9);
    if (rc) fprintf(stderr, "footfall import-log: stopped: %s\n", ff_strerror(rc));
    return rc ? 1 : 0;
}

/* The identity of the file now at `path`, to notice rotation. */
static int file_id(const char *path, dev_t *dev, ino_t *ino, off_t *size)
{
    struct stat st;
    if (stat(path, &st)) return -1;
    *dev = st.st_dev, *ino = st.st_ino, *size = st.st_size;
    return 0;
}

int ff_cmd_tail_log(int argc, char **argv)
{
    struct log_opts o;
    int rc = parse_opts("tail-log", argc, argv, &o);
    if (rc) return rc;
    if (o.nfiles != 1 || o.data || !o.key) {
        fprintf(stderr, "footfall tail-log: follows one FILE into a running server: --key WRITE_KEY [--url URL] FILE\n");
        return 2;
    }
    struct remote rem = {0};
    if (ff_http_client_init(&rem.http, o.url ? o.url : "http://127.0.0.1:8080", o.key) ||
        !(rem.parser = ff_json_parser_new()))
        return 2;
    ff_buf_init(&rem.resp, (size_t)64 << 20);
    signal(SIGINT, on_stop);
    signal(SIGTERM, on_stop);
    signal(SIGPIPE, SIG_IGN);
    const char *path = o.files[0];
    struct totals t = {0};
    struct line_reader r = {.fd = -1}; /* closed: the first stat of a missing file closes it */
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = 0;
    int open_ok = 0, first_open = 1;
    uint64_t t0 = ff_mono_ns();
    fprintf(stderr, "footfall tail-log: following %s into %s:%s\n", path, rem.http.host, rem.http.port);
    while (!stop_requested) {
        if (!open_ok) {
            if (file_id(path, &dev, &ino, &size) || reader_open(&r, path)) {
                reader_close(&r);
                struct timespec ts = {0, 250000000};
                nanosleep(&ts, NULL);
                continue;
            }
            open_ok = 1;
            if (first_open && !o.from_start) {
                /* start at the end, numbering lines as the file has them */
                const char *p;
                size_t n, used;
                int64_t first;
                while (!reader_next(&r, 0, &p, &n, &first, &used) && n) reader_advance(&r, used);
                r.eof = 0;
            }
            first_open = 0;
        }
        const char *p;
        size_t n, used;
        int64_t first;
        if ((rc = reader_next(&r, 0, &p, &n, &first, &used))) break;
        if (n) {
            if ((rc = remote_send(&rem, o.format, path, first, p, n, &t))) break;
            t.lines += reader_advance(&r, used);
            continue;
        }
        /* nothing new: rotated (another file at the path) or truncated? then start over there */
        dev_t d2;
        ino_t i2;
        off_t s2;
        off_t pos = lseek(r.fd, 0, SEEK_CUR);
        if (!file_id(path, &d2, &i2, &s2) && (d2 != dev || i2 != ino || s2 < pos)) {
            reader_close(&r);
            open_ok = 0;
            continue;
        }
        r.eof = 0;
        struct timespec ts = {0, 200000000};
        nanosleep(&ts, NULL);
    }
    if (open_ok) reader_close(&r);
    ff_http_client_close(&rem.http);
    ff_buf_free(&rem.resp);
    ff_json_parser_free(rem.parser);
    report("tail-log", &t, 1, (double)(ff_mono_ns() - t0) / 1e9);
    return rc && rc != -EINTR ? 1 : 0;
}
