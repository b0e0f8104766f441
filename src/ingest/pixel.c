/* pixel.c - the tracking pixel: GET /p.gif?e=signup&uid=42&plan=pro for pages without
 * JavaScript and e-mail opens, or Segment's pixel API, GET /v1/pixel/track?data=<base64
 * of a Segment event>.
 *
 * Parameters:  e|event  uid|userId  aid|anonymousId  mid|messageId  k|writeKey
 *              type  timestamp  name (page/screen); every other parameter becomes a
 *              string property (short names are few, so few properties are shadowed). */
#include "ingest_int.h"

#include <errno.h>
#include <string.h>

#include "core/errors.h"
#include "core/textcodec.h"
#include "core/timeutil.h"

static int is(const struct ff_query_param *p, const char *a, const char *b)
{
    return ff_query_is(p, a) || (b && ff_query_is(p, b));
}

int ff_ingest_pixel(const struct ff_ingest_ctx *ctx, int type, const char *query, size_t len,
                    struct ff_batch *b)
{
    const char *q = query, *end = query + len;
    struct ff_query_param p;
    /* data=<base64 JSON>: Segment's pixel API. */
    while (ff_query_next(&q, end, &p)) {
        if (!ff_query_is(&p, "data")) continue;
        /* Percent-decode, then base64-decode into a padded buffer of its own. */
        struct ff_buf text, json;
        ff_buf_init(&text, p.vlen + 1);
        ff_buf_init(&json, p.vlen + 4); /* base64 reserves up to a group's 3 bytes over */
        int rc = ff_url_decode(&text, p.val, p.vlen);
        if (!rc) rc = ff_base64_decode(&json, text.data ? text.data : "", text.len);
        if (!rc) rc = ff_buf_reserve(&json, 0);
        if (rc == FF_EINVAL)
            rc = batch_add_failure(b, ctx, -1, "index", (struct failure){.error = "data must be base64-encoded JSON", .field = "data"},
                                   query, len);
        else if (!rc)
            rc = ingest_segment_one(ctx, type, 0, json.data, json.len, b);
        ff_buf_free(&text);
        ff_buf_free(&json);
        return rc;
    }

    /* Short parameters: build a Segment object as JSON, then normalise it like any other. */
    struct ff_buf obj, props;
    ff_buf_init(&obj, len * 6 + 256);
    ff_buf_init(&props, len * 6 + 16);
    struct ff_buf val;
    ff_buf_init(&val, len + 16);
    int rc = ff_buf_putc(&obj, '{');
    q = query;
    while (!rc && ff_query_next(&q, end, &p)) {
        static const struct {
            const char *s, *l;
        } names[] = {{"e", "event"},       {"uid", "userId"},     {"aid", "anonymousId"}, {"mid", "messageId"},
                     {"k", "writeKey"},    {"type", NULL},        {"timestamp", NULL},    {"name", NULL}};
        ff_buf_reset(&val);
        if ((rc = ff_url_decode(&val, p.val, p.vlen))) break;
        const char *field = NULL;
        for (size_t i = 0; i < sizeof names / sizeof *names; i++)
            if (is(&p, names[i].s, names[i].l)) field = names[i].l ? names[i].l : names[i].s;
        struct ff_buf *dst = field ? &obj : &props;
        if (dst->len > (field ? 1u : 0u)) ff_buf_putc(dst, ',');
        if (field) {
            rc = ff_json_write_str(dst, field, strlen(field));
        } else {
            struct ff_buf key;
            ff_buf_init(&key, p.klen + 16);
            rc = ff_url_decode(&key, p.key, p.klen);
            if (!rc) rc = ff_json_write_str(dst, key.data ? key.data : "", key.len);
            ff_buf_free(&key);
        }
        if (!rc) rc = ff_buf_putc(dst, ':');
        /* timestamp=1764410000000 is epoch milliseconds: written as a number. */
        int digits = field && !strcmp(field, "timestamp") && val.len && val.len <= 16;
        for (size_t k = 0; digits && k < val.len; k++) digits = val.data[k] >= '0' && val.data[k] <= '9';
        if (!rc) rc = digits ? ff_buf_append(dst, val.data, val.len) : ff_json_write_str(dst, val.data ? val.data : "", val.len);
    }
    if (!rc && props.len) {
        if (obj.len > 1) ff_buf_putc(&obj, ',');
        rc = ff_buf_append_str(&obj, "\"properties\":{");
        if (!rc) rc = ff_buf_append(&obj, props.data, props.len);
        if (!rc) rc = ff_buf_putc(&obj, '}');
    }
    if (!rc) rc = ff_buf_putc(&obj, '}');
    if (!rc) {
        /* A pixel's ids are optional, like the seed format's: an e-mail open may carry none. */
        struct ff_json_doc doc;
        const char *err;
        rc = ff_json_parse_shallow(ctx->parser, obj.data, obj.len, RAW_DEPTH_EVENT, &doc, &err);
        if (!rc) {
            struct segment_defaults defs = {&doc, FF_JSON_NONE, FF_TIME_NONE, {"", 0}, 0};
            struct failure f;
            /* type 0: the `type` parameter's, else track */
            rc = normalize_segment(ctx, &defs, 0, type, 1, b, &f);
            if (rc == FF_EINVAL) rc = batch_add_failure(b, ctx, -1, "index", f, query, len);
        } else if (rc != -ENOMEM) {
            /* Not expected (the writer emits valid JSON), but never a reason to lose input. */
            rc = batch_add_failure(b, ctx, -1, "index",
                                   (struct failure){.error = "parameters could not be read as an event", .field = ""}, query, len);
        }
    }
    ff_buf_free(&obj);
    ff_buf_free(&props);
    ff_buf_free(&val);
    return rc;
}
