/* ingest.h - wire-format decoders: request bytes in, encoded WAL records out.
 *
 * Each format (seed /api/track, Segment /v1/..., the pixel, NDJSON import) has a decoder that
 * turns a request into a `struct ff_batch`: the events, encoded as WAL records (event.h),
 * plus a quarantine record for every item that failed validation, with the reason and the
 * field. Nothing here touches the network or the disk, so the decoders are unit-tested and
 * fuzzed on their own. */
#ifndef FF_INGEST_H
#define FF_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/json.h"
#include "event/event.h"

/* What the request around the payload says. */
struct ff_enricher;
struct ff_enriched;
struct ff_projects;
struct ff_project;
struct ff_ingest_ctx {
    int64_t received_at_us;
    struct ff_str write_key;   /* from HTTP Basic auth; empty when absent */
    /* Projects (project/projects.h): each event's write key must open one, or the event is
     * refused (401), not stored. NULL (harnesses): events are taken without a project. */
    const struct ff_projects *projects;
    const struct ff_project *project; /* the request's, from its Basic auth (or keyless); NULL */
    struct ff_str origin;      /* the Origin header: checked against the project's CORS origins */
    int do_not_track;          /* DNT: 1 or Sec-GPC: 1 came with the request */
    const uint8_t *visitor_salt; /* today's salt of cookieless visitor ids (enrich.h), or NULL */
    struct ff_json_parser *parser;
    struct ff_enricher *enrich; /* enrich/enrich.h; NULL: events are stored as they came */
    struct ff_str user_agent;  /* the request's User-Agent header; empty when absent */
    struct ff_str peer_ip;     /* the address the request came from, as text; empty when unknown */
    /* The log's name (a path, "stdin", POST /api/import-log's file=): each quarantined item's
     * reason starts "SOURCE:INDEX: ", since lines are numbered in their own file and one
     * import may read several; the answer's failures are left without it. Empty: none. */
    struct ff_str source;
};

/* One record of a batch: where it is in `records`, and the key that deduplicates it. */
struct ff_batch_item {
    uint32_t off, len;
    uint64_t dedup_hash; /* 0 for records that are never deduplicated (quarantine) */
    unsigned dedup_check; /* the same id's check (ff_dedup_hash), 0 with dedup_hash 0 */
};

struct ff_batch {
    int format;                /* enum ff_format */
    struct ff_buf records;     /* encoded records, back to back */
    struct ff_batch_item *items;
    uint32_t nitems, cap_items;
    uint32_t accepted;         /* event records */
    uint32_t failed;           /* quarantine records */
    uint32_t refused;          /* items refused for their key or origin: listed, not stored */
    int refused_status;        /* 401 or 403: the first refusal's */
    uint32_t not_tracked;      /* events dropped for Do Not Track / Global Privacy Control */
    const struct ff_project *project; /* the first accepted event's project (rate limits) */
    struct ff_buf failures;    /* JSON array elements, comma-separated, for the response */
    const char *error;         /* first failure's reason (static text or in `errtext`) */
    const char *field;         /* first failure's field, "" when none */
    struct ff_buf scratch;     /* JSON text of properties/traits/context being built */
    struct ff_json_parser *merge_parser; /* made when a batch context must be merged in */
    struct ff_enriched *enriched; /* enrich/enrich.h: made for the first event enriched */
    struct ff_buf pii;         /* an event's properties and context with personal data masked */
    /* The last context that had nothing to mask, and the project whose pii-keep it was read
     * under: a batch repeats its context event after event (NULL project: none yet). */
    struct ff_buf pii_clean;
    const void *pii_clean_project;
    struct ff_buf errtext;
};

void ff_batch_init(struct ff_batch *b, int format, size_t max_bytes);
void ff_batch_reset(struct ff_batch *b, int format);
void ff_batch_free(struct ff_batch *b);

/* Decoders. Each returns 0 once every item of the request is either an event record or a
 * quarantine record — a body that is not JSON at all is one quarantined item, with b->error
 * and b->field saying why — or -ENOMEM/FF_ETOOBIG when it could not finish (nothing of the
 * batch may be used then).
 * JSON inputs must have FF_JSON_PADDING readable bytes after `len`. */
int ff_ingest_seed(const struct ff_ingest_ctx *ctx, const char *body, size_t len, struct ff_batch *b);
/* `type` is the enum ff_event_type of /v1/<type>, or 0 for /v1/batch. */
int ff_ingest_segment(const struct ff_ingest_ctx *ctx, int type, const char *body, size_t len,
                      struct ff_batch *b);
/* The query string of GET /p.gif or /v1/pixel/<type> (without '?'); `type` as above, 0 for
 * /p.gif where the `t` parameter or the data's type decides. */
int ff_ingest_pixel(const struct ff_ingest_ctx *ctx, int type, const char *query, size_t len,
                    struct ff_batch *b);
int ff_ingest_import(const struct ff_ingest_ctx *ctx, const char *body, size_t len, struct ff_batch *b);

/* Web-server access logs (accesslog.c): one page event per line; a line that does not parse
 * is quarantined with its number (`first_line` is the first's) and what was wrong. */
enum ff_log_format { FF_LOG_COMBINED, FF_LOG_COMMON, FF_LOG_JSON };
int ff_log_format_parse(const char *s, size_t len); /* "combined", "common", "json"; -1 */
int ff_ingest_access_log(const struct ff_ingest_ctx *ctx, int log_format, int64_t first_line, const char *body,
                         size_t len, struct ff_batch *b);
#define FF_LOG_SOURCE_MAX 1024 /* the longest name (ctx.source) POST /api/import-log takes, in bytes */

/* Quarantines a whole request that could not be decoded at all (bad Content-Encoding). */
int ff_ingest_reject(const struct ff_ingest_ctx *ctx, struct ff_batch *b, const char *reason, const char *field,
                     const char *raw, size_t len);

/* Key under which an event's messageId is remembered for deduplication: per project, so a
 * retry is recognised whichever of the project's keys sent it (and a log line whichever
 * command read it). Never 0. With `check`, also the id's check (store/dedup.h) from an
 * independent hash, 1 to FF_DEDUP_CHECK_MASK, so two ids whose keys meet by chance are still
 * told apart. */
uint64_t ff_dedup_hash(struct ff_str project, struct ff_str message_id, unsigned *check);

/* Decodes a request body per its Content-Encoding ("gzip", "deflate", "identity" or empty;
 * gzip bytes are also recognised by their magic number when the header is missing).
 * On success *out points either at `in` or at `tmp`'s data, with padding after it.
 * Returns 0, FF_ETOOBIG when the decoded body exceeds tmp->max, or FF_EINVAL. */
int ff_body_decode(const char *encoding, size_t enc_len, const char *in, size_t in_len,
                   struct ff_buf *tmp, const char **out, size_t *out_len);

#endif
