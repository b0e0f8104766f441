/* ingest_int.h - what the format decoders share: Segment-object normalisation and the
 * batch bookkeeping. Private to src/ingest/. */
#ifndef FF_INGEST_INT_H
#define FF_INGEST_INT_H

#include "ingest.h"

/* Depth (root = 0) from which objects and arrays are parsed as text, not nodes: the members
 * of an event (properties, traits, context, data) are only ever stored as text. */
#define RAW_DEPTH_EVENT 1      /* the event is the root */
#define RAW_DEPTH_BATCH_ITEM 3 /* root → "batch" → event → member */

/* Defaults a batch passes down to each of its items. */
struct segment_defaults {
    const struct ff_json_doc *doc;
    uint32_t context;    /* batch-level context object, or FF_JSON_NONE */
    int64_t sent_at_us;  /* batch-level sentAt, or FF_TIME_NONE */
    struct ff_str write_key;
    int type_required;   /* /v1/batch items must say their type; import lines default to track */
};

/* A validation failure: the message and the field it is about, and the project the item
 * belongs to when its write key was read (else the request's). `refused` (401, 403) marks an
 * item that no project takes: it is answered, not quarantined. */
struct failure {
    const char *error;
    const char *field;
    const struct ff_project *project;
    int refused;
};

/* The project `key` opens (ctx->projects), checked against the request's origin; fills *f
 * and returns FF_EINVAL when there is none. Without ctx->projects, *out is NULL and 0. */
int resolve_project(const struct ff_ingest_ctx *ctx, struct ff_str key, const struct ff_project **out,
                    struct failure *f);

/* What every event goes through once its fields are set: enrichment (with a cookieless
 * visitor id from `visitor_salt` when it has no ids), the project's PII masking, then its
 * record in the batch. With `ids_required`, an event still without ids fails (FF_EINVAL). */
int finish_event(const struct ff_ingest_ctx *ctx, struct ff_batch *b, const struct ff_project *pr, struct ff_event *ev,
                 const uint8_t *visitor_salt, int ids_required, struct failure *f);

/* Normalises the Segment-shaped object at `obj` into an event and appends its record (or,
 * when its project honours Do Not Track and the request carries it, counts it in
 * b->not_tracked and keeps nothing).
 * `type` forces the event type (from the URL); 0 takes the object's "type" field.
 * `seed` makes "data" the properties (the /api/track shape). On a validation failure
 * returns FF_EINVAL and fills *f; the caller quarantines. */
int normalize_segment(const struct ff_ingest_ctx *ctx, const struct segment_defaults *defs,
                      uint32_t obj, int type, int seed, struct ff_batch *b, struct failure *f);

/* Decodes one Segment-shaped JSON object (the whole body); `type` 0 takes the object's
 * "type". A failure quarantines the body. */
int ingest_segment_one(const struct ff_ingest_ctx *ctx, int type, int seed, const char *body, size_t len,
                       struct ff_batch *b);

/* A time member: an ISO 8601 string or epoch milliseconds; absent or null leaves *us as it
 * is. 0, or FF_EINVAL. */
int json_time(const struct ff_json_doc *doc, uint32_t i, int64_t *us);

/* Appends an encoded event (with its dedup key) to the batch. */
int batch_add_event(struct ff_batch *b, const struct ff_event *ev);
/* Quarantines `raw` with the failure; `index` is the item index or line (-1: whole request). */
int batch_add_failure(struct ff_batch *b, const struct ff_ingest_ctx *ctx, int32_t index,
                      const char *index_name, struct failure f, const char *raw, size_t raw_len);

/* "<what> is not valid JSON: <parser's message>", kept in b->errtext until the next call. */
const char *parse_error_text(struct ff_batch *b, const char *what, const char *parser_msg);

/* Fills `id` (37 bytes) with a random UUID v4 text for events that came without messageId. */
void make_message_id(char id[37]);

#endif
