/* textcodec.h - the text encodings of the web: percent-encoding, query strings, base64,
 * UUIDs. */
#ifndef FF_TEXTCODEC_H
#define FF_TEXTCODEC_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The value of a hexadecimal digit (either case), or -1. */
int ff_hex_digit(char c);

/* Appends the percent-decoded s[0..n) ('+' is a space) to `out`. 0 or a buf error. */
int ff_url_decode(struct ff_buf *out, const char *s, size_t n);

/* Standard or URL-safe base64, padding optional, appended to `out`; FF_EINVAL on a byte
 * outside the alphabet. */
int ff_base64_decode(struct ff_buf *out, const char *s, size_t n);

/* One key=value pair of a query string, still encoded. */
struct ff_query_param {
    const char *key, *val;
    size_t klen, vlen;
};

/* Steps *q through the query string ending at `end`; 1 while a pair is found. */
int ff_query_next(const char **q, const char *end, struct ff_query_param *p);
/* True when the pair's key is `name`. */
int ff_query_is(const struct ff_query_param *p, const char *name);
/* Finds `name` in the query string and appends its decoded value to `out`: 1 found, 0 not. */
int ff_query_get(const char *query, size_t len, const char *name, struct ff_buf *out);

/* UUIDs in canonical text form: 36 bytes, 8-4-4-4-12 lowercase hex digits. ff_uuid_parse
 * returns 1 and fills out[16] when s[0..n) is exactly that, else 0; ff_uuid_format writes the
 * 36 characters (no NUL). */
int ff_uuid_parse(const char *s, size_t n, uint8_t out[16]);
void ff_uuid_format(const uint8_t in[16], char out[36]);

#ifdef __cplusplus
}
#endif

#endif
