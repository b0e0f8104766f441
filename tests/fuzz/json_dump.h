/* json_dump.h - a parsed document as bytes, everything a caller can read of it: node by
 * node its type, flags, length, end, key and value (strings and raw text byte for byte,
 * numbers bit for bit). Two parses agree when their dumps are equal; used by
 * tests/fuzz/fuzz_json.c and tests/unit/test_json.c to hold json.cpp's fast path to the
 * DOM path. */
#ifndef FF_JSON_DUMP_H
#define FF_JSON_DUMP_H

#include <string.h>

#include "core/buf.h"
#include "core/json.h"

static inline void json_dump(struct ff_buf *out, const struct ff_json_doc *doc)
{
    ff_buf_reset(out);
    ff_buf_append(out, &doc->count, sizeof doc->count);
    for (uint32_t i = 0; i < doc->count; i++) {
        const struct ff_json_node *n = &doc->nodes[i];
        uint32_t head[5] = {n->type, n->flags, n->len, n->end, n->key ? n->key_len : UINT32_MAX};
        ff_buf_append(out, head, sizeof head);
        if (n->key) ff_buf_append(out, n->key, n->key_len);
        if (n->type == FF_JSON_STRING || (n->flags & FF_JSON_F_RAW)) ff_buf_append(out, n->v.s, n->len);
        else if (n->type == FF_JSON_INT || n->type == FF_JSON_UINT || n->type == FF_JSON_DOUBLE)
            ff_buf_append(out, &n->v, sizeof n->v); /* the bits: -0.0 is not 0.0 */
        /* a string is NUL-terminated in both paths (simdjson's buffer does it) */
        if (n->type == FF_JSON_STRING) ff_buf_append(out, n->v.s + n->len, 1);
    }
}

#endif
