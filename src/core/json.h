/* json.h - JSON for C: simdjson's parser behind a flat, read-only node array.
 *
 * simdjson (C++) is the only parser fast enough for 1 M events/s on two cores
 * (DEPENDENCIES.md). json.cpp runs simdjson's stage 1 and, for compact input (what SDKs
 * send), walks the structural indexes it leaves once; other input goes through simdjson's DOM.
 * Either way the result is, in document order, `struct ff_json_node`s that C walks by index:
 *
 *   {"a":1,"b":[true,"x"]}  ->  [0] object len=2 end=5
 *                               [1] key "a"  int 1       end=2
 *                               [2] key "b"  array len=2 end=5
 *                               [3] true                 end=4
 *                               [4] string "x"           end=5
 *
 * A node's children start at index+1; the next sibling of child c is nodes[c].end; the
 * children end where the parent's `end` is. Strings (values and keys) point into the
 * parser's memory and stay valid until the parser parses again or is freed; they are
 * unescaped UTF-8 and may contain NUL bytes, so always use the length.
 *
 * The writer half (ff_json_write_*) appends JSON text to a struct ff_buf. */
#ifndef FF_JSON_H
#define FF_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Readable bytes the parser needs after the input's end (simdjson's padding). */
#define FF_JSON_PADDING 64
#define FF_JSON_NONE UINT32_MAX

enum ff_json_type {
    FF_JSON_NULL, FF_JSON_FALSE, FF_JSON_TRUE, FF_JSON_INT, FF_JSON_UINT, FF_JSON_DOUBLE,
    FF_JSON_STRING, FF_JSON_ARRAY, FF_JSON_OBJECT
};

/* Node flag: an object or array kept as compact JSON text (v.s, len) instead of children
 * (see ff_json_parse_shallow). */
#define FF_JSON_F_RAW 1u

struct ff_json_node {
    const char *key;   /* member name when the parent is an object, else NULL */
    uint32_t key_len;
    uint16_t type;     /* enum ff_json_type */
    uint16_t flags;    /* FF_JSON_F_* */
    uint32_t len;      /* string bytes, raw text bytes, or number of children */
    uint32_t end;      /* index of the first node after this subtree */
    union {
        const char *s;
        int64_t i;
        uint64_t u;
        double d;
    } v;
};

struct ff_json_doc {
    const struct ff_json_node *nodes; /* nodes[0] is the root */
    uint32_t count;
};

struct ff_json_parser;

struct ff_json_parser *ff_json_parser_new(void);
void ff_json_parser_free(struct ff_json_parser *p);

/* 1 (default): compact input takes the fast path (json.cpp); 0: every input
 * goes through simdjson's DOM (tests compare the two). */
extern int ff_json_fast_path;

/* Parses `len` bytes at `buf`, which must be followed by FF_JSON_PADDING readable bytes.
 * On success returns 0 and fills *doc (valid until the next parse). On error returns
 * FF_EINVAL (or -ENOMEM) and, when `err` is not NULL, points it at a static message. */
int ff_json_parse(struct ff_json_parser *p, const char *buf, size_t len, struct ff_json_doc *doc,
                  const char **err);

/* Like ff_json_parse, but objects and arrays at depth >= raw_depth (the root is depth 0) get
 * no child nodes: they carry their compact JSON text instead (flag FF_JSON_F_RAW, text in
 * v.s and len, followed by FF_JSON_PADDING readable bytes). For what is stored as text anyway
 * (an event's properties and context) this writes the text once, straight from the parse,
 * instead of building nodes and walking them again. */
int ff_json_parse_shallow(struct ff_json_parser *p, const char *buf, size_t len, uint32_t raw_depth,
                          struct ff_json_doc *doc, const char **err);

/* Parses text that has no padding of its own (a column value, a record's string) by
 * copying it into `scratch` first. 0, or -1 when it is empty or not JSON. */
int ff_json_parse_copy(struct ff_json_parser *p, struct ff_buf *scratch, const char *s, size_t len,
                       struct ff_json_doc *doc);

/* The child of object node `obj` named `key`, or FF_JSON_NONE. */
uint32_t ff_json_get(const struct ff_json_doc *doc, uint32_t obj, const char *key);
/* True when node `i` exists and is a string; then sets *s and *len. */
int ff_json_str(const struct ff_json_doc *doc, uint32_t i, const char **s, uint32_t *len);

/* Appends `s` as a quoted JSON string, escaping what RFC 8259 requires; bytes that are not
 * UTF-8 become U+FFFD, so the result is always valid JSON. */
int ff_json_write_str(struct ff_buf *b, const char *s, size_t len);
/* Appends the subtree at node `i` as compact JSON text (a raw node's text as it is). */
int ff_json_write_node(struct ff_buf *b, const struct ff_json_doc *doc, uint32_t i);
/* Appends an integer in decimal (a JSON number). */
int ff_json_write_int(struct ff_buf *b, int64_t v);
int ff_json_write_uint(struct ff_buf *b, uint64_t v);
/* Appends a double as the shortest JSON text that reads back the same, except that an
 * integral value keeps a ".0" (100.0, not 100) so it stays floating-point when read again. */
int ff_json_write_double(struct ff_buf *b, double d);

#ifdef __cplusplus
}
#endif
#endif
