/* jsonscan.h - the members of a JSON object in compact text, without a parse.
 *
 * A flush reads every event's properties and context again, as the text footfall's own
 * writer produced: compact, no whitespace, keys as plain strings. Parsing each with
 * simdjson and walking nodes was a fifth of a flush; this scanner steps through the
 * members of such text directly and hands out each one's key and value as byte ranges.
 *
 * It gives up (returns -1) on anything it is not certain to read exactly as the parser
 * would: whitespace, an escape in a key, an integer that may not fit 64 bits or is "-0",
 * structure it does not expect. The caller then parses the text the ordinary way, so giving
 * up costs time, never correctness. It trusts what only footfall's writer can guarantee:
 * valid UTF-8, valid escapes, no raw control bytes, brackets that match inside nested
 * values (it skips those without checking). So it is for text footfall wrote, never for
 * input from the wire. tests/fuzz/fuzz_jsonscan.c checks both ways agree on such text and
 * that any bytes are read within bounds. */
#ifndef FF_JSONSCAN_H
#define FF_JSONSCAN_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The JSON number spanning exactly [s, e), its syntax checked: 0 an integer of at most 18
 * digits (*i); 1 a decimal without exponent of at most 15 digits, read exactly (*d); -1
 * another valid number (more digits, an exponent, "-0"), for a full reader such as strtod;
 * -2 not a number. Shared by this scanner and json.cpp's fast path. */
int ff_json_read_number(const char *s, const char *e, int64_t *i, double *d);

enum ff_jscan_kind { FF_JS_STRING, FF_JS_INT, FF_JS_DOUBLE, FF_JS_TRUE, FF_JS_FALSE, FF_JS_NULL, FF_JS_OBJECT, FF_JS_ARRAY };

struct ff_jscan {
    const char *p, *end; /* the next member (or the closing brace), and one past the '}' */
};

struct ff_jscan_member {
    struct ff_str key;    /* without quotes; never holds an escape */
    struct ff_str member; /* the whole member's text: "key":value */
    struct ff_str value;  /* the value's text; a string's without its quotes, escapes as written */
    int kind;             /* enum ff_jscan_kind */
    int escaped;          /* a string value holds escapes (value is not its content as is) */
    int64_t i;            /* FF_JS_INT */
    double d;             /* FF_JS_DOUBLE */
};

/* Test hook: non-zero makes every scan give up at once, so callers take their parsing way,
 * the reference the scanning way is checked against. */
extern int ff_jscan_off;

/* Starts on `text`, which must be one object from '{' to '}'. 0, or -1 to give up. */
int ff_jscan_begin(struct ff_jscan *s, const char *text, size_t len);
/* The next member: 1 with *m filled, 0 after the last, -1 to give up. */
int ff_jscan_next(struct ff_jscan *s, struct ff_jscan_member *m);

#ifdef __cplusplus
}
#endif

#endif
