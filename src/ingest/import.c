/* import.c - bulk NDJSON import (POST /api/import): one event per line, for back-filling
 * history. A line is a Segment-shaped event ("type" defaults to track) or the seed shape
 * {"event": ..., "data": {...}}. Each bad line is quarantined with its 1-based number. */
#include "ingest_int.h"

#include <errno.h>
#include <string.h>

#include "core/errors.h"
#include "core/timeutil.h"

int ff_ingest_import(const struct ff_ingest_ctx *ctx, const char *body, size_t len, struct ff_batch *b)
{
    int32_t line = 0;
    size_t pos = 0;
    while (pos < len) {
        line++;
        const char *nl = memchr(body + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - body) : len;
        size_t l = end - pos;
        const char *p = body + pos;
        pos = nl ? end + 1 : len;
        if (l && p[l - 1] == '\r') l--;
        size_t k = 0;
        while (k < l && (p[k] == ' ' || p[k] == '\t')) k++;
        if (k == l) continue; /* blank lines separate nothing */

        /* The body buffer is padded at its end, so every line has the parser's padding of
         * readable bytes after it. */
        struct ff_json_doc doc;
        const char *err = NULL;
        int rc = ff_json_parse_shallow(ctx->parser, p, l, RAW_DEPTH_EVENT, &doc, &err);
        if (rc == -ENOMEM) return rc;
        struct failure f = {.field = ""};
        if (rc) {
            f.error = parse_error_text(b, "line", err);
        } else if (doc.nodes[0].type != FF_JSON_OBJECT) {
            f.error = "line must be a JSON object";
        } else {
            int seed = ff_json_get(&doc, 0, "type") == FF_JSON_NONE && ff_json_get(&doc, 0, "data") != FF_JSON_NONE;
            struct segment_defaults defs = {&doc, FF_JSON_NONE, FF_TIME_NONE, {"", 0}, 0};
            rc = normalize_segment(ctx, &defs, 0, 0, seed, b, &f);
            if (rc && rc != FF_EINVAL) return rc;
            if (!rc) continue;
        }
        /* errtext is reused per line: the quarantine record copies the text, but the first
         * failure (b->error) must outlive the loop, so pin it to static text. */
        rc = batch_add_failure(b, ctx, line, "line", f, p, l);
        if (b->error == b->errtext.data) b->error = "line is not valid JSON";
        if (rc) return rc;
    }
    return 0;
}
