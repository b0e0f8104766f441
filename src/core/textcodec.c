/* textcodec.c - percent-encoding, query strings and base64 (see textcodec.h). */
#include "textcodec.h"

#include <string.h>

#include "errors.h"

int ff_hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int ff_url_decode(struct ff_buf *out, const char *s, size_t n)
{
    int rc = ff_buf_reserve(out, n);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && i + 2 < n && ff_hex_digit(s[i + 1]) >= 0 && ff_hex_digit(s[i + 2]) >= 0) {
            c = (char)(ff_hex_digit(s[i + 1]) * 16 + ff_hex_digit(s[i + 2]));
            i += 2;
        }
        out->data[out->len++] = c;
    }
    return 0;
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

int ff_base64_decode(struct ff_buf *out, const char *s, size_t n)
{
    while (n && s[n - 1] == '=') n--;
    int rc = ff_buf_reserve(out, n / 4 * 3 + 3);
    if (rc) return rc;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val(s[i]);
        if (v < 0) return FF_EINVAL;
        acc = (acc << 6 | (unsigned)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out->data[out->len++] = (char)(acc >> bits);
        }
    }
    return 0;
}

int ff_query_next(const char **q, const char *end, struct ff_query_param *p)
{
    while (*q < end && **q == '&') (*q)++;
    if (*q >= end) return 0;
    const char *amp = memchr(*q, '&', (size_t)(end - *q));
    const char *e = amp ? amp : end;
    const char *eq = memchr(*q, '=', (size_t)(e - *q));
    p->key = *q;
    p->klen = (size_t)((eq ? eq : e) - *q);
    p->val = eq ? eq + 1 : e;
    p->vlen = (size_t)(e - p->val);
    *q = e;
    return 1;
}

int ff_query_is(const struct ff_query_param *p, const char *name)
{
    return strlen(name) == p->klen && memcmp(p->key, name, p->klen) == 0;
}

int ff_query_get(const char *query, size_t len, const char *name, struct ff_buf *out)
{
    const char *q = query;
    struct ff_query_param p;
    while (ff_query_next(&q, query + len, &p))
        if (ff_query_is(&p, name)) return ff_url_decode(out, p.val, p.vlen) == 0;
    return 0;
}

/* Lowercase hex digit values; 0xff for anything else. */
static const uint8_t uuid_hexval[256] = {
    ['0'] = 0, ['1'] = 1, ['2'] = 2, ['3'] = 3, ['4'] = 4, ['5'] = 5, ['6'] = 6, ['7'] = 7, ['8'] = 8, ['9'] = 9,
    ['a'] = 10, ['b'] = 11, ['c'] = 12, ['d'] = 13, ['e'] = 14, ['f'] = 15,
};
static uint8_t hex_ok[256];
static void init_hex_ok(void)
{
    for (int c = '0'; c <= '9'; c++) hex_ok[c] = 1;
    for (int c = 'a'; c <= 'f'; c++) hex_ok[c] = 1;
}

int ff_uuid_parse(const char *s, size_t n, uint8_t out[16])
{
    static const uint8_t at[16] = {0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34};
    if (n != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-') return 0;
    if (!hex_ok['0']) init_hex_ok(); /* idempotent: a race writes the same bytes */
    unsigned bad = 0;
    for (int k = 0; k < 16; k++) {
        unsigned char hi = (unsigned char)s[at[k]], lo = (unsigned char)s[at[k] + 1];
        bad |= (unsigned)(hex_ok[hi] & hex_ok[lo]) ^ 1u;
        out[k] = (uint8_t)(uuid_hexval[hi] << 4 | uuid_hexval[lo]);
    }
    return !bad;
}

void ff_uuid_format(const uint8_t in[16], char out[36])
{
    static const char digits[] = "0123456789abcdef";
    size_t o = 0;
    for (int k = 0; k < 16; k++) {
        if (k == 4 || k == 6 || k == 8 || k == 10) out[o++] = '-';
        out[o++] = digits[in[k] >> 4];
        out[o++] = digits[in[k] & 15];
    }
}
