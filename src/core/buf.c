/* buf.c - capped growable buffers (see buf.h). */
#include "buf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "errors.h"

void ff_buf_init(struct ff_buf *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

int ff_buf_reserve(struct ff_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra) return FF_ETOOBIG;
    size_t need = b->len + extra + FF_BUF_PAD;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    /* A large buffer takes a block an earlier one left (ff_big_free): glibc maps such sizes
     * afresh every time, and a part writer's or an events page's buffers faulted in again
     * on every use. */
    char *p = ff_big_take(cap);
    if (p) {
        if (b->cap) memcpy(p, b->data, b->cap);
        ff_big_free(b->data);
        cap = ff_alloc_size(p);
    } else if (!(p = ff_realloc(b->data, cap))) {
        return -ENOMEM;
    }
    /* New room is zeroed: callers rely on the byte after what they appended being 0 (a
     * string they did not terminate); see buf.h. */
    memset(p + b->cap, 0, cap - b->cap);
    b->data = p;
    b->cap = cap;
    return 0;
}

int ff_buf_append_slow(struct ff_buf *b, const void *p, size_t n)
{
    int rc = ff_buf_reserve(b, n);
    if (rc) return rc;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int ff_buf_append_str(struct ff_buf *b, const char *s) { return ff_buf_append(b, s, strlen(s)); }

int ff_buf_put_u64dec(struct ff_buf *b, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[sizeof tmp - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return ff_buf_append(b, tmp + sizeof tmp - n, (size_t)n);
}

int ff_buf_put_i64(struct ff_buf *b, int64_t v)
{
    if (v >= 0) return ff_buf_put_u64dec(b, (uint64_t)v);
    int rc = ff_buf_putc(b, '-');
    return rc ? rc : ff_buf_put_u64dec(b, 0 - (uint64_t)v);
}

int ff_buf_printf(struct ff_buf *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return FF_EINVAL;
    if ((size_t)n < sizeof small) return ff_buf_append(b, small, (size_t)n);
    int rc = ff_buf_reserve(b, (size_t)n + 1);
    if (rc) return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void ff_buf_reset(struct ff_buf *b) { b->len = 0; }

int ff_listed(const char *list, const char *s, size_t len, char sub)
{
    for (const char *p = list; p && *p;) {
        while (*p == ' ') p++;
        const char *e = strchr(p, ' ');
        size_t w = e ? (size_t)(e - p) : strlen(p);
        if (w && w <= len && memcmp(p, s, w) == 0 && (w == len || (sub && s[w] == sub))) return 1;
        p += w;
    }
    return 0;
}

int ff_str_contains_ci(struct ff_str s, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= s.len; i++)
        if (!strncasecmp(s.p + i, needle, k)) return 1;
    return 0;
}

void ff_buf_free(struct ff_buf *b)
{
    /* a large one is kept for the next; a small one skips that look-up (every request frees some) */
    if (b->cap >= FF_BIG_MIN) ff_big_free(b->data);
    else ff_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int ff_buf_put_varint(struct ff_buf *b, uint64_t v)
{
    unsigned char x[10];
    return ff_buf_append(b, x, ff_varint_put_raw(x, v));
}
