/* segment.c - the Segment HTTP Tracking API (/v1/track, page, screen, identify, group,
 * alias and batch) and the requirements document's /api/track, which is the same object
 * with the properties under "data". */
#include "ingest_int.h"

#include <errno.h>
#include <string.h>

#include "core/errors.h"
#include "core/timeutil.h"

static int parse_root(const struct ff_ingest_ctx *ctx, const char *body, size_t len, uint32_t raw_depth,
                      struct ff_batch *b, struct ff_json_doc *doc, int *handled)
{
    const char *err = NULL;
    *handled = 0;
    int rc = ff_json_parse_shallow(ctx->parser, body, len, raw_depth, doc, &err);
    if (rc == -ENOMEM) return rc;
    if (rc) {
        *handled = 1;
        return batch_add_failure(b, ctx, -1, "index", (struct failure){.error = parse_error_text(b, "body", err), .field = ""}, body,
                                 len);
    }
    if (doc->nodes[0].type != FF_JSON_OBJECT) {
        *handled = 1;
        return batch_add_failure(b, ctx, -1, "index", (struct failure){.error = "body must be a JSON object", .field = ""}, body,
                                 len);
    }
    return 0;
}

int ingest_segment_one(const struct ff_ingest_ctx *ctx, int type, int seed, const char *body, size_t len,
                  struct ff_batch *b)
{
    struct ff_json_doc doc;
    int handled, rc = parse_root(ctx, body, len, RAW_DEPTH_EVENT, b, &doc, &handled);
    if (rc || handled) return rc;
    struct segment_defaults defs = {&doc, FF_JSON_NONE, FF_TIME_NONE, {"", 0}, 0};
    struct failure f;
    rc = normalize_segment(ctx, &defs, 0, type, seed, b, &f);
    if (rc == FF_EINVAL) return batch_add_failure(b, ctx, -1, "index", f, body, len);
    return rc;
}

int ff_ingest_seed(const struct ff_ingest_ctx *ctx, const char *body, size_t len, struct ff_batch *b)
{
    return ingest_segment_one(ctx, FF_EV_TRACK, 1, body, len, b);
}

int ff_ingest_segment(const struct ff_ingest_ctx *ctx, int type, const char *body, size_t len,
                      struct ff_batch *b)
{
    if (type) return ingest_segment_one(ctx, type, 0, body, len, b);
    struct ff_json_doc doc;
    int handled, rc = parse_root(ctx, body, len, RAW_DEPTH_BATCH_ITEM, b, &doc, &handled);
    if (rc || handled) return rc;
    struct segment_defaults defs = {&doc, FF_JSON_NONE, FF_TIME_NONE, {"", 0}, 1};
    struct failure f = {.field = ""};
    uint32_t i = ff_json_get(&doc, 0, "writeKey");
    if (i != FF_JSON_NONE && doc.nodes[i].type == FF_JSON_STRING)
        defs.write_key = (struct ff_str){doc.nodes[i].v.s, doc.nodes[i].len};
    /* The batch's own key, if it opens a project, owns a batch that is wrong as a whole. */
    const struct ff_project *bp = NULL;
    if (defs.write_key.len) resolve_project(ctx, defs.write_key, &bp, &f);
    uint32_t arr = ff_json_get(&doc, 0, "batch");
    if (arr == FF_JSON_NONE || doc.nodes[arr].type != FF_JSON_ARRAY)
        return batch_add_failure(b, ctx, -1, "index",
                                 (struct failure){.error = "batch must be an array of events", .field = "batch", .project = bp},
                                 body, len);
    i = ff_json_get(&doc, 0, "context");
    if (i != FF_JSON_NONE && doc.nodes[i].type == FF_JSON_OBJECT) defs.context = i;
    if (json_time(&doc, ff_json_get(&doc, 0, "sentAt"), &defs.sent_at_us))
        return batch_add_failure(b, ctx, -1, "index",
                                 (struct failure){.error = "sentAt must be an ISO 8601 date-time or epoch milliseconds",
                                                  .field = "sentAt", .project = bp},
                                 body, len);
    int32_t index = 0;
    for (uint32_t c = arr + 1; c < doc.nodes[arr].end; c = doc.nodes[c].end, index++) {
        rc = normalize_segment(ctx, &defs, c, 0, 0, b, &f);
        if (rc == FF_EINVAL) {
            /* The item is kept as JSON text re-serialised from the parse: the DOM keeps no
             * source offsets, and the batch around it is kept by nobody. */
            size_t s0 = b->scratch.len;
            rc = ff_json_write_node(&b->scratch, &doc, c);
            if (!rc) rc = batch_add_failure(b, ctx, index, "index", f, b->scratch.data + s0, b->scratch.len - s0);
            b->scratch.len = s0;
        }
        if (rc) return rc;
    }
    return 0;
}
