/* json_c.c - the C half of json.h: lookup in parsed documents and JSON text output. */
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

uint32_t ff_json_get(const struct ff_json_doc *doc, uint32_t obj, const char *key)
{
    if (obj >= doc->count || doc->nodes[obj].type != FF_JSON_OBJECT) return FF_JSON_NONE;
    size_t klen = strlen(key);
    for (uint32_t c = obj + 1; c < doc->nodes[obj].end; c = doc->nodes[c].end) {
        const struct ff_json_node *n = &doc->nodes[c];
        if (n->key_len == klen && memcmp(n->key, key, klen) == 0) return c;
    }
    return FF_JSON_NONE;
}

int ff_json_str(const struct ff_json_doc *doc, uint32_t i, const char **s, uint32_t *len)
{
    if (i >= doc->count || doc->nodes[i].type != FF_JSON_STRING) return 0;
    *s = doc->nodes[i].v.s;
    *len = doc->nodes[i].len;
    return 1;
}

/* Bytes that end a plain run: control characters, the quote and the backslash (escaped),
 * and every non-ASCII byte (checked to be UTF-8). */
static const unsigned char stops_run[256] = {
    [0 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, [0x80 ... 0xff] = 1, /* GNU range designators */
};

/* The index of the first byte at or after i that ends a plain run, or len. Sixteen bytes at
 * a time where SSE2 is there (every x86-64): a signed compare with 0x20 flags both the
 * control characters and every byte >= 0x80. */
static size_t plain_run(const char *s, size_t i, size_t len)
{
#ifdef __SSE2__
    const __m128i space = _mm_set1_epi8(0x20), quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    while (i + 16 <= len) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        __m128i hit = _mm_or_si128(_mm_cmplt_epi8(v, space), _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)));
        int mask = _mm_movemask_epi8(hit);
        if (mask) return i + (size_t)__builtin_ctz((unsigned)mask);
        i += 16;
    }
#endif
    while (i < len && !stops_run[(unsigned char)s[i]]) i++;
    return i;
}

/* Length of the valid UTF-8 sequence at s[0..n) (RFC 3629: no overlongs, no surrogates,
 * nothing past U+10FFFF), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c >= 0xe0 && c <= 0xef) len = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    else if (c >= 0xf0 && c <= 0xf4) len = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    else return 0;
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t k = 2; k < len; k++)
        if (s[k] < 0x80 || s[k] > 0xbf) return 0;
    return len;
}

int ff_json_write_str(struct ff_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    /* Worst case every byte becomes \u00XX. */
    if (len > (SIZE_MAX - 2) / 6) return FF_ETOOBIG;
    int rc = ff_buf_reserve(b, len * 6 + 2);
    if (rc) return rc;
    char *o = b->data + b->len;
    *o++ = '"';
    size_t i = 0;
    while (i < len) {
        /* Copy the run that needs no escaping in one go: most strings are one run. */
        size_t j = plain_run(s, i, len);
        memcpy(o, s + i, j - i);
        o += j - i;
        if (j == len) break;
        unsigned char c = (unsigned char)s[j];
        if (c >= 0x80) {
            /* Text from outside JSON (raw quarantined bytes, URL parameters) may not be
             * UTF-8: a bad byte becomes U+FFFD so the output is always valid JSON. */
            size_t u = utf8_len((const unsigned char *)s + j, len - j);
            if (u) memcpy(o, s + j, u), o += u, i = j + u;
            else memcpy(o, "\\ufffd", 6), o += 6, i = j + 1;
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        case '\b': *o++ = 'b'; break;
        case '\f': *o++ = 'f'; break;
        default:
            *o++ = 'u', *o++ = '0', *o++ = '0';
            *o++ = hex[c >> 4], *o++ = hex[c & 15];
        }
        i = j + 1;
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    return 0;
}

