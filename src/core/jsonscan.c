/* jsonscan.c - stepping through compact JSON object members (see jsonscan.h). */
#include "core/jsonscan.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int ff_jscan_off;

int ff_jscan_begin(struct ff_jscan *s, const char *text, size_t len)
{
    if (ff_jscan_off || len < 2 || text[0] != '{' || text[len - 1] != '}') return -1;
    s->p = text + 1;
    s->end = text + len;
    return 0;
}

/* Bit 7 of each byte of x that equals the byte repeated in `pat` (the lowest one exactly;
 * bits above it may be set by a borrow, which the callers never look at). */
static inline uint64_t bytes_equal(uint64_t x, uint64_t pat)
{
    uint64_t y = x ^ pat;
    return (y - 0x0101010101010101u) & ~y & 0x8080808080808080u;
}

/* The closing quote of the string whose opening quote is at p[-1]; sets *escaped when the
 * string holds a backslash. One pass, eight bytes at a time: the strings are short keys and
 * values, where two memchr calls each (the quote, then a backslash before it) cost more
 * than the bytes they read. */
static const char *string_end(const char *p, const char *end, int *escaped)
{
    int esc = 0;
    for (;;) {
        for (; end - p >= 8; p += 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            uint64_t m = bytes_equal(w, 0x2222222222222222u) | bytes_equal(w, 0x5c5c5c5c5c5c5c5cu);
            if (m) {
                p += __builtin_ctzll(m) >> 3;
                break;
            }
        }
        while (p < end && *p != '"' && *p != '\\') p++;
        if (p >= end) return NULL;
        if (*p == '"') {
            *escaped = esc;
            return p;
        }
        esc = 1; /* a backslash: it and the byte it escapes */
        p += 2;
        if (p > end) return NULL;
    }
}

/* One past the end of the object or array opening at p (string-aware). */
static const char *nested_end(const char *p, const char *end)
{
    int depth = 0;
    while (p < end) {
        char c = *p++;
        if (c == '"') {
            int esc;
            if (!(p = string_end(p, end, &esc))) return NULL;
            p++;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth == 0) return p;
        } else if (depth <= 0) {
            return NULL;
        }
    }
    return NULL;
}

int ff_json_read_number(const char *s, const char *e, int64_t *i, double *d)
{
    const char *q = s;
    int neg = q < e && *q == '-';
    q += neg;
    const char *digits = q;
    while (q < e && *q >= '0' && *q <= '9') q++;
    size_t nd = (size_t)(q - digits);
    if (!nd || (nd > 1 && digits[0] == '0')) return -2;
    if (q == e) {
        /* At most 18 digits always fits in 64 bits; "-0" is left to the full reader. */
        if (nd > 18 || (neg && digits[0] == '0')) return -1;
        int64_t v = 0;
        for (const char *p = digits; p < q; p++) v = v * 10 + (*p - '0');
        *i = neg ? -v : v;
        return 0;
    }
    const char *f = q;
    size_t nf = 0;
    if (*q == '.') {
        f = ++q;
        while (q < e && *q >= '0' && *q <= '9') q++;
        if (!(nf = (size_t)(q - f))) return -2;
    }
    if (q < e && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < e && (*q == '+' || *q == '-')) q++;
        const char *x = q;
        while (q < e && *q >= '0' && *q <= '9') q++;
        return q == x || q != e ? -2 : -1;
    }
    if (q != e) return -2;
    if (nd + nf > 15) return -1;
    /* Prices and the like: the digits make an integer below 2^53 and 10^nf is exact, so
     * one division rounds correctly, as strtod does (Clinger's fast path), at a tenth of
     * its cost. */
    static const double pow10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    int64_t v = 0;
    for (const char *p = digits; p < digits + nd; p++) v = v * 10 + (*p - '0');
    for (const char *p = f; p < f + nf; p++) v = v * 10 + (*p - '0');
    *d = neg ? -((double)v / pow10[nf]) : (double)v / pow10[nf];
    return 1;
}

/* A number token at p: sets the kind and value; one past its end, or NULL to give up. */
static const char *number(const char *p, const char *end, struct ff_jscan_member *m)
{
    const char *q = p;
    while (q < end && ((*q >= '0' && *q <= '9') || *q == '-' || *q == '+' || *q == '.' || *q == 'e' || *q == 'E')) q++;
    if (q >= end || (*q != ',' && *q != '}')) return NULL;
    switch (ff_json_read_number(p, q, &m->i, &m->d)) {
    case 0: m->kind = FF_JS_INT; return q;
    case 1: m->kind = FF_JS_DOUBLE; return q;
    case -1: {
        /* a decimal of more digits, or an exponent: strtod stops at the ',' or '}' that
         * follows; both it and the parser round correctly, so they agree on every finite
         * value. A long integer or "-0" is left to the parser. */
        if (!memchr(p, '.', (size_t)(q - p)) && !memchr(p, 'e', (size_t)(q - p)) && !memchr(p, 'E', (size_t)(q - p)))
            return NULL;
        char *stop;
        m->d = strtod(p, &stop);
        if (stop != q || !isfinite(m->d)) return NULL;
        m->kind = FF_JS_DOUBLE;
        return q;
    }
    default: return NULL;
    }
}

int ff_jscan_next(struct ff_jscan *s, struct ff_jscan_member *m)
{
    const char *p = s->p, *end = s->end;
    if (p >= end) return -1;
    if (*p == '}') return p + 1 == end ? 0 : -1;
    const char *start = p;
    if (*p++ != '"') return -1;
    int esc;
    const char *q = string_end(p, end, &esc);
    if (!q || esc || q + 1 >= end || q[1] != ':') return -1;
    m->key = (struct ff_str){p, (uint32_t)(q - p)};
    p = q + 2;
    if (p >= end) return -1;
    m->escaped = 0;
    switch (*p) {
    case '"':
        if (!(q = string_end(p + 1, end, &m->escaped))) return -1;
        m->value = (struct ff_str){p + 1, (uint32_t)(q - p - 1)};
        m->kind = FF_JS_STRING;
        p = q + 1;
        break;
    case '{':
    case '[':
        m->kind = *p == '{' ? FF_JS_OBJECT : FF_JS_ARRAY;
        if (!(q = nested_end(p, end))) return -1;
        m->value = (struct ff_str){p, (uint32_t)(q - p)};
        p = q;
        break;
    case 't':
    case 'f':
    case 'n': {
        static const char *const lit[] = {"true", "false", "null"};
        static const int kinds[] = {FF_JS_TRUE, FF_JS_FALSE, FF_JS_NULL};
        int k = *p == 't' ? 0 : *p == 'f' ? 1 : 2;
        size_t l = strlen(lit[k]);
        if ((size_t)(end - p) < l || memcmp(p, lit[k], l)) return -1;
        m->kind = kinds[k];
        m->value = (struct ff_str){p, (uint32_t)l};
        p += l;
        break;
    }
    default:
        if (!(q = number(p, end, m))) return -1;
        m->value = (struct ff_str){p, (uint32_t)(q - p)};
        p = q;
    }
    m->member = (struct ff_str){start, (uint32_t)(p - start)};
    if (p >= end) return -1;
    if (*p == ',') {
        if (p + 1 >= end || p[1] == '}') return -1;
        p++;
    } else if (*p != '}' || p + 1 != end) {
        return -1;
    }
    s->p = p;
    return 1;
}