int ff_json_write_double(struct ff_buf *b, double d)
{
    if (!isfinite(d)) return ff_buf_append(b, "null", 4);
    /* Fast path for what events carry (prices, ratios): a decimal with few fraction digits.
     * If round(d·10^k)/10^k is d again, then "m.fff" (k digits) reads back as d, because
     * both that division and strtod round the same exact decimal correctly. */
    static const double pow10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    double a = fabs(d);
    if (a < 1e9 && a >= 1e-4) {
        for (int k = 0; k <= 9; k++) {
            double v = nearbyint(a * pow10[k]);
            if (v >= 9007199254740992.0) break;
            if (v / pow10[k] != a) continue;
            uint64_t n = (uint64_t)v, ip = n;
            for (int j = 0; j < k; j++) ip /= 10;
            uint64_t fp = n - ip * (uint64_t)pow10[k];
            int rc = d < 0 ? ff_buf_putc(b, '-') : 0;
            if (!rc) rc = ff_buf_put_u64dec(b, ip);
            if (!rc) rc = ff_buf_putc(b, '.');
            if (rc || k == 0) return rc ? rc : ff_buf_putc(b, '0');
            /* The fraction with its leading zeros: k digits. */
            char frac[10];
            for (int j = k - 1; j >= 0; j--) frac[j] = (char)('0' + fp % 10), fp /= 10;
            return ff_buf_append(b, frac, (size_t)k);
        }
    }
    char tmp[32];
    /* Most doubles need 15 to 17 digits; those that need fewer (1e-300, 5e-324) are found
     * by counting up once 15 is known to be enough. */
    int prec = 15;
    snprintf(tmp, sizeof tmp, "%.*g", prec, d);
    if (strtod(tmp, NULL) == d) {
        for (prec = 1; prec < 15; prec++) {
            snprintf(tmp, sizeof tmp, "%.*g", prec, d);
            if (strtod(tmp, NULL) == d) break;
        }
        if (prec == 15) snprintf(tmp, sizeof tmp, "%.*g", prec, d);
    } else {
        for (prec = 16; prec <= 17; prec++) {
            snprintf(tmp, sizeof tmp, "%.*g", prec, d);
            if (strtod(tmp, NULL) == d) break;
        }
    }
    /* Keep integral values floating-point when read again: "1e+21" is, "100" would not be. */
    if (!strpbrk(tmp, ".e")) strcat(tmp, ".0");
    return ff_buf_append_str(b, tmp);
}

int ff_json_write_int(struct ff_buf *b, int64_t v) { return ff_buf_put_i64(b, v); }
int ff_json_write_uint(struct ff_buf *b, uint64_t v) { return ff_buf_put_u64dec(b, v); }

int ff_json_write_node(struct ff_buf *b, const struct ff_json_doc *doc, uint32_t i)
{
    const struct ff_json_node *n = &doc->nodes[i];
    int rc = 0;
    if (n->flags & FF_JSON_F_RAW) return ff_buf_append(b, n->v.s, n->len);
    switch (n->type) {
    case FF_JSON_NULL: return ff_buf_append(b, "null", 4);
    case FF_JSON_FALSE: return ff_buf_append(b, "false", 5);
    case FF_JSON_TRUE: return ff_buf_append(b, "true", 4);
    case FF_JSON_INT: return ff_buf_put_i64(b, n->v.i);
    case FF_JSON_UINT: return ff_buf_put_u64dec(b, n->v.u);
    case FF_JSON_DOUBLE: return ff_json_write_double(b, n->v.d);
    case FF_JSON_STRING: return ff_json_write_str(b, n->v.s, n->len);
    case FF_JSON_ARRAY:
    case FF_JSON_OBJECT: {
        int obj = n->type == FF_JSON_OBJECT;
        if ((rc = ff_buf_putc(b, obj ? '{' : '['))) return rc;
        for (uint32_t c = i + 1; c < n->end; c = doc->nodes[c].end) {
            if (c != i + 1 && (rc = ff_buf_putc(b, ','))) return rc;
            if (obj) {
                if ((rc = ff_json_write_str(b, doc->nodes[c].key, doc->nodes[c].key_len))) return rc;
                if ((rc = ff_buf_putc(b, ':'))) return rc;
            }
            if ((rc = ff_json_write_node(b, doc, c))) return rc;
        }
        return ff_buf_putc(b, obj ? '}' : ']');
    }
    }
    return FF_EINVAL;
}

int ff_json_parse_copy(struct ff_json_parser *p, struct ff_buf *scratch, const char *s, size_t len,
                       struct ff_json_doc *doc)
{
    if (!len) return -1;
    ff_buf_reset(scratch);
    if (ff_buf_append(scratch, s, len)) return -1;
    return ff_json_parse(p, scratch->data, scratch->len, doc, NULL) ? -1 : 0;
}
